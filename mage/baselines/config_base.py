"""The base of the baseline configs: fields every d3rlpy algorithm shares, hindsight-goal settings, and the
helpers that turn our plain values into d3rlpy objects (scalers, encoders, optimisers). d3rlpy is imported
inside the helpers only. The algorithms' own configs: ``mage.baselines.configs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from mage.config import ConfigBase, ConfigError


@dataclass
class GoalConfig(ConfigBase):
    """Hindsight goals of the ``-goal`` variants (``mage.baselines.dataset``); ignored by plain methods."""

    relabel: Literal["future", "episode"] = (
        "future"  # future: random sub-trajectories, goal = their last xy; episode: Episodes.goal_EG
    )
    min_len: int = 20  # shortest relabelled sub-trajectory (future); our choice [I], no reference
    max_len: int = 300  # longest relabelled sub-trajectory (future); umaze's horizon, our choice [I]
    copies: int = 1  # independent random cuts of every episode (future); the data grows this many times

    section = "goal."

    def validate(self) -> None:
        super().validate()
        self._require("min_len", 2, hint="a sub-trajectory needs two steps for one transition")
        self._require("max_len", self.min_len, hint="max_len >= min_len")
        self._require("copies", 1)


# Ranges of fields several algorithms share, by name: (lo, hi, lo_open, hi_open). d3rlpy checks none of them, so
# a bad value failed deep inside training or silently diverged (e.g. IQL's expectile=2). Counts (``n_*``) and
# intervals (``*_interval``) are >= 1, the dropouts in [0, 1), weight decays >= 0: by the rules in validate.
SHARED_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "tau": (0, 1, True, False),  # soft target update rate: 1 copies the online network
    "expectile": (0, 1, True, True),  # IQL's asymmetric L2: 0.5 is the mean, 1 would be the max
    "weight_temp": (0, None, True, False),  # IQL's beta: exp(beta * A)
    "max_weight": (0, None, True, False),  # clip of exp-advantage weights (IQL, CRR)
    "initial_temperature": (0, None, True, False),  # SAC-style entropy temperature (a log is taken)
    "initial_alpha": (0, None, True, False),  # Lagrange multiplier (a log is taken)
    "alpha_threshold": (0, None, False, False),  # CQL's action gap / BEAR's MMD threshold
    "conservative_weight": (0, None, False, False),  # CQL's alpha
    "alpha": (0, None, True, False),  # TD3+BC: lambda = alpha / mean |Q|
    "target_smoothing_sigma": (0, None, False, False),  # TD3 target policy noise
    "target_smoothing_clip": (0, None, False, False),  # TD3 noise clip
    "actor_beta": (0, None, False, False),  # ReBRAC's actor BC weight
    "critic_beta": (0, None, False, False),  # ReBRAC's critic BC weight
    "mmd_sigma": (0, None, True, False),  # BEAR's kernel width
    "vae_kl_weight": (0, None, False, False),  # BEAR's VAE KL weight
    "action_flexibility": (0, None, False, False),  # BCQ's perturbation scale
    "warmup_steps": (0, None, False, False),  # steps before RL (BEAR, PLAS) or lr warm-up (DT)
    "clip_grad_norm": (0, None, True, False),  # DT
    "reward_scale": (0, None, True, False),  # the reward scalers' multiplier
}


@dataclass
class D3rlpyConfig(ConfigBase):
    """Fields every algorithm has; subclasses add theirs and override defaults with their sources."""

    steps: int = 1_000_000  # gradient steps of a full run (CORL max_timesteps); train_d3rlpy(steps=) wins
    steps_per_epoch: int = 1000  # d3rlpy n_steps_per_epoch: metrics are logged once per epoch (reproductions)
    batch_size: int = 256  # transitions (or sequences, DT) per gradient step
    gamma: float = 0.99  # discount (CORL discount, d3rlpy default)
    observation_scaler: Literal["none", "standard", "min_max"] = "standard"  # CORL normalize: true
    reward_scaler: Literal["none", "multiply", "return_based"] = "none"  # CORL maze2d normalize_reward: false
    reward_scale: float = 1.0  # multiplier of the reward scaler (multiply / return_based)
    goal: GoalConfig = field(default_factory=GoalConfig)  # -goal variants only

    d3rlpy_class: ClassVar[str] = ""  # class in d3rlpy.algos; its config is <class>Config
    ranges: ClassVar[dict[str, tuple[float | None, float | None, bool, bool]]] = {}  # beside SHARED_RANGES
    section = "baseline."

    def validate(self) -> None:
        super().validate()
        for name in ("steps", "steps_per_epoch", "batch_size"):
            self._require(name, 1)
        self._require("gamma", 0, 1)
        for name, v in self.to_dict().items():
            if name.endswith("learning_rate"):
                self._require(name, 0)
            if (rng := self.ranges.get(name, SHARED_RANGES.get(name))) is not None:
                lo, hi, lo_open, hi_open = rng
                self._require(name, lo, hi, lo_open=lo_open, hi_open=hi_open)
            if name.startswith("n_") or name.endswith("_interval") or name.endswith("num_layers"):
                self._require(name, 1)
            if name.endswith("dropout"):
                self._require(name, 0, 1, hi_open=True)
            if name.endswith("weight_decay"):
                self._require(name, 0)
            if name.endswith("hidden") and (not v or any(int(h) < 1 for h in v)):
                raise ConfigError(f"{self.section}{name}={v!r} must be a non-empty list of positive sizes")

    def algo_kwargs(self, steps: int) -> dict[str, Any]:
        """The algorithm's own d3rlpy config kwargs (``steps``: the run's gradient steps, for schedules)."""
        raise NotImplementedError

    def to_d3rlpy(self, steps: int | None = None, **derived: Any) -> Any:
        """The ``d3rlpy.algos.<class>Config`` of this config; ``derived``: data-dependent kwargs
        (``max_timestep`` for DT)."""
        import d3rlpy

        kw: dict[str, Any] = {
            "batch_size": self.batch_size,
            "gamma": self.gamma,
            "observation_scaler": _observation_scaler(self.observation_scaler),
            "reward_scaler": _reward_scaler(self.reward_scaler, self.reward_scale),
        }
        kw.update(self.algo_kwargs(steps or self.steps))
        kw.update(derived)
        return getattr(d3rlpy.algos, f"{self.d3rlpy_class}Config")(**kw)


def _observation_scaler(name: str) -> Any:
    from d3rlpy.preprocessing import MinMaxObservationScaler, StandardObservationScaler

    if name == "standard":
        return StandardObservationScaler()
    if name == "min_max":
        return MinMaxObservationScaler()
    return None


def _reward_scaler(name: str, scale: float) -> Any:
    from d3rlpy.preprocessing import MultiplyRewardScaler, ReturnBasedRewardScaler

    if name == "multiply":
        return MultiplyRewardScaler(scale)
    if name == "return_based":
        return ReturnBasedRewardScaler(multiplier=scale)
    return None


def encoder(hidden: tuple[int, ...], layer_norm: bool = False, linear_out: bool = False) -> Any:
    from d3rlpy.models import VectorEncoderFactory

    return VectorEncoderFactory(
        hidden_units=list(hidden), use_layer_norm=layer_norm, exclude_last_activation=linear_out
    )


def adam(weight_decay: float = 0.0, cosine_steps: int | None = None) -> Any:
    from d3rlpy.optimizers import AdamFactory, CosineAnnealingLRFactory

    sched = CosineAnnealingLRFactory(T_max=cosine_steps) if cosine_steps else None
    return AdamFactory(weight_decay=weight_decay, lr_scheduler_factory=sched)


BASE_FIELDS = {"steps", "steps_per_epoch", "batch_size", "gamma", "observation_scaler", "reward_scaler"}
BASE_FIELDS |= {"reward_scale", "goal"}


def plain_fields(cfg: D3rlpyConfig, *ours: str) -> dict[str, Any]:
    """The algorithm's fields that pass to d3rlpy unchanged (all but the base fields and ``ours``)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in BASE_FIELDS and k not in ours}
