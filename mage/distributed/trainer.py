"""The ``TorchTrainer`` both MAGE stages run on: Ray Train V2 without the start-up a MAGE stage never uses.

Every ``fit()`` of Ray Train V2 (Ray 2.60) starts a controller, the workers, a synchronisation actor, a
placement-group cleaner and, unasked, two more actors: a ``DatasetManager`` for Ray Data shards (created even
when no ``datasets`` are passed; MAGE reads its own data) and a ``PreemptionWatcher`` for draining nodes. Each is
a fresh Python process importing ``ray.train`` (~1.5 CPU-s, measured by ``bench/sweep_overhead.py``), twice per
MAGE trial. :class:`LeanTorchTrainer` leaves out the dataset manager when there are no datasets, and on a
single-node Ray (no other node can be drained) the preemption watcher, and polls the workers every 0.5 s instead
of 2 s (a finished stage is noticed sooner). The workers, their function, seeds, checkpoints, ``FailureConfig``
restarts and the reports to Tune are Ray's own, unchanged.

``MAGE_LEAN_TRAIN=0`` restores Ray's defaults (the bench runs both side by side).
"""

from __future__ import annotations

import os
from typing import Any

from ray.train.torch import TorchTrainer

LEAN_ENV = "MAGE_LEAN_TRAIN"  # "0": Ray Train's default callbacks, watcher and poll interval
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"  # read by the controller (Ray propagates it)
POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"  # the controller's poll interval (default 2 s)
LEAN_POLL_S = "0.5"


def lean_enabled() -> bool:
    return os.environ.get(LEAN_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def lean_controller_env(alive_nodes: int) -> dict[str, str]:
    """Env for the controller that :meth:`LeanTorchTrainer.fit` sets unless the user set it: a shorter poll
    interval, and no preemption watcher on one node."""
    if not lean_enabled():
        return {}
    env = {POLL_ENV: LEAN_POLL_S}
    if alive_nodes <= 1:
        env[PREEMPTION_WATCHER_ENV] = "0"
    return env


class LeanTorchTrainer(TorchTrainer):
    """``TorchTrainer`` without the per-fit actors that a trainer with no Ray Datasets never uses."""

    def _create_default_callbacks(self) -> list[Any]:
        callbacks = super()._create_default_callbacks()
        if self.datasets or not lean_enabled():
            return callbacks
        from ray.train.v2._internal.callbacks.datasets import DatasetsCallback

        return [c for c in callbacks if not isinstance(c, DatasetsCallback)]

    def fit(self) -> Any:
        import ray

        alive = sum(1 for n in ray.nodes() if n.get("Alive"))
        # Ray copies these from this process's env into the controller's while fit() starts it; a user's
        # explicit setting wins, and the env is put back afterwards.
        added = {k: v for k, v in lean_controller_env(alive).items() if k not in os.environ}
        os.environ.update(added)
        try:
            return super().fit()
        finally:
            for k in added:
                os.environ.pop(k, None)
