"""Normalisers for observations, actions, returns-to-go and goals; JSON-serialisable, numpy or torch in.

Kinds: ``standard`` ((x - mean) / std), ``minmax`` (to [-1, 1] over the fitted range), ``scale``
(x / constant), ``identity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("standard", "minmax", "scale", "identity")
_EPS = 1e-6


class Normalizer:
    """Per-dimension affine map ``y = (x - shift) / div``; stored as plain lists."""

    def __init__(self, kind: str, shift: np.ndarray | float = 0.0, div: np.ndarray | float = 1.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"normaliser kind {kind!r} must be one of {', '.join(KINDS)}")
        self.kind = kind
        self.shift = np.asarray(shift, dtype=np.float64)
        self.div = np.asarray(div, dtype=np.float64)
        if np.any(self.div <= 0) or not np.all(np.isfinite(self.div)):
            raise ValueError(f"normaliser divisor must be positive and finite, got {self.div}")

    @classmethod
    def fit(cls, x_ND: np.ndarray, kind: str = "standard", scale: float | None = None) -> Normalizer:
        x = np.asarray(x_ND, dtype=np.float64)
        if kind == "standard":
            return cls(kind, x.mean(axis=0), np.maximum(x.std(axis=0), _EPS))
        if kind == "minmax":
            lo, hi = x.min(axis=0), x.max(axis=0)
            return cls(kind, (hi + lo) / 2, np.maximum((hi - lo) / 2, _EPS))
        if kind == "scale":
            s = float(scale) if scale is not None else float(np.abs(x).max())
            return cls(kind, 0.0, max(s, _EPS))
        if kind == "identity":
            return cls(kind)
        raise ValueError(f"normaliser kind {kind!r} must be one of {', '.join(KINDS)}")

    def _params(self, x: Any) -> tuple[Any, Any]:
        if isinstance(x, np.ndarray) or np.isscalar(x):
            return self.shift, self.div
        import torch

        return (
            torch.as_tensor(self.shift, dtype=x.dtype, device=x.device),
            torch.as_tensor(self.div, dtype=x.dtype, device=x.device),
        )

    def normalize(self, x: Any) -> Any:
        shift, div = self._params(x)
        out = (x - shift) / div
        return out.astype(np.float32) if isinstance(out, np.ndarray) and out.dtype == np.float64 else out

    def unnormalize(self, y: Any) -> Any:
        shift, div = self._params(y)
        return y * div + shift

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shift": self.shift.tolist(), "div": self.div.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        return cls(d["kind"], np.asarray(d["shift"]), np.asarray(d["div"]))

    def __repr__(self) -> str:
        return f"Normalizer({self.kind}, shift={self.shift.tolist()}, div={self.div.tolist()})"


@dataclass
class DatasetNormalizers:
    obs: Normalizer
    act: Normalizer
    rtg: Normalizer
    goal: Normalizer  # the obs normaliser restricted to (x, y)

    @classmethod
    def fit(
        cls,
        episodes: Any,
        obs_kind: str = "standard",
        act_kind: str = "identity",
        rtg_kind: str = "scale",
        rtg_scale: float | None = None,
    ) -> DatasetNormalizers:
        """Defaults: obs standard, act identity (already in [-1, 1]), rtg divided by the max episode return."""
        obs = Normalizer.fit(episodes.obs_NS, obs_kind)
        act = Normalizer.fit(episodes.act_NA, act_kind)
        if rtg_kind == "scale":
            scale = (
                rtg_scale if rtg_scale is not None else float(np.max(np.abs(episodes.returns_E), initial=0.0))
            )
            rtg = Normalizer.fit(episodes.rtg_N[:, None], "scale", scale=scale)
        else:
            rtg = Normalizer.fit(episodes.rtg_N[:, None], rtg_kind)
        shift = obs.shift[:2] if obs.shift.ndim else obs.shift
        div = obs.div[:2] if obs.div.ndim else obs.div
        goal = Normalizer(obs.kind, shift, div)
        return cls(obs=obs, act=act, rtg=rtg, goal=goal)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("obs", "act", "rtg", "goal")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetNormalizers:
        return cls(**{k: Normalizer.from_dict(d[k]) for k in ("obs", "act", "rtg", "goal")})
