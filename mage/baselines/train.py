"""Train one baseline on our episodes and save it: ``train_baseline`` (any method), ``train_d3rlpy`` (d3rlpy).

    eps, task = load_episodes(cfg.data)
    path = train_baseline("iql", {"batch_size": 256}, eps, steps=1_000_000, seed=0, device="cuda:0",
                          out_dir="runs/iql-umaze", dataset="maze2d-umaze-v1", log_fn=run_logger.log_metrics)

``train_baseline`` sends the diffusion planners (diffuser, hd, dd) to
``mage.baselines.diffusion.train.train_diffusion`` and the rest to ``train_d3rlpy``.

Nothing here imports ray or mlflow; metrics leave through ``log_fn(metrics, step)`` once per d3rlpy epoch
(``steps_per_epoch`` gradient steps). d3rlpy itself still prints its structlog lines (config, one line per
epoch) to stdout.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mage.baselines.checkpoint import BaselineMeta, save_baseline
from mage.baselines.config_base import D3rlpyConfig
from mage.baselines.configs import DecisionTransformerConfig, config_for
from mage.baselines.dataset import FlatData, flat_arrays, to_mdp_dataset
from mage.baselines.log_adapter import CallbackAdapterFactory, LogFn
from mage.baselines.methods import get_method
from mage.baselines.resume import STATE_FILE, clear_state, data_key, fit_key, load_state, save_state
from mage.config import ConfigError
from mage.data.episodes import Episodes
from mage.envs.registry import get_spec
from mage.rng import seed_everything


def _max_timestep(data: FlatData, dataset: str | None) -> int:
    """DT's timestep embedding size: timesteps are 1-based, so the longest episode (training) or the task
    horizon (evaluation) + 1."""
    longest = int(np.diff(np.concatenate([data.starts, [len(data.rewards)]])).max())
    horizon = get_spec(dataset).horizon if dataset else 0
    return max(longest, horizon) + 1


def train_baseline(
    method: str,
    cfg_or_overrides: Any,
    episodes: Episodes,
    *,
    out_dir: str | Path,
    steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    log_fn: LogFn | None = None,
    dataset: str | None = None,
    state_dir: str | Path | None = None,
) -> Path:
    """Fit and save any baseline ``method`` (same arguments as ``train_d3rlpy``); returns ``out_dir``."""
    kw: dict[str, Any] = dict(
        out_dir=out_dir, steps=steps, seed=seed, device=device, log_fn=log_fn, dataset=dataset,
        state_dir=state_dir,
    )  # fmt: skip
    if get_method(method).kind == "diffusion":
        from mage.baselines.diffusion.train import train_diffusion

        return train_diffusion(method, cfg_or_overrides, episodes, **kw)
    return train_d3rlpy(method, cfg_or_overrides, episodes, **kw)


def train_d3rlpy(
    method: str,
    cfg_or_overrides: D3rlpyConfig | Mapping[str, Any] | None,
    episodes: Episodes,
    *,
    out_dir: str | Path,
    steps: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    log_fn: LogFn | None = None,
    dataset: str | None = None,
    state_dir: str | Path | None = None,
) -> Path:
    """Fit ``method`` (``iql``, ``dt-goal``, ...) for ``steps`` gradient steps (default: the config's) and
    save it to ``out_dir`` (``mage.baselines.checkpoint``). ``dataset``: the dataset name, for the preset, the
    reward rule of goal relabelling and DT's horizon. ``state_dir``: keep the training state there after every
    epoch and continue from it (``mage.baselines.resume``). Returns ``out_dir``."""
    import d3rlpy

    m = get_method(method)
    if m.kind != "d3rlpy":
        raise ValueError(
            f"{method!r} is a {m.kind} planner, not a d3rlpy algorithm: train it with train_baseline"
        )
    overrides = dict(cfg_or_overrides) if isinstance(cfg_or_overrides, Mapping) else cfg_or_overrides
    cfg = config_for(method, dataset, overrides)
    n = int(steps if steps is not None else cfg.steps)
    per_epoch = min(cfg.steps_per_epoch, n)
    if n < 1 or n % per_epoch:
        raise ConfigError(
            f"steps={n} must be a positive multiple of steps_per_epoch={per_epoch} "
            "(d3rlpy runs steps // steps_per_epoch whole epochs and drops the rest)"
        )
    reward_type = get_spec(dataset).reward_type if dataset else "sparse"
    data = flat_arrays(episodes, cfg.goal if m.goal_conditioned else None, reward_type, seed=seed)
    seed_everything(seed)  # d3rlpy.seed without its global cudnn.deterministic = True
    derived: dict[str, Any] = {}
    if isinstance(cfg, DecisionTransformerConfig):
        derived["max_timestep"] = cfg.max_timestep or _max_timestep(data, dataset)
    algo = cfg.to_d3rlpy(steps=n, **derived).create(device=device)
    mdp = to_mdp_dataset(data)
    key = fit_key(method=m.name, cfg=cfg.to_dict(), steps=n, seed=seed, data=data_key(episodes), **derived)
    start, train_before = _resume(algo, mdp, state_dir, key)
    t0 = time.perf_counter()

    def save_epoch(algo: Any, epoch: int, total_step: int) -> None:  # d3rlpy's per-step callback
        if state_dir is not None and total_step % per_epoch == 0:
            elapsed = train_before + time.perf_counter() - t0
            save_state(state_dir, key, start + total_step, {"d3rlpy": _model_bytes(algo), "train_s": elapsed})

    if start < n:
        algo.fit(
            mdp,
            n_steps=n - start,
            n_steps_per_epoch=per_epoch,
            experiment_name=method,
            with_timestamp=False,
            logger_adapter=CallbackAdapterFactory(log_fn, step_offset=start, epoch_offset=start // per_epoch),
            show_progress=False,
            save_interval=n // per_epoch + 1,  # never: the final model is saved below
            callback=save_epoch,
        )
    train_s = train_before + time.perf_counter() - t0
    meta = BaselineMeta(
        method=m.name,
        algo=m.algo,
        d3rlpy_class=m.d3rlpy_class,
        d3rlpy_version=d3rlpy.__version__,
        dataset=dataset,
        obs_dim=episodes.obs_dim,
        act_dim=episodes.act_dim,
        goal_dim=data.goal_dim,
        goal_relabel=cfg.goal.relabel if m.goal_conditioned else None,
        track=m.track,
        plans_states=m.plans_states,
        transformer=m.transformer,
        act_low=episodes.act_NA.min(0).astype(float).tolist(),
        act_high=episodes.act_NA.max(0).astype(float).tolist(),
        observation_scaler=cfg.observation_scaler,
        reward_scaler=cfg.reward_scaler,
        steps=n,
        seed=seed,
        episodes=int(data.timeouts.sum()),
        transitions=data.num_transitions,
        train_s=round(train_s, 3),
        context_size=getattr(cfg, "context_size", None),
        max_timestep=derived.get("max_timestep"),
        target_return=getattr(cfg, "target_return", None),
    )
    saved = save_baseline(out_dir, algo, cfg, meta, data.episode_returns)
    clear_state(state_dir)
    return saved


def _model_bytes(algo: Any) -> bytes:
    """d3rlpy's ``save_model`` file (every network and optimiser, with its LR scheduler) as bytes."""
    with tempfile.TemporaryDirectory(prefix="mage-d3rlpy-") as tmp:
        path = Path(tmp) / "model.pt"
        algo.save_model(str(path))
        return path.read_bytes()


def _resume(algo: Any, mdp: Any, state_dir: str | Path | None, key: str) -> tuple[int, float]:
    """(steps done, training seconds so far) of the saved state, loaded into ``algo``; (0, 0.0) without one."""
    if state_dir is None or not (Path(state_dir) / STATE_FILE).is_file():
        return 0, 0.0
    algo.build_with_dataset(mdp)  # the networks the saved states go into (their init draws the RNGs ...)
    state = load_state(state_dir, key)  # (... which this then restores)
    assert state is not None
    with tempfile.TemporaryDirectory(prefix="mage-d3rlpy-") as tmp:
        path = Path(tmp) / "model.pt"
        path.write_bytes(state["d3rlpy"])
        algo.load_model(str(path))
    algo._grad_step = state["step"]  # d3rlpy's update counter (actor update intervals); no public setter
    print(f"[{algo.__class__.__name__}] continuing from step {state['step']} ({state_dir})", flush=True)
    return int(state["step"]), float(state["train_s"])
