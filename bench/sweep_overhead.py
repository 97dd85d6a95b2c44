"""Fixed cost per sweep trial: where a trial's wall time goes, for the smoke sweep and a realistic trial.

    .venv/bin/python bench/sweep_overhead.py [--workloads smoke demo] [--variants lean one] [--repeats 1]
        [--demo-epochs 4 8] [--demo-episodes 100] [--cpus 2] [--out runs/bench/sweep_overhead.json]

Each (workload, variant) is a one-trial hierarchy-depth sweep run by this process (the sweep driver of
``sweeps/``: a Tune trial, both stages on Ray Train, evaluation on a rollout actor, an MLflow child run in a
temporary sqlite store) on a fresh embedded Ray; runs alternate between variants. Workloads: ``smoke``
(``hierarchy_depth.py --smoke --K 1``) and ``demo`` (the preset of ``make run``: K = 5 on maze2d-umaze-v1,
4 x 100 + 8 x 100 optimiser steps, 100 episodes; ``--demo-epochs`` / ``--demo-episodes`` shorten it, and the
report then also projects the share onto the full preset from the measured per-step and per-epoch times).
Variants: ``ray`` = Ray Train's defaults, two fits (``MAGE_LEAN_TRAIN=0 MAGE_ONE_FIT=0``); ``lean`` =
``mage.distributed.trainer``, two fits (``MAGE_LEAN_TRAIN=1 MAGE_ONE_FIT=0``); ``one`` = lean, both stages in
one fit (``MAGE_LEAN_TRAIN=1 MAGE_ONE_FIT=1``, the default of ``run_experiment``).

The parts come from the trial's own records: its run's ``time/*`` metrics (fit walls, evaluation), the
timestamps of its per-epoch metrics (rank 0 logs each epoch as it ends), the loop's ``throughput/windows_per_s``
(the optimiser steps' own timer) and Ray's actor table (when each controller, Train worker, rollout actor and the
Tune trial actor came up and ended). The shape follows the number of TrainControllers. Two fits (``ray``,
``lean``), per stage: ``controller start`` (fit() until the TrainController is up), ``worker start`` (until the
RayTrainWorker is up), ``worker setup`` (until its first optimiser step: imports, process group, MLflow attach,
data loading, model; ``data loading`` is timed again here with ``prepare_data`` on the same config), ``steps``,
``epoch extras`` (validation, checkpoint, report, MLflow log per epoch) and ``teardown`` (last epoch logged until
fit() returned); fit walls = ``time/{stage}_s``. One fit (``one``; wall = ``time/train_s``): ``train:
controller start``, ``train: worker start``, ``train: worker setup`` (until the first stage-1 step), stage 1's
``steps`` and ``epoch extras``, ``tokenizer publish (in-worker, between stages)`` (last stage-1 epoch logged
until the first stage-2 step: stage 1's last checkpoint, the ``tokenizer/`` artifact and tag, stage-2 setup),
stage 2's ``steps`` and ``epoch extras``, and ``train: teardown`` (last stage-2 epoch logged until fit()
returned). Overhead = everything except steps, epoch extras and rollouts, as a share of the trial's wall time
(sweep start until the Tune trial actor ended). Fit ends are the controllers' end times (Ray's, +-0.1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = (("tokenizer", "tok/loss"), ("policy", "pol/loss"))
WORK = {"steps", "epoch extras", "rollouts + eval log"}  # everything else is overhead
PUBLISH = "tokenizer publish (in-worker, between stages)"  # one fit only
VARIANTS = {"ray": ("0", "0"), "lean": ("1", "0"), "one": ("1", "1")}  # (MAGE_LEAN_TRAIN, MAGE_ONE_FIT)
TRIAL_PARTS = (  # the trial's own parts, outside the fits (same in both shapes)
    "sweep start + trial actor up",
    "trial start (imports, data check, run)",
    "eval: rollout actor start",
    "trial end (log, Tune report)",
)
START_UP = ("controller start", "worker start", "worker setup")
ORDER = [  # rows of the report; a trial has the two-fit rows (ray, lean) or the one-fit rows (one)
    *TRIAL_PARTS[:2],
    *[f"{s}: {p}" for s in ("tokenizer", "policy", "train") for p in START_UP],
    *[f"tokenizer: {p}" for p in ("steps", "epoch extras", "teardown")],
    PUBLISH,  # one fit: from stage 1's last epoch log to stage 2's first step
    *[f"policy: {p}" for p in ("steps", "epoch extras", "teardown")],
    "train: teardown",
    "MLflow between stages (artifacts)",
    "MLflow after the fit (checkpoint artifact)",
    "eval: rollout actor start",
    "rollouts + eval log",
    "trial end (log, Tune report)",
]


def sweep_argv(workload: str, tmp: Path, name: str, args: argparse.Namespace) -> list[str]:
    common = ["--tracking-uri", f"sqlite:///{tmp}/mlruns.db", "--storage", str(tmp / "ray"), "--name", name]
    common += ["--experiment", f"bench-{name}", "--max-concurrent", "1"]
    if workload == "smoke":
        return ["--smoke", "--K", "1", *common]
    tok, pol = args.demo_epochs
    sets = [
        f"train.tokenizer_epochs={tok}",
        f"train.policy_epochs={pol}",
        f"eval.episodes={args.demo_episodes}",
    ]
    flags = ["--preset", "demo", "--K", "5", "--datasets", "maze2d-umaze-v1", "--seeds", "0", *common]
    return flags + [a for s in sets for a in ("--set", s)]


def run_one(workload: str, variant: str, rep: int, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One sweep on a fresh embedded Ray; returns the trial's records (run, metric history, actor table)."""
    import ray

    from mage.distributed.ray_init import init_ray, shutdown_ray
    from mage.distributed.train import ONE_FIT_ENV
    from mage.distributed.trainer import LEAN_ENV
    from mage.tracking.query import get_run, metric_history, search_runs
    from sweeps import hierarchy_depth
    from sweeps.driver.cli import resolve_defaults
    from sweeps.driver.run import run_sweep

    name = f"{workload}-{variant}-{rep}"
    meter = CpuMeter().__enter__()
    lean, one_fit = VARIANTS[variant]
    init_ray(num_cpus=args.cpus, env_vars={LEAN_ENV: lean, ONE_FIT_ENV: one_fit})
    parsed = hierarchy_depth.make_parser().parse_args(sweep_argv(workload, tmp, name, args))
    resolve_defaults(parsed)
    t0 = time.time()
    rc = run_sweep(hierarchy_depth.make_sweep(parsed.K, parsed.datasets, parsed.seeds), parsed)
    actors = [
        {"cls": a["ActorClassName"], "start": a["StartTime"] / 1e3, "end": a["EndTime"] / 1e3}
        for a in ray._private.state.actors().values()
    ]
    shutdown_ray()
    meter.__exit__()
    cpu_s = meter.total()
    if rc != 0:
        raise SystemExit(f"sweep {name} failed (exit {rc})")
    uri = f"sqlite:///{tmp}/mlruns.db"
    runs = search_runs(f"bench-{name}", tracking_uri=uri, run_type="trial")
    run = get_run(str(runs["run_id"].iloc[0]), tracking_uri=uri)
    keys = [k for _, k in STAGES] + ["throughput/windows_per_s"]
    hist = metric_history(run.info.run_id, keys, tracking_uri=uri)
    return {
        "workload": workload,
        "variant": variant,
        "t0": t0,
        "run_start": run.info.start_time / 1e3,
        "run_end": run.info.end_time / 1e3,
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "history": hist.to_dict("records"),
        "actors": actors,
        "cpu_s": cpu_s,
    }


class CpuMeter:
    """CPU seconds of this process and every process below it (the embedded Ray's GCS, raylet and all its
    workers), sampled from /proc every 0.25 s: each process's last sample counts (a process that ends loses
    < 0.25 s). Less sensitive than wall time to what else runs on the machine. Raylets do not reap their workers
    in a way that reaches ``RUSAGE_CHILDREN``, hence the sampling."""

    def __init__(self) -> None:
        import threading

        self.seen: dict[tuple[int, int], float] = {}
        self.base: dict[tuple[int, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuMeter:
        self._sample()
        self.base = dict(self.seen)  # this process's CPU so far (imports, earlier runs) does not count
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def total(self) -> float:
        return sum(v - self.base.get(k, 0.0) for k, v in self.seen.items())

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def _sample(self) -> None:
        tick, stats = os.sysconf("SC_CLK_TCK"), {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(d)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick, int(f[19]))  # ppid, cpu, start
        mine, frontier = set(), {os.getpid()}
        while frontier:
            mine |= frontier
            frontier = {p for p, (pp, _, _) in stats.items() if pp in frontier and p not in mine}
        for p in mine:
            self.seen[(p, stats[p][2])] = stats[p][1]


def _by_class(actors: list[dict], cls: str) -> list[dict]:
    # Ray names some classes by their qualname (wrap_function.<locals>.ImplicitFunc).
    return sorted((a for a in actors if a["cls"].rsplit(".", 1)[-1] == cls), key=lambda a: a["start"])


def _epochs(hist: list[dict], key: str, thr: dict, windows: float) -> tuple[list[float], list[float], float]:
    """One stage's epoch-log times (s), optimiser seconds per epoch and mean extras per epoch; the stage's
    first step is at ``logs[0] - steps[0] - extra``, so steps + extras fill it exactly until ``logs[-1]``."""
    stamps = sorted(h["timestamp"] for h in hist if h["key"] == key)
    steps = [windows / thr[t] for t in stamps]  # by the loop's own timer (windows / (windows/s))
    logs = [t / 1e3 for t in stamps]
    extras = [max(0.0, b - a - s) for a, b, s in zip(logs, logs[1:], steps[1:], strict=False)]
    return logs, steps, statistics.mean(extras) if extras else 0.0


def parts(rec: dict[str, Any]) -> dict[str, float]:
    """Seconds per part of one trial (the rows of ``ORDER`` of its shape: two fits or one), from its records."""
    m, act = rec["metrics"], rec["actors"]
    windows = float(rec["params"]["train.steps_per_epoch"]) * float(rec["params"]["train.batch_size"])
    trials = _by_class(act, "ImplicitFunc")
    if len(trials) != 1:
        raise ValueError(
            f"expected one Tune trial actor, got {len(trials)}: {sorted({a['cls'] for a in act})}"
        )
    trial = trials[0]
    ctrls, workers = _by_class(act, "TrainController"), _by_class(act, "RayTrainWorker")
    one = len(ctrls) == 1
    if len(ctrls) not in (1, 2) or one != ("time/train_s" in m):
        raise ValueError(f"{len(ctrls)} TrainControllers, time/train_s logged: {'time/train_s' in m}")
    hist = rec["history"]
    thr = {h["timestamp"]: h["value"] for h in hist if h["key"] == "throughput/windows_per_s"}
    out: dict[str, float] = {"sweep start + trial actor up": trial["start"] - rec["t0"]}
    fits, first, last = [], {}, {}  # (start, end) per fit; first step and last epoch log per stage
    for stage, key in STAGES:
        logs, steps, extra = _epochs(hist, key, thr, windows)
        first[stage], last[stage] = logs[0] - steps[0] - extra, logs[-1]
        out[f"{stage}: steps"] = sum(steps)
        out[f"{stage}: epoch extras"] = extra * len(steps)
    for i, ctrl in enumerate(ctrls):
        fit = "train" if one else STAGES[i][0]
        start = ctrl["end"] - m[f"time/{fit}_s"]
        worker = min((w for w in workers if w["start"] >= ctrl["start"]), key=lambda w: w["start"])
        out[f"{fit}: controller start"] = ctrl["start"] - start
        out[f"{fit}: worker start"] = worker["start"] - ctrl["start"]
        out[f"{fit}: worker setup"] = first[STAGES[0][0] if one else fit] - worker["start"]
        out[f"{fit}: teardown"] = ctrl["end"] - last["policy" if one else fit]
        fits.append((start, ctrl["end"]))
    eval_end = rec["run_start"] + m["time/total_s"]
    eval_start = eval_end - m["time/eval_s"]
    rollout_up = max(a["start"] for a in _by_class(act, "RolloutWorker"))
    out["trial start (imports, data check, run)"] = fits[0][0] - trial["start"]
    if one:
        out[PUBLISH] = first["policy"] - last["tokenizer"]
        out["MLflow after the fit (checkpoint artifact)"] = eval_start - fits[0][1]
    else:
        out["MLflow between stages (artifacts)"] = (fits[1][0] - fits[0][1]) + (eval_start - fits[1][1])
    out["eval: rollout actor start"] = rollout_up - eval_start
    out["rollouts + eval log"] = eval_end - rollout_up
    out["trial end (log, Tune report)"] = trial["end"] - eval_end
    out["trial wall"] = trial["end"] - rec["t0"]
    out["unaccounted"] = out["trial wall"] - sum(v for k, v in out.items() if k in ORDER)  # ~0: a check
    out["CPU-s (driver + all Ray processes)"] = rec["cpu_s"]
    out["Ray actors started"] = float(len(act))
    out["overhead"] = sum(v for k, v in out.items() if k in ORDER and k.split(": ")[-1] not in WORK)
    return out


def data_loading(workload: str, args: argparse.Namespace) -> float:
    """``prepare_data`` on the trial's config, timed in this process (imports warm, file in the page cache)."""
    from mage.config import make_config
    from mage.data.prepare import prepare_data
    from sweeps.driver.cli import SMOKE_OVERRIDES
    from sweeps.driver.data import ensure_dataset

    if workload == "smoke":
        path = ensure_dataset("maze2d-umaze-v1", smoke=True)
        cfg = make_config("smoke", {**SMOKE_OVERRIDES, "data.dataset": "maze2d-umaze-v1", "data.path": path})
    else:
        ensure_dataset("maze2d-umaze-v1", smoke=False)
        cfg = make_config("demo", {"data.dataset": "maze2d-umaze-v1", "tokenizer.num_scales": 5})
    prepare_data(cfg)
    t = time.perf_counter()
    prepare_data(cfg)
    return time.perf_counter() - t


def projected_share(p: dict[str, float], rec: dict[str, Any], args: argparse.Namespace) -> float | None:
    """The demo trial's overhead share with the preset's full epochs and episodes (from measured rates)."""
    tok, pol = args.demo_epochs
    if rec["workload"] != "demo" or (tok, pol, args.demo_episodes) == (4, 8, 100):
        return None
    scale = {"tokenizer": 4 / tok, "policy": 8 / pol}
    work = sum(p[f"{s}: {k}"] * scale[s] for s, _ in STAGES for k in ("steps", "epoch extras"))
    work += p["rollouts + eval log"] * 100 / args.demo_episodes
    return p["overhead"] / (p["overhead"] + work)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    groups: dict[str, list[dict[str, float]]] = {}
    recs: dict[str, dict[str, Any]] = {}
    for rec in results:
        col = f"{rec['workload']}/{rec['variant']}"
        groups.setdefault(col, []).append(parts(rec))
        recs[col] = rec
    mean = {c: {k: statistics.mean(p[k] for p in ps) for k in ps[0]} for c, ps in groups.items()}
    cols = list(mean)
    print(
        "\nseconds per part of one trial (mean of", ", ".join(f"{c}: {len(groups[c])}" for c in cols), "runs)"
    )
    print(f"{'part':48s}" + "".join(f"{c:>16s}" for c in cols))
    totals = [
        "trial wall",
        "unaccounted",
        "overhead",
        "CPU-s (driver + all Ray processes)",
        "Ray actors started",
    ]
    for k in [*ORDER, *totals]:
        tag = "" if k in totals or k.split(": ")[-1] in WORK else " *"
        cells = [f"{mean[c][k]:16.1f}" if k in mean[c] else f"{'–':>16s}" for c in cols]  # –: other shape
        if any(k in mean[c] for c in cols):  # two-fit rows (ray, lean), one-fit rows (one)
            print(f"{k + tag:48s}" + "".join(cells))
    print(
        f"{'overhead share of trial wall':48s}"
        + "".join(f"{mean[c]['overhead'] / mean[c]['trial wall']:16.1%}" for c in cols)
    )
    for w in args.workloads:
        if f"{w}/ray" in mean and f"{w}/lean" in mean:
            r, ln = mean[f"{w}/ray"], mean[f"{w}/lean"]
            per_stage = [
                sum(
                    r[f"{s}: {k}"] - ln[f"{s}: {k}"]
                    for k in ("controller start", "worker start", "worker setup", "teardown")
                )
                for s, _ in STAGES
            ]
            print(
                f"{w}: overhead lean/ray = {ln['overhead'] / r['overhead']:.2f} ({r['overhead']:.1f} -> "
                f"{ln['overhead']:.1f} s); Ray Train start-up + teardown saved per stage: "
                + ", ".join(f"{s} {d:.1f} s" for (s, _), d in zip(STAGES, per_stage, strict=True))
            )
        base = "lean" if f"{w}/lean" in mean else "ray"
        if f"{w}/{base}" in mean and f"{w}/one" in mean:
            b, o = mean[f"{w}/{base}"], mean[f"{w}/one"]
            fixed = [x["overhead"] - sum(x[k] for k in TRIAL_PARTS) for x in (b, o)]  # the fits' own
            print(
                f"{w}: overhead one/{base} = {o['overhead'] / b['overhead']:.2f} ({b['overhead']:.1f} -> "
                f"{o['overhead']:.1f} s); training's fixed cost (Ray Train start-up, stage hand-over, "
                f"teardown, MLflow artifacts): {fixed[0]:.1f} -> {fixed[1]:.1f} s"
            )
    proj = {c: projected_share(mean[c], recs[c], args) for c in cols}
    for c, share in proj.items():
        if share is not None:
            print(
                f"{c}: projected overhead share with the full demo preset (4 + 8 epochs, 100 episodes): {share:.1%}"
            )
    data = {w: data_loading(w, args) for w in args.workloads}
    print(
        "data loading (prepare_data, timed again in this process; part of worker setup): "
        + ", ".join(f"{w} {s:.2f} s" for w, s in data.items())
    )
    print(
        "* = overhead (fixed per trial); the rest is work (steps, per-epoch validation/checkpoint, rollouts)"
    )
    return {
        "mean": mean,
        "runs": {c: groups[c] for c in cols},
        "projected_share": proj,
        "data_loading_s": data,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=["smoke", "demo"], choices=["smoke", "demo"])
    p.add_argument("--variants", nargs="+", default=["lean", "one"], choices=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=1, help="runs of each (workload, variant), alternating")
    p.add_argument("--demo-epochs", nargs=2, type=int, default=[4, 8], metavar=("TOK", "POL"))
    p.add_argument("--demo-episodes", type=int, default=100)
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the embedded Ray")
    p.add_argument("--out", default="runs/bench/sweep_overhead.json")
    p.add_argument("--from-json", default=None, help="report the records of an earlier run (its --out) again")
    args = p.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        for k in ("workloads", "demo_epochs", "demo_episodes"):
            setattr(args, k, saved["args"][k])
        report(saved["records"], args)
        return
    for k, v in {"MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0"}.items():
        os.environ.setdefault(k, v)
    os.environ.pop("RAY_ADDRESS", None)  # always a fresh embedded Ray per run
    with tempfile.TemporaryDirectory(prefix="mage-bench-ovh-") as d:
        tmp = Path(d)
        os.environ.setdefault("MAGE_RAY_LOG", str(tmp / "ray.log"))  # Ray's chatter off the terminal
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlruns.db"  # workers' default store too
        results = []
        for rep in range(args.repeats):
            for w in args.workloads:
                for v in args.variants:
                    print(f"[bench] {w}/{v} run {rep + 1}", flush=True)
                    results.append(run_one(w, v, rep, tmp, args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "records": results}, indent=1, default=str))
    summary = report(results, args)
    out.write_text(
        json.dumps({"args": vars(args), "summary": summary, "records": results}, indent=1, default=str)
    )
    print(f"[bench] records in {out}")


if __name__ == "__main__":
    main()
