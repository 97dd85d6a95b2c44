"""What the `mage` commands print after a run: the scores and where to look at them."""

from __future__ import annotations


def ui_hint() -> str:
    from mage.tracking.store import default_tracking_uri

    uri = default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return "open the MLflow UI with `mage ui` (then http://127.0.0.1:5000)"


def print_scores(metrics: dict[str, float]) -> None:
    ns, ci = metrics.get("eval/norm_score"), metrics.get("eval/norm_score_ci95")
    if ns is not None:
        print(
            f"normalised score {ns:.1f} ± {ci:.1f} (95% CI) over {int(metrics['eval/episodes'])} episodes, "
            f"return {metrics['eval/return_mean']:.1f}, success {metrics['eval/success_rate']:.2f}"
        )
    if "eval/first_arrival_median" in metrics:
        print(
            f"first arrival (median) {metrics['eval/first_arrival_median']:.0f} steps, dwell after arrival "
            f"{metrics['eval/dwell_mean']:.2f}; absorbing score {metrics['eval/norm_score_absorbing']:.1f} "
            "(diagnostic, not comparable with published tables)"
        )
