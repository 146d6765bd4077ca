"""One factory from a scenario's parameters to its problem: ``build_problem("traffic", trips=6, routes=3)``.

``cityopt run``, batch jobs and the demo all build their problems here:

* ``traffic``: ``city``, ``trips``, ``routes``, ``seed``, ``weight``,
  ``min_distance_m``, ``vehicles_per_trip``, or ``trips_csv`` (a CSV of trips in
  ``city``); and how plans are scored: ``objective`` (``bpr`` or ``congestion``),
  ``peak`` (``"07:00-09:00"``), ``slice_min``, ``bpr_alpha``, ``bpr_beta``;
* ``fleet``: ``city``, ``stops``, ``vehicles``, ``capacity``, ``poi``, ``seed``,
  or ``stops_csv`` (stops in ``city``), or ``instance`` (a TSPLIB / CVRPLIB file;
  ``vehicles`` None: the file's);
* ``dispatch``: ``grid``, ``units``, ``periods``, ``levels``, ``seed``, ``day``,
  ``quantum_mw``, ``balancing``, ``load_scale``, ``network`` (DC line limits), ``ac`` (the AC OPF
  dispatch), and flexible devices: ``devices`` (a device CSV, :mod:`optimizer.inputs.devices`) or ``evs``,
  ``batteries``, ``dr`` (generated with the scenario's ``seed``), ``encoding`` (the QUBO's: ``auto``,
  ``levels``, ``onehot``).

A ``city`` is a :class:`~optimizer.inputs.city.City` or what ``City.load`` takes
(loaded once per process and name: :func:`load_city`).

Examples
--------
>>> from optimizer.problems.dispatch.problem import QAOA_DEMO
>>> build_problem("dispatch", **QAOA_DEMO).to_qubo().num_variables <= 20
True
>>> build_problem("fleet", stops=3, colour="red")
Traceback (most recent call last):
...
solvers.errors.InvalidInputError: fleet scenarios take no parameter 'colour'; they take: capacity, city, instance, poi, seed, stops, stops_csv, vehicles
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidInputError
from solvers.options import MAX_SEED

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.inputs.city import City
    from optimizer.inputs.peak import TrafficModel
    from optimizer.problems.base import Problem
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.problems.fleet.problem import Fleet
    from optimizer.problems.traffic import Traffic

__all__ = ["LIMITS", "MAX_SEED", "Limit", "build_problem", "check_scenario", "load_city"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_city(spec: str) -> City:
    """``City.load(spec)``, once per process and spec (batch workers build many scenarios of one city)."""
    from optimizer.inputs.city import City

    t0 = time.perf_counter()
    city = City.load(spec)
    log.info("loaded %s in %.1fs", city.name, time.perf_counter() - t0)
    return city


def _city(city: City | str) -> City:
    return load_city(city) if isinstance(city, str) else city


def traffic(*, city: City | str = "helsinki", trips: int = 12, routes: int = 3, seed: int = 1,
            weight: str | None = None, min_distance_m: float = 300.0, trips_csv: str | None = None,
            vehicles_per_trip: int = 1, objective: str = "bpr", peak: str = "07:00-09:00",
            slice_min: float = 15.0, bpr_alpha: float = 0.15, bpr_beta: float = 4.0) -> Traffic:
    """Route assignment: ``trips`` sampled trips (or those of ``trips_csv``), ``routes`` candidates each.

    ``peak`` (``"HH:MM-HH:MM"``) and ``slice_min`` set the period trips depart in
    and its time slices; ``objective`` is ``bpr`` (system travel time) or ``congestion``.
    """
    from optimizer.problems.traffic import Traffic

    model = traffic_model(objective=objective, peak=peak, slice_min=slice_min, bpr_alpha=bpr_alpha,
                          bpr_beta=bpr_beta)
    if trips_csv:
        return Traffic.from_csv(_city(city), trips_csv, routes=routes, model=model, seed=seed)
    return Traffic.from_city(_city(city), trips=trips, routes=routes, seed=seed, weight=weight,
                             min_distance_m=min_distance_m, vehicles=vehicles_per_trip, model=model)


def traffic_model(*, objective: str = "bpr", peak: str = "07:00-09:00", slice_min: float = 15.0,
                  bpr_alpha: float = 0.15, bpr_beta: float = 4.0) -> TrafficModel:
    """The traffic model of a scenario's ``objective``, ``peak`` (``"HH:MM-HH:MM"``), ``slice_min`` and BPR.

    >>> traffic_model(peak="07:30-08:30", slice_min=10).peak.to_dict()
    {'start': '07:30', 'end': '08:30', 'slice_min': 10.0, 'slices': 6}
    """
    from optimizer.inputs.peak import Peak, TrafficModel, parse_clock

    parts = str(peak).split("-")
    if len(parts) != 2:
        msg = f"peak {peak!r} is not a period: write it as HH:MM-HH:MM, e.g. 07:00-09:00"
        raise InvalidInputError(msg)
    start, end = (parse_clock(p.strip(), what="peak") for p in parts)
    if end <= start:
        msg = f"peak {peak!r} ends before it starts; write it as HH:MM-HH:MM with the end later, e.g. 07:00-09:00"
        raise InvalidInputError(msg)
    return TrafficModel(objective=objective, alpha=bpr_alpha, beta=bpr_beta,
                        peak=Peak(start, end, float(slice_min) * 60.0))


def fleet(*, city: City | str = "helsinki", stops: int = 8, vehicles: int | None = None,
          capacity: int | None = None, poi: str | None = None, seed: int = 1, stops_csv: str | None = None,
          instance: str | None = None) -> Fleet:
    """Fleet routing: ``stops`` sampled stops (or ``stops_csv``'s) in ``city``, or an instance file."""
    from optimizer.problems.fleet.problem import Fleet

    if instance:
        return Fleet.from_instance(instance, vehicles=vehicles)
    v = 1 if vehicles is None else vehicles
    if stops_csv:
        return Fleet.from_csv(_city(city), stops_csv, vehicles=v, capacity=capacity)
    return Fleet.from_city(_city(city), stops=stops, vehicles=v, capacity=capacity, poi=poi, seed=seed)


def dispatch(*, grid: str = "case9", units: int | None = None, periods: int = 24, levels: int = 1,
             seed: int | None = 1, day: int | None = None, quantum_mw: float | None = None,
             balancing: str = "auto", load_scale: float = 1.0, network: bool = False, ac: bool = False,
             devices: str | None = None, evs: int | None = None, batteries: int | None = None,
             dr: int | None = None, encoding: str = "auto") -> Dispatch:
    """A day's unit commitment and dispatch on ``grid`` (``network``: DC line limits through the PTDF; ``ac``:
    every commitment re-dispatched per period by pandapower's AC OPF), with
    the flexible devices of the CSV ``devices``, or ``evs`` EV sessions, ``batteries`` and ``dr``
    demand-response loads generated with ``seed`` (:func:`optimizer.inputs.devices.generate_devices`).
    ``encoding`` is the QUBO's (:class:`~optimizer.problems.dispatch.problem.Dispatch`; ``auto``: one-hot per
    period where that needs no more variables, which QAOA's XY mixer keeps balanced)."""
    from optimizer.errors import DeviceError
    from optimizer.inputs.devices import generate_devices, read_devices
    from optimizer.inputs.grid import Grid
    from optimizer.problems.dispatch.problem import Dispatch

    counts = {"evs": evs, "batteries": batteries, "dr": dr}
    if devices is not None and any(v for v in counts.values()):
        given = next(k for k, v in counts.items() if v)
        msg = f"a device file and generated devices ({given}) cannot be combined; give one of them"
        raise DeviceError(msg)
    g = Grid.load(grid)
    devs = None
    if devices is not None:
        devs = read_devices(devices, g)
    elif any(v for v in counts.values()):
        devs = generate_devices(g, evs=evs or 0, batteries=batteries or 0, dr=dr or 0, seed=seed)
    return Dispatch.from_grid(g, units=units, periods=periods, levels=levels, seed=seed, day=day,
                              quantum_mw=quantum_mw, balancing=balancing, load_scale=load_scale, network=network,
                              ac=ac, devices=devs, encoding=encoding)


# ---------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class Limit:
    """The range of one scenario parameter: ``low <= value <= high``, an integer or a finite number.

    ``high`` bounds the work one run may ask for (a run that would not finish
    in a day on a laptop is refused up front, not started); ``why`` says so in
    the error.
    """

    low: float
    high: float
    integer: bool = True
    why: str = ""
    open_low: bool = False

    def text(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        fmt = (lambda v: f"{int(v)}") if self.integer else (lambda v: f"{v:g}")
        lo = f"> {fmt(self.low)}" if self.open_low else f">= {fmt(self.low)}"
        return f"{kind} {lo} and <= {fmt(self.high)}"


#: Every bounded scenario parameter, by problem (``None``-able parameters may be left out).
LIMITS: dict[str, dict[str, Limit]] = {
    "traffic": {
        "trips": Limit(1, 10_000, why="larger assignments are a batch of smaller ones"),
        "routes": Limit(1, 20, why="k shortest paths per trip; more adds variables, not choice"),
        "min_distance_m": Limit(0, 100_000, integer=False, why="a trip across a city is under 100 km"),
        "seed": Limit(0, MAX_SEED),
        "vehicles_per_trip": Limit(1, 1_000, why="a trip is a group of vehicles with one route"),
        "slice_min": Limit(1, 1_440, integer=False, why="a slice is at most a day"),
        "bpr_alpha": Limit(0, 10, integer=False, why="BPR's alpha is 0.15 in the manual, rarely above 1"),
        "bpr_beta": Limit(1, 10, integer=False, why="BPR's beta is 4 in the manual; above 10 is a wall"),
    },
    "fleet": {
        "stops": Limit(1, 2_000, why="OR-Tools routing beyond that needs hours"),
        "vehicles": Limit(1, 500),
        "capacity": Limit(1, 1_000_000),
        "seed": Limit(0, MAX_SEED),
    },
    "dispatch": {
        "units": Limit(1, 1_000),
        "periods": Limit(1, 96, why="the day's profile has 96 quarter-hours"),
        "levels": Limit(1, 20, why="each level is a variable per unit and period"),
        "quantum_mw": Limit(0, 1e6, integer=False, open_low=True),
        "day": Limit(0, 365, why="the day of the SimBench year"),
        "load_scale": Limit(0, 100, integer=False),
        "seed": Limit(0, MAX_SEED),
        "evs": Limit(0, 100_000, why="each EV session is a variable per period"),
        "batteries": Limit(0, 100_000, why="each battery is two variables per period"),
        "dr": Limit(0, 100_000, why="each demand-response load is a variable per period"),
    },
}


def check_scenario(problem: str, params: Mapping[str, Any], *,
                   field: Callable[[str], str] = lambda name: name) -> None:
    """Check a scenario's parameters against :data:`LIMITS` (and ``periods`` dividing 96) before any work.

    ``field`` names a parameter the way the user wrote it (``--routes`` on the
    command line, ``scenarios[0].routes`` in a job file).

    Raises
    ------
    InvalidInputError
        One line: the field, the value, the range, and why.

    Examples
    --------
    >>> check_scenario("traffic", {"trips": 6, "routes": 3})
    >>> check_scenario("traffic", {"routes": 100_000_000}, field=lambda n: "--" + n)
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidInputError: --routes must be an integer >= 1 and <= 20, got 100000000 (k shortest paths per trip; more adds variables, not choice)
    """
    for name, lim in LIMITS.get(problem, {}).items():
        value = params.get(name)
        if value is None:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and lim.integer:
            ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if ok:
            ok = math.isfinite(value) and (value > lim.low if lim.open_low else value >= lim.low) \
                and value <= lim.high
        if not ok:
            why = f" ({lim.why})" if lim.why else ""
            msg = f"{field(name)} must be {lim.text()}, got {value!r}{why}"
            raise InvalidInputError(msg)
    periods = params.get("periods")
    if problem == "dispatch" and periods is not None and 96 % int(periods):
        msg = (f"{field('periods')} must divide the day's 96 quarter-hours (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48 "
               f"or 96), got {periods!r}")
        raise InvalidInputError(msg)
    if problem == "traffic":  # the model's words: the peak period, the objective, the slice
        given = {k: params[k] for k in ("objective", "peak", "slice_min", "bpr_alpha", "bpr_beta")
                 if params.get(k) is not None}
        try:
            traffic_model(**given)
        except InvalidInputError as exc:
            text = str(exc)
            name = next((k for k in given if text.startswith(k)), "peak" if "peak" in text else None)
            if name is None:
                raise
            raise InvalidInputError(f"{field(name)}: {text.removeprefix(name).lstrip(' :')}") from None


_BUILDERS: dict[str, Callable[..., Problem]] = {"traffic": traffic, "fleet": fleet, "dispatch": dispatch}


def build_problem(problem: str, **params: Any) -> Problem:
    """The problem of kind ``problem`` (``traffic``, ``fleet``, ``dispatch``) that ``params`` describe.

    Parameters left out take the defaults of :func:`traffic`, :func:`fleet` and
    :func:`dispatch`; a parameter the kind does not take raises InvalidInputError.
    """
    try:
        builder = _BUILDERS[problem]
    except KeyError:
        msg = f"unknown problem {problem!r}; use one of: {', '.join(_BUILDERS)}"
        raise InvalidInputError(msg) from None
    takes = sorted(inspect.signature(builder).parameters)
    unknown = sorted(set(params) - set(takes))
    if unknown:
        msg = f"{problem} scenarios take no parameter {unknown[0]!r}; they take: {', '.join(takes)}"
        raise InvalidInputError(msg)
    check_scenario(problem, params)
    return builder(**params)
