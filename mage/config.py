"""Typed configs: one dataclass per component, a one-line comment per field, unknown keys raise.

``ExperimentConfig`` composes them. It round-trips through plain dicts (checkpoints, Ray), flattens to
dotted keys for MLflow params (``tokenizer.num_scales``) and takes dotted overrides from sweeps.
Derived values (the scale schedule, channel counts) are computed by the components, not stored here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from mage.config_base import ConfigBase, ConfigError, parse_overrides
from mage.presets import PRESETS, RTG_OVER_HORIZON, dataset_defaults, preset_dataset_defaults
from mage.schedule import ScheduleError, scale_schedule

__all__ = ["ConfigBase", "ConfigError", "ScheduleError", "parse_overrides", "scale_schedule"]


# ----------------------------------------------------------------------------------------------------------
# Components. Defaults are the paper's architecture where the paper is known (K = 8); other values are our
# documented choices (docs/method.md).


@dataclass
class DataConfig(ConfigBase):
    dataset: str = "maze2d-umaze-v1"  # dataset name from mage.envs.registry
    path: str | None = None  # D4RL-format HDF5 file or minari:<id> (a local Minari dataset); None: data dirs
    horizon: int = 128  # window length H in env steps (finest scale covers all of it)
    diffuser_resplit: bool = True  # re-split maze2d streams at goal arrivals, as Diffuser/HD do
    max_steps: int | None = None  # use only the first N dataset steps (smoke runs)
    val_fraction: float = 0.02  # fraction of episodes held out for validation losses
    rtg_horizon: int | None = (
        None  # None: RTG to the episode end (paper); N: reward over the next N steps only
    )
    goal_relabel: Literal["none", "future", "infos"] = (
        "none"  # hindsight goals (Multi2D, mage.data.relabel): none, future xy, or the infos/goal target
    )
    goal_min_len: int = 20  # shortest sub-episode of goal_relabel=future (goal = its last xy)
    goal_max_len: int | None = None  # longest sub-episode of goal_relabel=future; None: the task's horizon
    goal_copies: int = 1  # independent future cuts of every episode (goal_relabel=future); data grows xN
    rest_weight: float = 1.0  # sampling weight of training windows that start at rest (maze2d); 1: uniform
    rest_speed: float = 0.5  # a window starts at rest when its first state's speed is below this

    section = "data."

    def validate(self) -> None:
        super().validate()
        self._require("rtg_horizon", 1, none_ok=True, hint="None: RTG to the episode end")
        self._require("horizon", 1)
        self._require("max_steps", 1, none_ok=True, hint="None uses every dataset step")
        self._require("val_fraction", 0, 1, hi_open=True)
        if self.goal_relabel not in ("none", "future", "infos"):
            raise ConfigError(
                f"data.goal_relabel={self.goal_relabel!r} must be one of none, future, infos "
                "(future: goal = a later xy of the episode; infos: the data controller's target)"
            )
        self._require("goal_min_len", 2, hint="a relabelled sub-episode needs at least two steps")
        self._require("goal_max_len", self.goal_min_len, none_ok=True, hint="goal_max_len >= goal_min_len")
        self._require("goal_copies", 1)
        self._require("rest_weight", 0, lo_open=True, hint="1: every window alike; N: at-rest starts N x")
        self._require("rest_speed", 0, lo_open=True, hint="a speed in the data's units (maze2d: 0.5)")


@dataclass
class TokenizerConfig(ConfigBase):
    scheme: str = "RS"  # generated channels: RS (paper), RSA, S or A
    num_scales: int = 8  # K, scales coarse to fine
    scale_schedule: tuple[int, ...] | None = (
        None  # explicit (l_1..l_K) ending at H/downsample; None derives one
    )
    downsample: int = 4  # temporal stride of the encoder (power of 2): latent length h = H / downsample
    codebook_size: int = 512  # V, one codebook shared by all scales
    codebook_init: str = "uniform"  # "uniform": VAR's U(+-1/V); "data": encoder features of one batch (K = 1)
    code_dim: int = 32  # C, width of codes and of the encoder output
    hidden: int = 64  # conv channels of encoder/decoder
    num_res_blocks: int = 1  # residual conv blocks per encoder/decoder stage
    beta: float = 0.25  # commitment weight of the VQ loss
    quant_resi: float = 0.5  # phi(h) = (1 - r) h + r conv(h), VAR's quant_resi
    num_phi: int = 4  # partially shared phi convolutions (VAR's share_quant_resi); min(num_phi, K) are built
    cond_decoder: bool = (
        True  # condition-guided decoder adapters D'(Z, R0, s0); False is the "w/o D'" ablation
    )
    lambda_cond: float = 1.0  # weight of L_cond in stage 1 (ignored when cond_decoder is False)
    dead_code_restart: bool = True  # re-seed codes unused for a while from recent encoder features
    dead_code_every: int = 100  # optimiser steps between dead-code restarts
    dead_code_ema: float = 0.99  # decay of the per-code usage EMA that decides "dead"

    section = "tokenizer."

    def validate(self) -> None:
        super().validate()
        if self.scheme not in ("RS", "RSA", "S", "A"):
            raise ConfigError(f"tokenizer.scheme={self.scheme!r} must be one of RS, RSA, S, A")
        if self.num_scales < 1:
            raise ConfigError(f"tokenizer.num_scales={self.num_scales} must be >= 1")
        if self.codebook_init not in ("uniform", "data"):
            raise ConfigError(f"tokenizer.codebook_init={self.codebook_init!r} must be 'uniform' or 'data'")
        if self.codebook_size < 2:
            raise ConfigError(f"tokenizer.codebook_size={self.codebook_size} must be >= 2")
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ConfigError(f"tokenizer.downsample={self.downsample} must be a power of 2 (1, 2, 4, ...)")
        if self.num_phi < 1:
            raise ConfigError(f"tokenizer.num_phi={self.num_phi} must be >= 1")
        if self.scale_schedule is not None and len(self.scale_schedule) != self.num_scales:
            raise ConfigError(
                f"tokenizer.scale_schedule has {len(self.scale_schedule)} entries but tokenizer.num_scales="
                f"{self.num_scales}; give K entries or set scale_schedule to None"
            )
        for name in ("code_dim", "hidden"):
            self._require(name, 1)
        self._require("num_res_blocks", 0)
        self._require("beta", 0)
        self._require("quant_resi", 0, 1)
        self._require("lambda_cond", 0)
        self._require("dead_code_every", 1)
        self._require("dead_code_ema", 0, 1, hi_open=True)


@dataclass
class TransformerConfig(ConfigBase):
    depth: int = 4  # transformer blocks
    width: int = 128  # D, model width
    heads: int = 4  # attention heads (width must divide)
    mlp_ratio: float = 4.0  # MLP hidden = mlp_ratio * width
    dropout: float = 0.0  # attention/MLP dropout
    drop_path: float = 0.0  # stochastic depth rate (linearly increasing over blocks, as VAR)
    cond_every_scale: bool = (
        True  # AdaLN condition in every block; False: no AdaLN condition, only the start tokens see c
    )
    rtg_scales: Literal["all", "first"] = (
        "all"  # AdaLN sees (R, s) on every token; first: tokens of scales > 1 see s with R masked
    )
    use_goal: bool = False  # add the goal (Multi2D) to the condition

    section = "transformer."

    def validate(self) -> None:
        super().validate()
        for name in ("depth", "width", "heads"):
            self._require(name, 1)
        self._require("mlp_ratio", 0, lo_open=True)
        self._require("dropout", 0, 1, hi_open=True)
        self._require("drop_path", 0, 1, hi_open=True)
        if self.width % self.heads:
            raise ConfigError(
                f"transformer.width={self.width} must be divisible by transformer.heads={self.heads}"
            )
        if self.rtg_scales == "first" and not self.cond_every_scale:
            raise ConfigError(
                "transformer.rtg_scales='first' masks R in the AdaLN condition of scales > 1, but "
                "transformer.cond_every_scale=False removes the AdaLN condition altogether; set one of them"
            )


#: Where a_0 comes from (``policy.action_source``): the latent inverse-dynamics head (paper), an inverse
#: dynamics model on decoded states (Decision Diffuser), or the generated action channel (schemes RSA, A).
ACTION_SOURCES = ("latent", "decoded", "generated")


@dataclass
class PolicyConfig(ConfigBase):
    action_source: str = "latent"  # a0: latent I(f_hat_0[, s0]) (paper), decoded f(s0, s1), generated a_0
    inv_hidden: int = 256  # hidden width of the inverse-dynamics MLP
    inv_use_state: bool = True  # concatenate s0 to the latent slice
    lambda_inv: float = 1.0  # weight of L_inv in stage 2
    lambda_cond: float = 0.1  # weight of L_cond in stage 2 (needs tokenizer.cond_decoder)
    lambda_rec: float = 1.0  # weight of stage 1's L_rec in stage 2 where D' trains: keeps it a decoder
    gumbel_tau: float = 1.0  # temperature of the Gumbel-softmax soft tokens in stage 2
    gumbel_hard: bool = True  # straight-through Gumbel: forward uses real codes (as at inference), soft grads

    section = "policy."

    def validate(self) -> None:
        super().validate()
        if self.action_source not in ACTION_SOURCES:
            raise ConfigError(
                f"policy.action_source={self.action_source!r} must be one of {', '.join(ACTION_SOURCES)}"
            )
        if self.gumbel_tau <= 0:
            raise ConfigError(f"policy.gumbel_tau={self.gumbel_tau} must be > 0")
        self._require("inv_hidden", 1)
        self._require("lambda_inv", 0)
        self._require("lambda_cond", 0)
        self._require("lambda_rec", 0)


@dataclass
class TrainConfig(ConfigBase):
    seed: int = 0  # seeds torch, numpy and data order
    device: str = "auto"  # auto (cuda when present), cpu or cuda
    batch_size: int = 128  # windows per optimiser step (global, split across Ray Train workers)
    tokenizer_epochs: int = 8  # stage 1 epochs
    tokenizer_lr: float = 1e-3  # stage 1 AdamW learning rate
    policy_epochs: int = 12  # stage 2 epochs
    policy_lr: float = 5e-4  # stage 2 AdamW learning rate
    weight_decay: float = 0.05  # AdamW weight decay (not on norms, biases, embeddings, codebook)
    grad_clip: float = 2.0  # max grad norm
    steps_per_epoch: int = (
        100  # optimiser steps that make one "epoch" (datasets are large and windows overlap)
    )
    warmup_steps: int = 100  # linear lr warm-up, then cosine decay to 10 % (per stage)
    val_batches: int = 4  # validation batches evaluated after every epoch
    num_workers: int = 0  # DataLoader worker processes (loader=dataloader only)
    loader: Literal["device", "dataloader"] = (
        "device"  # device: batches index tensors kept on the training device; dataloader: per-item DataLoader
    )
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast forward passes (CUDA; VQ lookups stay fp32)
    compile: bool = False  # torch.compile the trained module (CUDA; the first steps pay the compile time)

    section = "train."

    def validate(self) -> None:
        super().validate()
        self._require("seed", 0, 2**32 - 1, hint="numpy seeds are 32-bit unsigned")
        for name in ("batch_size", "tokenizer_epochs", "policy_epochs", "steps_per_epoch"):
            self._require(name, 1)
        for name in ("tokenizer_lr", "policy_lr", "grad_clip"):
            self._require(name, 0, lo_open=True)
        for name in ("weight_decay", "warmup_steps", "val_batches", "num_workers"):
            self._require(name, 0)


@dataclass
class EvalConfig(ConfigBase):
    episodes: int = 100  # evaluation episodes
    num_envs: int = 50  # envs stepped in lockstep per batch
    seed: int = 0  # first env seed; episode i uses seed + i
    rtg_percentile: float | None = 100.0  # R̂_0 as a percentile of dataset episode returns
    target_return: float | None = None  # absolute R̂_0; overrides rtg_percentile
    sampling: Literal["greedy", "sample"] = "greedy"  # greedy argmax, or sample (temperature/top-k)
    temperature: float = 1.0  # softmax temperature when sampling
    top_k: int = 0  # keep the k most likely codes when sampling (0 = all)
    plan_scales: int = 0  # plan from the first k scales only, the finer ones never generated (0 = all K)
    rtg_update: Literal["decrement", "hold"] = "decrement"  # R̂ -= r after each step (DT) or keep R̂_0
    # Evaluation protocol (mage.eval.protocol; docs/protocol.md). Default: the paper's text, track R.
    goal: Literal["none", "given"] = "none"  # pass the env's goal to the agent: none (track R), given (G)
    acting: Literal["own", "track"] = "own"  # own action, or track the planned state (Diffuser's tracker)
    hold: bool = False  # privileged: within 0.5 of the goal, drive to (goal, v=0) (not rtg_update=hold)
    track_lookahead: int = 8  # acting=track follows ŝ_k; Diffuser's k = 1 barely moves a replanning agent
    # "A + CQL" (paper ablation): a d3rlpy Q-learning baseline trained on the same data picks, per env and step,
    # the best of `critic_candidates` sampled plans' actions (mage.eval.critic; the critic is <checkpoint>/critic).
    critic: str | None = None  # baseline whose Q-function selects actions (cql, iql, td3bc, ...); None = off
    critic_candidates: int = 16  # sampled plans per env and step scored by the critic
    critic_steps: int | None = None  # the critic's gradient steps when a sweep trains it (None: its config's)
    # In-training probe (Ray path): every probe_every stage-2 epochs, rank 0 rolls out probe_episodes episodes of the
    # checkpoint just saved, on env seeds after the final evaluation's, and reports probe/* (Tune's objective then).
    probe_every: int = 0  # stage-2 epochs between probes (0: no probe)
    probe_episodes: int = 4  # episodes per probe (one lockstep batch)

    section = "eval."

    def validate(self) -> None:
        super().validate()
        self._require("episodes", 1)
        self._require("num_envs", 1)
        self._require("track_lookahead", 1)
        self._require("seed", 0)
        self._require("rtg_percentile", 0, 100, none_ok=True, hint="a percentile of dataset returns")
        self._require("temperature", 0, lo_open=True)
        self._require("top_k", 0, hint="0 keeps all codes")
        self._require("plan_scales", 0, hint="0 plans with all K scales")
        self._require("critic_candidates", 1)
        self._require("critic_steps", 1, none_ok=True)
        self._require("probe_every", 0, hint="0 turns the probe off")
        self._require("probe_episodes", 1)
        if self.probe_every and self.critic is not None:
            raise ConfigError(
                f"eval.probe_every={self.probe_every} cannot probe with eval.critic={self.critic!r}: the critic "
                "joins the checkpoint after training; set eval.probe_every=0 for the A + CQL row"
            )
        if self.critic is not None and self.sampling == "greedy":
            raise ConfigError(
                f"eval.critic={self.critic!r} selects among sampled plans, but eval.sampling='greedy' makes all "
                f"{self.critic_candidates} candidates identical; set eval.sampling=sample (and a temperature)"
            )


@dataclass
class ExperimentConfig(ConfigBase):
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> None:
        """Every section, then the cross-field rules: the scale schedule fits H / downsample, and the action
        readout reads a channel the tokenizer generates."""
        super().validate()
        for f in dataclasses.fields(self):
            getattr(self, f.name).validate()
        tk = self.tokenizer
        scale_schedule(self.data.horizon, tk.num_scales, tk.downsample, tk.scale_schedule)
        if self.eval.acting == "track" and self.eval.track_lookahead >= self.data.horizon:
            raise ConfigError(
                f"eval.track_lookahead={self.eval.track_lookahead} must be < data.horizon={self.data.horizon} "
                "(the plan covers H steps)"
            )
        src = self.policy.action_source
        if src == "generated" and "A" not in tk.scheme:
            raise ConfigError(
                f"policy.action_source='generated' reads the generated action channel, but tokenizer.scheme="
                f"{tk.scheme!r} generates none; use scheme RSA or A, or action_source='latent'"
            )
        if src == "decoded" and "S" not in tk.scheme:
            raise ConfigError(
                f"policy.action_source='decoded' needs generated states, but tokenizer.scheme={tk.scheme!r} has "
                "none; use scheme RS, RSA or S, or action_source='latent'"
            )


def preset_overrides(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dotted overrides ``make_config`` applies: the dataset's defaults (``DATASET_DEFAULTS``) <
    ``PRESETS[preset]`` < the preset's values for the dataset (``PRESET_DATASET_DEFAULTS``) < ``overrides``."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    user = overrides or {}
    dataset = str(user.get("data.dataset", DataConfig.dataset))  # presets name no dataset
    return {
        **dataset_defaults(dataset),
        **PRESETS[preset],
        **preset_dataset_defaults(preset, dataset),
        **user,
    }


def make_config(preset: str = "cpu", overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """The defaults under ``preset_overrides(preset, overrides)``; a ``RTG_OVER_HORIZON`` preset's RTG covers H
    unless ``overrides`` set ``data.rtg_horizon``."""
    cfg = ExperimentConfig().with_overrides(preset_overrides(preset, overrides))
    if preset in RTG_OVER_HORIZON and "data.rtg_horizon" not in (overrides or {}):
        cfg = cfg.with_overrides({"data.rtg_horizon": cfg.data.horizon})
    return cfg
