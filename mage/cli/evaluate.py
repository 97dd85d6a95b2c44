"""`mage evaluate`: roll out a trained run or checkpoint under a declared protocol; logs a child eval run.

mage evaluate --run-id <id> --episodes 100 --rtg-percentile 90  # a child eval run of <id>
mage evaluate --checkpoint DIR --local --protocol paper          # goal given, state tracking, hold
mage evaluate --method mppi --task maze2d-umaze-v1 --goal given   # a checkpoint-free agent (mppi, waypoint, random)
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mage.cli.output import print_cells, print_scores, ui_hint


def register(subparsers: argparse._SubParsersAction) -> None:
    e = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained run or checkpoint on Ray rollout actors; logs a child eval run",
        description="Roll out a checkpoint (from --run-id's checkpoint/ artifact or --checkpoint) and log "
        "eval/episodes.parquet and eval/* metrics to a child run of the training run.",
    )
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--run-id", default=None, help="MLflow run id of a training run")
    src.add_argument("--checkpoint", default=None, help="checkpoint directory")
    src.add_argument(
        "--method",
        choices=SCRIPTED_METHODS,
        default=None,
        help="a registered agent without a checkpoint: mppi (MPPI on the true maze2d simulator), waypoint "
        "(D4RL's controller), random; needs --task; mppi and waypoint need the goal (--goal given)",
    )
    e.add_argument("--episodes", type=int, default=100, help="episodes (default 100)")
    tgt = e.add_mutually_exclusive_group()
    tgt.add_argument("--rtg-percentile", type=float, default=None, help="R̂_0 percentile of dataset returns")
    tgt.add_argument("--target-return", type=float, default=None, help="absolute R̂_0")
    e.add_argument("--task", default=None, help="task to evaluate on (default: the checkpoint's dataset)")
    e.add_argument(
        "--allow-other-data",
        action="store_true",
        help="let --task be a task of other data than the checkpoint's (another maze: a transfer evaluation)",
    )
    e.add_argument("--seed", type=int, default=0, help="env seed of episode 0 (episode i: seed + i)")
    e.add_argument("--num-envs", type=int, default=50, help="lockstep envs per batch (default 50)")
    e.add_argument("--actors", type=int, default=2, help="rollout actors (default 2)")
    e.add_argument("--local", action="store_true", help="roll out in this process, no Ray")
    e.add_argument("--device", default="cpu", help="agent device (cpu or cuda)")
    e.add_argument(
        "--rtg-update",
        choices=("decrement", "hold"),
        default=None,
        help="R̂ update after each step: decrement (DT) or hold R̂_0 (default: the checkpoint's eval.rtg_update)",
    )
    e.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: the run's, else mage-train)"
    )
    e.add_argument(
        "--protocol",
        choices=("pure", "paper"),
        default="pure",
        help="pure: state + R̂ only, own action, no hold (track R, the paper's text; default); paper: goal given, "
        "track the planned states, hold at the goal (track G, how Diffuser/HD measured Maze2D; docs/protocol.md)",
    )
    e.add_argument("--goal", choices=("none", "given"), default=None, help="override: pass the env's goal")
    e.add_argument(
        "--acting", choices=("own", "track"), default=None, help="override: own action or tracking"
    )
    e.add_argument(
        "--hold",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override: hold at the goal once within 0.5 (privileged: reads the goal)",
    )
    e.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="agent setting for this evaluation, repeatable: eval.sampling, eval.temperature, eval.top_k, "
        "eval.rtg_update, eval.goal, eval.acting, eval.hold; with --method mppi: mppi.horizon, mppi.samples, "
        "... (mage.baselines.mppi.MPPIConfig) (same grammar as mage train --set)",
    )
    e.add_argument(
        "--row-name",
        default=None,
        help="tables show this evaluation in a row of its own, e.g. 'GPU budget' (tag mage.row): runs of "
        "another row name are never averaged with it as seeds",
    )
    e.add_argument("--no-log", action="store_true", help="print the scores only")
    e.add_argument(
        "--by-cell",
        action="store_true",
        help="maze2d: also print success and first arrival by start cell, goal cell and cells apart",
    )
    e.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.local or os.environ.get("RAY_ADDRESS", "local") == "local":  # rollouts on this machine
        from mage.loop import check_device

        check_device(args.device, "--device")
    if args.episodes < 1:
        raise SystemExit(f"error: --episodes {args.episodes} must be >= 1")
    protocol = eval_protocol(args)
    if args.by_cell and args.task:
        _check_by_cell(args.task)
    if args.method:
        agent_kwargs = scripted_agent_kwargs(args, protocol)  # bad task / --set / protocol: before Ray
    else:
        agent_kwargs = eval_agent_kwargs(args.overrides, args.rtg_update)  # bad --set: fail before Ray starts
    if not args.no_log:
        from mage.tracking.reaper import reap_at_start

        reap_at_start()  # also fails fast on a tracking server that does not answer
    elif args.run_id:
        from mage.tracking.store import check_tracking_reachable

        check_tracking_reachable()  # the checkpoint comes from the store
    if not args.local:
        from mage.distributed.ray_init import init_ray

        init_ray()
    pct = args.rtg_percentile
    if pct is None and args.target_return is None:
        pct = 100.0  # the paper's R̂_0: the best dataset return
    tags: dict[str, Any] = {}
    if args.rtg_percentile is not None:
        tags = {"mage.rtg_kind": "percentile", "mage.rtg_value": args.rtg_percentile}
    if args.rtg_update:
        tags["mage.rtg_update"] = args.rtg_update
    if args.row_name:
        tags["mage.row"] = args.row_name
    try:
        res = _evaluate(args, pct, tags, agent_kwargs, protocol)
    except (ValueError, FileNotFoundError) as e:  # wrong run id / checkpoint / task: one clear line
        raise SystemExit(f"error: {e}") from None
    print(
        f"protocol: {protocol.label}" + (" (hold is privileged: it reads the goal)" if protocol.hold else "")
    )
    task = str(res.episodes["task"].iloc[0]) if len(res.episodes) else None
    print_scores(res.metrics, task)
    if args.by_cell and task is not None:
        try:
            print_cells(res.episodes, task)
        except ValueError as e:  # a checkpoint's own task that is not a maze: the scores above still stand
            print(f"--by-cell: {e}")
    if not args.method:
        print(f"target return: {res.metrics['eval/target_return']:.1f}")
    if res.run_id:
        print(f"MLflow run id: {res.run_id}" + (f" (child of {args.run_id})" if args.run_id else ""))
        print(ui_hint())
    return 0


def _check_by_cell(task: str) -> None:
    """--by-cell on a task without a maze fails before any rollout (an unknown task is reported later)."""
    from mage.envs.registry import get_spec

    try:
        maze = get_spec(task).maze
    except (KeyError, ValueError):
        return
    if maze is None:
        raise SystemExit(f"error: --by-cell needs a maze2d task (grid cells); {task} has no maze")


SCRIPTED_METHODS = ("mppi", "waypoint", "random")  # registered agents that need no checkpoint
AGENT_EVAL_KEYS = (
    "eval.sampling",
    "eval.temperature",
    "eval.top_k",
    "eval.plan_scales",
    "eval.rtg_update",
    "eval.track_lookahead",
)
PROTOCOL_KEYS = ("eval.goal", "eval.acting", "eval.hold")


def eval_protocol(args: argparse.Namespace):
    """The evaluation protocol: the ``--protocol`` preset, then ``--set eval.goal|acting|hold``, then the
    ``--goal``/``--acting``/``--hold`` flags."""
    from mage.config import ConfigError, EvalConfig, parse_overrides
    from mage.eval.protocol import PROTOCOLS, EvalProtocol

    fields = PROTOCOLS[args.protocol].to_dict()
    try:
        ov = {k: v for k, v in parse_overrides(args.overrides).items() if k in PROTOCOL_KEYS}
        ec = EvalConfig.from_dict({k.split(".", 1)[1]: v for k, v in ov.items()}, where="eval.")
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    fields.update({k.split(".", 1)[1]: getattr(ec, k.split(".", 1)[1]) for k in ov})
    for k in ("goal", "acting", "hold"):
        if getattr(args, k, None) is not None:
            fields[k] = getattr(args, k)
    return EvalProtocol(**fields)


def eval_agent_kwargs(items: list[str], rtg_update: str | None = None) -> dict[str, Any] | None:
    """``mage evaluate --set``: agent settings of ``eval.*`` (validated like the config) -> factory kwargs."""
    from mage.config import ConfigError, EvalConfig, parse_overrides

    try:
        ov = {k: v for k, v in parse_overrides(items).items() if k not in PROTOCOL_KEYS}
        bad = sorted(k for k in ov if k not in AGENT_EVAL_KEYS)
        if bad:
            raise ConfigError(
                f"mage evaluate --set takes only {', '.join(AGENT_EVAL_KEYS + PROTOCOL_KEYS)} (got "
                f"{', '.join(bad)}); episodes, seed, num_envs and the target have their own flags"
            )
        ec = EvalConfig.from_dict({k.split(".", 1)[1]: v for k, v in ov.items()}, where="eval.")
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    kw: dict[str, Any] = {}
    if {"eval.sampling", "eval.temperature", "eval.top_k", "eval.plan_scales"} & set(ov):
        kw["sampling"] = {
            "greedy": ec.sampling == "greedy",
            "temperature": ec.temperature,
            "top_k": ec.top_k,
            "scales": ec.plan_scales,
        }
    if "eval.track_lookahead" in ov:
        kw["track_lookahead"] = ec.track_lookahead
    if "eval.rtg_update" in ov or rtg_update:
        kw["rtg_update"] = rtg_update or ec.rtg_update
    return kw or None


def scripted_agent_kwargs(args: argparse.Namespace, protocol: Any) -> dict[str, Any] | None:
    """``--method``: check the task, the ``--set mppi.*`` settings and the protocol, and build the agent once,
    so a wrong combination is one clear error before Ray starts; returns the factory kwargs."""
    from mage.agent import StatePlanner
    from mage.baselines.mppi import MPPIConfig
    from mage.config import ConfigError, parse_overrides
    from mage.eval.jobs import RolloutJob
    from mage.eval.registry import make_agent

    if not args.task:
        raise SystemExit(f"error: --method {args.method} needs --task (e.g. --task maze2d-umaze-v1)")
    try:
        ov = {k: v for k, v in parse_overrides(args.overrides).items() if k not in PROTOCOL_KEYS}
        mppi = {k.split(".", 1)[1]: v for k, v in ov.items() if k.startswith("mppi.")}
        bad = sorted(k for k in ov if not (k.startswith("mppi.") and args.method == "mppi"))
        if bad or args.rtg_update:
            raise ConfigError(
                f"--method {args.method} takes only --set {', '.join(PROTOCOL_KEYS)}"
                + (", mppi.*" if args.method == "mppi" else "")
                + f" (got {', '.join(bad) or '--rtg-update'}); eval.sampling, --rtg-update, ... are MAGE's"
            )
        kw: dict[str, Any] = {"mppi": MPPIConfig.from_dict(mppi, where="mppi.").to_dict()} if mppi else {}
        agent = make_agent(args.method, None, args.task, args.device, **kw)
        RolloutJob(args.method, None, args.task, args.seed, None, args.episodes, kw, protocol)
        if protocol.acting == "track" and not isinstance(agent, StatePlanner):
            raise ValueError(f"--method {args.method} plans no states, so acting='track' does not apply; "
                             "use --acting own (e.g. --goal given --acting own --hold)")  # fmt: skip
    except (ValueError, KeyError) as e:
        needs = "goal='given'" in str(e) and protocol.goal != "given"
        hint = " (mage evaluate: --goal given)" if needs else ""
        raise SystemExit(f"error: {e.args[0] if isinstance(e, KeyError) else e}{hint}") from None
    return kw or None


def _evaluate(
    args: argparse.Namespace,
    pct: float | None,
    tags: dict[str, Any],
    agent_kwargs: dict[str, Any] | None,
    protocol: Any,
):
    from mage.distributed.rollouts import actor_runner
    from mage.tracking.evaluation import evaluate_checkpoint

    name = f"eval-{args.run_id[:8]}" if args.run_id else f"eval-{args.method}" if args.method else "eval"
    return evaluate_checkpoint(
        args.checkpoint,
        run_id=args.run_id,
        method=args.method or "mage",
        task=args.task,
        episodes=args.episodes,
        seed=args.seed,
        num_envs=min(args.num_envs, args.episodes),
        target_return=args.target_return,
        rtg_percentile=pct,
        protocol=protocol,
        runner=actor_runner(0 if args.local else args.actors, device=args.device),
        log=not args.no_log,
        child_run=args.run_id is not None,
        experiment=args.experiment,
        run_name=name,
        tags=tags,
        agent_kwargs=agent_kwargs,
        allow_other_data=args.allow_other_data,
    )
