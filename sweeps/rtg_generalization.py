"""RTG generalisation: evaluate trained return-conditioned runs at many target returns R̂_0.

For each source run (``--run-ids``, or the best run per dataset of ``--best-of-experiment`` by
``eval/norm_score``) the targets are the dataset episode-return percentiles {10, 25, 50, 75, 90, 100}
(``mage.rtg_kind=percentile``) and out-of-distribution multiples {1.25, 1.5, 2.0} of the dataset's best
return (``mage.rtg_kind=ood``). Every (run, target, seed) is one rollout job; all jobs run at once on the Ray
rollout actors (``mage.distributed.rollouts``). Each (run, target) becomes one MLflow child run of the
study's parent run, with ``eval/episodes.parquet`` and the ``eval/*`` metrics of docs/architecture.md,
plus ``eval/target_norm_score`` and ``eval/return_minus_target`` (achieved minus asked).

Method-agnostic: the agent comes from the rollout registry by the source run's ``mage.method`` tag (MAGE now;
DT/DD once they register), loaded from the run's ``checkpoint/`` artifact, whose ``episode_returns.npy``
gives the percentiles (else the dataset is read and split as the run's config says).

    python sweeps/rtg_generalization.py --smoke                      # trains a smoke MAGE run first
    python sweeps/rtg_generalization.py --run-ids 3f2a... 9c1b... --seeds 0 1 2 --episodes 100
    python sweeps/rtg_generalization.py --best-of-experiment mage-hierarchy-depth
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python sweeps/rtg_generalization.py --smoke
    python analysis/rtg_generalization.py --parent-run-id latest     # tables and plots
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the checkout importable (it is also pip-installed)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from mage.cli.errors import guarded
from mage.tracking.context import Tracking
from mage.tracking.store import default_tracking_uri, project_root
from sweeps.driver.sources import Source, load_source, train_smoke_source
from sweeps.driver.study import build_jobs, run_study_jobs

SWEEP = "rtg_generalization"
EXPERIMENT = "mage-rtg"
PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0, 100.0)
OOD_MULTIPLES = (1.25, 1.5, 2.0)
SMOKE_PERCENTILES = (50.0, 100.0)
SMOKE_OOD = (1.5,)
METRIC = "eval/norm_score"


@dataclass(frozen=True)
class Target:
    kind: str  # percentile | ood
    value: float  # the percentile, or the multiple of the max
    target_return: float  # absolute R̂_0

    @property
    def label(self) -> str:
        return f"p{self.value:g}" if self.kind == "percentile" else f"{self.value:g}x"


def targets_for(returns_E: np.ndarray, percentiles: list[float], multiples: list[float]) -> list[Target]:
    from mage.eval.rtg import target_return

    out = [Target("percentile", float(p), target_return(returns_E, percentile=p)) for p in percentiles]
    out += [Target("ood", float(m), target_return(returns_E, multiple_of_max=m)) for m in multiples]
    return out


# ----------------------------------------------------------------------------------------------------------
# Sources


def best_runs(args: argparse.Namespace) -> list[str]:
    """--best-of-experiment: per dataset, the finished run with the highest eval/norm_score and a checkpoint."""
    from mage.tracking.sweep_runs import best_runs as best

    exp = args.best_of_experiment
    try:
        chosen = best(exp, args.tracking_uri, args.datasets_filter, args.method, metric=METRIC)
    except LookupError as e:
        raise SystemExit(f"--best-of-experiment {exp}: {e}") from None
    for rid, ds, score in chosen:
        print(f"[rtg] best of {exp} on {ds}: {rid} ({METRIC}={score:.1f})")
    return [rid for rid, _, _ in chosen]


def train_smoke_sources(args: argparse.Namespace) -> list[str]:
    """--smoke without run ids: train one smoke MAGE run per dataset (tiny data/model) to study."""
    ids = []
    for ds in args.datasets:
        tracking = Tracking(
            args.tracking_uri,
            args.train_experiment,
            run_name=f"rtg-smoke-source-{ds}",
            tags={"mage.sweep": SWEEP},
        )
        run_id, score = train_smoke_source(ds, tracking, storage=args.storage)
        print(f"[rtg] trained smoke source run {run_id} on {ds} ({METRIC}={score:.1f})")
        ids.append(run_id)
    return ids


# ----------------------------------------------------------------------------------------------------------
# Study


def log_child(args: argparse.Namespace, parent_id: str, src: Source, t: Target, df: pd.DataFrame) -> str:
    """One (source, target) as a child eval run: its episodes over all seeds, eval/* and the target metrics."""
    from mage.envs.registry import normalized_score
    from mage.eval.scores import summarize
    from mage.tracking.sweep_runs import log_child_evaluation

    metrics = summarize(df)
    metrics["eval/target_norm_score"] = float(normalized_score(src.task, t.target_return))
    metrics["eval/return_minus_target"] = metrics["eval/return_mean"] - t.target_return
    metrics["eval/seeds"] = float(df["eval_seed"].nunique())
    tags = {
        "mage.dataset": src.task,
        "mage.sweep": SWEEP,
        "mage.rtg_kind": t.kind,
        "mage.rtg_value": f"{t.value:g}",
        "mage.source_run_id": src.run_id or "",
        "mage.eval_seeds": ",".join(str(s) for s in args.seeds),
    }
    name = f"{src.method}-{src.task}-{t.label}-{(src.run_id or 'scripted')[:8]}"
    params = {
        "rtg.kind": t.kind,
        "rtg.value": t.value,
        "rtg.target_return": t.target_return,
        "eval.seeds": args.seeds,
        "eval.episodes_per_seed": args.episodes,
        "eval.num_envs": args.num_envs,
        "source.run_id": src.run_id or "",
        "source.checkpoint": src.checkpoint or "",
    }
    episodes = df.sort_values(["eval_seed", "episode"]).reset_index(drop=True)
    episodes["episode"] = np.arange(len(episodes))  # unique within the run across seeds; env_seed kept
    tracking = Tracking(args.tracking_uri, args.experiment, parent_id, run_name=name, tags=tags)
    return log_child_evaluation(
        tracking, method=src.method, params=params, episodes=episodes, metrics=metrics
    )


def start_parent(args: argparse.Namespace, sources: list[Source]) -> Any:
    from mage.tracking.sweep_runs import start_parent as start

    name = args.name or f"rtg{'-smoke' if args.smoke else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    params = {
        "study.percentiles": args.percentiles,
        "study.ood_multiples": args.ood_multiples,
        "study.seeds": args.seeds,
        "study.episodes_per_seed": args.episodes,
        "study.num_envs": args.num_envs,
        "study.source_run_ids": [s.run_id for s in sources],
        "study.num_actors": args.num_actors,
        "study.rtg_update": args.rtg_update or "run default",
    }
    tracking = Tracking(args.tracking_uri, args.experiment, run_name=name)
    return start(tracking, sweep=SWEEP, smoke=args.smoke, params=params, ray_address=args.address)


def run_study(args: argparse.Namespace) -> tuple[str, pd.DataFrame]:
    """Run the whole study; returns (parent run id, summary table)."""
    from mage.distributed.ray_init import available, init_ray
    from mage.tracking.sweep_runs import print_table

    if not (args.run_ids or args.best_of_experiment or args.smoke):
        raise SystemExit("give --run-ids or --best-of-experiment (or --smoke to train a smoke source run)")
    init_ray(args.address)
    run_ids = list(args.run_ids or [])
    if args.best_of_experiment:
        run_ids += best_runs(args)
    if not run_ids:
        run_ids = train_smoke_sources(args)
    sources = [load_source(r, args.tracking_uri, args.rtg_update) for r in run_ids]
    targets = [targets_for(s.returns_E, args.percentiles, args.ood_multiples) for s in sources]
    jobs = build_jobs(sources, targets, args.seeds, args.episodes)
    num_actors = args.num_actors or max(1, int(available("CPU")))
    parent = start_parent(args, sources)
    print(
        f"[rtg] parent run {parent.run_id} in {args.experiment} ({args.tracking_uri}): {len(sources)} source "
        f"run(s) x {len(targets[0])} targets x {len(args.seeds)} seed(s) x {args.episodes} episodes "
        f"on {num_actors} actor(s)",
        flush=True,
    )
    rows = []
    with parent:
        groups, stats, wall = run_study_jobs(
            jobs,
            num_actors=num_actors,
            num_envs=args.num_envs,
            actor_cpus=args.actor_cpus,
            progress=not args.quiet,
        )
        for (si, t), part in groups.items():
            src = sources[si]
            rows.append(
                {
                    "source_run": (src.run_id or "scripted")[:8],
                    "method": src.method,
                    "dataset": src.task,
                    "target": t.label,
                    "target_return": t.target_return,
                    "return_mean": part["return"].mean(),
                    "norm_score": part["norm_score"].mean(),
                    "episodes": len(part),
                    "child_run": log_child(args, parent.run_id, src, t, part),
                }
            )
        parent.log_metrics(
            {
                "study/children": len(rows),
                "study/episodes": stats.episodes,
                "study/env_steps": stats.env_steps,
                "study/wall_s": wall,
                "study/steps_per_s": stats.steps_per_s,
            }
        )
    table = pd.DataFrame(rows)
    print(
        f"\n[rtg] {len(rows)} child runs, {stats.episodes} episodes, {stats.env_steps} env steps in {wall:.1f} s "
        f"({stats.steps_per_s:.0f} steps/s); parent run {parent.run_id}"
    )
    print_table(table, float_format="{:.2f}")
    if args.report:
        report(args, parent.run_id)
    return parent.run_id, table


def report(args: argparse.Namespace, parent_run_id: str) -> None:
    """--report: the analysis tables and plots of this study, logged to its parent run. Run as its own
    process (``python -m analysis.rtg_generalization``): sweeps never import analysis/."""
    cmd = [
        sys.executable, "-m", "analysis.rtg_generalization", "--experiment", args.experiment,
        "--tracking-uri", args.tracking_uri, "--parent-run-id", parent_run_id, "--no-cache", "--log-to-mlflow",
    ]  # fmt: skip
    if args.report_out:
        cmd += ["--out", args.report_out]
    subprocess.run(cmd, cwd=project_root(), check=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    src = p.add_argument_group("source runs")
    src.add_argument("--run-ids", nargs="+", default=None, help="trained runs (with a checkpoint/ artifact)")
    src.add_argument(
        "--best-of-experiment",
        default=None,
        help="take the best run per dataset of this experiment by eval/norm_score",
    )
    src.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        help="with --best-of-experiment: only these datasets; with --smoke: datasets to train "
        "(default maze2d-umaze-v1)",
    )
    src.add_argument(
        "--method", default=None, help="with --best-of-experiment: only runs of this mage.method"
    )
    st = p.add_argument_group("study")
    st.add_argument(
        "--percentiles",
        nargs="+",
        type=float,
        default=None,
        help=f"dataset return percentiles (default {' '.join(f'{x:g}' for x in PERCENTILES)})",
    )
    st.add_argument(
        "--ood-multiples",
        nargs="+",
        type=float,
        default=None,
        help=f"multiples of the dataset max (default {' '.join(f'{x:g}' for x in OOD_MULTIPLES)})",
    )
    st.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="evaluation seeds (default 0 1 2; smoke 0)"
    )
    st.add_argument(
        "--episodes", type=int, default=None, help="episodes per seed and target (default 100; smoke 2)"
    )
    st.add_argument(
        "--num-envs", type=int, default=None, help="lockstep envs per rollout batch (default 50; smoke 2)"
    )
    st.add_argument(
        "--rtg-update",
        choices=("decrement", "hold"),
        default=None,
        help="R̂ after each step: decrement (DT) or hold R̂_0 (default: each run's eval.rtg_update)",
    )
    st.add_argument(
        "--smoke",
        action="store_true",
        help="CI size: 3 targets, 1 seed, 2 episodes; trains a smoke MAGE run if no run ids are given",
    )
    ex = p.add_argument_group("execution and tracking")
    ex.add_argument(
        "--num-actors", type=int, default=None, help="rollout actors (default: the cluster's CPUs)"
    )
    ex.add_argument("--actor-cpus", type=float, default=1.0, help="CPUs per rollout actor")
    ex.add_argument(
        "--address", default=None, help="Ray address (default $RAY_ADDRESS, else an embedded Ray)"
    )
    ex.add_argument("--experiment", default=EXPERIMENT, help="MLflow experiment of the study")
    ex.add_argument(
        "--train-experiment", default="mage-train", help="--smoke: experiment of the trained source run"
    )
    ex.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlruns.db)",
    )
    ex.add_argument(
        "--storage", default=None, help="--smoke training: Ray Train storage (default <project>/ray_results)"
    )
    ex.add_argument("--name", default=None, help="parent run name (default rtg[-smoke]-<timestamp>)")
    ex.add_argument(
        "--report",
        action="store_true",
        help="afterwards write the analysis tables/plots and log them to the parent run",
    )
    ex.add_argument(
        "--report-out", default=None, help="--report output dir (default analysis/out/rtg_generalization)"
    )
    ex.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    smoke = args.smoke
    args.percentiles = args.percentiles or list(SMOKE_PERCENTILES if smoke else PERCENTILES)
    args.ood_multiples = (
        args.ood_multiples if args.ood_multiples is not None else list(SMOKE_OOD if smoke else OOD_MULTIPLES)
    )
    args.seeds = args.seeds or ([0] if smoke else [0, 1, 2])
    args.episodes = args.episodes or (2 if smoke else 100)
    args.num_envs = args.num_envs or (2 if smoke else 50)
    args.datasets_filter = args.datasets
    if args.datasets is None:
        args.datasets = ["maze2d-umaze-v1"]
    args.tracking_uri = args.tracking_uri or default_tracking_uri()
    for p in args.percentiles:
        if not 0 <= p <= 100:
            raise SystemExit(f"--percentiles: {p} is not in [0, 100]")
    if any(m <= 0 for m in args.ood_multiples):
        raise SystemExit("--ood-multiples must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    from sweeps.driver.env import sweep_env

    args = resolve(build_parser().parse_args(argv))
    sweep_env()
    run_study(args)
    return 0


if __name__ == "__main__":
    sys.exit(guarded("sweeps/rtg_generalization.py", main))
