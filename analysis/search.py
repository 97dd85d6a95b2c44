"""Search report: Optuna hyper-parameter importance and parallel-coordinates plots of a ``sweeps/search.py`` run.

The sweep's Optuna study lives in the Tune driver's memory only, so it is rebuilt from MLflow: the search space
from the sweep parent's ``space.<key>`` params (``choice[...]``, ``float[lo, hi]``, ``logfloat[lo, hi]``,
``int[...]``; constants are not searched), one trial per child run with its params and ``eval/norm_score``
(maximised) as the value: FINISHED with a score = COMPLETE, KILLED by ASHA (``mage.stopped_early``) = PRUNED,
FAILED = FAIL. Importance: fANOVA (``optuna.importance.FanovaImportanceEvaluator``, seeded) over the COMPLETE
trials. The trials of one sweep (default: the latest sweep parent of --experiment with scored children;
``--parent RUN_ID`` picks another); children of one dataset only, since scores of different mazes do not compare.
Writes ``search_importance.png``, ``search_parallel.png``, ``search.csv`` (trials), ``search.md`` under --out.

    python analysis/search.py [--experiment mage-search] [--tracking-uri URI] [--out DIR] [--parent RUN_ID]
"""

from __future__ import annotations

import ast
import math
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import plotting, report
from analysis.tables import require_columns, to_markdown
from mage.tracking.query import NoRunsError, load_runs
from mage.tracking.store import default_tracking_uri

EXPERIMENT = "mage-search"
NAME = "search"
SCORE = "metrics.eval/norm_score"
_RANGE = re.compile(r"^(log)?(int|float)\[([^,\]]+),\s*([^\]]+)\]$")


def distribution(text: str) -> Any | None:
    """The Optuna distribution of a ``space.<key>`` param as ``describe_space`` writes it; None = a constant."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    text = str(text).strip()
    if text.startswith("choice[") and text.endswith("]"):
        return CategoricalDistribution(ast.literal_eval(text[len("choice") :]))
    m = _RANGE.match(text)
    if m:
        log, kind, lo, hi = m.groups()
        if kind == "int":
            return IntDistribution(int(float(lo)), int(float(hi)), log=bool(log))
        return FloatDistribution(float(lo), float(hi), log=bool(log))
    return None


def describe(dist: Any) -> str:
    """``choice[1, 2]``, ``logfloat[0.0001, 0.003]``, ``int[2, 8]``: how the sweep parent writes a space."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return f"choice{list(dist.choices)}"
    kind = "int" if isinstance(dist, IntDistribution) else "float"
    return f"{'log' if dist.log else ''}{kind}[{dist.low:g}, {dist.high:g}]"


def select_trials(runs: pd.DataFrame, parent: str | None = None) -> tuple[pd.DataFrame, pd.Series | None]:
    """(child runs of one sweep, its parent row or None): ``parent``, else the latest sweep parent with scored
    children, else every non-sweep run of the experiment (no parent)."""
    require_columns(runs, [SCORE], "search report")
    sweeps = runs[runs["run_type"] == "sweep"].sort_values("start_time")
    kids = runs[runs["run_type"] != "sweep"]
    scored = set(kids.loc[kids[SCORE].notna(), "parent_run_id"].dropna())
    if parent is not None:
        if parent not in set(sweeps["run_id"]):
            raise NoRunsError(
                f"--parent {parent}: no sweep parent run with that id in the selected experiment(s)"
            )
    elif len(sweeps[sweeps["run_id"].isin(scored)]):
        parent = sweeps[sweeps["run_id"].isin(scored)]["run_id"].iloc[-1]
    prow = sweeps[sweeps["run_id"] == parent].iloc[0] if parent is not None else None
    trials = kids[kids["parent_run_id"] == parent] if parent is not None else kids
    if trials[SCORE].notna().sum() == 0:
        raise NoRunsError("no search trial runs with eval/norm_score (run sweeps/search.py first)")
    datasets = sorted(set(trials["dataset"].dropna()))
    if len(datasets) > 1:
        raise NoRunsError(
            f"the trials span datasets {', '.join(datasets)}; scores of different mazes do not compare: pick one "
            "sweep with --parent or --filter \"tags.`mage.dataset` = '...'\""
        )
    return trials, prow


def search_space(trials: pd.DataFrame, parent: pd.Series | None) -> dict[str, Any]:
    """Param -> Optuna distribution: the parent's ``space.*`` params, else the params that vary across trials."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    space: dict[str, Any] = {}
    if parent is not None:
        for col, v in parent.items():
            if str(col).startswith("params.space.") and isinstance(v, str):
                dist = distribution(v)
                if dist is not None:
                    space[str(col)[len("params.space.") :]] = dist
    if space:
        return space
    for col in sorted(c for c in trials.columns if str(c).startswith("params.")):
        vals = trials[col].dropna()
        if vals.nunique() < 2:
            continue
        num = pd.to_numeric(vals, errors="coerce")
        key = str(col)[len("params.") :]
        if num.notna().all():
            space[key] = FloatDistribution(float(num.min()), float(num.max()))
        else:
            space[key] = CategoricalDistribution(sorted(vals.astype(str).unique()))
    if not space:
        raise NoRunsError(
            "no search space: no sweep parent with space.* params and no param varies across trials"
        )
    return space


def _value(text: Any, dist: Any) -> Any:
    """A param string as read from MLflow, as a value of ``dist`` (a choice by its text); None if it is not."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    if isinstance(dist, CategoricalDistribution):
        by_text = {str(c): c for c in dist.choices}
        by_num = {
            float(c): c for c in dist.choices if isinstance(c, (int, float)) and not isinstance(c, bool)
        }
        try:
            return by_text.get(str(text), by_num.get(float(text)))
        except ValueError:
            return None
    x = int(float(text)) if isinstance(dist, IntDistribution) else float(text)
    return x if dist.low <= x <= dist.high else None


def build_study(trials: pd.DataFrame, space: dict[str, Any]) -> tuple[Any, pd.DataFrame]:
    """An in-memory Optuna study (maximise eval/norm_score) with one trial per run, and the trials table."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name="mage-search (rebuilt from MLflow)")
    rows = []
    for r in trials.sort_values("start_time").to_dict("records"):
        params = {k: _value(r.get(f"params.{k}"), d) for k, d in space.items()}
        score = r.get(SCORE)
        stopped = isinstance(r.get("tags.mage.stopped_early"), str)
        if r["status"] == "FINISHED" and score is not None and not math.isnan(score):
            state = TrialState.COMPLETE
        elif r["status"] == "KILLED" and stopped:
            state = TrialState.PRUNED
        elif r["status"] in ("FAILED", "KILLED"):
            state = TrialState.FAIL
        else:
            continue  # still running
        missing = [k for k, v in params.items() if v is None]
        rows.append({"run_id": r["run_id"], "run_name": r.get("run_name"), "state": state.name,
                     "value": score if state == TrialState.COMPLETE else math.nan, **params,
                     "skipped": ", ".join(missing)})  # fmt: skip
        if missing:  # a run outside the recorded space (e.g. a param not logged): not a trial of this study
            continue
        study.add_trial(
            create_trial(
                state=state,
                value=float(score) if state == TrialState.COMPLETE else None,
                params=params,
                distributions=space,
                user_attrs={"mlflow_run_id": r["run_id"]},
            )
        )
    return study, pd.DataFrame(rows)


def importances(study: Any, seed: int = 0) -> dict[str, float]:
    """fANOVA importance of each searched param over the COMPLETE trials (at least 2 are needed)."""
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2:
        raise NoRunsError(
            f"importance needs at least 2 finished trials with a score; the study has {len(done)}"
        )
    return get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))


def plots(study: Any, out: Path, seed: int = 0) -> list[Path]:
    """search_importance.png and search_parallel.png (Optuna's matplotlib plots; our rcParams are restored)."""
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization.matplotlib import plot_parallel_coordinate, plot_param_importances

    n = {s: len(study.get_trials(deepcopy=False, states=(s,))) for s in _states()}
    counts = ", ".join(f"{c} {s.name.lower()}" for s, c in n.items())
    files = []
    with warnings.catch_warnings(), plt.rc_context():  # optuna sets the ggplot style globally
        warnings.simplefilter("ignore", ExperimentalWarning)
        ax = plot_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=seed), target_name="eval/norm_score"
        )
        ax.set_title("", loc="left")  # optuna's own title, replaced by ours
        ax.set_title(f"fANOVA importance for eval/norm_score ({counts} trials)", fontsize=10)
        ax.figure.set_size_inches(7.5, 4.0)
        files.append(plotting.save(ax.figure, out / f"{NAME}_importance.png"))
        ax = plot_parallel_coordinate(study, target_name="eval/norm_score")
        ax.set_title(f"parallel coordinates of the complete trials ({counts})", fontsize=10, y=1.03)
        ax.figure.set_size_inches(max(8.0, 1.7 * (len(study.best_trial.params) + 1)), 4.5)
        files.append(plotting.save(ax.figure, out / f"{NAME}_parallel.png"))
    return files


def _states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def run(
    experiments: list[str],
    tracking_uri: str | None,
    out: Path,
    *,
    filter_string: str = "",
    cache: bool = True,
    parent: str | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    uri = tracking_uri or default_tracking_uri()
    runs = load_runs(experiments, uri, filter_string=filter_string, cache=cache)
    trials, prow = select_trials(runs, parent)
    space = search_space(trials, prow)
    study, table = build_study(trials, space)
    imp = importances(study, seed)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{NAME}.csv", index=False)
    files = plots(study, out, seed)
    best = table[table["state"] == "COMPLETE"].sort_values("value", ascending=False).head(10)
    best = best.drop(columns=["skipped"] if not best["skipped"].astype(bool).any() else [])
    imp_md = to_markdown(pd.DataFrame({"param": list(imp), "space": [describe(space[k]) for k in imp],
                                       "fANOVA importance": list(imp.values())}))  # fmt: skip
    where = f"sweep parent run {prow['run_id']}" if prow is not None else "all trial runs (no sweep parent)"
    md = f"### Importance (fANOVA, seed {seed})\n\n{imp_md}\n\n### Best trials\n\n{to_markdown(best)}"
    counts = ", ".join(f"{(table['state'] == s.name).sum()} {s.name.lower()}" for s in _states())
    note = f"Optuna study rebuilt from MLflow ({where}); value = eval/norm_score, maximised; {counts} trials."
    md_path = report.write_markdown(out / f"{NAME}.md", "Search", experiments, md, note)
    report.announce(md, [md_path, out / f"{NAME}.csv", *files])
    return table


def main(argv: list[str] | None = None) -> int:
    p = report.arg_parser(__doc__, experiment=EXPERIMENT, name=NAME)
    p.add_argument(
        "--parent", default=None, help="sweep parent run id (default: the latest with scored trials)"
    )
    p.add_argument("--seed", type=int, default=0, help="fANOVA seed")
    a = p.parse_args(argv)
    return report.run_cli(run, a, experiment=EXPERIMENT, name=NAME, parent=a.parent, seed=a.seed)


if __name__ == "__main__":
    sys.exit(main())
