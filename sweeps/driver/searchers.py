"""Tune searchers of the sweeps: Optuna TPE that tells a trial stopped early (ASHA) as PRUNED."""

from __future__ import annotations

from typing import Any

from ray.tune.search.optuna import OptunaSearch

from sweeps.driver.spec import FINAL


class PruningOptunaSearch(OptunaSearch):
    """OptunaSearch whose trials stopped by the scheduler end PRUNED, not COMPLETE.

    Every result carries the objective (``tune/objective``): per epoch it reaches the Optuna trial as an
    intermediate value (``trial.report``). The stock searcher tells a trial that ASHA stopped as COMPLETE with
    its last intermediate value (a negated validation loss) as if it were a final score; a trial whose last
    result has no ``eval/norm_score`` never finished, so TPE learns it as PRUNED.
    """

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result is not None and FINAL not in result:
            result = None  # no final evaluation: stopped early (error=False: PRUNED) or failed (FAIL)
        super().on_trial_complete(trial_id, result=result, error=error)


def optuna_search(seed: int, **kwargs: Any) -> PruningOptunaSearch:
    """TPE with a fixed seed; metric/mode come from TuneConfig (spec platform.md §1.1); ``kwargs`` go to
    OptunaSearch (e.g. ``points_to_evaluate``)."""
    import optuna

    return PruningOptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed), **kwargs)
