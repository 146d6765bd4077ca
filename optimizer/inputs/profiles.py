"""A day of demand and renewable output for a grid: per-period loads and sgen outputs.

(The issue names ``optimizer/inputs/demand.py``; the grid profiles live here so that the
travel-demand module keeps one owner.)

A :class:`DayProfile` holds, for ``T`` periods covering one day (``T`` divides 96,
so periods are whole quarter-hours: 24 hourly, 96 quarter-hourly, 4 six-hour
blocks ...), the active and reactive power of every in-service load and the
output of every renewable sgen (the sgens :meth:`optimizer.inputs.grid.Grid.units` does
not dispatch).  Where they come from:

* SimBench grids: their own quarter-hour profiles (``simbench.get_absolute_values``)
  for one day of the year 2016 (``day``, default drawn from ``seed``);
* every other grid, the documented standard shapes below, hour by hour, scaled to
  each element's nominal ``p_mw * scaling`` (loads: the nominal value is the
  peak; PV and wind: the installed power), times a seeded variation per period
  (``N(1, 0.05)`` for load, ``N(1, 0.15)`` for wind and sun) unless ``noise=False``.

Standard shapes (hour 0..23, peak 1): :data:`RESIDENTIAL` (a household H0-like
day: night trough, morning and evening peaks), :data:`COMMERCIAL` (business
hours), loads follow :data:`MIXED_LOAD` = 0.6 residential + 0.4 commercial, scaled
to peak 1; PV follows :data:`SOLAR` (a sine bell from 06:00 to 18:00, peak at
noon); wind and every other renewable type :data:`WIND` (flat around 0.35, a
little stronger at night).

Examples
--------
>>> from optimizer.inputs.grid import Grid
>>> from optimizer.inputs.profiles import day_profile
>>> prof = day_profile(Grid.load("case9"), periods=24, seed=1, noise=False)
>>> prof.periods, prof.dt_h, round(float(prof.load_mw.max()), 1)
(24, 1.0, 315.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from optimizer.inputs.grid import Grid

__all__ = [
    "COMMERCIAL",
    "MIXED_LOAD",
    "RESIDENTIAL",
    "SOLAR",
    "WIND",
    "DayProfile",
    "check_periods",
    "day_profile",
    "renewable_sgens",
]

#: Quarter-hours in a day: the base resolution (periods must divide it).
BASE_STEPS = 96

RESIDENTIAL = (0.55, 0.48, 0.45, 0.44, 0.45, 0.50, 0.62, 0.75, 0.78, 0.74, 0.72, 0.74,
               0.80, 0.76, 0.70, 0.68, 0.72, 0.85, 0.96, 1.00, 0.97, 0.88, 0.76, 0.64)
COMMERCIAL = (0.40, 0.38, 0.37, 0.37, 0.38, 0.42, 0.55, 0.75, 0.90, 0.97, 1.00, 1.00,
              0.95, 0.97, 0.98, 0.96, 0.92, 0.82, 0.68, 0.58, 0.52, 0.48, 0.45, 0.42)
_mixed = [0.6 * r + 0.4 * c for r, c in zip(RESIDENTIAL, COMMERCIAL)]
MIXED_LOAD = tuple(round(v / max(_mixed), 6) for v in _mixed)
SOLAR = tuple(round(max(0.0, math.sin(math.pi * (h + 0.5 - 6.0) / 12.0)), 6) for h in range(24))
WIND = tuple(round(0.35 + 0.08 * math.cos(2.0 * math.pi * (h - 3.0) / 24.0), 6) for h in range(24))

LOAD_NOISE = 0.05
RENEWABLE_NOISE = 0.15


def check_periods(periods: Any) -> int:
    """``periods`` as an int dividing 96 (whole quarter-hours in one day), or an error naming it."""
    if isinstance(periods, bool) or not isinstance(periods, (int, np.integer)) or periods < 1:
        msg = f"periods must be an integer >= 1 (periods in the day), got {periods!r}"
        raise InvalidInputError(msg)
    if BASE_STEPS % int(periods):
        ok = [d for d in range(1, BASE_STEPS + 1) if BASE_STEPS % d == 0]
        msg = f"periods must divide 96 (whole quarter-hours per period), got {periods}; use one of {ok}"
        raise InvalidInputError(msg)
    return int(periods)


def _blocks(base: np.ndarray, periods: int) -> np.ndarray:
    """Average a (96, ...) array over ``periods`` equal blocks."""
    k = BASE_STEPS // periods
    return base.reshape(periods, k, *base.shape[1:]).mean(axis=1)


def _hourly_to_base(shape: tuple[float, ...]) -> np.ndarray:
    return np.repeat(np.asarray(shape, dtype=np.float64), 4)


def renewable_sgens(grid: Grid) -> list[int]:
    """In-service sgens that are renewable output (not dispatched as units)."""
    disp = set(grid.dispatchable_sgens())
    sg = grid.net.sgen
    return [int(i) for i in sg.index if bool(sg.in_service.at[i]) and int(i) not in disp]


@dataclass(frozen=True, eq=False)
class DayProfile:
    """Loads and renewable output of one day, per period.

    Attributes
    ----------
    periods : int
    dt_h : float
        Hours per period (``24 / periods``).
    load_index : tuple of int
        Rows of ``net.load`` (in-service loads).
    load_p_mw, load_q_mvar : ndarray, shape (periods, loads)
    sgen_index : tuple of int
        Rows of ``net.sgen`` that are renewable output.
    sgen_p_mw : ndarray, shape (periods, renewable sgens)
    source : str
        ``"simbench"``, ``"standard"`` or ``"custom"``.
    seed : int or None
    day : int or None
        Day of the year (SimBench).
    """

    periods: int
    load_index: tuple[int, ...]
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    sgen_index: tuple[int, ...]
    sgen_p_mw: np.ndarray
    source: str = "custom"
    seed: int | None = None
    day: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        T = check_periods(self.periods)
        arrs = {}
        for name, width in (("load_p_mw", len(self.load_index)), ("load_q_mvar", len(self.load_index)),
                            ("sgen_p_mw", len(self.sgen_index))):
            a = np.asarray(getattr(self, name), dtype=np.float64).reshape(T, width) if width else np.zeros((T, 0))
            if not np.all(np.isfinite(a)):
                msg = f"{name} has non-finite values (NaN or inf)"
                raise DemandError(msg)
            a = a.copy()
            a.setflags(write=False)
            arrs[name] = a
        neg = np.argwhere(arrs["load_p_mw"] < -1e-12)
        if neg.size:
            t, j = neg[0]
            msg = (f"negative demand: load {self.load_index[j]} has load_p_mw {arrs['load_p_mw'][t, j]:.6g} "
                   f"in period {t}; loads must be >= 0 (model generation as an sgen)")
            raise DemandError(msg)
        neg = np.argwhere(arrs["sgen_p_mw"] < -1e-12)
        if neg.size:
            t, j = neg[0]
            msg = f"renewable output of sgen {self.sgen_index[j]} is negative in period {t}; must be >= 0"
            raise DemandError(msg)
        for k, v in arrs.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "periods", T)

    # ------------------------------------------------------------ aggregates
    @property
    def dt_h(self) -> float:
        return 24.0 / self.periods

    def hours(self, t: int) -> tuple[float, float]:
        """Start and end hour of period ``t``."""
        return (t * self.dt_h, (t + 1) * self.dt_h)

    @property
    def load_mw(self) -> np.ndarray:
        """Total load per period (MW)."""
        return self.load_p_mw.sum(axis=1)

    @property
    def renewable_mw(self) -> np.ndarray:
        """Total renewable output per period (MW)."""
        return self.sgen_p_mw.sum(axis=1)

    @property
    def net_load_mw(self) -> np.ndarray:
        """Load minus renewable output per period (MW); what the units must cover."""
        return self.load_mw - self.renewable_mw

    def table(self) -> pd.DataFrame:
        """``period, hour_start, hours, load_mw, renewable_mw, net_load_mw``."""
        import pandas as pd

        return pd.DataFrame({
            "period": np.arange(self.periods), "hour_start": np.arange(self.periods) * self.dt_h,
            "hours": np.full(self.periods, self.dt_h), "load_mw": self.load_mw,
            "renewable_mw": self.renewable_mw, "net_load_mw": self.net_load_mw})

    def scaled(self, *, load: float = 1.0, renewable: float = 1.0) -> DayProfile:
        """The same day with every load (and its reactive power) and renewable output scaled."""
        return DayProfile(self.periods, self.load_index, self.load_p_mw * load, self.load_q_mvar * load,
                          self.sgen_index, self.sgen_p_mw * renewable, self.source, self.seed, self.day,
                          {**self.info, "scaled": {"load": load, "renewable": renewable}})

    def to_dict(self) -> dict[str, Any]:
        return {"periods": self.periods, "dt_h": self.dt_h, "source": self.source, "seed": self.seed,
                "day": self.day, "load_mw": self.load_mw.tolist(), "renewable_mw": self.renewable_mw.tolist()}

    @classmethod
    def from_factors(cls, grid: Grid, load_factor: Any, renewable_factor: Any | None = None, *,
                     source: str = "custom", seed: int | None = None) -> DayProfile:
        """Every load follows ``load_factor[t]`` times its nominal power, every renewable sgen
        ``renewable_factor[t]`` times its installed power (default 0); one value per period.
        """
        lf = np.asarray(load_factor, dtype=np.float64).reshape(-1)
        T = check_periods(int(lf.shape[0]))
        rf = np.zeros(T) if renewable_factor is None else np.asarray(renewable_factor, dtype=np.float64).reshape(-1)
        if rf.shape[0] != T:
            msg = f"renewable_factor has {rf.shape[0]} values, load_factor {T}: give one per period"
            raise InvalidInputError(msg)
        if np.any(lf < 0):
            t = int(np.argmax(lf < 0))
            msg = f"negative demand: load_factor[{t}] = {lf[t]:.6g}; load factors must be >= 0"
            raise DemandError(msg)
        if np.any(rf < 0):
            t = int(np.argmax(rf < 0))
            msg = f"renewable_factor[{t}] = {rf[t]:.6g} is negative; must be >= 0"
            raise DemandError(msg)
        lidx, p_nom, q_nom = _nominal_loads(grid)
        sidx, s_nom = _nominal_sgens(grid)
        return cls(T, lidx, lf[:, None] * p_nom[None, :], lf[:, None] * q_nom[None, :], sidx,
                   rf[:, None] * s_nom[None, :], source, seed)


def _nominal_loads(grid: Grid) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    ld = grid.net.load
    ld = ld[ld.in_service.astype(bool)]
    scale = ld["scaling"].to_numpy(dtype=np.float64) if "scaling" in ld else np.ones(len(ld))
    p = ld.p_mw.to_numpy(dtype=np.float64) * scale
    q = ld.q_mvar.to_numpy(dtype=np.float64) * scale if "q_mvar" in ld else np.zeros(len(ld))
    if np.any(p < 0):
        j = int(np.argmax(p < 0))
        msg = (f"negative demand: load {int(ld.index[j])} of grid {grid.name!r} has p_mw {p[j]:.6g}; "
               "loads must be >= 0 (model generation as an sgen)")
        raise DemandError(msg)
    return tuple(int(i) for i in ld.index), p, q


def _nominal_sgens(grid: Grid) -> tuple[tuple[int, ...], np.ndarray]:
    idx = renewable_sgens(grid)
    sg = grid.net.sgen.loc[idx] if idx else grid.net.sgen.iloc[:0]
    p = np.abs(sg.p_mw.to_numpy(dtype=np.float64)) if len(sg) else np.zeros(0)
    return tuple(idx), p


def day_profile(grid: Grid, periods: int = 24, *, seed: int | None = 1, day: int | None = None,
                noise: bool = True) -> DayProfile:
    """One day of loads and renewable output for ``grid``, in ``periods`` equal periods.

    Parameters
    ----------
    grid : Grid
    periods : int
        Periods in the day; must divide 96 (24: hourly, 96: quarter-hourly).
    seed : int or None
        Seed of the variation between scenarios (the day of a SimBench year, the
        noise on the standard shapes).
    day : int, optional
        SimBench grids: the day of the year, 0..365 (default: drawn from ``seed``).
    noise : bool
        Standard shapes: apply the seeded variation (``False``: the plain shapes).

    Raises
    ------
    InvalidInputError
        ``periods`` < 1 or not a divisor of 96; ``day`` out of range.
    DemandError
        A load with negative demand.
    """
    T = check_periods(periods)
    rng = np.random.default_rng(seed)
    if grid.simbench_code is not None and getattr(grid.net, "profiles", None):
        return _simbench_profile(grid, T, rng, seed, day)
    if day is not None:
        msg = (f"day applies to SimBench grids only (they carry a year of profiles); grid {grid.name!r} has a "
               f"standard day: drop day, or use a SimBench grid such as simbench_mv_rural")
        raise DemandError(msg)
    lidx, p_nom, q_nom = _nominal_loads(grid)
    sidx, s_nom = _nominal_sgens(grid)
    load = _hourly_to_base(MIXED_LOAD)
    lf = _blocks(load, T)
    types = [str(grid.net.sgen.type.at[i]).lower() if "type" in grid.net.sgen else "" for i in sidx]
    shapes = np.stack([_hourly_to_base(SOLAR if ("pv" in t or "solar" in t) else WIND) for t in types], axis=1) \
        if sidx else np.zeros((BASE_STEPS, 0))
    sf = _blocks(shapes, T)
    if noise:
        lf = lf * np.clip(rng.normal(1.0, LOAD_NOISE, size=T), 0.5, 1.5)
        sf = sf * np.clip(rng.normal(1.0, RENEWABLE_NOISE, size=(T, 1)), 0.0, 2.0)
    return DayProfile(T, lidx, lf[:, None] * p_nom[None, :], lf[:, None] * q_nom[None, :], sidx,
                      sf * s_nom[None, :], "standard", seed, None,
                      {"shapes": "mixed residential/commercial load; solar bell; flat wind", "noise": noise})


def _simbench_profile(grid: Grid, T: int, rng: np.random.Generator, seed: int | None,
                      day: int | None) -> DayProfile:
    import warnings

    import simbench as sb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof = sb.get_absolute_values(grid.net, profiles_instead_of_study_cases=True)
    n_steps = int(prof[("load", "p_mw")].shape[0])
    days = n_steps // BASE_STEPS
    if day is None:
        day = int(rng.integers(0, days))
    if isinstance(day, bool) or not isinstance(day, (int, np.integer)) or not 0 <= day < days:
        msg = f"day must be an integer in 0..{days - 1} (day of the SimBench year), got {day!r}"
        raise InvalidInputError(msg)
    rows = slice(day * BASE_STEPS, (day + 1) * BASE_STEPS)
    lidx, _, _ = _nominal_loads(grid)
    sidx, _ = _nominal_sgens(grid)
    lp = prof[("load", "p_mw")].iloc[rows].reindex(columns=list(lidx)).fillna(0.0).to_numpy(dtype=np.float64)
    lq = prof[("load", "q_mvar")].iloc[rows].reindex(columns=list(lidx)).fillna(0.0).to_numpy(dtype=np.float64)
    sp = prof[("sgen", "p_mw")].iloc[rows].reindex(columns=list(sidx)).fillna(0.0).to_numpy(dtype=np.float64)
    return DayProfile(T, lidx, _blocks(lp, T), _blocks(lq, T), sidx, np.maximum(_blocks(sp, T), 0.0),
                      "simbench", seed, int(day), {"simbench_code": grid.simbench_code})
