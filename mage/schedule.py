"""The scale schedule (l_1 < ... < l_K): the one list that the quantiser, the transformer's mask and the
planner share (VAR's ``patch_nums``). Pure integer arithmetic on config values, so ``ExperimentConfig.validate``
checks it before any work starts without importing model code."""

from __future__ import annotations

from collections.abc import Sequence

from mage.config_base import ConfigError


class ScheduleError(ConfigError):
    """The horizon, the downsample factor, K and the schedule do not fit together."""


def latent_length(horizon: int, downsample: int) -> int:
    """h = H / downsample, the finest scale's token count."""
    if horizon % downsample:
        raise ScheduleError(
            f"data.horizon={horizon} is not divisible by tokenizer.downsample={downsample}; "
            f"use a horizon that is a multiple of {downsample} (e.g. {horizon - horizon % downsample + downsample})"
        )
    return horizon // downsample


def scale_schedule(
    horizon: int, num_scales: int, downsample: int = 1, explicit: Sequence[int] | None = None
) -> tuple[int, ...]:
    """Tokens per scale, coarse to fine, ending at the latent length h = H / downsample.

    Derived rule: l_k = round(h ** ((k - 1) / (K - 1))), bumped to stay strictly increasing. It is dyadic
    (1, 2, 4, ..., h) when h = 2^(K-1), and VAR-like non-dyadic otherwise (h = 32, K = 8 gives
    1, 2, 3, 4, 7, 12, 20, 32).
    """
    h = latent_length(horizon, downsample)
    if explicit is not None:
        sched = tuple(int(x) for x in explicit)
        if len(sched) != num_scales:
            raise ScheduleError(
                f"tokenizer.scale_schedule={sched} has {len(sched)} scales, tokenizer.num_scales={num_scales}"
            )
        if any(b <= a for a, b in zip(sched, sched[1:])) or sched[0] < 1:
            raise ScheduleError(f"tokenizer.scale_schedule={sched} must be positive and strictly increasing")
        if sched[-1] != h:
            raise ScheduleError(
                f"tokenizer.scale_schedule={sched} must end at H / downsample = {horizon} / {downsample} = {h}; "
                "change the last entry, data.horizon or tokenizer.downsample"
            )
        return sched
    if num_scales < 1:
        raise ScheduleError(f"tokenizer.num_scales={num_scales} must be >= 1")
    if num_scales > h:
        raise ScheduleError(
            f"tokenizer.num_scales={num_scales} needs at least {num_scales} latent steps but H / downsample = "
            f"{horizon} / {downsample} = {h}; lower num_scales or downsample, or raise data.horizon"
        )
    if num_scales == 1:
        return (h,)
    sched: list[int] = []
    for k in range(num_scales):
        lk = max(1, round(h ** (k / (num_scales - 1))))
        if sched and lk <= sched[-1]:
            lk = sched[-1] + 1
        sched.append(lk)
    # Bumping can overrun h near the fine end; pull the tail back below h from the top.
    sched[-1] = h
    for k in range(num_scales - 2, -1, -1):
        sched[k] = min(sched[k], sched[k + 1] - 1)
    if sched[0] < 1:
        raise ScheduleError(f"cannot fit {num_scales} increasing scales into {h} latent steps")
    return tuple(sched)
