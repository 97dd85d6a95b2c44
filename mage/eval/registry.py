"""The agent registry: method name -> factory building a ``mage.agent.Agent`` (MAGE, scripted, baselines).

    register_agent("mage", factory, per_chunk=True)
    agent = make_agent("mage", checkpoint_dir, task, device, seed=3, target_return=60.0)

A factory is ``factory(checkpoint, task, device, **kwargs) -> Agent``; ``checkpoint`` may be None for
scripted agents. The rollout jobs (``mage.eval.jobs``) cache loaded agents per process and re-seed
torch/numpy per chunk; ``per_chunk=True`` instead builds a fresh agent for every chunk with ``seed=<chunk
seed>`` (cheap agents with their own RNG), which keeps results independent of the actor count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mage.agent import Agent
from mage.baselines.agent import make_d3rlpy_agent
from mage.baselines.checkpoint import LoadedBaseline, load_baseline
from mage.baselines.methods import METHODS as BASELINES
from mage.eval.agents import RandomAgent, WaypointAgent
from mage.eval.critic import CRITIC_DIR, CriticSelectAgent
from mage.eval.rtg import resolve_target_return
from mage.policy.checkpoint import Checkpoint, load_checkpoint
from mage.policy.mage_agent import MageAgent
from mage.policy.planner import SamplingConfig

AgentFactory = Callable[..., Agent]
_FACTORIES: dict[str, tuple[AgentFactory, bool]] = {}
_NEEDS_GOAL: set[str] = set()


def register_agent(
    method: str, factory: AgentFactory, *, per_chunk: bool = False, needs_goal: bool = False
) -> None:
    """Add (or replace) ``method`` in the registry. ``needs_goal``: the agent cannot act without the env's
    goal (scripted controllers, goal-only planners), so it is evaluated in track G only."""
    _FACTORIES[method] = (factory, per_chunk)
    if needs_goal:
        _NEEDS_GOAL.add(method)
    else:
        _NEEDS_GOAL.discard(method)


def needs_goal(method: str) -> bool:
    return method in _NEEDS_GOAL


def registered_methods() -> list[str]:
    return sorted(_FACTORIES)


def builds_per_chunk(method: str) -> bool:
    return method in _FACTORIES and _FACTORIES[method][1]


def make_agent(method: str, checkpoint: str | None, task: str, device: str = "cpu", **kwargs: Any) -> Agent:
    if method not in _FACTORIES:
        raise ValueError(
            f"unknown method {method!r}; registered: {', '.join(registered_methods())} "
            "(add one with mage.eval.registry.register_agent)"
        )
    return _FACTORIES[method][0](checkpoint, task, device, **kwargs)


_CKPT_CACHE: dict[tuple[str, str], Checkpoint] = {}


def _mage_factory(
    checkpoint: str | None,
    task: str,
    device: str,
    seed: int = 0,
    sampling: Mapping[str, Any] | None = None,
    rtg_update: str | None = None,
    track_lookahead: int | None = None,
) -> Agent:
    """MageAgent over a checkpoint loaded once per process. ``sampling``: SamplingConfig fields (default:
    the checkpoint's eval settings); ``rtg_update``: decrement | hold (default: the checkpoint's); the default
    R̂_0 is the checkpoint's eval.target_return, else its eval.rtg_percentile (100 if unset) of the dataset
    episode returns (a job's target_return overrides it at reset)."""
    if not checkpoint:
        raise ValueError("method 'mage' needs a checkpoint directory (--run-id or a checkpoint path)")
    key = (str(checkpoint), str(device))
    if key not in _CKPT_CACHE:
        _CKPT_CACHE[key] = load_checkpoint(checkpoint, device)
    ckpt = _CKPT_CACHE[key]
    ec = ckpt.cfg.eval
    pct = ec.rtg_percentile if ec.rtg_percentile is not None else 100.0
    default_target = resolve_target_return(
        ckpt.episode_returns, target_return=ec.target_return, rtg_percentile=pct
    )
    samp = SamplingConfig(**sampling) if sampling is not None else None  # None: MageAgent reads cfg.eval
    agent = MageAgent(
        ckpt,
        device,
        target_return=default_target,
        sampling=samp,
        seed=seed,
        rtg_update=rtg_update,
        track_lookahead=track_lookahead,
    )
    if ec.critic is None:
        return agent
    return CriticSelectAgent(agent, _critic(checkpoint, device, ec.critic), ec.critic_candidates)


def _load_once(
    cache: dict[tuple[str, str], Any],
    loader: Callable[[str, str], Any],
    checkpoint: str | None,
    device: str,
    method: str,
    what: str | None = None,
) -> Any:
    """``loader(checkpoint, device)`` once per process and device; the directory must hold ``method`` (``what``
    names it in the error, default ``'method'``)."""
    if not checkpoint:
        raise ValueError(
            f"method {method!r} needs a baseline directory (mage.baselines.train.train_baseline)"
        )
    key = (str(checkpoint), str(device))
    if key not in cache:
        cache[key] = loader(checkpoint, device)
    loaded = cache[key]
    if loaded.meta.method != method:
        raise ValueError(f"{checkpoint} holds baseline {loaded.meta.method!r}, not {what or repr(method)}")
    return loaded


def _critic(checkpoint: str, device: str, method: str) -> LoadedBaseline:
    """The ``eval.critic`` baseline stored in ``<checkpoint>/critic`` (loaded once per process)."""
    path = Path(checkpoint) / CRITIC_DIR
    if not (path / "meta.json").is_file():
        raise ValueError(
            f"eval.critic={method!r}, but {path} holds no trained baseline; sweeps/ablations.py --ablations a_cql "
            "trains it, or save one there with mage.baselines.train (or set eval.critic=none)"
        )
    return _load_once(_BASELINE_CACHE, load_baseline, str(path), device, method, f"eval.critic={method!r}")


def _waypoint_factory(checkpoint: str | None, task: str, device: str, **kw: Any) -> Agent:
    return WaypointAgent(task, **kw)


def _random_factory(checkpoint: str | None, task: str, device: str, **kw: Any) -> Agent:
    return RandomAgent(task=task, **kw)  # the task's action dims and bounds


def _mppi_factory(
    checkpoint: str | None, task: str, device: str, seed: int = 0, mppi: Mapping[str, Any] | None = None
) -> Agent:
    """MPPI on the true maze2d simulator (no checkpoint); ``mppi``: MPPIConfig fields (``--set mppi.KEY=V``)."""
    from mage.baselines.mppi import MPPIAgent, MPPIConfig

    return MPPIAgent(task, MPPIConfig.from_dict(dict(mppi or {}), where="mppi."), seed=seed)


_BASELINE_CACHE: dict[tuple[str, str], LoadedBaseline] = {}
_DIFFUSION_CACHE: dict[tuple[str, str], Any] = {}


def _diffusion_factory(method: str) -> AgentFactory:
    """Factory of one diffusion planner (``mage.baselines.diffusion``): loaded once per process and device;
    each agent samples with its own generator seeded by ``seed`` (the chunk's). ``replan_every``: None = the
    trained config's (0: plan once per episode). Return targets do not apply (DD conditions on test_ret)."""

    def factory(
        checkpoint: str | None,
        task: str,
        device: str,
        seed: int = 0,
        target_return: float | None = None,
        rtg_percentile: float | None = None,
        replan_every: int | None = None,
    ) -> Agent:
        from mage.baselines.diffusion.agent import DiffusionAgent
        from mage.baselines.diffusion.checkpoint import load_diffusion

        loaded = _load_once(_DIFFUSION_CACHE, load_diffusion, checkpoint, device, method)
        return DiffusionAgent(loaded, device, seed=seed, replan_every=replan_every)

    return factory


def _baseline_factory(method: str) -> AgentFactory:
    """Factory of one baseline (``mage.baselines``): its directory is loaded once per process. DT's
    default R̂_0 is ``target_return``, else the trained config's, else the ``rtg_percentile`` (100 if unset)
    of the episode returns it trained on (a job's target_return overrides it at reset). Diffusion planners:
    ``_diffusion_factory``."""
    if BASELINES[method].kind == "diffusion":
        return _diffusion_factory(method)

    def factory(
        checkpoint: str | None,
        task: str,
        device: str,
        seed: int = 0,
        target_return: float | None = None,
        rtg_percentile: float | None = None,
    ) -> Agent:
        loaded = _load_once(_BASELINE_CACHE, load_baseline, checkpoint, device, method)
        target = None
        if loaded.meta.transformer:
            target = resolve_target_return(
                loaded.episode_returns,
                target_return=target_return if target_return is not None else loaded.meta.target_return,
                rtg_percentile=100.0 if rtg_percentile is None else rtg_percentile,
            )
        return make_d3rlpy_agent(loaded, target_return=target)

    return factory


register_agent("mage", _mage_factory, per_chunk=True)
register_agent("waypoint", _waypoint_factory, per_chunk=True, needs_goal=True)
register_agent("random", _random_factory, per_chunk=True)
register_agent("mppi", _mppi_factory, per_chunk=True, needs_goal=True)
for _b in BASELINES.values():  # bc, ..., dt; bc-goal, iql-goal, dt-goal (need the goal); diffuser, hd, dd
    register_agent(_b.name, _baseline_factory(_b.name), per_chunk=True, needs_goal=_b.goal_conditioned)
