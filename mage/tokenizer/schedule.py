"""The scale schedule (l_1 < ... < l_K): the one list that the quantiser, the transformer's mask and the
planner share (VAR's ``patch_nums``).

The rule itself lives in ``mage.config`` (pure integer arithmetic, so ``ExperimentConfig.validate`` checks it
before any work starts without importing model code); this module is its name for the model code.
"""

from __future__ import annotations

from mage.config import ScheduleError, latent_length, scale_schedule

__all__ = ["ScheduleError", "latent_length", "scale_schedule"]
