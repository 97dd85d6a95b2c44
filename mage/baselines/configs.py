"""Typed configs of the d3rlpy baselines: one dataclass per algorithm (``ConfigBase``: unknown keys raise).

Every default names its source; the sources, pinned:

- **CORL** ``configs/offline/<algo>/maze2d/{umaze,medium,large}_v1.yaml`` (tinkoff-ai/CORL@6afec90) and the
  single-file ``algorithms/offline/<algo>.py`` for what the YAML leaves implicit (net sizes, optimisers).
  CORL's maze2d YAMLs are identical for umaze / medium / large and for their ``-dense`` variants (checked
  field by field), so one preset covers every maze2d task. CORL has BC, CQL, IQL, TD3+BC, AWAC, ReBRAC, DT.
- **d3rlpy** ``reproductions/offline/<algo>.py`` at v2.8.1 (takuseno/d3rlpy@38c34b6f): D4RL MuJoCo settings.
  Used for BCQ, BEAR, CRR and PLAS (no maze2d reference exists for them) and for AWAC: d3rlpy's AWAC weights
  advantages with a softmax over the batch, CORL's with ``exp(adv / lambda)`` clamped, so CORL's
  ``awac_lambda = 0.1`` does not carry over.

Maze2D data is used as ``mage.data.prepare.load_episodes`` gives it (Diffuser re-split); CORL trains on D4RL's
own episodes, so CORL's numbers are not expected to reproduce exactly.

    cfg = config_for("iql-goal", "maze2d-umaze-v1", {"batch_size": 64, "goal.relabel": "episode"})
    d3_cfg = cfg.to_d3rlpy(steps=1000)        # a d3rlpy.algos.IQLConfig
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mage.baselines.config_base import D3rlpyConfig, adam, encoder, plain_fields
from mage.baselines.methods import get_method
from mage.config import ConfigBase, ConfigError

if TYPE_CHECKING:
    from mage.baselines.diffusion.configs import DiffusionConfig

# Algorithms. Source comments: CORL = the maze2d YAML (or the algorithm file); d3rlpy = reproductions/offline.


@dataclass
class BCConfig(D3rlpyConfig):
    batch_size: int = 256  # CORL bc/maze2d batch_size
    learning_rate: float = 3e-4  # CORL any_percent_bc.py: Adam(lr=3e-4)
    hidden: tuple[int, ...] = (256, 256)  # CORL any_percent_bc.py Actor: 256-256, tanh output
    policy_type: Literal["deterministic", "stochastic"] = "deterministic"  # CORL: MSE on a tanh MLP

    d3rlpy_class = "BC"

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "encoder_factory": encoder(self.hidden),
            "policy_type": self.policy_type,
        }


@dataclass
class CQLConfig(D3rlpyConfig):
    actor_learning_rate: float = 3e-5  # CORL cql/maze2d policy_lr
    critic_learning_rate: float = 3e-4  # CORL qf_lr
    temp_learning_rate: float = 3e-5  # CORL cql.py: entropy alpha optimiser lr = policy_lr
    alpha_learning_rate: float = 3e-4  # CORL cql_lagrange: true, alpha' optimiser lr = qf_lr; 0 = fixed
    actor_hidden: tuple[int, ...] = (256, 256, 256)  # CORL TanhGaussianPolicy: 3 x 256
    critic_hidden: tuple[int, ...] = (256, 256, 256)  # CORL q_n_hidden_layers: 3
    tau: float = 0.005  # CORL soft_target_update_rate
    n_critics: int = 2  # CORL: two Q functions
    initial_temperature: float = 1.0  # CORL: log_alpha = 0
    initial_alpha: float = 1.0  # d3rlpy default (CORL starts log alpha' at 1.0)
    alpha_threshold: float = 5.0  # CORL cql_target_action_gap (Lagrange threshold)
    conservative_weight: float = 10.0  # CORL cql_alpha
    n_action_samples: int = 10  # CORL cql_n_actions
    soft_q_backup: bool = False  # CORL backup_entropy: false
    max_q_backup: bool = False  # CORL cql_max_target_backup: false

    d3rlpy_class = "CQL"

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        kw = plain_fields(self, "actor_hidden", "critic_hidden")
        return {
            **kw,
            "actor_encoder_factory": encoder(self.actor_hidden),
            "critic_encoder_factory": encoder(self.critic_hidden),
        }


@dataclass
class IQLConfig(D3rlpyConfig):
    actor_learning_rate: float = 3e-4  # CORL iql/maze2d actor_lr
    critic_learning_rate: float = 3e-4  # CORL qf_lr = vf_lr (d3rlpy: one lr for Q and V)
    hidden: tuple[int, ...] = (256, 256)  # CORL iql.py: actor, Q and V are 2 x 256
    actor_cosine_lr: bool = True  # CORL iql.py and d3rlpy iql.py: cosine actor lr over the run
    expectile: float = 0.7  # CORL iql_tau
    weight_temp: float = 3.0  # CORL beta
    max_weight: float = 100.0  # CORL iql.py EXP_ADV_MAX
    tau: float = 0.005  # CORL tau
    n_critics: int = 2  # CORL: twin Q

    d3rlpy_class = "IQL"

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        kw = plain_fields(self, "hidden", "actor_cosine_lr")
        enc = encoder(self.hidden)
        return {
            **kw,
            "actor_optim_factory": adam(cosine_steps=steps if self.actor_cosine_lr else None),
            "actor_encoder_factory": enc,
            "critic_encoder_factory": enc,
            "value_encoder_factory": enc,
        }


@dataclass
class TD3PlusBCConfig(D3rlpyConfig):
    actor_learning_rate: float = 3e-4  # CORL td3_bc.py: Adam(3e-4)
    critic_learning_rate: float = 3e-4  # CORL td3_bc.py: Adam(3e-4)
    hidden: tuple[int, ...] = (256, 256)  # CORL td3_bc.py: 2 x 256
    tau: float = 0.005  # CORL tau
    n_critics: int = 2  # TD3 twin Q
    target_smoothing_sigma: float = 0.2  # CORL policy_noise
    target_smoothing_clip: float = 0.5  # CORL noise_clip
    alpha: float = 2.5  # CORL alpha
    update_actor_interval: int = 2  # CORL policy_freq

    d3rlpy_class = "TD3PlusBC"

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return with_encoders(self)


@dataclass
class AWACConfig(D3rlpyConfig):
    batch_size: int = 1024  # d3rlpy awac.py
    observation_scaler: Literal["none", "standard", "min_max"] = "none"  # d3rlpy awac.py: none
    actor_learning_rate: float = 3e-4  # d3rlpy awac.py (= CORL learning_rate)
    critic_learning_rate: float = 3e-4  # d3rlpy awac.py
    actor_weight_decay: float = 1e-4  # d3rlpy awac.py: AdamFactory(weight_decay=1e-4)
    hidden: tuple[int, ...] = (256, 256, 256, 256)  # d3rlpy awac.py: 4 x 256 (CORL: 3 x 256)
    lam: float = 1.0  # d3rlpy awac.py (softmax weighting; CORL's 0.1 is for exp weighting)
    n_action_samples: int = 1  # d3rlpy default
    tau: float = 0.005  # d3rlpy default = CORL tau
    n_critics: int = 2  # d3rlpy default

    d3rlpy_class = "AWAC"
    ranges = {"lam": (0, None, True, False)}  # the advantage weights' temperature

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return {
            **with_encoders(self, "actor_weight_decay"),
            "actor_optim_factory": adam(weight_decay=self.actor_weight_decay),
        }


def with_encoders(cfg: Any, *also_not_plain: str) -> dict[str, Any]:
    """Algorithm kwargs of an actor-critic method: its plain fields plus actor and critic MLPs of ``hidden``
    (``also_not_plain``: fields the caller turns into kwargs itself)."""
    return {
        **plain_fields(cfg, "hidden", *also_not_plain),
        "actor_encoder_factory": encoder(cfg.hidden),
        "critic_encoder_factory": encoder(cfg.hidden),
    }


def with_imitator_encoders(cfg: Any) -> dict[str, Any]:
    """As ``with_encoders``, plus the VAE imitator's MLP of ``imitator_hidden`` (BCQ, BEAR, PLAS)."""
    return {
        **with_encoders(cfg, "imitator_hidden"),
        "imitator_encoder_factory": encoder(cfg.imitator_hidden),
    }


@dataclass
class BCQConfig(D3rlpyConfig):
    batch_size: int = 100  # d3rlpy bcq.py
    observation_scaler: Literal["none", "standard", "min_max"] = "none"  # d3rlpy bcq.py: none
    actor_learning_rate: float = 1e-3  # d3rlpy bcq.py
    critic_learning_rate: float = 1e-3  # d3rlpy bcq.py
    imitator_learning_rate: float = 1e-3  # d3rlpy bcq.py
    hidden: tuple[int, ...] = (400, 300)  # d3rlpy bcq.py rl_encoder (actor and critic)
    imitator_hidden: tuple[int, ...] = (750, 750)  # d3rlpy bcq.py vae_encoder
    lam: float = 0.75  # d3rlpy bcq.py
    action_flexibility: float = 0.05  # d3rlpy bcq.py
    n_action_samples: int = 100  # d3rlpy bcq.py
    beta: float = 0.5  # d3rlpy default VAE KL weight
    tau: float = 0.005  # d3rlpy default
    n_critics: int = 2  # d3rlpy default

    d3rlpy_class = "BCQ"
    ranges = {"lam": (0, 1, False, False), "beta": (0, None, False, False)}  # min/max-Q mix; VAE KL weight

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return with_imitator_encoders(self)


@dataclass
class BEARConfig(D3rlpyConfig):
    observation_scaler: Literal["none", "standard", "min_max"] = "none"  # d3rlpy bear.py: none
    actor_learning_rate: float = 1e-4  # d3rlpy bear.py
    critic_learning_rate: float = 3e-4  # d3rlpy bear.py
    imitator_learning_rate: float = 3e-4  # d3rlpy bear.py
    temp_learning_rate: float = 0.0  # d3rlpy bear.py: fixed temperature
    alpha_learning_rate: float = 1e-3  # d3rlpy bear.py
    hidden: tuple[int, ...] = (256, 256)  # d3rlpy default (actor and critic)
    imitator_hidden: tuple[int, ...] = (750, 750)  # d3rlpy bear.py vae_encoder
    initial_temperature: float = 1e-20  # d3rlpy bear.py
    initial_alpha: float = 1.0  # d3rlpy default
    alpha_threshold: float = 0.05  # d3rlpy bear.py
    lam: float = 0.75  # d3rlpy default
    n_action_samples: int = 100  # d3rlpy bear.py
    n_target_samples: int = 10  # d3rlpy bear.py
    n_mmd_action_samples: int = 4  # d3rlpy bear.py
    mmd_kernel: Literal["laplacian", "gaussian"] = "laplacian"  # d3rlpy bear.py (gaussian: halfcheetah)
    mmd_sigma: float = 20.0  # d3rlpy bear.py
    vae_kl_weight: float = 0.5  # d3rlpy default
    warmup_steps: int = 40000  # d3rlpy bear.py
    tau: float = 0.005  # d3rlpy default
    n_critics: int = 2  # d3rlpy default

    d3rlpy_class = "BEAR"
    ranges = {"lam": (0, 1, False, False)}  # mix of the min and max target Q

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return with_imitator_encoders(self)


@dataclass
class CRRConfig(D3rlpyConfig):
    observation_scaler: Literal["none", "standard", "min_max"] = "none"  # d3rlpy crr.py: none
    actor_learning_rate: float = 3e-4  # d3rlpy crr.py
    critic_learning_rate: float = 3e-4  # d3rlpy crr.py
    hidden: tuple[int, ...] = (256, 256)  # d3rlpy default
    beta: float = 1.0  # d3rlpy default
    n_action_samples: int = 4  # d3rlpy default
    advantage_type: Literal["mean", "max"] = "mean"  # d3rlpy crr.py
    weight_type: Literal["binary", "exp"] = "binary"  # d3rlpy crr.py
    max_weight: float = 20.0  # d3rlpy default
    n_critics: int = 1  # d3rlpy default
    target_update_type: Literal["hard", "soft"] = "soft"  # d3rlpy crr.py
    tau: float = 0.005  # d3rlpy default
    target_update_interval: int = 100  # d3rlpy default (hard updates only)
    update_actor_interval: int = 1  # d3rlpy default

    d3rlpy_class = "CRR"
    ranges = {"beta": (0, None, True, False)}  # temperature of exp(A / beta)

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return with_encoders(self)


@dataclass
class ReBRACConfig(D3rlpyConfig):
    observation_scaler: Literal["none", "standard", "min_max"] = "none"  # CORL rebrac/maze2d normalize_states
    actor_learning_rate: float = 3e-4  # CORL rebrac/maze2d actor_learning_rate
    critic_learning_rate: float = 3e-4  # CORL critic_learning_rate
    actor_hidden: tuple[int, ...] = (256, 256, 256)  # CORL actor_n_hiddens: 3, hidden_dim 256, actor_ln off
    critic_hidden: tuple[int, ...] = (256, 256, 256)  # CORL critic_n_hiddens: 3, critic_ln: true
    actor_beta: float = 0.003  # CORL actor_bc_coef
    critic_beta: float = 0.001  # CORL critic_bc_coef
    tau: float = 0.005  # CORL tau
    n_critics: int = 2  # ReBRAC twin Q
    target_smoothing_sigma: float = 0.2  # CORL policy_noise
    target_smoothing_clip: float = 0.5  # CORL noise_clip
    update_actor_interval: int = 2  # CORL policy_freq

    d3rlpy_class = "ReBRAC"

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        kw = plain_fields(self, "actor_hidden", "critic_hidden")
        return {
            **kw,
            "actor_encoder_factory": encoder(self.actor_hidden),
            "critic_encoder_factory": encoder(self.critic_hidden, layer_norm=True),
        }


@dataclass
class PLASConfig(D3rlpyConfig):
    batch_size: int = 100  # d3rlpy plas.py
    observation_scaler: Literal["none", "standard", "min_max"] = "none"  # d3rlpy plas.py: none
    actor_learning_rate: float = 1e-4  # d3rlpy plas.py
    critic_learning_rate: float = 1e-3  # d3rlpy plas.py
    imitator_learning_rate: float = 1e-4  # d3rlpy plas.py
    hidden: tuple[int, ...] = (400, 300)  # d3rlpy plas.py encoder (actor and critic)
    imitator_hidden: tuple[int, ...] = (750, 750)  # d3rlpy plas.py vae_encoder (128-128 for medium-replay)
    lam: float = 1.0  # d3rlpy plas.py
    warmup_steps: int = 500_000  # d3rlpy plas.py: the VAE alone first, RL from then on
    beta: float = 0.5  # d3rlpy default VAE KL weight
    tau: float = 0.005  # d3rlpy default
    n_critics: int = 2  # d3rlpy default

    d3rlpy_class = "PLAS"
    ranges = {"lam": (0, 1, False, False), "beta": (0, None, False, False)}  # min/max-Q mix; VAE KL weight

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        return with_imitator_encoders(self)


@dataclass
class DecisionTransformerConfig(D3rlpyConfig):
    steps: int = 100_000  # CORL dt/maze2d update_steps
    batch_size: int = 4096  # CORL dt/maze2d batch_size (sequences of context_size steps)
    learning_rate: float = 8e-4  # CORL learning_rate
    weight_decay: float = 1e-4  # CORL weight_decay (AdamW)
    clip_grad_norm: float = 0.25  # CORL clip_grad
    warmup_steps: int = 10_000  # CORL warmup_steps (linear lr warm-up)
    embed_dim: int = 128  # CORL embedding_dim (a linear state embedding: d3rlpy dt reproduction)
    context_size: int = 20  # CORL seq_len
    num_heads: int = 1  # CORL num_heads
    num_layers: int = 3  # CORL num_layers
    attn_dropout: float = 0.1  # CORL attention_dropout
    resid_dropout: float = 0.1  # CORL residual_dropout
    embed_dropout: float = 0.1  # CORL embedding_dropout
    activation_type: str = "gelu"  # CORL dt.py TransformerBlock: GELU
    position_encoding_type: Literal["simple", "global"] = "simple"  # CORL: one timestep embedding
    max_timestep: int | None = None  # None: longest training episode or task horizon, + 1 (CORL: 1000)
    target_return: float | None = None  # eval R̂_0; None: best dataset episode return (CORL: 280 and 140)

    d3rlpy_class = "DecisionTransformer"

    def validate(self) -> None:
        super().validate()
        self._require("context_size", 1)
        self._require("embed_dim", 1)
        self._require("num_heads", 1)
        if self.embed_dim % self.num_heads:
            raise ConfigError(
                f"{self.section}embed_dim={self.embed_dim} must be a multiple of num_heads={self.num_heads} "
                "(each attention head gets embed_dim / num_heads channels)"
            )
        self._require("max_timestep", 2, none_ok=True)
        if self.activation_type not in ("relu", "gelu", "tanh", "swish", "geglu"):
            raise ConfigError(
                f"{self.section}activation_type={self.activation_type!r} is not a d3rlpy activation"
            )

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        import d3rlpy
        from d3rlpy.optimizers import AdamWFactory, WarmupSchedulerFactory

        kw = plain_fields(
            self, "weight_decay", "clip_grad_norm", "warmup_steps", "embed_dim", "target_return"
        )
        kw["max_timestep"] = self.max_timestep or 1000
        kw["position_encoding_type"] = d3rlpy.PositionEncodingType(self.position_encoding_type)
        kw["optim_factory"] = AdamWFactory(
            weight_decay=self.weight_decay,
            clip_grad_norm=self.clip_grad_norm,
            lr_scheduler_factory=WarmupSchedulerFactory(warmup_steps=self.warmup_steps),
        )
        kw["encoder_factory"] = encoder((self.embed_dim,), linear_out=True)
        return kw


CONFIGS: dict[str, type[D3rlpyConfig]] = {
    "bc": BCConfig,
    "cql": CQLConfig,
    "iql": IQLConfig,
    "td3bc": TD3PlusBCConfig,
    "awac": AWACConfig,
    "bcq": BCQConfig,
    "bear": BEARConfig,
    "crr": CRRConfig,
    "rebrac": ReBRACConfig,
    "plas": PLASConfig,
    "dt": DecisionTransformerConfig,
}

# Per-dataset-family overrides of the defaults above. Maze2D is the defaults' own family (CORL's maze2d YAMLs,
# identical across mazes and reward types); other families (MuJoCo, AntMaze, Adroit) get entries when used.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {"maze2d": {}}


def dataset_family(dataset: str | None) -> str | None:
    return next((f for f in PRESETS if dataset and dataset.startswith(f)), None)


def config_for(
    method: str, dataset: str | None = None, overrides: dict[str, Any] | ConfigBase | None = None
) -> D3rlpyConfig | DiffusionConfig:
    """The config of a baseline method (``iql``, ``iql-goal``, ..., ``diffuser``): defaults, the dataset
    family's preset, then dotted ``overrides`` (unknown keys raise). A config instance is checked against the
    method and returned as is. Diffusion planners get theirs from ``mage.baselines.diffusion.configs``."""
    m = get_method(method)
    if m.kind == "diffusion":
        from mage.baselines.diffusion.configs import native_config_for

        return native_config_for(m.algo, dataset, overrides)
    cls = CONFIGS[m.algo]
    if isinstance(overrides, ConfigBase):
        if not isinstance(overrides, cls):
            raise ConfigError(f"method {method!r} takes a {cls.__name__}, got {type(overrides).__name__}")
        return overrides
    family = dataset_family(dataset)
    preset = PRESETS[family].get(get_method(method).algo, {}) if family else {}
    return cls().with_overrides({**preset, **(overrides or {})})
