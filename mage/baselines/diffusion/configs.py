"""Typed configs of the diffusion planners (``ConfigBase``: unknown keys raise). Every default names its source:

- **Diffuser** ``jannerm/diffuser`` branch ``maze2d``: ``config/maze2d.py`` (``base['diffusion']`` and the
  ``maze2d_umaze_v1`` / ``maze2d_large_v1`` overrides), ``diffuser/utils/training.py`` (Trainer defaults).
- **HD** ``changchencc/Simple-Hierarchical-Planning-with-Diffusion``: ``config/maze2d_hl.py`` (high level),
  ``config/maze2d_ll.py`` (low level).
- **DD** ``anuragajay/decision-diffuser``: ``code/config/locomotion_config.py`` (DD has no maze2d config).

Per-dataset values (``PRESETS``, matched by dataset-name prefix) follow the sources' per-maze overrides;
Diffuser's horizon is the dataset's plan horizon (``mage.config.DATASET_DEFAULTS``: 128 / 256 / 384, the same
values as ``config/maze2d.py``).

    cfg = native_config_for("diffuser", "maze2d-umaze-v1", {"batch_size": 64})   # horizon 128, 64 steps
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mage.config import ConfigBase, ConfigError
from mage.presets import dataset_defaults


@dataclass
class DiffusionConfig(ConfigBase):
    """Fields every diffusion planner has: the trainer, the U-Net and how the agent replans."""

    steps: int = 2_000_000  # gradient steps of a full run (Diffuser n_train_steps 2e6)
    steps_per_epoch: int = 10_000  # metrics are logged once per this many steps (Diffuser n_steps_per_epoch)
    batch_size: int = 32  # windows per batch (Diffuser batch_size)
    grad_accumulate: int = 2  # batches per optimiser step (Diffuser gradient_accumulate_every)
    learning_rate: float = 2e-4  # Adam lr (Diffuser learning_rate)
    weight_decay: float = 0.0  # AdamW decay; 0 = the sources' Adam
    ema_decay: float = 0.995  # EMA of the weights, the model that plans (Diffuser ema_decay)
    ema_every: int = 10  # optimiser steps between EMA updates (Diffuser Trainer update_ema_every)
    ema_start: int = 2000  # before this step the EMA copies the weights (Diffuser Trainer step_start_ema)
    dim: int = 32  # U-Net base width (Diffuser TemporalUnet dim)
    dim_mults: tuple[int, ...] = (1, 4, 8)  # U-Net widths per resolution (Diffuser maze2d dim_mults)
    kernel_size: int = 5  # temporal conv kernel (Diffuser Conv1dBlock)
    predict_epsilon: bool = False  # the net predicts x0 (Diffuser maze2d predict_epsilon: False)
    clip_denoised: bool = True  # clip the x0 estimate to [-1, 1] (Diffuser maze2d clip_denoised)
    temperature: float = 1.0  # scale of the sampling noise (Diffuser 1; DD 0.5)
    normalizer: Literal["minmax", "standard"] = "minmax"  # per-dimension (Diffuser LimitsNormalizer = minmax)
    replan_every: int = (
        1  # env steps between plans; 0: plan once per episode (Diffuser plan_maze2d.py) [ours]
    )

    section = "baseline."

    def validate(self) -> None:
        super().validate()
        for name in ("steps", "steps_per_epoch", "batch_size", "grad_accumulate", "ema_every", "kernel_size"):
            self._require(name, 1)
        self._require("ema_start", 0)
        self._require("replan_every", 0, hint="0 plans once per episode, k replans every k env steps")
        self._require("learning_rate", 0, lo_open=True)
        self._require("weight_decay", 0)
        self._require("ema_decay", 0, 1)
        self._require("temperature", 0)
        if self.dim < 8 or self.dim % 8:
            raise ConfigError(f"{self.section}dim={self.dim} must be a positive multiple of 8 (GroupNorm(8))")
        if not self.dim_mults or any(int(m) < 1 for m in self.dim_mults):
            raise ConfigError(f"{self.section}dim_mults={self.dim_mults!r} must be a non-empty list of >= 1")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"{self.section}kernel_size={self.kernel_size} must be odd (same-length conv)")


@dataclass
class DiffuserConfig(DiffusionConfig):
    horizon: int = 256  # plan length H (config/maze2d.py base; per maze: the dataset's, 128 / 256 / 384)
    n_diffusion_steps: int = 256  # denoising steps (config/maze2d.py base; umaze 64)
    action_weight: float = 1.0  # loss weight of the first action (config/maze2d.py action_weight)
    goal_dropout: float = 0.0  # training windows whose last state is not inpainted (GoalDataset: 0) [ours]

    def validate(self) -> None:
        super().validate()
        self._require("horizon", 2, hint="a plan needs the current state and at least one next state")
        self._require("n_diffusion_steps", 1)
        self._require("action_weight", 0)
        self._require("goal_dropout", 0, 1)


@dataclass
class HDConfig(DiffusionConfig):
    jump: int = 15  # env steps between subgoals K (maze2d_hl jump)
    hl_horizon: int = 255  # env steps the high level spans, hl_horizon // jump subgoals (maze2d_hl base)
    hl_diffusion_steps: int = 256  # high-level denoising steps (maze2d_hl base; umaze 64)
    ll_diffusion_steps: int = 128  # low-level denoising steps over jump + 1 states (maze2d_ll)
    action_weight: float = 10.0  # loss weight of the first low-level action (maze2d_ll action_weight)
    goal_dropout: float = (
        0.0  # high-level windows whose last subgoal is not inpainted (GoalDataset: 0) [ours]
    )

    def validate(self) -> None:
        super().validate()
        self._require("jump", 1)
        self._require("hl_horizon", 2 * self.jump, hint="at least two subgoals: hl_horizon >= 2 * jump")
        self._require("hl_diffusion_steps", 1)
        self._require("ll_diffusion_steps", 1)
        self._require("action_weight", 0)
        self._require("goal_dropout", 0, 1)

    @property
    def subgoals(self) -> int:
        """High-level plan length M (subgoals including the current state)."""
        return self.hl_horizon // self.jump


@dataclass
class DDConfig(DiffusionConfig):
    steps: int = 1_000_000  # n_train_steps 1e6 (DD locomotion_config.py)
    dim: int = 128  # U-Net base width (DD dim)
    predict_epsilon: bool = True  # DD predict_epsilon
    temperature: float = 0.5  # DD samples with 0.5 * randn (p_sample_loop, p_sample)
    horizon: int = 100  # plan length (DD horizon; no maze2d value exists)
    n_diffusion_steps: int = 200  # DD n_diffusion_steps
    cond_dropout: float = 0.25  # classifier-free condition dropout (DD condition_dropout)
    guidance_w: float = 1.2  # guidance weight w (DD condition_guidance_w)
    test_ret: float = 0.9  # evaluation return condition, a fraction of returns_scale (DD test_ret)
    returns_scale: float | None = (
        None  # divisor of the discounted return; None: the data's max (DD: 400) [ours]
    )
    discount: float = 0.99  # discount of the conditioning return (DD discount)
    inv_hidden: int = 256  # inverse-dynamics MLP width, 2 hidden ReLU layers (DD hidden_dim)

    def validate(self) -> None:
        super().validate()
        self._require("horizon", 2, hint="the inverse dynamics needs the current and the next state")
        self._require("n_diffusion_steps", 1)
        self._require("cond_dropout", 0, 1, hi_open=True)
        self._require("guidance_w", 0)
        self._require("returns_scale", 0, lo_open=True, none_ok=True)
        self._require("discount", 0, 1)
        self._require("inv_hidden", 1)


CONFIGS: dict[str, type[DiffusionConfig]] = {"diffuser": DiffuserConfig, "hd": HDConfig, "dd": DDConfig}

# Per-dataset overrides (prefix match): the sources' per-maze values. Diffuser's horizon comes from
# DATASET_DEFAULTS (see diffuser_horizon).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "maze2d-umaze": {  # config/maze2d.py maze2d_umaze_v1; maze2d_hl.py maze2d_umaze_v1
        "diffuser": {"n_diffusion_steps": 64},
        "hd": {"hl_horizon": 120, "hl_diffusion_steps": 64},
    },
    "maze2d-large": {"hd": {"hl_horizon": 390}},  # maze2d_hl.py maze2d_large_v1
}


def preset_for(algo: str, dataset: str | None) -> dict[str, Any]:
    """The per-dataset defaults of ``algo`` on ``dataset`` (``{}`` without a dataset)."""
    if not dataset:
        return {}
    out: dict[str, Any] = {}
    if algo == "diffuser" and "data.horizon" in dataset_defaults(dataset):
        out["horizon"] = int(dataset_defaults(dataset)["data.horizon"])
    family = next((p for p in PRESETS if dataset.startswith(p)), None)
    out.update(PRESETS[family].get(algo, {}) if family else {})
    return out


def native_config_for(
    algo: str, dataset: str | None = None, overrides: dict[str, Any] | DiffusionConfig | None = None
) -> DiffusionConfig:
    """The config of a diffusion planner: defaults, the dataset's preset, then dotted ``overrides`` (unknown
    keys raise). A config instance is checked against the algorithm and returned as is."""
    cls = CONFIGS[algo]
    if isinstance(overrides, ConfigBase):
        if not isinstance(overrides, cls):
            raise ConfigError(f"method {algo!r} takes a {cls.__name__}, got {type(overrides).__name__}")
        return overrides
    return cls().with_overrides({**preset_for(algo, dataset), **(overrides or {})})
