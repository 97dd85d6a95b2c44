"""Training progress on the driver's terminal for Ray Train stages.

Rank 0 posts its optimiser-step count to a tiny actor (at most once per ``interval`` s and at the stage's
last step); the driver polls the actor and draws a tqdm bar with rate and ETA. Worker output itself may go to
a log file (``MAGE_RAY_LOG``), and the Train controller runs elsewhere, so neither can draw it.

    with stage_progress("train policy", total_steps) as poster:   # poster: picklable, None when disabled
        TorchTrainer(..., train_loop_config={"job": StageJob(..., progress=poster)}).fit()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import ray


@ray.remote(num_cpus=0)
class ProgressBoard:
    """The last (step, total) that rank 0 posted."""

    def __init__(self) -> None:
        self.step = 0

    def post(self, step: int) -> None:
        self.step = step

    def read(self) -> int:
        return self.step


class StepPoster:
    """The workers' half: ``poster(step, total)`` posts at most every ``interval`` s, and the last step always
    (synchronously)."""

    def __init__(self, board: Any, interval: float) -> None:
        self.board, self.interval, self._last = board, interval, 0.0

    def __call__(self, step: int, total: int) -> None:
        now = time.monotonic()
        if step >= total:  # waited for, so the stage cannot end before the bar has its last step
            ray.get(self.board.post.remote(step))
        elif now - self._last >= self.interval:
            self._last = now
            self.board.post.remote(step)


@contextmanager
def stage_progress(
    desc: str, total: int, *, enabled: bool = True, interval: float = 1.0, file: IO[str] | None = None
) -> Iterator[StepPoster | None]:
    """A driver-side bar of ``total`` optimiser steps for the block's duration; yields the workers' poster."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    board = ProgressBoard.remote()
    bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, file=file)
    stop = threading.Event()

    def show() -> None:
        try:
            step = ray.get(board.read.remote(), timeout=10 * interval)
        except Exception:  # a slow poll must never break training: the next one catches up
            return
        if step != bar.n:  # a restart from a checkpoint may go back: set, do not add
            bar.n = step
            bar.refresh()

    def poll() -> None:
        while not stop.wait(interval):
            show()

    thread = threading.Thread(target=poll, name=f"progress-{desc}", daemon=True)
    thread.start()
    try:
        yield StepPoster(board, interval)
    finally:
        stop.set()
        thread.join()
        show()
        bar.close()
        ray.kill(board)
