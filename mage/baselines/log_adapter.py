"""d3rlpy's logging, routed to a plain callback: ``log_fn(metrics: dict[str, float], step: int)``.

d3rlpy 2.8.1 ships file, TensorBoard and W&B adapters (and a no-op one), no MLflow. ``fit`` buffers each
metric over an epoch (or ``logging_steps``) and commits the means through a ``LoggerAdapter``; this one hands
every commit to ``log_fn`` (the tracking layer passes its run logger's method) and writes nothing to disk:
no ``d3rlpy_logs/``, no params file, no per-epoch model files (the trainer saves the final model itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LogFn = Callable[[dict[str, float], int], None]


class CallbackAdapter:
    """A ``d3rlpy.logging.LoggerAdapter`` (structural protocol) that forwards metrics to ``log_fn``."""

    def __init__(
        self, log_fn: LogFn | None, prefix: str = "", step_offset: int = 0, epoch_offset: int = 0
    ) -> None:
        self._log_fn = log_fn
        self._prefix = prefix
        self._offsets = step_offset, epoch_offset  # a continued fit counts from where the stopped one was
        self._metrics: dict[str, float] = {}

    def write_params(self, params: dict[str, Any]) -> None:
        """d3rlpy's own config dump; our config.json records the run instead."""

    def before_write_metric(self, epoch: int, step: int) -> None:
        self._metrics = {}

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        self._metrics[self._prefix + name] = float(value)

    def after_write_metric(self, epoch: int, step: int) -> None:
        if self._log_fn is not None and self._metrics:
            epoch_metric = {f"{self._prefix}epoch": float(epoch + self._offsets[1])}
            self._log_fn({**self._metrics, **epoch_metric}, int(step) + self._offsets[0])

    def save_model(self, epoch: int, algo: Any) -> None:
        """Per-epoch model files: not written (``train_d3rlpy`` saves the final model)."""

    def watch_model(self, epoch: int, step: int) -> None:
        """Parameter / gradient summaries: not collected."""

    def close(self) -> None:
        self._metrics = {}


class CallbackAdapterFactory:
    """A ``d3rlpy.logging.LoggerAdapterFactory``: ``fit(..., logger_adapter=CallbackAdapterFactory(log_fn))``."""

    def __init__(
        self, log_fn: LogFn | None, prefix: str = "", step_offset: int = 0, epoch_offset: int = 0
    ) -> None:
        self._args = log_fn, prefix, step_offset, epoch_offset

    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> CallbackAdapter:
        return CallbackAdapter(*self._args)
