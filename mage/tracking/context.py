"""Where a run is recorded: the MLflow store, experiment, parent run, run name and tags (plain data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_EXPERIMENT = "mage-train"


@dataclass(frozen=True)
class Tracking:
    """The MLflow side of one run; picklable, so it travels to Ray trials and workers as is."""

    tracking_uri: str | None = None  # MLflow store; None = mage.tracking.store.default_tracking_uri()
    experiment: str = DEFAULT_EXPERIMENT  # MLflow experiment name (created on first use)
    parent_run_id: str | None = None  # nests the run under a sweep's or study's parent run
    run_name: str | None = None  # MLflow run name; None = MLflow's generated name
    tags: Mapping[str, Any] = field(default_factory=dict)  # extra tags on top of the mage.* defaults

    def with_tags(self, tags: Mapping[str, Any]) -> Tracking:
        """A copy with ``tags`` added (they win over existing ones)."""
        return replace(self, tags={**self.tags, **tags})
