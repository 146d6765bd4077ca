r"""IoT-connected flexible devices on a grid's buses: EV charging sessions, batteries, demand response.

A :class:`Devices` container holds the devices a dispatch schedules beside its
generators.  Every device sits at a bus of the grid and draws power ``p_mw``
from it in each period (a battery's ``p_mw`` is negative while it discharges).

The device CSV format
---------------------
One file, one row per device, a ``kind`` column saying which columns the row
uses (the others stay empty).  Times are ``HH:MM`` on the planning day; a time
the next morning is written ``HH:MM+1`` (``07:30+1``).  Energies in MWh, powers
in MW, costs in EUR.

========  ==========================================================================================
kind      columns
========  ==========================================================================================
``ev``    ``device, bus, arrival, departure, energy_mwh, max_rate_mw``: plugged in from
          ``arrival`` to ``departure``, it must receive ``energy_mwh`` by then, at most
          ``max_rate_mw``, and draws nothing while away.
``battery`` ``device, bus, capacity_mwh, max_rate_mw, soc_init_mwh, soc_min_mwh, soc_max_mwh,
          efficiency``: charges or discharges at most ``max_rate_mw``; its state of charge
          stays in ``[soc_min_mwh, soc_max_mwh]`` (within ``0..capacity_mwh``) and ends the day no
          lower than ``soc_init_mwh``; ``efficiency`` is the round trip, split evenly
          (``sqrt(efficiency)`` on the way in and on the way out).
``dr``    ``device, bus, energy_mwh, window_start, window_end, max_rate_mw, baseline_start,
          discomfort_eur_per_mwh``: a demand-response load (a water heater, a heat pump's
          pre-heating) that must consume ``energy_mwh`` within its window, at most
          ``max_rate_mw``.  Uncontrolled it runs at full rate from ``baseline_start``; every MWh
          the plan moves away from that baseline costs ``discomfort_eur_per_mwh``.
========  ==========================================================================================

``bus`` is a bus index of the grid's pandapower net.  ``examples/devices_case9.csv``
is such a file for case9 (EVs, a home and a community battery, heat pumps).

**The day is periodic.**  A dispatch plans one day that stands for many alike
(its storage, too, must end no lower than it started), so a session that
departs the next morning wraps round to the start of the same day: an EV
plugged in from 18:00 to 07:30+1 may charge from 18:00 to 24:00 and from 00:00
to 07:30 of the planned day (the morning part stands for the night before).  A
session may last at most 24 hours.  In a period that a session only partly
covers, the device's average power is at most ``max_rate_mw`` times the share
of the period it is plugged in.

**Uncontrolled** (:meth:`Devices.uncontrolled_mw`): every EV charges at full rate
from its arrival until its energy is in; batteries stay idle; demand response
runs its baseline.  That is the plan every flexible device is compared with.

The schedule (``device_schedule.csv``, :meth:`Devices.schedule_table`) has one row per
period and device: ``period, device, kind, bus, p_mw, soc_mwh``, where ``soc_mwh``
is a battery's state of charge at the end of the period, an EV's energy
delivered so far in its session (and a demand-response load's energy consumed
so far in its window) at the end of the period, empty outside the session.

Examples
--------
>>> from optimizer.inputs.grid import Grid
>>> grid = Grid.load("case9")
>>> devs = generate_devices(grid, evs=4, batteries=1, dr=1, seed=3)
>>> len(devs), devs.kinds
(6, ('ev', 'ev', 'ev', 'ev', 'battery', 'dr'))
>>> u = devs.uncontrolled_mw(24)
>>> check = devs.check_schedule(u, 24)
>>> check
[]
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "devices.csv"
>>> _ = devs.write_csv(path)
>>> read_devices(path, grid) == devs
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DeviceError
from optimizer.io import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from optimizer.inputs.grid import Grid

__all__ = [
    "DEVICE_COLUMNS",
    "KINDS",
    "SCHEDULE_COLUMNS",
    "Battery",
    "DemandResponse",
    "Devices",
    "EVSession",
    "generate_devices",
    "read_devices",
]

KINDS = ("ev", "battery", "dr")
#: The columns of the device CSV, by kind (``device``, ``kind`` and ``bus`` for every row).
DEVICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ev": ("arrival", "departure", "energy_mwh", "max_rate_mw"),
    "battery": ("capacity_mwh", "max_rate_mw", "soc_init_mwh", "soc_min_mwh", "soc_max_mwh", "efficiency"),
    "dr": ("energy_mwh", "window_start", "window_end", "max_rate_mw", "baseline_start", "discomfort_eur_per_mwh"),
}
ALL_COLUMNS = ("device", "kind", "bus", *dict.fromkeys(c for cols in DEVICE_COLUMNS.values() for c in cols))
#: ``device_schedule.csv``'s columns.
SCHEDULE_COLUMNS = ("period", "device", "kind", "bus", "p_mw", "soc_mwh")
#: Energy tolerance of the schedule checks (MWh).
TOL_MWH = 1e-6
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*(\+1)?\s*$")


def _clock_text(h: float) -> str:
    """``HH:MM`` of hours since the day's start (``HH:MM+1`` at or after 24:00)."""
    m = int(round(h * 60.0))
    nxt = m >= 24 * 60
    m -= 24 * 60 if nxt else 0
    return f"{m // 60:02d}:{m % 60:02d}" + ("+1" if nxt else "")


def _overlap(a: float, b: float, s: float, e: float) -> float:
    """Hours that ``[a, b)`` and ``[s, e)`` share, with ``[a, b)`` wrapped round the 24-hour day."""
    return sum(max(0.0, min(b, e + k) - max(a, s + k)) for k in (0.0, 24.0))


@dataclass(frozen=True)
class _Windowed:
    """A device that draws energy within a window ``[start_h, end_h)`` (``end_h`` may pass 24: next morning)."""

    def availability(self, periods: int) -> np.ndarray:
        """Share of each period inside the window (0..1)."""
        dt = 24.0 / periods
        return np.array([_overlap(self.start_h, self.end_h, t * dt, (t + 1) * dt) / dt  # type: ignore[attr-defined]
                         for t in range(periods)])

    def order(self, periods: int) -> np.ndarray:
        """Periods in the order the window meets their ends (the window's first period first)."""
        dt = 24.0 / periods
        key = [(((t + 1) * dt - self.start_h - 1e-9) % 24.0) for t in range(periods)]  # type: ignore[attr-defined]
        return np.argsort(key, kind="stable")

    def _run_from(self, start_h: float, rate: float, energy: float, periods: int) -> np.ndarray:
        dt = 24.0 / periods
        end = start_h + energy / rate
        return np.array([rate * _overlap(start_h, end, t * dt, (t + 1) * dt) / dt for t in range(periods)])


@dataclass(frozen=True)
class EVSession(_Windowed):
    """An EV plugged in at ``bus`` from ``arrival_h`` to ``departure_h`` (hours; past 24 = next morning)."""

    device: str
    bus: int
    arrival_h: float
    departure_h: float
    energy_mwh: float
    max_rate_mw: float
    kind: str = field(default="ev", init=False)

    @property
    def start_h(self) -> float:
        return self.arrival_h

    @property
    def end_h(self) -> float:
        return self.departure_h

    def uncontrolled(self, periods: int) -> np.ndarray:
        """Full rate from arrival until the energy is in (MW per period)."""
        return self._run_from(self.arrival_h, self.max_rate_mw, self.energy_mwh, periods)

    def row(self) -> dict[str, Any]:
        return {"arrival": _clock_text(self.arrival_h), "departure": _clock_text(self.departure_h),
                "energy_mwh": self.energy_mwh, "max_rate_mw": self.max_rate_mw}


@dataclass(frozen=True)
class DemandResponse(_Windowed):
    """A shiftable load: ``energy_mwh`` within ``[window_start_h, window_end_h)``, baseline from ``baseline_start_h``."""

    device: str
    bus: int
    energy_mwh: float
    window_start_h: float
    window_end_h: float
    max_rate_mw: float
    baseline_start_h: float
    discomfort_eur_per_mwh: float
    kind: str = field(default="dr", init=False)

    @property
    def start_h(self) -> float:
        return self.window_start_h

    @property
    def end_h(self) -> float:
        return self.window_end_h

    def uncontrolled(self, periods: int) -> np.ndarray:
        """The baseline: full rate from ``baseline_start_h`` until the energy is in (MW per period)."""
        return self._run_from(self.baseline_start_h, self.max_rate_mw, self.energy_mwh, periods)

    def row(self) -> dict[str, Any]:
        return {"energy_mwh": self.energy_mwh, "window_start": _clock_text(self.window_start_h),
                "window_end": _clock_text(self.window_end_h), "max_rate_mw": self.max_rate_mw,
                "baseline_start": _clock_text(self.baseline_start_h),
                "discomfort_eur_per_mwh": self.discomfort_eur_per_mwh}


@dataclass(frozen=True)
class Battery:
    """A home or community battery at ``bus``; ``efficiency`` is the round trip."""

    device: str
    bus: int
    capacity_mwh: float
    max_rate_mw: float
    soc_init_mwh: float
    soc_min_mwh: float
    soc_max_mwh: float
    efficiency: float
    kind: str = field(default="battery", init=False)

    @property
    def eta(self) -> float:
        """One-way efficiency, ``sqrt(efficiency)``."""
        return math.sqrt(self.efficiency)

    def uncontrolled(self, periods: int) -> np.ndarray:
        return np.zeros(periods)

    def availability(self, periods: int) -> np.ndarray:
        return np.ones(periods)

    def soc(self, p_mw: np.ndarray, dt_h: float) -> np.ndarray:
        """State of charge at each period's end for grid-side power ``p_mw`` (charge positive)."""
        p = np.asarray(p_mw, dtype=np.float64)
        step = np.where(p > 0, self.eta * p, p / self.eta) * dt_h
        return self.soc_init_mwh + np.cumsum(step)

    def row(self) -> dict[str, Any]:
        return {"capacity_mwh": self.capacity_mwh, "max_rate_mw": self.max_rate_mw,
                "soc_init_mwh": self.soc_init_mwh, "soc_min_mwh": self.soc_min_mwh,
                "soc_max_mwh": self.soc_max_mwh, "efficiency": self.efficiency}


Device = EVSession | Battery | DemandResponse


@dataclass(frozen=True)
class Devices:
    """The flexible devices of a dispatch, in file order.

    Attributes
    ----------
    items : tuple of EVSession, Battery, DemandResponse
    source : str
        Where they came from (a file, or the generator's parameters).
    aggregation : int
        How many real devices one modelled device stands for (1: one each;
        see :func:`generate_devices`).
    """

    items: tuple[Device, ...]
    source: str = "custom"
    aggregation: int = 1

    def __post_init__(self) -> None:
        names = [d.device for d in self.items]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            msg = f"device names must be unique; {dup!r} appears {names.count(dup)} times: rename one"
            raise DeviceError(msg)

    def __len__(self) -> int:
        return len(self.items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Devices) and self.items == other.items

    def __hash__(self) -> int:
        return hash(self.items)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.device for d in self.items)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(d.kind for d in self.items)

    @property
    def buses(self) -> tuple[int, ...]:
        return tuple(d.bus for d in self.items)

    def count(self, kind: str) -> int:
        return sum(1 for d in self.items if d.kind == kind)

    def uncontrolled_mw(self, periods: int) -> np.ndarray:
        """The uncontrolled schedule (periods x devices, MW drawn): EVs at full rate on arrival, batteries
        idle, demand response at its baseline."""
        if not self.items:
            return np.zeros((periods, 0))
        return np.stack([d.uncontrolled(periods) for d in self.items], axis=1)

    def availability(self, periods: int) -> np.ndarray:
        """Share of each period each device may draw power (periods x devices; batteries 1)."""
        if not self.items:
            return np.zeros((periods, 0))
        return np.stack([d.availability(periods) for d in self.items], axis=1)

    def by_bus_mw(self, p_mw: np.ndarray) -> dict[int, np.ndarray]:
        """Power drawn per bus and period (MW) of a schedule ``p_mw`` (periods x devices)."""
        out: dict[int, np.ndarray] = {}
        p = np.asarray(p_mw, dtype=np.float64)
        for j, d in enumerate(self.items):
            out[d.bus] = out.get(d.bus, 0.0) + p[:, j]
        return out

    def discomfort_eur(self, p_mw: np.ndarray, periods: int) -> float:
        """The demand-response discomfort cost of a schedule: EUR per MWh moved away from the baselines."""
        dt = 24.0 / periods
        p = np.asarray(p_mw, dtype=np.float64)
        total = 0.0
        for j, d in enumerate(self.items):
            if d.kind == "dr" and d.discomfort_eur_per_mwh > 0:
                moved = np.clip(d.uncontrolled(periods) - p[:, j], 0.0, None).sum() * dt
                total += d.discomfort_eur_per_mwh * float(moved)
        return float(total)

    def soc_mwh(self, p_mw: np.ndarray, periods: int) -> np.ndarray:
        """The ``soc_mwh`` column of a schedule (periods x devices; see the module docstring)."""
        dt = 24.0 / periods
        p = np.asarray(p_mw, dtype=np.float64)
        out = np.full(p.shape, np.nan)
        for j, d in enumerate(self.items):
            if isinstance(d, Battery):
                out[:, j] = d.soc(p[:, j], dt)
                continue
            avail = d.availability(periods)
            acc = 0.0
            for t in d.order(periods):
                if avail[t] > 0:
                    acc += p[t, j] * dt
                    out[t, j] = acc
        return out

    def check_schedule(self, p_mw: np.ndarray, periods: int, *, tol_mwh: float = TOL_MWH) -> list[str]:
        """Every way a schedule (periods x devices, MW drawn) breaks a device's rules; empty when it keeps them.

        EVs: nothing drawn while away, within the rate, every session's energy
        delivered by departure.  Batteries: within the rate, the state of
        charge within its bounds and back to its initial value by the day's end.
        Demand response: within its window and rate, its energy consumed.
        """
        p = np.asarray(p_mw, dtype=np.float64)
        if p.shape != (periods, len(self.items)):
            return [f"device schedule has shape {p.shape}, needs {(periods, len(self.items))} (periods x devices)"]
        if not np.all(np.isfinite(p)):
            return ["device schedule p_mw has non-finite values"]
        dt = 24.0 / periods
        out: list[str] = []
        for j, d in enumerate(self.items):
            x = p[:, j]
            tol_mw = tol_mwh / dt + 1e-9 * d.max_rate_mw
            if isinstance(d, Battery):
                if np.any(np.abs(x) > d.max_rate_mw + tol_mw):
                    t = int(np.argmax(np.abs(x)))
                    out.append(f"battery {d.device!r} period {t}: |p| {abs(x[t]):.6g} MW over its rate "
                               f"{d.max_rate_mw:g} MW")
                soc = d.soc(x, dt)
                for t in np.flatnonzero((soc < d.soc_min_mwh - tol_mwh) | (soc > d.soc_max_mwh + tol_mwh))[:3]:
                    out.append(f"battery {d.device!r} period {int(t)}: state of charge {soc[t]:.6g} MWh outside "
                               f"{d.soc_min_mwh:g}..{d.soc_max_mwh:g} MWh")
                if soc[-1] < d.soc_init_mwh - tol_mwh:
                    out.append(f"battery {d.device!r} ends the day at {soc[-1]:.6g} MWh, below its initial "
                               f"{d.soc_init_mwh:g} MWh")
                continue
            what = "EV" if d.kind == "ev" else "demand response"
            avail = d.availability(periods)
            if np.any(x < -tol_mw):
                t = int(np.argmin(x))
                out.append(f"{what} {d.device!r} period {t}: draws {x[t]:.6g} MW, must be >= 0")
            away = (avail <= 0) & (x > tol_mw)
            if np.any(away):
                t = int(np.flatnonzero(away)[0])
                where = "while away" if d.kind == "ev" else "outside its window"
                out.append(f"{what} {d.device!r} period {t}: draws {x[t]:.6g} MW {where}")
            over = x > d.max_rate_mw * avail + tol_mw
            if np.any(over & (avail > 0)):
                t = int(np.flatnonzero(over & (avail > 0))[0])
                out.append(f"{what} {d.device!r} period {t}: draws {x[t]:.6g} MW, over its rate "
                           f"{d.max_rate_mw:g} MW x {avail[t]:.3g} of the period plugged in")
            got = float(np.sum(x * (avail > 0)) * dt)
            if got < d.energy_mwh - tol_mwh:
                when = "by departure" if d.kind == "ev" else "within its window"
                out.append(f"{what} {d.device!r} gets {got:.6g} MWh {when}, short of its {d.energy_mwh:g} MWh")
            elif got > d.energy_mwh + tol_mwh:
                out.append(f"{what} {d.device!r} gets {got:.6g} MWh, more than its {d.energy_mwh:g} MWh")
        return out

    def schedule_table(self, p_mw: np.ndarray, periods: int) -> pd.DataFrame:
        """``device_schedule.csv``: ``period, device, kind, bus, p_mw, soc_mwh`` (one row per period and device)."""
        import pandas as pd

        p = np.asarray(p_mw, dtype=np.float64)
        soc = self.soc_mwh(p, periods)
        rows = [{"period": t, "device": d.device, "kind": d.kind, "bus": d.bus, "p_mw": float(p[t, j]),
                 "soc_mwh": float(soc[t, j])} for t in range(periods) for j, d in enumerate(self.items)]
        return pd.DataFrame(rows, columns=list(SCHEDULE_COLUMNS))

    def table(self) -> pd.DataFrame:
        """The devices in the CSV format (:data:`ALL_COLUMNS`, empty where a kind has no such column)."""
        import pandas as pd

        rows = [{"device": d.device, "kind": d.kind, "bus": d.bus, **d.row()} for d in self.items]
        return pd.DataFrame(rows, columns=list(ALL_COLUMNS))

    def write_csv(self, path: str | Path) -> Path:
        """Write the devices as a device CSV, atomically."""
        return atomic_write_text(path, self.table().to_csv(index=False))

    def summary(self) -> dict[str, Any]:
        """Counts, energies and rates, JSON-friendly."""
        return {"source": self.source, "aggregation": self.aggregation, "devices": len(self.items),
                "evs": self.count("ev"), "batteries": self.count("battery"), "dr": self.count("dr"),
                "ev_energy_mwh": float(sum(d.energy_mwh for d in self.items if d.kind == "ev")),
                "ev_rate_mw": float(sum(d.max_rate_mw for d in self.items if d.kind == "ev")),
                "battery_mwh": float(sum(d.capacity_mwh for d in self.items if isinstance(d, Battery))),
                "dr_energy_mwh": float(sum(d.energy_mwh for d in self.items if d.kind == "dr"))}

    def __repr__(self) -> str:
        return f"Devices({len(self.items)}: {self.count('ev')} ev, {self.count('battery')} battery, {self.count('dr')} dr)"


# ------------------------------------------------------------------------------ reading
class _Row:
    """One CSV row being read: its fields, and errors that name the file, line, device and field."""

    def __init__(self, path: Path, line: int, rec: dict[str, str]) -> None:
        self.path, self.line, self.rec = path, line, rec
        self.device = (rec.get("device") or "").strip()

    def fail(self, fld: str, problem: str, fix: str) -> DeviceError:
        who = f" (device {self.device!r})" if self.device else ""
        return DeviceError(f"{self.path.name} line {self.line}{who}: {fld} {problem}; {fix}")

    def text(self, fld: str) -> str:
        v = (self.rec.get(fld) or "").strip()
        if not v:
            raise self.fail(fld, "is empty", f"give every {self.rec.get('kind', '').strip()} row a {fld}")
        return v

    def number(self, fld: str, *, positive: bool = False, unit: str = "") -> float:
        raw = self.text(fld)
        try:
            v = float(raw)
        except ValueError:
            raise self.fail(fld, f"is {raw!r}, not a number", f"write a number{unit}") from None
        if not math.isfinite(v):
            raise self.fail(fld, f"is {raw!r}", f"write a finite number{unit}")
        if v < 0 or (positive and v == 0):
            need = "> 0" if positive else ">= 0"
            raise self.fail(fld, f"is {v:g}, negative" if v < 0 else f"is {v:g}", f"it must be {need}{unit}")
        return v

    def clock(self, fld: str) -> float:
        raw = self.text(fld)
        m = _CLOCK.match(raw)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise self.fail(fld, f"is {raw!r}, not a time of day",
                            "write HH:MM (00:00..23:59), and HH:MM+1 for the next morning")
        return int(m.group(1)) + int(m.group(2)) / 60.0 + (24.0 if m.group(3) else 0.0)


def _span(row: _Row, start_f: str, end_f: str, what: str) -> tuple[float, float]:
    a, b = row.clock(start_f), row.clock(end_f)
    if a >= 24.0:
        raise row.fail(start_f, f"is {_clock_text(a)}", f"{what} start on the planning day: drop the +1")
    if b <= a:
        raise row.fail(end_f, f"{_clock_text(b)} is not after {start_f} {_clock_text(a)}",
                       f"the {what} departs before it arrives: write {_clock_text(b % 24)}+1 if it ends the next "
                       "morning, or fix the times" if what == "session" else
                       f"the {what} must end after it starts: write {_clock_text(b % 24)}+1 if it ends the next "
                       "morning, or fix the times")
    if b - a > 24.0:
        raise row.fail(end_f, f"{_clock_text(b)} is more than 24 h after {start_f} {_clock_text(a)}",
                       f"a {what} lasts at most a day (the planning horizon)")
    return a, b


def _read_row(row: _Row, buses: set[int], grid_name: str) -> Device:
    kind = (row.rec.get("kind") or "").strip().lower()
    if kind not in KINDS:
        raise row.fail("kind", f"is {kind!r}, an unknown kind", f"use one of {', '.join(KINDS)}")
    name = row.text("device")
    raw_bus = row.text("bus")
    try:
        bus = int(float(raw_bus))
        if float(raw_bus) != bus:
            raise ValueError
    except ValueError:
        raise row.fail("bus", f"is {raw_bus!r}, not a bus index", "write the bus's index in the net") from None
    if bus not in buses:
        near = sorted(buses)
        raise row.fail("bus", f"{bus} does not exist in grid {grid_name!r}",
                       f"use one of its {len(near)} in-service buses ({near[0]}..{near[-1]})")
    if kind == "ev":
        a, b = _span(row, "arrival", "departure", "session")
        e = row.number("energy_mwh", positive=True, unit=" of MWh")
        r = row.number("max_rate_mw", positive=True, unit=" of MW")
        if e > r * (b - a) * (1 + 1e-9) + 1e-12:
            raise row.fail("energy_mwh", f"{e:g} MWh is more than max_rate_mw {r:g} MW can deliver in the "
                           f"{b - a:g} h from {_clock_text(a)} to {_clock_text(b)} ({r * (b - a):g} MWh)",
                           "lower energy_mwh, raise max_rate_mw, or lengthen the session")
        return EVSession(name, bus, a, b, e, r)
    if kind == "dr":
        a, b = _span(row, "window_start", "window_end", "window")
        e = row.number("energy_mwh", positive=True, unit=" of MWh")
        r = row.number("max_rate_mw", positive=True, unit=" of MW")
        if e > r * (b - a) * (1 + 1e-9) + 1e-12:
            raise row.fail("energy_mwh", f"{e:g} MWh is more than max_rate_mw {r:g} MW can deliver in the "
                           f"{b - a:g} h window ({r * (b - a):g} MWh)", "lower energy_mwh, raise max_rate_mw, "
                           "or widen the window")
        s = row.clock("baseline_start")
        if s < a:
            s += 24.0
        run = e / r
        if not (a <= s and s + run <= b + 1e-9):
            raise row.fail("baseline_start", f"{_clock_text(s % 24)} + {run:g} h at full rate does not fit in "
                           f"the window {_clock_text(a)}..{_clock_text(b)}",
                           "give a baseline start that leaves the energy time to run within the window")
        c = row.number("discomfort_eur_per_mwh", unit=" of EUR per MWh")
        return DemandResponse(name, bus, e, a, b, r, s, c)
    cap = row.number("capacity_mwh", positive=True, unit=" of MWh")
    r = row.number("max_rate_mw", positive=True, unit=" of MW")
    s0, lo, hi = (row.number(f, unit=" of MWh") for f in ("soc_init_mwh", "soc_min_mwh", "soc_max_mwh"))
    eff = row.number("efficiency", positive=True)
    if eff > 1:
        raise row.fail("efficiency", f"is {eff:g}", "write the round-trip efficiency as a share in (0, 1], e.g. 0.9")
    if hi > cap * (1 + 1e-12):
        raise row.fail("soc_max_mwh", f"{hi:g} MWh is above capacity_mwh {cap:g}", "keep soc_max_mwh <= capacity_mwh")
    if lo > hi:
        raise row.fail("soc_min_mwh", f"{lo:g} MWh is above soc_max_mwh {hi:g}", "keep soc_min_mwh <= soc_max_mwh")
    if not lo <= s0 <= hi:
        raise row.fail("soc_init_mwh", f"{s0:g} MWh is outside soc_min_mwh..soc_max_mwh ({lo:g}..{hi:g})",
                       "start the battery within its bounds")
    return Battery(name, bus, cap, r, s0, lo, hi, eff)


def read_devices(path: str | Path, grid: Grid) -> Devices:
    """Read and check a device CSV (the format of the module docstring) against ``grid``'s buses.

    Raises
    ------
    DeviceError
        One line naming the file, the line, the device, the field and the fix:
        a missing file or column, an unknown kind, a bus the grid does not
        have, a session that departs before it arrives, energy above what the
        rate allows in the time given, negative values, inconsistent state-of-charge bounds.
    """
    import csv

    p = Path(path)
    if not p.is_file():
        msg = f"device file {str(p)!r} does not exist; give a CSV of devices (see optimizer.inputs.devices)"
        raise DeviceError(msg)
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            recs = [{(k or "").strip(): (v if isinstance(v, str) else "") for k, v in r.items()} for r in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        msg = f"device file {p.name} is not a readable CSV ({exc}); write it as UTF-8 CSV with a header row"
        raise DeviceError(msg) from None
    for need in ("device", "kind", "bus"):
        if need not in header:
            msg = f"device file {p.name} has no {need!r} column; its header needs device, kind, bus and each kind's columns"
            raise DeviceError(msg)
    if not recs:
        msg = f"device file {p.name} has no rows; add at least one device or leave the file out"
        raise DeviceError(msg)
    kinds_given = {(r.get("kind") or "").strip().lower() for r in recs}
    for k in KINDS:
        if k in kinds_given:
            missing = [c for c in DEVICE_COLUMNS[k] if c not in header]
            if missing:
                msg = f"device file {p.name} has {k} rows but no column {missing[0]!r}; add the columns {', '.join(DEVICE_COLUMNS[k])}"
                raise DeviceError(msg)
    net = grid.net
    buses = {int(b) for b in net.bus.index[net.bus.in_service.astype(bool)]}
    items = []
    seen: dict[str, int] = {}
    for n, rec in enumerate(recs):
        row = _Row(p, n + 2, rec)
        d = _read_row(row, buses, grid.name)
        if d.device in seen:
            raise row.fail("device", f"{d.device!r} is also the name on line {seen[d.device]}", "give each device its own name")
        seen[d.device] = n + 2
        items.append(d)
    return Devices(tuple(items), source=str(p))


# ------------------------------------------------------------------------------ generating
#: Charging rates of home and workplace chargers (kW): IEC 61851 mode 3 at 16 A single phase (3.7),
#: 32 A single phase (7.4), 16 A three phase (11), with their shares.
HOME_RATES_KW = ((3.7, 0.3), (7.4, 0.5), (11.0, 0.2))
WORK_RATES_KW = ((7.4, 0.5), (11.0, 0.5))
#: Share of EV sessions at workplaces (the rest charge at home overnight).
WORKPLACE_SHARE = 0.3
#: Energy use of a battery-electric car (kWh per km).
KWH_PER_KM = 0.18
#: Daily distance: lognormal with this median (km) and sigma.
KM_MEDIAN, KM_SIGMA = 30.0, 0.6
#: Share of batteries that are home batteries (the rest community batteries).
HOME_BATTERY_SHARE = 0.5
#: The rated charging power of the whole EV fleet as a share of the grid's peak load: sets the aggregation.
EV_PEAK_SHARE = 0.2
#: Homes one community battery serves (its aggregation is the device aggregation over this, at least 1).
HOMES_PER_COMMUNITY_BATTERY = 20


def _pick(rng: np.random.Generator, table: tuple[tuple[float, float], ...]) -> float:
    vals, probs = zip(*table)
    return float(rng.choice(vals, p=np.asarray(probs) / sum(probs)))


def _minutes(h: float) -> float:
    """``h`` on the minute, computed as the reader computes ``HH:MM`` (so files round-trip exactly)."""
    m = round(h * 60.0)
    return m // 60 + (m % 60) / 60.0


def generate_devices(grid: Grid, *, evs: int = 0, batteries: int = 0, dr: int = 0, seed: int | None = 1,
                     aggregation: int | None = None) -> Devices:
    """A seeded, plausible set of flexible devices on ``grid``'s load buses.

    Devices are placed on load buses with probability proportional to their
    load.  On a transmission test case a device on a bus stands for many real
    ones: each modelled device aggregates ``aggregation`` real devices (energy
    and rate multiplied); by default ``aggregation`` is chosen so that the EV
    fleet's rated charging power is about :data:`EV_PEAK_SHARE` (20 %) of the
    grid's nominal load, at least 1 (a city grid's LV buses get single devices).
    Without EVs, batteries and demand response take the same rule with 7.4 kW
    each.  A community battery serves :data:`HOMES_PER_COMMUNITY_BATTERY` homes,
    so it aggregates ``aggregation / 20`` of them.

    The parameters and their sources:

    * **Home charging** (70 % of sessions): arrival ~ N(18:00, 1.5 h), departure
      ~ N(07:30, 1 h) the next morning; **workplace** (30 %): arrival ~ N(08:30,
      1 h), departure ~ N(17:00, 1 h).  Normal approximations of plug-in times
      as in Qian et al., "Modeling of load demand due to EV battery charging in
      distribution systems", IEEE Trans. Power Syst. 26(2), 2011, and the ElaadNL
      open charging-session data (Netherlands).
    * **Energy**: daily distance lognormal, median 30 km, sigma 0.6 (mean about
      36 km: Finnish cars drive some 13,000-14,000 km a year, Statistics
      Finland / Traficom), times 0.18 kWh/km (the EV Database's real-world
      consumption of mid-size battery-electric cars), capped at 90 % of what the
      rate can deliver in the session.
    * **Rates**: 3.7 / 7.4 / 11 kW (IEC 61851 mode 3: 16 A and 32 A single
      phase, 16 A three phase) at home (30/50/20 %), 7.4 / 11 kW at work.
    * **Home batteries**: 13.5 kWh / 5 kW (Tesla Powerwall 2's datasheet), 90 %
      round trip, kept within 10-100 %, starting at 50 %.  **Community
      batteries**: 0.5-2 MWh at 0.5 C, 88 % round trip (utility lithium-ion,
      NREL Annual Technology Baseline).
    * **Demand response**: electric water heaters (3 kW, 6-10 kWh a night,
      window 22:00-07:00+1, baseline start 22:00: the Finnish night-tariff
      switch; 5 EUR/MWh discomfort) and heat-pump pre-heating (2.5 kW, 5-7.5 kWh,
      window 12:00-22:00, baseline start 17:00; 20 EUR/MWh).

    Raises DeviceError for negative counts or a grid with no loads.

    Examples
    --------
    >>> from optimizer.inputs.grid import Grid
    >>> d = generate_devices(Grid.load("case30"), evs=200, batteries=20, seed=1)
    >>> d.aggregation, d.count("ev"), d.count("battery")
    (26, 200, 20)
    >>> d == generate_devices(Grid.load("case30"), evs=200, batteries=20, seed=1)
    True
    """
    for name, v in (("evs", evs), ("batteries", batteries), ("dr", dr)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 or v > 100_000:
            msg = f"{name} must be a whole number of devices in 0..100000, got {v!r}"
            raise DeviceError(msg)
    if aggregation is not None and (isinstance(aggregation, bool) or not isinstance(aggregation, (int, np.integer))
                                    or aggregation < 1):
        msg = f"aggregation must be an integer >= 1 (real devices per modelled device), got {aggregation!r}"
        raise DeviceError(msg)
    ld = grid.net.load
    ld = ld[ld.in_service.astype(bool)]
    w = (ld.p_mw * (ld["scaling"] if "scaling" in ld else 1.0)).to_numpy(dtype=np.float64)
    if not len(ld) or not np.any(w > 0):
        msg = f"grid {grid.name!r} has no in-service load to put devices beside; give devices in a file (--devices)"
        raise DeviceError(msg)
    w = np.clip(w, 0.0, None)
    bus_of = ld.bus.to_numpy(dtype=np.int64)
    if aggregation is None:
        n = evs if evs else batteries + dr
        aggregation = max(1, round(EV_PEAK_SHARE * float(w.sum()) / (max(n, 1) * 7.4e-3)))
    agg = int(aggregation)
    rng = np.random.default_rng(seed)
    items: list[Device] = []

    def bus() -> int:
        return int(bus_of[rng.choice(len(w), p=w / w.sum())])

    for k in range(evs):
        work = rng.random() < WORKPLACE_SHARE
        if work:
            a = _minutes(float(np.clip(rng.normal(8.5, 1.0), 6.0, 11.0)))
            b = _minutes(float(np.clip(rng.normal(17.0, 1.0), a + 4.0, 20.0)))
            rate = _pick(rng, WORK_RATES_KW)
        else:
            a = _minutes(float(np.clip(rng.normal(18.0, 1.5), 12.0, 23.75)))
            b = _minutes(float(np.clip(rng.normal(7.5, 1.0), 5.0, 10.0))) + 24.0
            rate = _pick(rng, HOME_RATES_KW)
        km = float(rng.lognormal(math.log(KM_MEDIAN), KM_SIGMA))
        kwh = min(max(km * KWH_PER_KM, 1.0), 0.9 * rate * (b - a))
        items.append(EVSession(f"ev{k}", bus(), a, b, round(agg * kwh / 1000.0, 6), round(agg * rate / 1000.0, 6)))
    for k in range(batteries):
        if rng.random() < HOME_BATTERY_SHARE:
            cap, rate, eff, n = 13.5, 5.0, 0.9, agg
        else:
            cap = float(rng.choice([500.0, 1000.0, 1500.0, 2000.0]))
            rate, eff, n = 0.5 * cap, 0.88, max(1, agg // HOMES_PER_COMMUNITY_BATTERY)
        c = round(n * cap / 1000.0, 6)
        items.append(Battery(f"battery{k}", bus(), c, round(n * rate / 1000.0, 6), round(0.5 * c, 6),
                             round(0.1 * c, 6), c, eff))
    for k in range(dr):
        if rng.random() < 0.5:
            rate, kwh, a, b, s, c = 3.0, float(rng.uniform(6.0, 10.0)), 22.0, 31.0, 22.0, 5.0
        else:
            rate, kwh, a, b, s, c = 2.5, float(rng.uniform(5.0, 7.5)), 12.0, 22.0, 17.0, 20.0
        items.append(DemandResponse(f"dr{k}", bus(), round(agg * kwh / 1000.0, 6), a, b,
                                    round(agg * rate / 1000.0, 6), s, c))
    src = f"generated: evs={evs}, batteries={batteries}, dr={dr}, seed={seed}, aggregation={agg}"
    return Devices(tuple(items), source=src, aggregation=agg)
