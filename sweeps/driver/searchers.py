"""Tune searchers of the sweeps: Optuna TPE that only learns from results carrying the sweep's metric."""

from __future__ import annotations

from ray.tune.search.optuna import OptunaSearch


class FinalMetricOptunaSearch(OptunaSearch):
    """OptunaSearch that skips results without the metric.

    run_experiment forwards the stage-2 epoch results (``pol/*``) to Tune before the final ``eval/norm_score``;
    the stock OptunaSearch reads the metric from every result and raises KeyError on those.
    """

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if isinstance(self.metric, str) and self.metric in result:
            super().on_trial_result(trial_id, result)


def optuna_search(seed: int) -> FinalMetricOptunaSearch:
    """TPE with a fixed seed; metric/mode come from TuneConfig (spec platform.md §1.1)."""
    import optuna

    return FinalMetricOptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))
