"""Options dataclasses for solvers: built from keyword arguments, validated early."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from solvers.errors import InvalidOptionError

T = TypeVar("T")

__all__ = ["build_options", "check_call", "check_range", "options_dict"]


def build_options(cls: type[T], solver: str, kwargs: Mapping[str, Any]) -> T:
    """``cls(**kwargs)``, turning unknown keys into one clear :class:`InvalidOptionError`."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        msg = (
            f"unknown option {unknown[0]!r} for solver {solver!r}; "
            f"valid options are: {', '.join(names)}"
        )
        raise InvalidOptionError(msg)
    return cls(**kwargs)


def check_range(
    solver: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    allow_none: bool = False,
) -> None:
    """Raise :class:`InvalidOptionError` naming ``name`` when ``value`` is out of range."""
    if value is None and allow_none:
        return
    ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type:
        kind = "an integer" if integer else "a number"
        msg = f"option {name!r} of solver {solver!r} must be {kind}, got {value!r}"
        raise InvalidOptionError(msg)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        msg = f"option {name!r} of solver {solver!r} must be in [{lo}, {hi}], got {value!r}"
        raise InvalidOptionError(msg)


def options_dict(opts: Any) -> dict[str, Any]:
    """The options as a plain JSON-friendly dict."""
    return dataclasses.asdict(opts)


def check_call(seed: int | None, time_limit_s: float | None) -> None:
    """Validate the ``seed`` and ``time_limit_s`` every solve takes (raises InvalidOptionError)."""
    if seed is not None and not (
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
    ):
        msg = f"seed must be a non-negative integer, got {seed!r}"
        raise InvalidOptionError(msg)
    if time_limit_s is not None and not (
        isinstance(time_limit_s, (int, float))
        and not isinstance(time_limit_s, bool)
        and time_limit_s > 0
    ):
        msg = f"time_limit_s must be a positive number of seconds, got {time_limit_s!r}"
        raise InvalidOptionError(msg)
