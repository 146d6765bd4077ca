"""Options dataclasses for solvers: built from keyword arguments, validated early."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from solvers.errors import InvalidOptionError

T = TypeVar("T")

__all__ = ["MAX_SEED", "MAX_TIME_LIMIT_S", "build_options", "check_call", "check_range", "inner_solves", "options_dict",
           "progress_level"]

#: The largest seed a solve takes: CP-SAT's ``random_seed`` is a signed 32-bit integer.
MAX_SEED = 2**31 - 1
#: The longest wall-time limit a solve takes: one week.
MAX_TIME_LIMIT_S = 7 * 24 * 3600.0


#: True while solves run as another solver's inner calls (a decomposition's sub-problems).
_INNER: contextvars.ContextVar[bool] = contextvars.ContextVar("cityopt_inner_solves", default=False)


@contextlib.contextmanager
def inner_solves() -> Iterator[None]:
    """Solves made inside run as inner calls: they log their per-call progress at DEBUG, not INFO
    (a decomposition makes dozens; its own summary stays at INFO).  Per thread and task.

    >>> with inner_solves():
    ...     progress_level() == logging.DEBUG
    True
    >>> progress_level() == logging.INFO
    True
    """
    token = _INNER.set(True)
    try:
        yield
    finally:
        _INNER.reset(token)


def progress_level() -> int:
    """The level of a solver's per-call progress lines: INFO, DEBUG inside :func:`inner_solves`."""
    return logging.DEBUG if _INNER.get() else logging.INFO


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
    """Raise :class:`InvalidOptionError` naming ``name`` when ``value`` is out of range or not finite.

    >>> check_range("qaoa", "cvar_alpha", float("nan"), low=1e-6, high=1.0)
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: option 'cvar_alpha' of solver 'qaoa' must be a finite number in [1e-06, 1.0], got nan
    """
    if value is None and allow_none:
        return
    ok_type = isinstance(value, int) and not isinstance(value, bool) if integer else (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type or not math.isfinite(value):
        kind = "an integer" if integer else "a finite number"
        if ok_type and low is not None and high is not None:
            kind += f" in [{low}, {high}]"
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
    """Validate the ``seed`` and ``time_limit_s`` every solve takes (raises InvalidOptionError).

    >>> check_call(2**70, None)
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: seed must be an integer in [0, 2147483647], got 1180591620717411303424
    """
    if seed is not None and not (
        isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED
    ):
        msg = f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}"
        raise InvalidOptionError(msg)
    if time_limit_s is not None and not (
        isinstance(time_limit_s, (int, float))
        and not isinstance(time_limit_s, bool)
        and 0 < time_limit_s <= MAX_TIME_LIMIT_S
    ):
        msg = (f"time_limit_s must be a positive number of seconds, at most {MAX_TIME_LIMIT_S:.0f} "
               f"(a week), got {time_limit_s!r}")
        raise InvalidOptionError(msg)
