"""The peak in time: departure times, time slices, and what a plan costs in them.

Trips do not all drive at once.  Each trip departs at a time (seconds since
midnight): from the ``depart`` column of a trips CSV, or drawn from a demand
profile over the peak period (by default 07:00-09:00, a symmetric triangular
profile whose busiest quarter-hours are the middle ones: the simplest profile
with a peak; counts from street sensors replace it where there are some).

Time is cut into slices (15 minutes by default).  A trip enters each segment of
its route at its departure time plus the free-flow time of the segments before
it, and loads that segment in that slice: two trips interact on a segment only
when they are on it in the same slice (Rusnakova et al. 2025, arXiv
2510.06053).  Entry times come from free-flow times, so a plan's cells (segment,
slice) do not depend on the congestion it causes, which keeps the objective a
sum over cells that a QUBO and CP-SAT can state.

The cost of a cell ``c`` with ``n`` vehicles, free-flow time ``t0`` (s) and
capacity ``cap`` (veh/h), in a slice of ``h`` hours, is the time they spend on
it under BPR, with the hourly volume ``n / h``::

    f_c(n) = n * t0 * (1 + alpha * (n / h / cap) ** beta)      (vehicle-seconds)

and the system travel time of a plan is ``sum_c f_c(n_c)``.  The QUBO cannot
hold a degree-5 polynomial in the loads, so it carries a quadratic surrogate
``a_c n + b_c n**2``: the least-squares fit of ``f_c`` over the loads
``n = 1..N_c`` the cell can take (``N_c``: the vehicles of every trip with a
candidate through it), with ``a_c, b_c >= 0`` (a non-negative least-squares
fit, so the surrogate rises with the load, as the QUBO's penalty proof needs).
It is exact where ``N_c = 1`` and where BPR's term is negligible; elsewhere the
summary reports its error on each plan.

Examples
--------
>>> peak = Peak()                      # 07:00-09:00 in 15-minute slices
>>> peak.slices, peak.slice_h
(8, 0.25)
>>> peak.slice_of([7 * 3600, 7 * 3600 + 899, 7 * 3600 + 900]).tolist()
[0, 0, 1]
>>> parse_clock("07:30"), parse_clock("7:30:15"), parse_clock(27000)
(27000.0, 27015.0, 27000.0)
>>> model = TrafficModel()
>>> round(float(model.cell_cost(1, 60.0, 600.0, 0.25)), 4)   # one car: free flow
60.0
>>> float(model.cell_cost(150, 60.0, 600.0, 0.25)) / 150      # at capacity: 15 % slower
69.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimizer.errors import InvalidInputError

__all__ = [
    "OBJECTIVES",
    "Peak",
    "TrafficModel",
    "clock",
    "departure_times",
    "parse_clock",
]

#: The traffic objectives: BPR system travel time, or Neukart et al.'s congestion proxy.
OBJECTIVES = ("bpr", "congestion")
_DAY_S = 86400.0


def clock(seconds: float) -> str:
    """``HH:MM`` (or ``HH:MM:SS`` when not on the minute) of seconds since midnight.

    >>> clock(27000), clock(27015), clock(90000)
    ('07:30', '07:30:15', '25:00')
    """
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:02d}:{m:02d}" + (f":{sec:02d}" if sec else "")


def parse_clock(value: Any, *, what: str = "time") -> float:
    """Seconds since midnight from ``"HH:MM"``, ``"HH:MM:SS"`` or a number of seconds (0 to 48 h).

    Raises InvalidInputError naming ``what`` for anything else.
    """
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float, np.integer, np.floating)):
        s = float(value)
    else:
        text = str(value).strip()
        m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?", text)
        if m:
            h, mi, sec = int(m[1]), int(m[2]), float(m[3] or 0)
            s = h * 3600.0 + mi * 60.0 + sec if mi < 60 and sec < 60 else float("nan")
        else:
            try:
                s = float(text)
            except ValueError:
                s = float("nan")
    if not (math.isfinite(s) and 0 <= s <= 2 * _DAY_S):
        msg = (f"{what} {value!r} is not a time of day: give HH:MM, HH:MM:SS or seconds since midnight "
               "(0 to 48:00)")
        raise InvalidInputError(msg)
    return s


@dataclass(frozen=True)
class Peak:
    """The period trips depart in and its time slices (seconds since midnight)."""

    start_s: float = 7 * 3600.0
    end_s: float = 9 * 3600.0
    slice_s: float = 900.0

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s", "slice_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
                msg = f"peak {name} must be a finite number of seconds, got {v!r}"
                raise InvalidInputError(msg)
        if not 0 <= self.start_s < self.end_s <= 2 * _DAY_S:
            msg = (f"peak period {clock(self.start_s)}-{clock(self.end_s)} is empty or outside 00:00-48:00: "
                   "the end must come after the start")
            raise InvalidInputError(msg)
        if not 60.0 <= self.slice_s <= 86400.0:
            msg = f"slice_min {self.slice_s / 60:g} is out of range: give a time slice of 1 to 1440 minutes"
            raise InvalidInputError(msg)

    @property
    def slice_h(self) -> float:
        """A slice's length in hours."""
        return self.slice_s / 3600.0

    @property
    def slices(self) -> int:
        """Slices the period covers (the last may run past its end)."""
        return max(1, math.ceil((self.end_s - self.start_s) / self.slice_s - 1e-9))

    def slice_of(self, t_s: Any) -> np.ndarray:
        """The slice index of times ``t_s`` (negative before the period, past ``slices`` after it)."""
        return np.floor((np.asarray(t_s, dtype=np.float64) - self.start_s) / self.slice_s).astype(np.int64)

    def entry_slices(self, depart_s: float, t0_s: Sequence[float]) -> np.ndarray:
        """The slice in which a trip departing at ``depart_s`` enters each segment of free-flow times ``t0_s``."""
        t0 = np.asarray(t0_s, dtype=np.float64)
        entries = depart_s + np.concatenate(([0.0], np.cumsum(t0)[:-1])) if t0.size else t0
        return self.slice_of(entries)

    def label(self, s: int) -> str:
        """``"07:15-07:30"`` for slice ``s``."""
        a = self.start_s + s * self.slice_s
        return f"{clock(a)}-{clock(a + self.slice_s)}"

    @property
    def name(self) -> str:
        """A short name for instance names: ``0700-0900-15m``."""
        return f"{clock(self.start_s).replace(':', '')}-{clock(self.end_s).replace(':', '')}-{self.slice_s / 60:g}m"

    def to_dict(self) -> dict[str, Any]:
        return {"start": clock(self.start_s), "end": clock(self.end_s), "slice_min": self.slice_s / 60.0,
                "slices": self.slices}


def departure_times(n: int, peak: Peak, *, seed: int | None) -> np.ndarray:
    """``n`` departure times (whole seconds) drawn from a triangular peak over ``peak``, busiest mid-period.

    >>> t = departure_times(1000, Peak(), seed=1)
    >>> bool(t.min() >= 7 * 3600 and t.max() < 9 * 3600)
    True
    >>> counts = np.bincount(Peak().slice_of(t))
    >>> int(counts.argmax()) in (3, 4)
    True
    """
    rng = np.random.default_rng(seed)
    mid = (peak.start_s + peak.end_s) / 2.0
    t = rng.triangular(peak.start_s, mid, peak.end_s, size=int(n))
    return np.minimum(np.floor(t), peak.end_s - 1.0)


@dataclass(frozen=True)
class TrafficModel:
    """How a traffic plan is scored: the objective, the BPR parameters and the peak's slices."""

    objective: str = "bpr"
    alpha: float = 0.15
    beta: float = 4.0
    peak: Peak = field(default_factory=Peak)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            msg = f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            raise InvalidInputError(msg)
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                 for v in (self.alpha, self.beta))
        if not ok or not 0 <= self.alpha <= 10 or not 1 <= self.beta <= 10:
            msg = f"BPR needs 0 <= alpha <= 10 and 1 <= beta <= 10; got alpha={self.alpha!r}, beta={self.beta!r}"
            raise InvalidInputError(msg)

    @property
    def units(self) -> str:
        return "vehicle-hours" if self.objective == "bpr" else "vehicle-seconds"

    def travel_time_s(self, n: Any, t0_s: Any, cap_vph: Any) -> Any:
        """Each vehicle's BPR time on a cell holding ``n`` vehicles in one slice."""
        vol = np.asarray(n, dtype=np.float64) / self.peak.slice_h
        return np.asarray(t0_s, dtype=np.float64) * (1.0 + self.alpha * (vol / np.asarray(cap_vph, np.float64))
                                                      ** self.beta)

    def cell_cost(self, n: Any, t0_s: Any, cap_vph: Any, slice_h: float | None = None) -> Any:
        """BPR vehicle-seconds ``f_c(n)`` of cells (see the module docstring); elementwise."""
        h = self.peak.slice_h if slice_h is None else slice_h
        n = np.asarray(n, dtype=np.float64)
        vol = n / h
        return n * np.asarray(t0_s, np.float64) * (1.0 + self.alpha * (vol / np.asarray(cap_vph, np.float64))
                                                  ** self.beta)

    def proxy_cost(self, n: Any, w_s: Any) -> Any:
        """Neukart et al.'s congestion ``w * n**2`` (vehicle-seconds) of cells; elementwise."""
        n = np.asarray(n, dtype=np.float64)
        return np.asarray(w_s, np.float64) * n * n

    def cost(self, n: Any, t0_s: Any, cap_vph: Any) -> Any:
        """The objective's cost of cells in seconds: BPR's ``f_c`` or the congestion proxy."""
        return self.cell_cost(n, t0_s, cap_vph) if self.objective == "bpr" else self.proxy_cost(n, t0_s)

    def quadratic(self, t0_s: float, cap_vph: float, max_load: int) -> tuple[float, float]:
        """``(a, b)`` of the cell cost as ``a n + b n**2``: exact for the proxy, the NNLS surrogate for BPR."""
        if self.objective == "congestion":
            return 0.0, float(t0_s)
        return bpr_surrogate(self, t0_s, cap_vph, max_load)


def bpr_surrogate(model: TrafficModel, t0_s: float, cap_vph: float, max_load: int) -> tuple[float, float]:
    """Least-squares ``a n + b n**2 ~ f(n)`` over ``n = 1..max_load`` with ``a, b >= 0``.

    >>> m = TrafficModel()
    >>> a, b = bpr_surrogate(m, 60.0, 600.0, 1)          # one possible vehicle: exact, linear
    >>> round(a, 4), b
    (60.0, 0.0)
    >>> a, b = bpr_surrogate(m, 60.0, 600.0, 300)
    >>> n = np.arange(1, 301); f = m.cell_cost(n, 60.0, 600.0)
    >>> bool(a >= 0 and b > 0 and np.abs(a * n + b * n * n - f).max() / f.max() < 0.2)
    True
    """
    n_max = max(int(max_load), 1)
    n = np.arange(1, n_max + 1, dtype=np.float64)
    f = model.cell_cost(n, t0_s, cap_vph)
    if n_max == 1:
        return float(f[0]), 0.0
    s2, s3, s4 = float(n @ n), float(n @ n**2), float((n**2) @ (n**2))
    fy1, fy2 = float(n @ f), float((n**2) @ f)
    det = s2 * s4 - s3 * s3
    a = (fy1 * s4 - fy2 * s3) / det
    b = (s2 * fy2 - s3 * fy1) / det
    if a >= 0 and b >= 0:
        return a, b
    # the best fit on the boundary of a, b >= 0
    fits = [(fy1 / s2, 0.0), (0.0, fy2 / s4)]
    errs = [float(np.sum((aa * n + bb * n * n - f) ** 2)) for aa, bb in fits]
    return fits[int(np.argmin(errs))]
