"""``mage data {generate,info,list,refs}``: datasets and reference returns. Heavy imports stay in handlers."""

from __future__ import annotations

import argparse
import sys
import time

from mage.cli.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="generate, inspect and list datasets; measure reference returns")
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    g = sub.add_parser(
        "generate",
        help="generate a D4RL-format dataset (maze2d: D4RL's recipe; {hopper,halfcheetah,walker2d}-random-mage: "
        "random actions; "
        "hopper-{medium,medium-replay,expert}-mage: d3rlpy SAC trained here, resumable)",
    )
    g.add_argument("name", help="task or dataset name, e.g. maze2d-umaze-v1")
    g.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps in the stream (default 1,000,000; SAC recipes: rollout steps, none for medium-replay)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--out", default=None, help="output file (default $MAGE_DATA_DIR/NAME.hdf5)")
    g.add_argument("--if-missing", action="store_true", help="do nothing if the dataset file already exists")
    g.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file even if it holds another recipe (steps, seed, maze), or regenerate it",
    )
    sac = g.add_argument_group("SAC recipes (hopper-*-mage but random; mage.data.generate_sac)")
    sac.add_argument(
        "--sac-steps",
        type=int,
        default=None,
        help="cap on SAC env steps, rounded up to whole checkpoints (default 1,000,000); resumable",
    )
    sac.add_argument(
        "--target-return",
        type=float,
        default=None,
        help="sampled eval return that picks the medium checkpoint (default D4RL REF_MAX / 3 = 1078.1); "
        "expert: stop early there (default: train to --sac-steps)",
    )
    sac.add_argument(
        "--work-dir", default=None, help="training run dir (default $MAGE_DATA_DIR/sac/ENV-seedSEED)"
    )
    sac.add_argument(
        "--set",
        dest="sac_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="SAC recipe field (mage.data.sac_recipe.SACRecipeConfig), e.g. --set hidden=64,64",
    )
    g.set_defaults(func=_generate)

    i = sub.add_parser("info", help="statistics of a dataset (name, .hdf5 path or minari:<id>)")
    i.add_argument(
        "name", help="dataset name, path to a D4RL .hdf5 file, or minari:<id> (a local Minari dataset)"
    )
    i.set_defaults(func=_info)

    ls = sub.add_parser("list", help="every task: family, env, horizon, dataset, data source and file status")
    ls.set_defaults(func=_list)

    r = sub.add_parser("refs", help="re-measure our reference returns (random / waypoint controller)")
    r.add_argument("--episodes", type=int, default=100, help="episodes per task and agent (default 100)")
    r.add_argument("--seed", type=int, default=0, help="first env seed (default 0)")
    r.add_argument("--tasks", nargs="*", default=None, help="task names (default: all)")
    r.set_defaults(func=_refs)

    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _generate(args: argparse.Namespace) -> int:
    """Checks every input before generating: the name, --steps/--seed, a writable --out, and an existing file
    with another recipe (refused unless --force; the same recipe is kept unless --force)."""
    from pathlib import Path

    from mage.data.d4rl_io import DatasetError, default_path
    from mage.data.generate import check_output, existing_recipe_matches, generate_dataset, recipe
    from mage.envs.registry import get_spec

    try:
        spec = get_spec(args.name)
    except KeyError as e:
        raise CliError(e.args[0], 2) from None
    if str(get_spec(spec.dataset).recipe).startswith("sac-"):
        return _generate_sac(args)
    given = [
        o
        for o, v in (
            ("--sac-steps", args.sac_steps),
            ("--target-return", args.target_return),
            ("--work-dir", args.work_dir),
            ("--set", args.sac_set or None),
        )
        if v is not None
    ]
    if given:
        raise CliError(
            f"{', '.join(given)} apply only to the SAC recipes (hopper-medium-mage, ...), not {spec.name}", 2
        )
    args.steps = 1_000_000 if args.steps is None else args.steps
    if args.steps < 1:
        raise CliError(f"--steps {args.steps} must be >= 1 (default 1,000,000)", 2)
    if not 0 <= args.seed < 2**32:
        raise CliError(f"--seed {args.seed} must be in [0, 2**32)", 2)
    out = Path(args.out) if args.out else default_path(spec.dataset)
    if args.if_missing and out.is_file():
        print(f"{out} exists; skipping (--if-missing)")
        return 0
    try:
        check_output(out)
        if existing_recipe_matches(out, recipe(spec.dataset, args.steps, args.seed), args.force):
            same = f"{args.steps:,} steps, seed {args.seed}"
            print(f"{out} exists with the same recipe ({same}); kept (--force regenerates it)")
            return 0
        t0 = time.perf_counter()
        path = generate_dataset(spec.dataset, steps=args.steps, seed=args.seed, out=out, force=args.force)
    except DatasetError as e:
        raise CliError(str(e)) from None
    dt = time.perf_counter() - t0
    print(f"wrote {path} ({args.steps:,} steps, seed {args.seed}) in {dt:.1f} s")
    return 0


def _generate_sac(args: argparse.Namespace) -> int:
    """Train (or resume) SAC and write one of its datasets; every option is checked before training."""
    from pathlib import Path

    from mage.config_base import ConfigError, parse_overrides
    from mage.data.d4rl_io import DatasetError, default_path
    from mage.data.generate_sac import generate_sac_dataset, sac_spec
    from mage.data.sac_recipe import SACRecipeConfig

    spec = sac_spec(args.name)
    if not 0 <= args.seed < 2**32:
        raise CliError(f"--seed {args.seed} must be in [0, 2**32)", 2)
    if args.if_missing and Path(args.out or default_path(spec.name)).is_file():
        print(f"{args.out or default_path(spec.name)} exists; skipping (--if-missing)")
        return 0
    replay = spec.recipe == "sac-medium-replay"
    steps = args.steps if args.steps is not None or replay else 1_000_000
    try:
        sets = parse_overrides(args.sac_set)
        if "seed" in sets:
            raise ConfigError(
                "--set seed=... is not a recipe field here; pass --seed (it seeds SAC and rollouts)"
            )
        cfg = SACRecipeConfig.from_dict({**sets, "seed": args.seed})
    except ConfigError as e:
        raise CliError(str(e), 2) from None
    t0 = time.perf_counter()
    try:
        path = generate_sac_dataset(
            spec.name,
            cfg,
            steps=steps,
            sac_steps=1_000_000 if args.sac_steps is None else args.sac_steps,
            target=args.target_return,
            work_dir=args.work_dir,
            out=args.out,
            force=args.force,
        )
    except DatasetError as e:
        raise CliError(str(e)) from None
    print(f"{path} ready ({spec.name}, seed {args.seed}) after {time.perf_counter() - t0:.1f} s")
    return 0


def _info(args: argparse.Namespace) -> int:
    """Statistics of a dataset; non-zero when it is unreadable or its shapes fit no known task."""
    from mage.data.d4rl_io import DatasetError, find_dataset, load_dataset, matching_tasks, task_shapes
    from mage.data.minari_io import is_minari
    from mage.data.stats import dataset_stats, format_stats
    from mage.envs.maze2d import Maze2DEnv
    from mage.envs.registry import TASKS, get_spec

    try:
        path = find_dataset(args.name)
        # minari:<id> is read by id (load_minari), a file by its path
        data = load_dataset(
            args.name if is_minari(args.name) else path, task=args.name if args.name in TASKS else None
        )
    except DatasetError as e:
        raise CliError(str(e)) from None
    task = args.name if args.name in TASKS else str(data.get("metadata/task", ""))
    fits = matching_tasks(data)
    if not fits or (task in TASKS and task not in fits):
        names = [task] if task in TASKS else list(TASKS)
        by_shape: dict[tuple, list[str]] = {}
        for t in names:
            by_shape.setdefault(task_shapes(t), []).append(t)
        known = "; ".join(
            f"observations {o}, actions {a}: {', '.join(ts)}" for (o, a), ts in by_shape.items()
        )
        target = f"its task {task}" if task in TASKS else "any known task"
        raise CliError(
            f"{path} has per-step shapes observations {data['observations'].shape[1:]}, actions "
            f"{data['actions'].shape[1:]}, which do not fit {target} ({known}); pass a dataset of one of these"
        )
    maze = get_spec(task).maze if task in TASKS else None
    goal = Maze2DEnv(maze).eval_goal if maze is not None else None
    print(format_stats(task or args.name, str(path), dataset_stats(data, goal)))
    return 0


SOURCES = {
    "maze2d-waypoint": "generate (D4RL maze2d recipe)",
    "random-actions": "generate (uniform random actions)",
    "sac-medium": "generate (SAC medium; hours)",
    "sac-medium-replay": "generate (SAC replay; hours)",
    "sac-expert": "generate (SAC expert; hours)",
    None: "D4RL file only",
}


def _list(args: argparse.Namespace) -> int:
    """One row per task: family, env id, horizon, whether episodes terminate early, goal, dataset, how its
    data comes to exist, and the file found (or the command / place that provides it). A task with a known
    Minari dataset present in the local Minari root also names it (``minari:<id>``, the ``data.path`` that
    reads it; ``mage.data.minari_io``)."""
    from mage.data.d4rl_io import DatasetError, d4rl_dataset_dir, file_names, find_dataset
    from mage.data.generate_sac import SAC_RECIPES, sac_status
    from mage.data.minari_io import local_ids, minari_dir
    from mage.envs.registry import list_specs

    specs = list_specs()
    wt, we = max(len(s.name) for s in specs), max(len(s.env_id) for s in specs)
    print(
        f"{'task':{wt}s} {'family':10s} {'env id':{we}s} {'H':>5s} {'term':4s} {'goal':4s} "
        f"{'dataset':{wt}s} {'source':34s} file"
    )
    for s in specs:
        try:
            where = str(find_dataset(s.dataset))
        except DatasetError:
            if s.recipe is not None:
                status = sac_status(s.dataset) if s.recipe in SAC_RECIPES else None
                where = f"missing (mage data generate {s.dataset}{'; ' + status if status else ''})"
            else:
                where = f"missing (put D4RL's {file_names(s.dataset)[-1]} in {d4rl_dataset_dir()})"
        for mid in local_ids(s.name):  # on the task's own line: one row per task
            where += f"; Minari: data.path=minari:{mid} ({minari_dir(mid)})"
        print(
            f"{s.name:{wt}s} {s.family:10s} {s.env_id:{we}s} {s.horizon:5d} {'yes' if s.terminates else 'no':4s} "
            f"{'yes' if s.has_goal else 'no':4s} {s.dataset:{wt}s} {SOURCES.get(s.recipe, str(s.recipe)):34s} {where}"
        )
    return 0


def _refs(args: argparse.Namespace) -> int:
    from mage.envs.registry import get_spec, list_specs
    from mage.eval.refs import reference_returns

    if args.episodes < 1:
        raise CliError(f"--episodes {args.episodes} must be >= 1 (default 100)", 2)
    names = args.tasks or [s.name for s in list_specs()]
    try:
        specs = {name: get_spec(name) for name in names}  # every name checked before the first rollout
    except KeyError as e:
        raise CliError(e.args[0], 2) from None
    print(f"# mage data refs --episodes {args.episodes} --seed {args.seed}")
    print(
        "| task | D4RL REF_MIN | D4RL REF_MAX | ours min (random) | ours max (waypoint, D4RL protocol) | waypoint re-planning |"
    )
    print("|---|---|---|---|---|---|")

    def fmt(x: float | None) -> str:
        return "—" if x is None or x != x else f"{x:.2f}"  # x != x: NaN (no controller for the task)

    for name in names:
        spec = specs[name]
        t0 = time.perf_counter()
        r = reference_returns(name, episodes=args.episodes, seed=args.seed)
        print(
            f"| {name} | {fmt(spec.d4rl_ref_min)} | {fmt(spec.d4rl_ref_max)} | {fmt(r['random'])} | "
            f"{fmt(r['waypoint'])} | {fmt(r['waypoint_replan'])} |",
            flush=True,
        )
        print(f"  ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0
