"""The typed-config machinery every config dataclass shares: unknown keys raise, values are coerced to the
field's type and range-checked by ``validate``; dotted overrides and the one ``--set KEY=VALUE`` grammar."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="ConfigBase")


def describe_differences(saved: Mapping[str, Any], asked: Mapping[str, Any], keys: Iterable[str]) -> str:
    """``"k=saved (asked v), ..."`` for the keys whose values differ (the first five); "" when none do."""
    diff = sorted(k for k in keys if saved.get(k) != asked.get(k))
    return ", ".join(f"{k}={saved.get(k)} (asked {asked.get(k)})" for k in diff[:5])


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key and the fix."""


@dataclass
class ConfigBase:
    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any] | None = None, *, where: str = "") -> T:
        d = dict(d or {})
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(where + k for k in unknown)} in {cls.__name__}; "
                f"valid keys: {', '.join(sorted(names))}"
            )
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            typ = hints[f.name]
            if isinstance(typ, type) and issubclass(typ, ConfigBase):
                if isinstance(v, typ):
                    kwargs[f.name] = v
                elif isinstance(v, dict):
                    kwargs[f.name] = typ.from_dict(v, where=f"{where}{f.name}.")
                else:
                    raise ConfigError(f"config key {where}{f.name} must be a mapping, got {v!r}")
            else:
                kwargs[f.name] = _coerce(v, typ, where + f.name)
        obj = cls(**kwargs)
        obj.validate()
        return obj

    section: ClassVar[str] = ""  # dotted prefix of this section's keys in messages ("data.")

    def validate(self) -> None:
        """Check value ranges, raising ConfigError naming the key and the fix. Subclasses extend it (calling
        ``super().validate()``); here: every float field is finite (no nan / inf)."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{self.section}{f.name}={v!r} must be a finite number (not nan or inf)")

    def _require(
        self,
        name: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
        none_ok: bool = False,
        hint: str = "",
    ) -> None:
        """Range check of one field: ``lo <= v <= hi`` (``<`` where open); None only when ``none_ok``."""
        v = getattr(self, name)
        if v is None and none_ok:
            return
        ok = v is not None and not (
            (lo is not None and (v <= lo if lo_open else v < lo))
            or (hi is not None and (v >= hi if hi_open else v > hi))
        )
        if ok:
            return
        if lo is not None and hi is not None:
            rule = f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        elif lo is not None:
            rule = f"{'>' if lo_open else '>='} {lo}"
        else:
            rule = f"{'<' if hi_open else '<='} {hi}"
        rule = f"None or {rule}" if none_ok else rule
        raise ConfigError(f"{self.section}{name}={v!r} must be {rule}" + (f"; {hint}" if hint else ""))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flatten(self, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.to_dict().items():
            _flatten_into(out, prefix + k, v)
        return out

    def with_overrides(self: T, overrides: dict[str, Any]) -> T:
        """Apply dotted overrides, e.g. ``{"tokenizer.num_scales": 4}``; unknown keys raise."""
        d = self.to_dict()
        for key, v in overrides.items():
            node = d
            parts = key.split(".")
            for p in parts[:-1]:
                if not isinstance(node.get(p), dict):
                    raise ConfigError(f"unknown config key {key!r} (no section {p!r})")
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(node))}")
            node[parts[-1]] = v
        return type(self).from_dict(d)


def _flatten_into(out: dict[str, Any], key: str, v: Any) -> None:
    if isinstance(v, dict):
        for k2, v2 in v.items():
            _flatten_into(out, f"{key}.{k2}", v2)
    else:
        out[key] = v


def _coerce(v: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if v is None:
        if type(None) in args:
            return None
        if origin is typing.Literal and "none" in args:  # `--set eval.goal=none` parses `none` as None
            return "none"
        raise ConfigError(f"config key {key} may not be None")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(v, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key}={v!r} does not match {typ}")
    if origin is typing.Literal:
        if v not in args:
            raise ConfigError(f"config key {key}={v!r} must be one of {list(args)}")
        return v
    if origin in (tuple, list):
        if isinstance(v, str):
            v = [x for x in v.replace(",", " ").split()]
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"config key {key} must be a list, got {v!r}")
        inner = args[0] if args else Any
        items = [_coerce(x, inner, key) for x in v]
        return tuple(items) if origin is tuple else items
    if typ is bool:
        if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
            return v.lower() in ("true", "1")
        if not isinstance(v, bool):
            raise ConfigError(f"config key {key} must be true/false, got {v!r}")
        return v
    if typ is int:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ConfigError(f"config key {key} must be an integer, got {v!r}")
        try:
            return int(v)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key} must be an integer, got {v!r}") from None
    if typ is float:
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key} must be a number, got {v!r}") from None
    if typ is str:
        if not isinstance(v, str):
            raise ConfigError(f"config key {key} must be a string, got {v!r}")
        return v
    return v


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """The one ``--set KEY=VALUE`` grammar of ``mage train``, ``mage evaluate`` and every sweep.

    ``none``/``null`` (any case) -> None; a value starting with ``[`` or ``{`` is JSON (lists, mappings);
    everything else stays a string that the config coerces by the field's type (``4`` -> int for an int
    field, ``true`` -> bool, ``1,2,4`` -> a list). A later ``--set`` of the same key wins.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r} must look like KEY=VALUE (e.g. --set train.seed=1)")
        if value.lower() in ("none", "null"):
            out[key] = None
        elif value[:1] in ("[", "{"):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError as e:
                raise ConfigError(
                    f"--set {key}={value!r} is not valid JSON ({e.msg}); e.g. [1, 2, 4]"
                ) from None
        else:
            out[key] = value
    return out
