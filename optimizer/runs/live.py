"""The live loop: re-route vehicles every few minutes in a running SUMO simulation, and judge it.

:func:`live` drives one morning's demand through Eclipse SUMO in-process
(``libsumo``, the TraCI API without a socket) once per *strategy*, with the same
vehicles, departures and SUMO seed each time:

* ``none``: every vehicle keeps its free-flow shortest path;
* ``sumo-rerouting``: SUMO's own rerouting device on every vehicle
  (``--device.rerouting.probability 1 --device.rerouting.period`` the step), the
  anchor to beat;
* ``cityopt-<solver>``: the closed loop below, with that solver.

The loop, every ``step_min`` simulated minutes (from the first departure):

1. *Read.*  Induction loops (SUMO E1 detectors, one per lane at the middle of
   the lane, aggregating over the step) sit on the ``detectors`` busiest
   segments under the shortest-path demand, or on the segments of ``sensors``
   (a sensors table with ``u, v, key``, as :mod:`optimizer.sensing.twin` writes
   it).  Their last interval gives each sensor's reading in the project's data
   model (``flow_vph``, ``speed_kph``, ``occupancy_pct``).  Every other segment
   is measured through libsumo: its mean vehicle speed, sampled every
   ``sample_s`` seconds and weighted by the vehicles on it.
2. *Forecast.*  :func:`persistence_forecast` (the default ``forecast``): each
   segment's speed over the next ``horizon_min`` is its speed over the last
   step (the loop's where a loop counted vehicles, else the edge measurement,
   else the speed limit).  ``forecast="historical"`` or ``"gbt"`` instead
   fits that model of :mod:`optimizer.sensing.forecast` on a stream's readings
   (the city's shipped replay by default) and gives every segment one speed per
   slice of the horizon (:class:`SensorForecast`): the optimiser then prices
   each cell (segment, slice) with its own slice's time.  Any callable with
   :func:`persistence_forecast`'s signature can replace it.
   ``forecast_error_so_far`` is the mean absolute error (km/h) of each step's
   forecast against the next step's loop speeds, over every sensor and step so
   far that counted vehicles.
3. *Re-optimise.*  Vehicles on the road and those departing within the horizon
   are grouped by what they still decide: a vehicle keeps its current edge (and
   the next one when it is within ``lookahead_m`` of the edge's end or on a
   junction, so it can still turn); a vehicle not yet departed decides its whole
   route, except one already waiting to be inserted, which keeps its first edge.  Each group is a trip of a :class:`optimizer.problems.Traffic`
   sub-problem on the road graph with the forecast travel times, departing now
   (or at its departure), in slices of one step over the horizon.  Its
   candidates: its current route first (the warm start: CP-SAT's hint,
   ``decompose``'s ``start="given"``, and the plan to beat), then the k shortest
   paths under the forecast times whose first turn SUMO allows.  Groups with one
   candidate stay in as load.  Each segment's cost (``cost="forecast"``, the
   default) is BPR with the forecast time as its free-flow time (the background
   the forecast carries: everyone on the road now) and its OSM capacity, so the
   BPR term prices the re-routed vehicles' own congestion and the solver does
   not send every vehicle down the same free street.  ``cost="calibrated"``
   instead keeps the free-flow time and fits each slow segment's capacity so
   that the vehicles measured through it in a step take the forecast time
   (moving vehicles off a slow segment then makes it faster in the model); it
   reads every slowdown as load, signals included, and re-routes too much in
   light traffic.  The solver's plan is kept only when its exact BPR objective
   beats the current routes'.  The moves are then *staggered*: at most
   ``reroute_share`` (default half) of the vehicles the plan would move are
   moved this step, the largest forecast savings first (and with
   ``min_gain_s`` only those saving that much), so that not every vehicle
   leaves a street on one snapshot; the others may move at a later step.
4. *Push.*  Each vehicle whose group changed route gets ``traci.vehicle.setRoute``
   with its fixed edges followed by the new route, and the route SUMO then holds
   (``getRoute``) is read back and must equal it; a vehicle that has arrived is
   never touched (:attr:`LiveResult.pushes` records every push with SUMO's
   answer).

``step_wall_s`` is the wall time of steps 1-4 (the optimiser's share is
``solve_wall_s``); real time needs ``max_step_wall_s`` below the step length.
The solvers spend a fixed *work* per step, not a wall-clock share
(:data:`LIVE_WORK`: CP-SAT's deterministic time with its workers interleaved,
annealing sweeps, ``decompose``'s inner QAOA solves; ``work_scale`` scales
them), so a run gives the same plans on a loaded machine as on an idle one and
only its wall times differ; ``time_limit_s`` stays a real-time guard, and a
step it cut is counted in ``wall_limited_steps`` (``timeline.csv`` gives each
step's ``solver_work`` and what ended the search, ``solver_stopped_by``).

What is reported per strategy (from SUMO's tripinfo and statistics outputs):
``total_travel_time_s`` (every vehicle's time from its planned departure to its
arrival, or to the end of the simulation when it has not arrived: the wait to
be inserted included), ``time_loss_s`` (SUMO's mean time loss of arrived
vehicles: time lost below the ideal speed), ``vehicles_arrived``,
``teleports`` and ``max_step_wall_s``.  The simulation ends when every vehicle
has arrived or ``drain_min`` minutes after the last departure.

Examples
--------
>>> check_live_args(step_min=20, horizon_min=15)
Traceback (most recent call last):
...
solvers.errors.InvalidInputError: step_min 20 is longer than horizon_min 15: the forecast must cover the next step; give step_min <= horizon_min
>>> sorted(STRATEGY_KEYS)
['max_step_wall_s', 'teleports', 'time_loss_s', 'total_travel_time_s', 'vehicles_arrived']
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError, InvalidInputError, UnknownSolverError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import pandas as pd

    from optimizer.plans.simulation import SumoNetwork

__all__ = [
    "FORECASTS",
    "LIVE_WORK",
    "SENSOR_COLUMNS",
    "STRATEGY_KEYS",
    "TIMELINE_COLUMNS",
    "LiveResult",
    "SensorForecast",
    "StrategyResult",
    "check_live_args",
    "live",
    "persistence_forecast",
]

log = logging.getLogger(__name__)

#: The keys every strategy's entry of ``live/summary.json`` holds (the contract).
STRATEGY_KEYS = ("total_travel_time_s", "time_loss_s", "vehicles_arrived", "teleports", "max_step_wall_s")
#: The columns of ``live/timeline.csv``.
TIMELINE_COLUMNS = ("step", "sim_time_s", "vehicles_en_route", "vehicles_rerouted", "forecast_error_so_far",
                    "solve_wall_s", "step_wall_s", "mean_network_speed_kph", "strategy", "solver_work",
                    "solver_stopped_by")
#: Each solver's work per step in the loop, in units that do not depend on the machine's load (CP-SAT's
#: deterministic time, annealing sweeps, decomposition's inner QAOA solves), sized so a step takes about
#: 10 s of the 300 s step on this project's 2-core machine when idle (see ``benchmarks/bench_live.py``).
#: The wall-clock ``time_limit_s`` stays a guard for real time; a step it cuts is counted
#: (``wall_limited_steps``), and only such steps make a run depend on the load.
LIVE_WORK: dict[str, dict[str, Any]] = {
    # measured on bench_live's peak (3,000 vehicles, up to 490 on the road) with a 10 s wall limit, idle:
    # CP-SAT (2 workers, interleaved) 5.2-8.8 deterministic s, anneal 964-1,313 sweeps, decompose 75-83 solves
    "cpsat": {"deterministic_time": 7.5},
    "anneal": {"sweeps": 1000},
    "decompose": {"max_inner_calls": 80},
}
#: What ``timeline.csv``'s ``solver_work`` counts, per solver: the solution's info key (CP-SAT's deterministic
#: seconds, sweeps, inner solves).
_WORK_DONE = {"cpsat": "deterministic_time", "anneal": "sweeps_done", "decompose": "inner_calls"}
#: The columns of ``live/sensors.csv``: each loop's reading over a step beside the speed (and flow, where the
#: forecast gives one) forecast for that step one step before.
SENSOR_COLUMNS = ("strategy", "step", "start_s", "sim_time_s", "sensor_id", "edge", "flow_vph", "speed_kph",
                  "occupancy_pct", "forecast_speed_kph", "forecast_flow_vph")
#: Seconds between a trip's vehicles (the replays' headway).
HEADWAY_S = 2.0
_MIN_SPEED_MS = 0.5
_BASELINES = ("none", "sumo-rerouting")
#: How the sub-problem prices a segment: BPR calibrated to the forecast (free-flow t0, capacity fitted so the
#: measured load gives the forecast time), or the forecast time as t0 with the OSM capacity.
COSTS = ("forecast", "calibrated")

Edge = tuple[Any, Any, Any]
#: ``forecast(observed_ms, free_ms, history) -> speeds_ms``: every SUMO edge id's speed over the horizon.
Forecast = Callable[[Mapping[str, float], Mapping[str, float], Sequence[Mapping[str, float]]], dict[str, float]]


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class StrategyResult:
    """One strategy's run: SUMO's totals and the loop's wall times."""

    strategy: str
    vehicles: int
    vehicles_departed: int
    vehicles_arrived: int
    total_travel_time_s: float
    time_loss_s: float
    mean_travel_time_s: float
    teleports: int
    steps: int
    max_step_wall_s: float
    mean_step_wall_s: float
    max_solve_wall_s: float
    vehicles_rerouted: int
    route_pushes: int
    push_mismatches: int
    push_failures: int
    sim_wall_s: float
    #: Vehicle moves the solver chose that staggering held back (``min_gain_s``, ``reroute_share``).
    moves_held_back: int = 0
    #: Steps whose search the wall-clock guard ended before the solver's work budget was spent.
    wall_limited_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "strategy"}
        return {k: (round(v, 3) if isinstance(v, float) and math.isfinite(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class LiveResult:
    """What :func:`live` measured: one :class:`StrategyResult` per strategy, the timeline and the verdict."""

    strategies: dict[str, StrategyResult]
    timeline: pd.DataFrame
    pushes: dict[str, list[tuple[float, str, tuple[str, ...], tuple[str, ...]]]]
    arrivals: dict[str, dict[str, float]]
    settings: dict[str, Any]
    files: tuple[Path, ...] = ()
    #: Per strategy, step and loaded segment: ``volume_vph`` measured over the step, ``capacity_vph``, ``vc``.
    segments: pd.DataFrame | None = None
    #: Per strategy, step and loop: observed ``flow_vph``, ``speed_kph`` and the speed forecast for that step.
    sensors: pd.DataFrame | None = None
    #: SUMO edge id -> its line (lon, lat pairs), for the segments in :attr:`segments`.
    lines_wgs84: dict[str, list[tuple[float, float]]] | None = None

    @property
    def verdict(self) -> dict[str, Any]:
        """The best strategy by total travel time (ties: fewer teleports, then the listed order)."""
        rows = sorted(self.strategies.values(),
                      key=lambda r: (-r.vehicles_arrived, r.total_travel_time_s, r.teleports))
        best = rows[0]
        anchor = self.strategies.get("sumo-rerouting")
        base = self.strategies.get("none")
        out: dict[str, Any] = {"best": best.strategy, "ranked_by": "vehicles arrived, then total travel time"}
        lines = []
        for r in self.strategies.values():
            if base is not None and r is not base and base.total_travel_time_s > 0:
                lines.append(f"{r.strategy}: {100 * (1 - r.total_travel_time_s / base.total_travel_time_s):+.1f}% "
                             "travel time saved against none")
        out["against_none"] = lines
        if anchor is not None:
            ours = [r for k, r in self.strategies.items() if k.startswith("cityopt-")]
            if ours:
                top = min(ours, key=lambda r: r.total_travel_time_s)
                out["cityopt_beats_sumo_rerouting"] = bool(top.total_travel_time_s < anchor.total_travel_time_s)
                out["best_cityopt"] = top.strategy
        realtime = {k: r.max_step_wall_s < self.settings["step_min"] * 60.0
                    for k, r in self.strategies.items() if k.startswith("cityopt-")}
        out["real_time"] = realtime
        return out

    def lines(self) -> list[str]:
        """One line per strategy for a terminal: travel time, time loss, arrivals, teleports, step wall time."""
        out = []
        for name, r in self.strategies.items():
            step = f"  max step {r.max_step_wall_s:.2f} s" if name.startswith("cityopt-") else ""
            out.append(f"{name:26} {r.total_travel_time_s / 3600:9.2f} veh-h  time loss {r.time_loss_s:7.1f} s  "
                       f"arrived {r.vehicles_arrived}  teleports {r.teleports}{step}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """``live/summary.json``: settings, one entry per strategy, the verdict."""
        return {"schema_version": 1, "settings": self.settings,
                "strategies": {k: r.to_dict() for k, r in self.strategies.items()}, "verdict": self.verdict}

    def segment_loads_geojson(self) -> dict[str, Any]:
        """The measured volume/capacity of every loaded segment, one ``vc <strategy> HH:MM`` property per
        strategy and step (the step's start), as a GeoJSON FeatureCollection (WGS84 lines)."""
        from optimizer.inputs.peak import clock

        feats: dict[str, dict[str, Any]] = {}
        if self.segments is None or self.lines_wgs84 is None:
            return {"type": "FeatureCollection", "features": []}
        for r in self.segments.itertuples(index=False):
            f = feats.get(r.edge)
            if f is None:
                line = self.lines_wgs84.get(r.edge)
                if not line:
                    continue
                f = feats[r.edge] = {"type": "Feature", "geometry": {"type": "LineString",
                                                                     "coordinates": [list(p) for p in line]},
                                     "properties": {"edge": r.edge, "u": str(r.u), "v": str(r.v), "key": str(r.key),
                                                    "capacity_vph": round(float(r.capacity_vph), 1)}}
            f["properties"][f"vc {r.strategy} {clock(r.start_s)}"] = round(float(r.vc), 4)
        return {"type": "FeatureCollection", "features": list(feats.values())}

    def write(self, out: str | os.PathLike[str]) -> tuple[Path, ...]:
        """Write ``out/live/timeline.csv`` and ``out/live/summary.json`` (each atomically), and where measured
        ``segments.csv`` and ``segment_loads.geojson`` (volume/capacity per segment and step) and
        ``sensors.csv`` (each loop's readings against the forecast)."""
        from optimizer.io import atomic_write_json, atomic_write_text

        folder = Path(out) / "live"
        files = [atomic_write_text(folder / "timeline.csv", self.timeline.to_csv(index=False)),
                 atomic_write_json(folder / "summary.json", self.to_dict())]
        if self.segments is not None and len(self.segments):
            files.append(atomic_write_text(folder / "segments.csv",
                                           self.segments.to_csv(index=False, float_format="%.6g")))
            files.append(atomic_write_json(folder / "segment_loads.geojson", self.segment_loads_geojson()))
        if self.sensors is not None and len(self.sensors):
            files.append(atomic_write_text(folder / "sensors.csv",
                                           self.sensors.to_csv(index=False, float_format="%.6g")))
        return tuple(files)


# ------------------------------------------------------------------ checks
def _number(value: Any, name: str, *, low: float, high: float, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else float("nan")
    if not (math.isfinite(v) and (v > low if low_open else v >= low) and v <= high):
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        msg = f"{name} must be a number {lo} and <= {high:g}, got {value!r}"
        raise InvalidInputError(msg)
    return v


def _whole(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        msg = f"{name} must be a whole number from {low} to {high}, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)


def check_live_args(*, trips: Any = 300, vehicles_per_trip: Any = 4, hours: Any = 1.0, step_min: Any = 5.0,
                    horizon_min: Any = 15.0, solvers: Any = ("cpsat",), seed: Any = 1, routes: Any = 3,
                    detectors: Any = 20, time_limit_s: Any = None, drain_min: Any = 30.0,
                    solver_options: Any = None) -> None:
    """Check :func:`live`'s arguments before anything runs; raise one error naming the argument.

    >>> check_live_args(step_min=0)
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidInputError: step_min must be a number > 0 and <= 1440, got 0
    >>> check_live_args(solvers=["cpsat", "quantum"])
    Traceback (most recent call last):
    ...
    solvers.errors.UnknownSolverError: solvers[1]: unknown solver 'quantum'; choose one of: anneal, cpsat, decompose, exact, qaoa, shortest, ue
    """
    from optimizer.solve import check_request, solver_names

    step = _number(step_min, "step_min", low=0, high=1440, low_open=True)
    horizon = _number(horizon_min, "horizon_min", low=0, high=1440, low_open=True)
    if step > horizon:
        msg = (f"step_min {step_min!r} is longer than horizon_min {horizon_min!r}: the forecast must cover the "
               "next step; give step_min <= horizon_min")
        raise InvalidInputError(msg)
    if step * 60.0 < 60.0:
        msg = f"step_min must be at least 1 minute (the forecast's slices are whole minutes), got {step_min!r}"
        raise InvalidInputError(msg)
    _number(hours, "hours", low=0, high=24, low_open=True)
    _number(drain_min, "drain_min", low=0, high=24 * 60)
    if isinstance(trips, (int, np.integer)) and not isinstance(trips, bool) and int(trips) == 0:
        msg = "trips is 0: the demand is empty; give at least one trip"
        raise DemandError(msg)
    _whole(trips, "trips", low=1, high=100_000)
    _whole(vehicles_per_trip, "vehicles_per_trip", low=1, high=1000)
    _whole(seed, "seed", low=0, high=2**31 - 1)
    _whole(routes, "routes", low=1, high=20)
    _whole(detectors, "detectors", low=0, high=10_000)
    if time_limit_s is not None:
        _number(time_limit_s, "time_limit_s", low=0, high=86_400, low_open=True)
    if isinstance(solvers, str):
        solvers = [solvers]
    if not isinstance(solvers, Sequence) or not len(solvers):
        msg = f"solvers must name at least one solver for the cityopt strategy, got {solvers!r}"
        raise InvalidInputError(msg)
    if solver_options is not None and not isinstance(solver_options, Mapping):
        msg = f"solver_options must map solver names to their options, got {solver_options!r}"
        raise InvalidInputError(msg)
    names = solver_names("traffic")
    for i, name in enumerate(solvers):
        if name not in names:
            msg = f"solvers[{i}]: unknown solver {name!r}; choose one of: {', '.join(sorted(names))}"
            raise UnknownSolverError(msg)
        check_request(name, _solver_options(name, solver_options, warm=None), "traffic", seed=0,
                      time_limit_s=None if time_limit_s is None else float(time_limit_s))
    if len(set(solvers)) != len(solvers):
        msg = f"solvers names a solver twice: {list(solvers)}"
        raise InvalidInputError(msg)


def _scaled_work(solvers: Sequence[str], given: Mapping[str, Any] | None, scale: float) -> dict[str, Any]:
    """``given`` with each solver's :data:`LIVE_WORK` budget times ``scale`` where the caller set none
    (whole sweeps and inner solves, at least one).

    >>> _scaled_work(["anneal", "cpsat"], {"anneal": {"reads": 4}}, 0.5)
    {'anneal': {'reads': 4, 'sweeps': 500}, 'cpsat': {'deterministic_time': 3.75}}
    """
    out = {k: dict(v) for k, v in (given or {}).items()}
    for name in solvers:
        for key, value in LIVE_WORK.get(name, {}).items():
            if key not in out.get(name, {}):
                scaled = value * scale
                out.setdefault(name, {})[key] = max(1, round(scaled)) if isinstance(value, int) else scaled
    return out


def _solver_options(name: str, given: Mapping[str, Any] | None, *, warm: np.ndarray | None) -> dict[str, Any]:
    """The options of ``name`` in the loop: the caller's (with the work budget :func:`live` filled in by
    :func:`_scaled_work`), and the warm start where the solver takes one."""
    opts = dict((given or {}).get(name, {}))
    if name == "decompose":
        opts.setdefault("inner", "qaoa")
        opts.setdefault("max_rounds", 2)
        if warm is not None and "start" not in opts:
            opts["start"], opts["initial"] = "given", [int(b) for b in warm]
    return opts


# ------------------------------------------------------------------ demand
@dataclass(frozen=True)
class _Vehicle:
    vid: str
    depart_s: float
    origin: Any
    destination: Any
    edges: tuple[str, ...]


def _demand(graph: nx.MultiDiGraph, net: SumoNetwork, trips: pd.DataFrame) -> list[_Vehicle]:
    """Every vehicle on its free-flow shortest path, sorted by departure (ids ``"{trip}.{j}"``)."""
    import networkx as nx
    import osmnx as ox

    D = ox.convert.to_digraph(graph, weight="travel_time")
    out = []
    for i, row in enumerate(trips.itertuples(index=False)):
        try:
            nodes = nx.shortest_path(D, row.origin, row.destination, weight="travel_time")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            msg = f"trips row {i}: no route from node {row.origin} to node {row.destination} in the road graph"
            raise DemandError(msg) from None
        edges = tuple(net.route_edges(graph, nodes))
        for j in range(int(row.vehicles)):
            out.append(_Vehicle(f"{i}.{j}", float(row.depart_s) + j * HEADWAY_S, row.origin, row.destination, edges))
    out.sort(key=lambda v: (v.depart_s, v.vid))
    return out


def _sample_demand(city: Any, graph: nx.MultiDiGraph, trips: int, vehicles: int, start_s: float, end_s: float,
                   seed: int) -> pd.DataFrame:
    from optimizer.inputs.demand import sample_trips
    from optimizer.inputs.peak import Peak, departure_times

    df = sample_trips(city if city is not None else graph, trips, seed=seed)
    df["depart_s"] = departure_times(len(df), Peak(start_s, end_s, 900.0), seed=seed)
    df["vehicles"] = int(vehicles)
    return df


# ------------------------------------------------------------------ forecast
def persistence_forecast(observed_ms: Mapping[str, float], free_ms: Mapping[str, float],
                         history: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each edge's speed (m/s) over the next horizon: its last measured speed, else its free speed.

    ``observed_ms`` holds the edges measured over the last step (NaN where no
    vehicle was seen); ``history`` the earlier steps' (unused by persistence; a
    learned forecast reads it).

    >>> persistence_forecast({"a": 4.0, "b": float("nan")}, {"a": 13.9, "b": 8.3, "c": 8.3}, [])
    {'a': 4.0, 'b': 8.3, 'c': 8.3}
    """
    out = {}
    for e, free in free_ms.items():
        v = observed_ms.get(e, float("nan"))
        out[e] = float(v) if math.isfinite(v) and v > 0 else float(free)
    return out


def _first_slice(speeds: Mapping[str, Any]) -> dict[str, float]:
    """Each edge's speed in the first slice of a forecast (one speed per edge, or one per slice)."""
    return {e: float(v[0]) if isinstance(v, (tuple, list, np.ndarray)) else float(v) for e, v in speeds.items()}


#: The loop's forecasts by name (``forecast=`` of :func:`live`, ``--forecast`` of ``cityopt live``).
FORECASTS = ("persistence", "historical", "gbt")


class SensorForecast:
    """A learned forecast for the loop: a sensor model fitted on a stream's readings, spread over the network.

    ``model`` (``historical`` or ``gbt``, :mod:`optimizer.sensing.forecast`) is
    fitted once on ``readings`` (a stream of the same city, e.g. the shipped
    replay) for the horizons of the loop's slices: one step, two steps... up to
    the horizon.  During a run, every step's loop readings are added to a
    readings table of their own (a day one week after the stream's last, at the
    simulated time of day in ``tz``), and the model forecasts each sensor's flow
    and speed for each slice from it.  The forecasts are anchored to what the
    loop measures now: each sensor's forecasts are multiplied by its reading
    over the model's forecast of that reading (made one step before; the first
    slice's forecast at the first step), clipped to 0.5-2, so a model trained on
    a lighter or heavier stream keeps its dynamics but not its level (trained on
    the replay's mornings and run in a much busier one, the unanchored gradient-
    boosted trees forecast the replay's speeds and the loop re-routed almost no
    one: 424.2 veh-h on the bench against persistence's 236.3).  Per segment and
    slice:

    * a segment with a loop takes the anchored forecast speed of its sensor;
    * any other segment's volume/capacity is its measured one scaled by the
      sensors' forecast flow over their current flow in that slice
      (anchored, ``growth``, clipped to 0.5-2), and its speed its measured one times the
      ratio of the BPR factors ``(1 + alpha vc_now**beta) / (1 + alpha vc**beta)``;
    * a segment nobody drove keeps its free speed.

    The call returns a tuple of speeds (m/s) per edge, one per slice: the
    optimiser prices each cell (segment, slice) with its own slice's time.
    ``vc_forecast`` keeps the last forecast volume/capacity per edge and slice,
    ``flow_forecast`` the sensors' first-slice flows.  Before the first readings
    (and if the model cannot forecast) it is persistence.

    Examples
    --------
    >>> from optimizer.sensing.twin import load_replay
    >>> readings, sensors = load_replay("helsinki")
    >>> f = SensorForecast(readings, model="historical", tz="Europe/Helsinki")
    >>> f.fit(step_s=300, horizon_s=900).horizons
    (5, 10, 15)
    """

    def __init__(self, readings: pd.DataFrame, *, model: str = "gbt", tz: str = "UTC", seed: int = 0,
                 alpha: float = 0.15, beta: float = 4.0) -> None:
        if model not in FORECASTS[1:]:
            msg = f"model must be one of {', '.join(FORECASTS[1:])} (persistence needs no readings), got {model!r}"
            raise InvalidInputError(msg)
        self.model, self.readings, self.tz, self.seed = model, readings, tz, int(seed)
        self.alpha, self.beta = float(alpha), float(beta)
        self.__name__ = f"{model}_forecast"
        self.forecaster: Any = None
        self.horizons: tuple[int, ...] = ()
        self.vc_forecast: dict[str, tuple[float, ...]] = {}
        self.flow_forecast: dict[str, float] = {}

    def fit(self, *, step_s: float, horizon_s: float) -> SensorForecast:
        """Fit the model for the slices of a loop with this step and horizon (whole multiples of the readings'
        interval); the same fit serves every strategy."""
        import pandas as pd

        from optimizer.sensing.forecast import fit_forecaster

        times = pd.to_datetime(self.readings["time"], utc=True).drop_duplicates().sort_values()
        gap = times.diff().dropna()
        if gap.empty:
            msg = "forecast: the readings hold one time only; give a stream of several days"
            raise InvalidInputError(msg)
        interval_min = gap.mode().iloc[0].total_seconds() / 60.0
        k = max(1, math.ceil(horizon_s / step_s - 1e-9))
        step_min = step_s / 60.0
        if abs(step_min / interval_min - round(step_min / interval_min)) > 1e-9 or step_min < interval_min:
            msg = (f"step_min {step_min:g} is not a whole multiple of the readings' {interval_min:g}-minute interval: "
                   f"the {self.model} forecast cannot forecast its slices; give step_min a multiple of "
                   f"{interval_min:g} or forecast='persistence'")
            raise InvalidInputError(msg)
        self.horizons = tuple(round(step_min * (i + 1)) for i in range(k))
        models = ("persistence", "historical", "gbt") if self.model == "gbt" else ("persistence", "historical")
        self.forecaster = fit_forecaster(self.readings, models=models, horizons=self.horizons, tz=self.tz,
                                         seed=self.seed)
        day = times.iloc[-1].tz_convert(self.tz).normalize() + pd.Timedelta(days=7)
        self._day0 = day
        self.step_s = float(step_s)
        return self

    # the loop's hooks: a fresh table per run, then each step's readings
    def start(self, loop: Any) -> None:
        if self.forecaster is None:
            self.fit(step_s=loop.step_s, horizon_s=loop.horizon_s)
        self._names = {e: n for e, n in loop.sensor_names.items() if n in set(self.forecaster.sensors)}
        self._capacity = loop.capacity
        self._rows: list[dict[str, Any]] = []
        self._through: Mapping[str, float] = {}
        self._flows: dict[str, float] = {}
        self._speeds: dict[str, float] = {}
        self._prev: dict[str, tuple[float, float]] = {}
        self.vc_forecast, self.flow_forecast = {}, {}

    def observe(self, now: float, readings: Mapping[str, tuple[float, float, float]],
                through: Mapping[str, float], observed: Mapping[str, float]) -> None:
        import pandas as pd

        self._through = through
        when = (self._day0 + pd.Timedelta(seconds=now - self.step_s)).tz_convert("UTC")
        self._flows, self._speeds = {}, {}
        for e, (flow, speed, occ) in readings.items():
            sid = self._names.get(e)
            if sid is None:
                continue
            self._flows[sid] = flow
            self._speeds[sid] = speed * 3.6 if math.isfinite(speed) else float("nan")
            self._rows.append({"time": when, "sensor_id": sid, "flow_vph": float(flow),
                               "speed_kph": speed * 3.6 if math.isfinite(speed) else float("nan"),
                               "occupancy_pct": float(occ), "quality": "ok"})

    def __call__(self, observed_ms: Mapping[str, float], free_ms: Mapping[str, float],
                 history: Sequence[Mapping[str, float]]) -> dict[str, Any]:
        import pandas as pd

        from optimizer.errors import ForecastError

        base = persistence_forecast(observed_ms, free_ms, history)
        self.vc_forecast, self.flow_forecast = {}, {}
        if not getattr(self, "_rows", None):
            return base
        try:
            pred = self.forecaster.predict(pd.DataFrame(self._rows), horizon_min=self.horizons, model=self.model)
        except ForecastError as exc:  # e.g. readings too sparse: persistence this step (logged)
            log.warning("forecast %s: %s; persistence this step", self.model, exc)
            return base
        k = len(self.horizons)
        raw = {(r.sensor_id, int(r.horizon_min)): (float(r.flow_vph), float(r.speed_kph))
               for r in pred.itertuples(index=False)}
        h0 = self.horizons[0]

        def anchor(now: float, then: float) -> float:
            ok = math.isfinite(now) and math.isfinite(then) and now > 0 and then > 0
            return min(max(now / then, 0.5), 2.0) if ok else 1.0

        by: dict[tuple[str, int], tuple[float, float]] = {}
        for sid in {key[0] for key in raw}:
            then = self._prev.get(sid, raw.get((sid, h0), (float("nan"), float("nan"))))
            af = anchor(self._flows.get(sid, float("nan")), then[0])
            asp = anchor(self._speeds.get(sid, float("nan")), then[1])
            for h in self.horizons:
                f, sp = raw.get((sid, h), (float("nan"), float("nan")))
                by[(sid, h)] = (f * af, sp * asp)
        self._prev = {sid: raw[(sid, h0)] for sid in {key[0] for key in raw} if (sid, h0) in raw}
        growth = []
        for h in self.horizons:
            now_sum = fut_sum = 0.0
            for sid, cur in self._flows.items():
                f = by.get((sid, h), (float("nan"), float("nan")))[0]
                if math.isfinite(cur) and cur > 0 and math.isfinite(f):
                    now_sum, fut_sum = now_sum + cur, fut_sum + max(f, 0.0)
            growth.append(min(max(fut_sum / now_sum, 0.5), 2.0) if now_sum > 0 else 1.0)
        step_h = self.step_s / 3600.0
        out: dict[str, Any] = {}
        for e, free in free_ms.items():
            v0 = base[e]
            sid = self._names.get(e)
            top = max(free, v0)
            if sid is not None:
                sp = [by.get((sid, h), (float("nan"), float("nan")))[1] / 3.6 for h in self.horizons]
                if all(math.isfinite(x) for x in sp):
                    out[e] = tuple(min(max(x, _MIN_SPEED_MS), 1.2 * top) for x in sp)
                    self.flow_forecast[e] = by[(sid, self.horizons[0])][0]
                    continue
            n, cap = self._through.get(e, 0.0), self._capacity.get(e)
            if n > 0 and cap:
                vc0 = n / step_h / cap
                f0 = 1.0 + self.alpha * vc0**self.beta
                vcs = tuple(vc0 * g for g in growth)
                self.vc_forecast[e] = vcs
                out[e] = tuple(min(max(v0 * f0 / (1.0 + self.alpha * vc**self.beta), _MIN_SPEED_MS), top)
                               for vc in vcs)
            else:
                out[e] = (v0,) * k
        return out


def _stream(sensors: Any, city_name: str | None) -> tuple[pd.DataFrame, Any, str]:
    """``(readings, sensors table, tz)`` for a learned forecast: from a Sensors, a stream folder, or the replay
    shipped for the city."""
    import json

    import city_data

    if sensors is not None and hasattr(sensors, "readings"):
        return sensors.readings, sensors.sensors, getattr(sensors, "tz", None) or "UTC"
    if isinstance(sensors, (str, os.PathLike)) and Path(sensors).is_dir():
        folder = Path(sensors)
        found = [folder / f"readings.{x}" for x in ("csv", "csv.gz", "parquet") if (folder / f"readings.{x}").exists()]
        if found:
            from optimizer.sensing.readings import Sensors

            stream = Sensors.read(found[0], folder / "sensors.csv")
            meta = folder / "twin.json"
            tz = json.loads(meta.read_text()).get("tz") if meta.exists() else None
            return stream.readings, stream.sensors, tz or "UTC"
    spec = city_data.find_replay(str(city_name or ""))
    if spec is None:
        msg = ("forecast: a learned forecast needs sensor readings of this city; give sensors= a stream folder "
               "(cityopt sensors simulate) or a Sensors, or forecast='persistence'")
        raise InvalidInputError(msg)
    from optimizer.sensing.twin import load_replay

    readings, table = load_replay(spec.name)
    meta = Path(spec.path()) / "twin.json"
    tz = json.loads(meta.read_text()).get("tz") if meta.exists() else None
    if sensors is not None and not isinstance(sensors, (str, os.PathLike)):
        table = sensors
    return readings, table, tz or "UTC"


# ------------------------------------------------------------------ the loop
class _Problem:
    """The Traffic sub-problem of one step, its candidates given (the current route first)."""

    @staticmethod
    def build(graph: nx.MultiDiGraph, trips: pd.DataFrame, candidates: list[tuple[Any, ...]], model: Any,
              capacity: Callable[[Edge, float], float] | None = None,
              slice_t0: Callable[[Edge, int, float], float] | None = None) -> Any:
        from optimizer.inputs.capacity import CapacityReport, segment_capacities
        from optimizer.problems.traffic import Traffic

        class _Given(Traffic):
            def _candidate_routes(self):  # type: ignore[override]
                return tuple(candidates)

            @property
            def capacities(self) -> CapacityReport:  # type: ignore[override]
                if "_caps" not in self.__dict__:
                    osm = segment_capacities(self.graph, self.segments)
                    if capacity is not None:
                        caps = np.array([capacity(s, c) for s, c in zip(self.segments, osm.capacity_vph)])
                        osm = CapacityReport(caps, {**osm.sources, "calibrated to the forecast": len(caps)})
                    self.__dict__["_caps"] = osm
                return self.__dict__["_caps"]

            def _cell_t0_cap(self) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
                # each cell's time from the forecast of its own slice (segment, slice, slice-0 time -> seconds)
                if "_t0cap" not in self.__dict__:
                    t0, cap = Traffic._cell_t0_cap(self)
                    if slice_t0 is not None:
                        t0 = np.array([slice_t0(self.segments[e], int(sl), float(w))
                                       for e, sl, w in zip(self.cell_segment, self.cell_slice, t0)])
                    self.__dict__["_t0cap"] = (t0, cap)
                return self.__dict__["_t0cap"]

            @property
            def instance_name(self) -> str:  # type: ignore[override]
                return f"live-t{self.num_trips}-k{self.k}"

        k = max(len(c) for c in candidates)
        return _Given(graph, trips, routes=k, city="live", seed=None, demand="live", model=model)


class _Loop:
    """One strategy's SUMO run (see the module docstring)."""

    def __init__(self, *, strategy: str, solver: str | None, graph: nx.MultiDiGraph, net: SumoNetwork,
                 vehicles: list[_Vehicle], detector_edges: list[str], work: Path, seed: int, step_s: float,
                 horizon_s: float, end_s: float, routes: int, time_limit_s: float | None,
                 solver_options: Mapping[str, Any] | None, forecast: Forecast, sample_s: float,
                 lookahead_m: float, time_to_teleport_s: float, cost: str,
                 capacity: Mapping[str, float] | None = None, sensor_names: Mapping[str, str] | None = None,
                 min_gain_s: float = 0.0, reroute_share: float = 1.0) -> None:
        self.strategy, self.solver = strategy, solver
        self.graph, self.net, self.vehicles = graph, net, vehicles
        self.detector_edges = detector_edges
        self.work, self.seed, self.step_s, self.horizon_s, self.end_s = work, seed, step_s, horizon_s, end_s
        self.routes, self.time_limit_s, self.solver_options = routes, time_limit_s, solver_options
        self.forecast, self.sample_s, self.lookahead_m = forecast, sample_s, lookahead_m
        self.time_to_teleport_s = time_to_teleport_s
        self.cost = cost
        self.edge_of = {eid: e for e, eid in net.edge_ids.items()}
        self.sumo_edges = sorted(self.edge_of)
        self.length = {eid: float(graph.edges[e]["length"]) for eid, e in self.edge_of.items()}
        self.free_ms = {eid: max(float(graph.edges[e]["length"]) / max(float(graph.edges[e]["travel_time"]), 1e-3),
                                 _MIN_SPEED_MS) for eid, e in self.edge_of.items()}
        self.by_id = {v.vid: v for v in vehicles}
        self.arrived: dict[str, float] = {}
        self.departed: set[str] = set()
        self.pushes: list[tuple[float, str, tuple[str, ...], tuple[str, ...]]] = []
        self.push_failures: list[tuple[float, str, str]] = []
        self.rows: list[dict[str, Any]] = []
        self.history: list[dict[str, float]] = []
        self._digraph = None
        self.capacity = dict(capacity or {})
        self.sensor_names = dict(sensor_names or {})
        self.min_gain_s, self.reroute_share = float(min_gain_s), float(reroute_share)
        self.segment_rows: list[dict[str, Any]] = []
        self.sensor_rows: list[dict[str, Any]] = []
        self.held_back = 0

    # -------------------------------------------------------------- SUMO
    def _start(self) -> Any:
        os.environ.setdefault("LIBSUMO_AS_TRACI", "quiet")  # libsumo prints a pyarrow note on import otherwise
        import libsumo

        from optimizer.plans.simulation import _binary

        args = [str(_binary(self.net.sumo_home, "sumo")), "--net-file", self.net.net_file.resolve().as_posix(),
                "--begin", str(math.floor(self.vehicles[0].depart_s)), "--end", f"{self.end_s:.0f}",
                "--seed", str(self.seed), "--time-to-teleport", f"{self.time_to_teleport_s:g}",
                "--no-step-log", "true", "--no-warnings", "true", "--xml-validation", "never",
                "--error-log", str(self.work / "sumo.log"),
                "--tripinfo-output", str(self.work / "tripinfo.xml"), "--tripinfo-output.write-unfinished", "true",
                "--tripinfo-output.write-undeparted", "true",
                "--vehroute-output", str(self.work / "vehroutes.xml"),
                "--vehroute-output.write-unfinished", "true",
                "--statistic-output", str(self.work / "stats.xml"), "--duration-log.disable", "true"]
        if self.detector_edges:
            args += ["--additional-files", str(self._write_detectors())]
        if self.strategy == "sumo-rerouting":
            args += ["--device.rerouting.probability", "1", "--device.rerouting.period", f"{self.step_s:g}"]
        libsumo.start(args)
        for v in self.vehicles:
            libsumo.route.add(f"r{v.vid}", list(v.edges))
            libsumo.vehicle.add(v.vid, f"r{v.vid}", depart=f"{v.depart_s:.2f}", departLane="best",
                                departSpeed="max")
        return libsumo

    def _write_detectors(self) -> Path:
        root = ET.Element("additional")
        for i, eid in enumerate(self.detector_edges):
            pos = self.length[eid] / 2.0
            for lane in range(self.net.lanes[eid]):
                ET.SubElement(root, "inductionLoop", {"id": f"d{i}_{lane}", "lane": f"{eid}_{lane}",
                                                      "pos": f"{pos:.2f}", "period": f"{self.step_s:g}",
                                                      "file": str(self.work / "detectors.xml")})
        path = self.work / "detectors.add.xml"
        ET.indent(root)
        ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
        return path

    def _readings(self, ls: Any) -> dict[str, tuple[float, float, float]]:
        """Each detector edge's last interval: (flow_vph, speed m/s or NaN, occupancy %)."""
        out = {}
        for i, eid in enumerate(self.detector_edges):
            count, wsum, occ = 0, 0.0, []
            for lane in range(self.net.lanes[eid]):
                did = f"d{i}_{lane}"
                n = int(ls.inductionloop.getLastIntervalVehicleNumber(did))
                s = float(ls.inductionloop.getLastIntervalMeanSpeed(did))
                count += n
                if n > 0 and s >= 0:
                    wsum += n * s
                occ.append(float(ls.inductionloop.getLastIntervalOccupancy(did)))
            out[eid] = (count * 3600.0 / self.step_s, wsum / count if count else float("nan"), float(np.mean(occ)))
        return out

    # -------------------------------------------------------------- run
    def run(self) -> StrategyResult:
        if hasattr(self.forecast, "start"):  # a learned forecast keeps each run's own readings
            self.forecast.start(self)
        ls = self._start()
        t_wall = time.perf_counter()
        try:
            self._drive(ls)
        finally:
            ls.close()
        sim_wall = time.perf_counter() - t_wall
        if self.push_failures:
            log.warning("%s: SUMO refused %d route pushes, first at %.0f s for %s: %s", self.strategy,
                        len(self.push_failures), *self.push_failures[0])
        return self._result(sim_wall)

    def _drive(self, ls: Any) -> None:
        t = float(math.floor(self.vehicles[0].depart_s))
        begin = t
        step = 0
        n_edges = len(self.sumo_edges)
        wsum, nsum = np.zeros(n_edges), np.zeros(n_edges)
        last_forecast: dict[str, float] | None = None
        last_flows: dict[str, float] = {}
        errors: list[float] = []
        next_control = begin
        samples = 0
        while True:
            if t >= next_control:
                observed = {e: (wsum[i] / nsum[i] if nsum[i] > 0 else float("nan"))
                            for i, e in enumerate(self.sumo_edges)}
                # vehicles through each edge per step: flow = density x speed, sum(n v) / L per sample
                through = {e: (wsum[i] / max(samples, 1)) / self.length[e] * self.step_s
                           for i, e in enumerate(self.sumo_edges)}
                mean_speed = float(wsum.sum() / nsum.sum()) * 3.6 if nsum.sum() > 0 else float("nan")
                c0 = time.perf_counter()
                readings = self._readings(ls) if step > 0 else {}
                for eid, (_, s, _) in readings.items():
                    if math.isfinite(s):
                        observed[eid] = s
                        if last_forecast is not None:
                            errors.append(abs(last_forecast[eid] - s) * 3.6)
                if step > 0:
                    self.history.append(observed)
                    self._record(step, t, through, readings, last_forecast, last_flows)
                if hasattr(self.forecast, "observe"):
                    self.forecast.observe(t, readings, through, observed if step > 0 else {})
                forecast = self.forecast(observed if step > 0 else {}, self.free_ms, self.history)
                flows = dict(getattr(self.forecast, "flow_forecast", None) or {})
                first = _first_slice(forecast)
                solve_wall, rerouted, work, stopped_by = 0.0, float("nan"), float("nan"), ""
                if self.solver is not None:
                    solve_wall, rerouted, work, stopped_by = self._control(ls, t, forecast, through, step)
                step_wall = time.perf_counter() - c0
                self.rows.append({
                    "step": step, "sim_time_s": t, "vehicles_en_route": int(ls.vehicle.getIDCount()),
                    "vehicles_rerouted": rerouted,
                    "forecast_error_so_far": float(np.mean(errors)) if errors else float("nan"),
                    "solve_wall_s": solve_wall if self.solver is not None else float("nan"),
                    "step_wall_s": step_wall if self.solver is not None else float("nan"),
                    "mean_network_speed_kph": mean_speed, "strategy": self.strategy,
                    "solver_work": work, "solver_stopped_by": stopped_by})
                last_forecast, last_flows = first, flows
                wsum[:], nsum[:], samples = 0.0, 0.0, 0
                step += 1
                next_control = begin + step * self.step_s
            t += 1.0
            ls.simulationStep(t)
            for vid in ls.simulation.getDepartedIDList():
                self.departed.add(vid)
            for vid in ls.simulation.getArrivedIDList():
                self.arrived[vid] = t
            if (t - begin) % self.sample_s == 0:
                samples += 1
                for i, e in enumerate(self.sumo_edges):
                    n = ls.edge.getLastStepVehicleNumber(e)
                    if n:
                        wsum[i] += n * ls.edge.getLastStepMeanSpeed(e)
                        nsum[i] += n
            if len(self.arrived) == len(self.vehicles) or t >= self.end_s:
                break

    def _record(self, step: int, now: float, through: Mapping[str, float],
                readings: Mapping[str, tuple[float, float, float]], forecast: Mapping[str, float] | None,
                flows: Mapping[str, float]) -> None:
        """The step just ended: each loaded segment's volume/capacity, each loop's reading against the forecast."""
        start = now - self.step_s
        for e, n in through.items():
            cap = self.capacity.get(e)
            if n <= 0 or not cap:
                continue
            vol = n * 3600.0 / self.step_s
            if vol / cap >= 0.005:
                u, v, k = self.edge_of[e]
                self.segment_rows.append({"strategy": self.strategy, "step": step - 1, "start_s": start,
                                          "edge": e, "u": u, "v": v, "key": k, "volume_vph": vol,
                                          "capacity_vph": float(cap), "vc": vol / cap})
        for e, (flow, speed, occ) in readings.items():
            self.sensor_rows.append({
                "strategy": self.strategy, "step": step - 1, "start_s": start, "sim_time_s": now,
                "sensor_id": self.sensor_names.get(e, e), "edge": e, "flow_vph": flow,
                "speed_kph": speed * 3.6 if math.isfinite(speed) else float("nan"), "occupancy_pct": occ,
                "forecast_speed_kph": forecast[e] * 3.6 if forecast is not None and e in forecast else float("nan"),
                "forecast_flow_vph": float(flows[e]) if e in flows else float("nan")})

    # -------------------------------------------------------------- control
    def _digraph_of(self, speeds: Mapping[str, float]) -> tuple[nx.MultiDiGraph, nx.DiGraph]:
        import osmnx as ox

        g = self.graph.copy()
        for eid, e in self.edge_of.items():
            g.edges[e]["travel_time"] = round(self.length[eid] / max(speeds.get(eid, self.free_ms[eid]),
                                                                       _MIN_SPEED_MS), 3)
        return g, ox.convert.to_digraph(g, weight="travel_time")

    def _control(self, ls: Any, now: float, speeds: Mapping[str, float], through: Mapping[str, float],
                 step: int) -> tuple[float, int, float, str]:
        """Re-optimise and push; returns (solver wall s, vehicles re-routed, the solver's work done, what
        ended its search: NaN and "" where no group had a choice)."""
        import networkx as nx
        import pandas as pd

        from optimizer.inputs.peak import Peak, TrafficModel
        from optimizer.problems.traffic import Route
        from optimizer.solve import solve

        per_slice = {e: tuple(float(x) for x in v) for e, v in speeds.items()
                     if isinstance(v, (tuple, list, np.ndarray)) and len(v) > 1}
        speeds = _first_slice(speeds)
        graph, D = self._digraph_of(speeds)
        groups: dict[tuple[Any, ...], list[str]] = {}
        on_road = set(ls.vehicle.getIDList())
        for v in self.vehicles:
            if v.vid in self.arrived:
                continue
            if v.vid in on_road:
                route = ls.vehicle.getRoute(v.vid)
                idx = int(ls.vehicle.getRouteIndex(v.vid))
                fixed = 1
                lane = ls.vehicle.getLaneID(v.vid)
                if not lane:
                    continue  # teleporting: SUMO moves it along its route on its own
                if lane.startswith(":") or (ls.lane.getLength(lane) - ls.vehicle.getLanePosition(v.vid)
                                            < self.lookahead_m):
                    fixed = 2
                prefix, rest = tuple(route[idx: idx + fixed]), tuple(route[idx + fixed:])
                depart = now
            elif v.vid not in self.departed and v.depart_s < now + self.horizon_s:
                route = ls.vehicle.getRoute(v.vid)
                # a vehicle waiting to be inserted is bound to its first edge (SUMO refuses another);
                # one whose departure is still to come may start anywhere from its origin
                fixed = 1 if v.depart_s <= now else 0
                prefix, rest = tuple(route[:fixed]), tuple(route[fixed:])
                depart = max(now, v.depart_s)
                depart = now + math.floor((depart - now) / self.step_s) * self.step_s  # group within a slice
            else:
                continue  # departs later, or waits to be inserted with its route fixed
            if not rest:
                continue  # on its last edge
            groups.setdefault((prefix, rest, v.destination, depart), []).append(v.vid)
        if not groups:
            return 0.0, 0, float("nan"), ""
        keys = list(groups)
        paths: dict[tuple[Any, Any], list[list[Any]]] = {}
        candidates, rows = [], []
        for gi, (prefix, rest, dest, depart) in enumerate(keys):
            origin = self.edge_of[prefix[-1]][1] if prefix else self.edge_of[rest[0]][0]
            current = self._route_of(rest, Route)
            cands = [current]
            seen = {current.segments}
            if (origin, dest) not in paths:
                try:
                    paths[(origin, dest)] = list(itertools.islice(
                        nx.shortest_simple_paths(D, origin, dest, weight="travel_time"), self.routes + 1))
                except nx.NetworkXNoPath:
                    paths[(origin, dest)] = []
            for nodes in paths[(origin, dest)]:
                if len(cands) > self.routes:
                    break
                r = self._route_nodes(graph, nodes, Route)
                first = self.net.edge_ids[r.segments[0]]
                if r.segments in seen or (prefix and not self.net.connected(prefix[-1], first)):
                    continue
                seen.add(r.segments)
                cands.append(r)
            candidates.append(tuple(cands))
            rows.append({"trip_id": gi, "origin": origin, "destination": dest, "depart_s": depart,
                         "vehicles": len(groups[keys[gi]])})
        model = TrafficModel(peak=Peak(now, now + self.horizon_s, self.step_s))
        if self.cost == "calibrated":
            prob = _Problem.build(self.graph, pd.DataFrame(rows), candidates, model,
                                  capacity=self._calibrated(speeds, through, model))
        else:
            prob = _Problem.build(graph, pd.DataFrame(rows), candidates, model,
                                  slice_t0=self._slice_t0(per_slice) if per_slice else None)
        warm = prob.shortest_path_bits()
        seed = self.seed + step
        t0 = time.perf_counter()
        choice = [0] * len(keys)
        work, stopped_by = float("nan"), ""
        if any(len(c) > 1 for c in candidates):
            opts = _solver_options(self.solver, self.solver_options, warm=warm)
            sol = solve(prob, self.solver, seed=seed, time_limit_s=self.time_limit_s, **opts)
            work = float(sol.info.get(_WORK_DONE.get(self.solver, ""), float("nan")))
            stopped_by = str(sol.info.get("stopped_by", ""))
            if prob.is_feasible(sol.bits) and prob.objective(sol.bits) < prob.objective(warm) - 1e-9:
                choice = prob.route_choice(sol.bits)
        choice = self._stagger(choice, candidates, [len(groups[k]) for k in keys], graph)
        solve_wall = time.perf_counter() - t0
        rerouted = 0
        for gi, r in enumerate(choice):
            if r == 0:
                continue
            prefix = keys[gi][0]
            new = tuple(prefix) + tuple(self.net.edge_ids[s] for s in candidates[gi][r].segments)
            for vid in groups[keys[gi]]:
                if vid in self.arrived:  # cannot happen (the groups are built from the living); never touch one
                    continue
                try:
                    ls.vehicle.setRoute(vid, list(new))
                except ls.TraCIException as exc:  # SUMO refuses (counted, never silent)
                    self.push_failures.append((now, vid, str(exc)))
                    continue
                # SUMO keeps the edges already driven in front: compare from the vehicle's route index
                held = ls.vehicle.getRoute(vid)
                idx = int(ls.vehicle.getRouteIndex(vid)) if vid in on_road else 0
                self.pushes.append((now, vid, new, tuple(held[idx:])))
                rerouted += 1
        return solve_wall, rerouted, work, stopped_by

    def _slice_t0(self, per_slice: Mapping[str, tuple[float, ...]]) -> Callable[[Edge, int, float], float]:
        """A cell's time: its segment's length over the forecast speed of the cell's slice (the last slice's
        beyond the horizon); the slice-0 time where the forecast has one speed."""

        def t0(seg: Edge, sl: int, base: float) -> float:
            eid = self.net.edge_ids.get(seg)
            v = per_slice.get(eid) if eid is not None else None
            if v is None:
                return base
            return round(self.length[eid] / max(v[min(max(sl, 0), len(v) - 1)], _MIN_SPEED_MS), 3)

        return t0

    def _stagger(self, choice: list[int], candidates: list[tuple[Any, ...]], vehicles: list[int],
                 graph: nx.MultiDiGraph) -> list[int]:
        """Keep the moves that save each vehicle at least ``min_gain_s`` (when > 0) under the forecast, the largest
        savings first, until ``reroute_share`` of the vehicles the solver would move are moved; the rest keep
        their routes (they may move at a later step, from a newer snapshot)."""
        moves = [gi for gi, r in enumerate(choice) if r]
        if not moves or (self.min_gain_s <= 0 and self.reroute_share >= 1):
            return choice

        def forecast_s(route: Any) -> float:
            return sum(float(graph.edges[s]["travel_time"]) for s in route.segments)

        gain = {gi: forecast_s(candidates[gi][0]) - forecast_s(candidates[gi][choice[gi]]) for gi in moves}
        budget = max(self.reroute_share * sum(vehicles[gi] for gi in moves), 1.0)
        out, moved = [0] * len(choice), 0
        for gi in sorted(moves, key=lambda g: (-gain[g], g)):
            if (self.min_gain_s > 0 and gain[gi] < self.min_gain_s) or moved + vehicles[gi] > budget:
                continue
            out[gi] = choice[gi]
            moved += vehicles[gi]
        self.held_back += sum(vehicles[gi] for gi in moves if not out[gi])
        return out

    def _calibrated(self, speeds: Mapping[str, float], through: Mapping[str, float],
                    model: Any) -> Callable[[Edge, float], float]:
        """Each segment's capacity such that BPR at its measured load gives the forecast time.

        With free-flow ``t0``, forecast time ``t`` (ratio ``r = t / t0``) and the
        vehicles through it in a step ``n``: ``1 + alpha (n / h / cap)**beta = r``,
        so ``cap = (n / h) / ((r - 1) / alpha)**(1 / beta)`` (``n`` at least one
        vehicle).  A segment running at its free speed keeps its OSM capacity.
        """
        h = model.peak.slice_h

        def cap(seg: Edge, osm_cap: float) -> float:
            eid = self.net.edge_ids.get(seg)
            if eid is None:
                return float(osm_cap)
            r = self.free_ms[eid] / max(speeds.get(eid, self.free_ms[eid]), _MIN_SPEED_MS)
            if r <= 1.05:
                return float(osm_cap)
            n = max(through.get(eid, 0.0), 1.0)
            return min(float(osm_cap), (n / h) / ((r - 1.0) / model.alpha) ** (1.0 / model.beta))

        return cap

    def _route_of(self, edges: Sequence[str], Route: Any) -> Any:
        segs = tuple(self.edge_of[e] for e in edges)
        nodes = (segs[0][0], *(s[1] for s in segs))
        g = self.graph
        return Route(nodes, segs, sum(float(g.edges[s]["travel_time"]) for s in segs),
                     sum(float(g.edges[s]["length"]) for s in segs))

    def _route_nodes(self, graph: nx.MultiDiGraph, nodes: Sequence[Any], Route: Any) -> Any:
        from optimizer.inputs.roads import fastest_edge

        segs = tuple(fastest_edge(graph, u, v) for u, v in zip(nodes[:-1], nodes[1:]))
        return Route(tuple(nodes), segs, sum(float(graph.edges[s]["travel_time"]) for s in segs),
                     sum(float(graph.edges[s]["length"]) for s in segs))

    # -------------------------------------------------------------- totals
    def _result(self, sim_wall: float) -> StrategyResult:
        trips = ET.parse(self.work / "tripinfo.xml").getroot()
        stats = ET.parse(self.work / "stats.xml").getroot()
        end = float(stats.find("performance").get("end", self.end_s)) if stats.find("performance") is not None \
            else self.end_s
        planned = {v.vid: v.depart_s for v in self.vehicles}
        total, losses, durations = 0.0, [], []
        departed = arrived = 0
        for ti in trips.iter("tripinfo"):
            vid = ti.get("id")
            dep = float(ti.get("depart", "-1"))
            arr = float(ti.get("arrival", "-1"))
            if dep < 0:
                total += max(end - planned[vid], 0.0)
                continue
            departed += 1
            if arr >= 0:
                arrived += 1
                total += arr - planned[vid]
                durations.append(arr - planned[vid])
                losses.append(float(ti.get("timeLoss", "nan")))
            else:
                total += max(end - planned[vid], 0.0)
        tel = stats.find("teleports")
        walls = [r["step_wall_s"] for r in self.rows if math.isfinite(r["step_wall_s"])]
        solves = [r["solve_wall_s"] for r in self.rows if math.isfinite(r["solve_wall_s"])]
        return StrategyResult(
            strategy=self.strategy, vehicles=len(self.vehicles), vehicles_departed=departed,
            vehicles_arrived=arrived, total_travel_time_s=total,
            time_loss_s=float(np.mean(losses)) if losses else float("nan"),
            mean_travel_time_s=float(np.mean(durations)) if durations else float("nan"),
            teleports=int(tel.get("total", 0)) if tel is not None else 0, steps=len(self.rows),
            max_step_wall_s=max(walls) if walls else 0.0,
            mean_step_wall_s=float(np.mean(walls)) if walls else 0.0,
            max_solve_wall_s=max(solves) if solves else 0.0,
            vehicles_rerouted=len({p[1] for p in self.pushes}), route_pushes=len(self.pushes),
            push_mismatches=sum(1 for p in self.pushes if p[2] != p[3]), push_failures=len(self.push_failures),
            sim_wall_s=sim_wall, moves_held_back=self.held_back,
            wall_limited_steps=sum(r["solver_stopped_by"] == "time_limit" for r in self.rows))


# ------------------------------------------------------------------ entry
def _busiest(vehicles: Sequence[_Vehicle], net: SumoNetwork, n: int, lengths: Mapping[str, float]) -> list[str]:
    load: dict[str, int] = {}
    for v in vehicles:
        for e in v.edges[1:]:  # not the first edge: vehicles are inserted there, on top of a loop
            load[e] = load.get(e, 0) + 1
    ranked = sorted((e for e in load if lengths[e] >= 20.0), key=lambda e: (-load[e], e))
    return ranked[:n]


def _sensor_edges(sensors: Any, net: SumoNetwork, names: dict[str, str] | None = None) -> list[str]:
    import pandas as pd

    table = getattr(sensors, "sensors", sensors)
    if isinstance(table, (str, os.PathLike)):
        path = Path(table)
        table = pd.read_csv(path / "sensors.csv" if path.is_dir() else path)
    if not isinstance(table, pd.DataFrame) or not {"u", "v", "key"} <= set(table.columns):
        msg = ("sensors must be a sensors table snapped to the road graph (columns u, v, key), a Sensors read "
               "with a city, or a folder holding sensors.csv")
        raise InvalidInputError(msg)
    by_text = {tuple(str(x) for x in e): eid for e, eid in net.edge_ids.items()}
    out = []
    for row in table.itertuples(index=False):
        if pd.isna(row.u) or pd.isna(row.v) or pd.isna(row.key):
            continue
        eid = by_text.get(tuple(str(int(x)) if isinstance(x, float) else str(x) for x in (row.u, row.v, row.key)))
        if eid is not None and eid not in out:
            out.append(eid)
            if names is not None and "sensor_id" in table.columns:
                names[eid] = str(row.sensor_id)
    if not out:
        msg = "sensors: no sensor sits on a segment of this city's road graph; snap them to this city first"
        raise InvalidInputError(msg)
    return out


def live(city: Any = "helsinki", *, trips: int = 300, vehicles_per_trip: int = 4, demand: pd.DataFrame | None = None,
         peak: Any = "07:00", hours: float = 1.0, step_min: float = 5.0, horizon_min: float = 15.0,
         solvers: Sequence[str] = ("cpsat",), seed: int = 1, sensors: Any = None, detectors: int = 20,
         routes: int = 3, time_limit_s: float | None = None, solver_options: Mapping[str, Any] | None = None,
         baselines: Sequence[str] = _BASELINES, forecast: Forecast | None = None, out: Any = None,
         workdir: Any = None, drain_min: float = 30.0, sample_s: float = 30.0, lookahead_m: float = 40.0,
         time_to_teleport_s: float = 300.0, cost: str = "forecast", min_gain_s: float = 0.0,
         reroute_share: float = 0.5, work_scale: float = 1.0) -> LiveResult:
    """Run the live re-routing loop in SUMO for each strategy and compare them (see the module docstring).

    Parameters
    ----------
    city
        ``"helsinki"``, an OSM file, a place, a :class:`optimizer.City` or a road graph.
    trips, vehicles_per_trip
        Sampled origin-destination pairs (seeded) and vehicles on each (2 s apart).
    demand
        A trips table instead (``origin``, ``destination`` graph nodes, ``depart_s``,
        optional ``vehicles``).
    peak, hours
        Departures drawn from a triangular peak from ``peak`` (``HH:MM`` or seconds) over ``hours``.
    step_min, horizon_min
        The control step and the forecast horizon (simulated minutes, step <= horizon).
    solvers
        One ``cityopt-<solver>`` strategy each (``cpsat``, ``anneal``, ``decompose`` with QAOA inside...).
    seed
        Seeds the demand, SUMO and the solvers (``seed + step``).
    sensors, detectors
        Loops on the sensors' segments, or on the ``detectors`` busiest segments.
    routes
        Alternatives (k shortest under the forecast) beside each vehicle's current route.
    time_limit_s
        Each step's wall-clock guard on the solver (default: a third of the step).  The solvers spend a
        fixed amount of work per step (:data:`LIVE_WORK`, overridden through ``solver_options``), so a
        run gives the same plans on a loaded machine as on an idle one; a step the guard cuts is counted
        in ``wall_limited_steps``.
    work_scale
        Each solver's work per step is :data:`LIVE_WORK`'s times this (default 1), where ``solver_options``
        sets no budget of its own.
    solver_options
        ``{solver: {option: value}}``.
    baselines
        Which of ``none`` and ``sumo-rerouting`` to run too.
    forecast
        ``"persistence"`` (the default, :func:`persistence_forecast`), ``"historical"`` or ``"gbt"``
        (:class:`SensorForecast`, fitted on the readings of ``sensors`` when it is a stream folder or a
        ``Sensors``, else on the replay shipped for the city; loops then sit where its sensors do), or a
        callable with :func:`persistence_forecast`'s signature.
    min_gain_s, reroute_share
        Staggered re-routing: a vehicle is moved only when its new route saves it at least ``min_gain_s``
        under the forecast, and at most ``reroute_share`` of the vehicles the solver would move in a step
        are moved (the largest savings first; the others may move at a later step).  Default: half of
        the moves, no threshold (``benchmarks/bench_live.py``: anneal 280.5 -> 216.3 veh-h with the
        boosted trees, 513.2 -> 435.2 with persistence on a loaded machine).
    cost
        ``"calibrated"`` or ``"forecast"`` (see the module docstring).
    out
        Writes ``out/live/timeline.csv`` and ``out/live/summary.json``.
    workdir
        Keeps SUMO's files (per strategy) there instead of a temporary folder.
    """
    import pandas as pd

    from optimizer.inputs.peak import parse_clock
    from optimizer.inputs.roads import graph_of
    from optimizer.plans.simulation import check_sumo, sumo_network, work_folder

    solvers = [solvers] if isinstance(solvers, str) else list(solvers)
    check_live_args(trips=trips, vehicles_per_trip=vehicles_per_trip, hours=hours, step_min=step_min,
                    horizon_min=horizon_min, solvers=solvers, seed=seed, routes=routes, detectors=detectors,
                    time_limit_s=time_limit_s, drain_min=drain_min, solver_options=solver_options)
    bad = [b for b in baselines if b not in _BASELINES]
    if bad:
        msg = f"baselines: unknown strategy {bad[0]!r}; choose from {', '.join(_BASELINES)}"
        raise InvalidInputError(msg)
    _number(sample_s, "sample_s", low=1, high=3600)
    if cost not in COSTS:
        msg = f"cost must be one of {', '.join(COSTS)}, got {cost!r}"
        raise InvalidInputError(msg)
    _number(lookahead_m, "lookahead_m", low=0, high=10_000)
    _number(min_gain_s, "min_gain_s", low=0, high=86_400)
    _number(reroute_share, "reroute_share", low=0, high=1, low_open=True)
    _number(work_scale, "work_scale", low=0, high=1000, low_open=True)
    solver_options = _scaled_work(list(solvers), solver_options, float(work_scale))
    if isinstance(forecast, str) and forecast not in FORECASTS:
        msg = f"forecast must be one of {', '.join(FORECASTS)} or a callable, got {forecast!r}"
        raise InvalidInputError(msg)
    if forecast is not None and not isinstance(forecast, str) and not callable(forecast):
        msg = f"forecast must be one of {', '.join(FORECASTS)} or a callable, got {forecast!r}"
        raise InvalidInputError(msg)
    start_s = parse_clock(peak, what="peak")
    step_s = round(float(step_min) * 60.0)
    if demand is not None:
        if not isinstance(demand, pd.DataFrame) or len(demand) == 0:
            msg = "demand is empty: give a trips table with at least one row (origin, destination, depart_s)"
            raise DemandError(msg)
        missing = {"origin", "destination", "depart_s"} - set(demand.columns)
        if missing:
            msg = f"demand is missing column(s) {sorted(missing)}; expected origin, destination, depart_s"
            raise DemandError(msg)
    if out is not None:
        from optimizer.io import probe_writable

        probe_writable(Path(out))
    check_sumo()
    if isinstance(city, str):
        from optimizer.inputs.city import City

        city = City.load(city)
    graph, city_obj = graph_of(city)
    if forecast is None or forecast == "persistence":
        forecast = persistence_forecast
    elif isinstance(forecast, str):
        readings, table, tz = _stream(sensors, getattr(city_obj, "name", None))
        sensors = table
        forecast = SensorForecast(readings, model=forecast, tz=tz, seed=int(seed)).fit(
            step_s=float(step_s), horizon_s=float(horizon_min) * 60.0)
    if demand is None:
        demand = _sample_demand(city, graph, int(trips), int(vehicles_per_trip), start_s,
                                start_s + float(hours) * 3600.0, int(seed))
    demand = demand.reset_index(drop=True)
    if "vehicles" not in demand.columns:
        demand = demand.assign(vehicles=1)
    limit = float(time_limit_s) if time_limit_s is not None else step_s / 3.0
    strategies = [*baselines, *(f"cityopt-{s}" for s in solvers)]
    results: dict[str, StrategyResult] = {}
    pushes: dict[str, list[Any]] = {}
    arrivals: dict[str, dict[str, float]] = {}
    rows: list[dict[str, Any]] = []
    seg_rows: list[dict[str, Any]] = []
    sensor_rows: list[dict[str, Any]] = []
    with work_folder(workdir) as tmp:
        root = Path(tmp)
        net = sumo_network(graph, root / "net")
        vehicles = _demand(graph, net, demand)
        lengths = {eid: float(graph.edges[e]["length"]) for e, eid in net.edge_ids.items()}
        names: dict[str, str] = {}
        det = (_sensor_edges(sensors, net, names) if sensors is not None
               else _busiest(vehicles, net, int(detectors), lengths))
        capacity = _capacities(graph, net)
        end_s = math.ceil(vehicles[-1].depart_s + float(drain_min) * 60.0) + 1
        for name in strategies:
            solver = name.removeprefix("cityopt-") if name.startswith("cityopt-") else None
            work = root / name
            work.mkdir(parents=True, exist_ok=True)
            loop = _Loop(strategy=name, solver=solver, graph=graph, net=net, vehicles=vehicles, detector_edges=det,
                         work=work, seed=int(seed), step_s=float(step_s), horizon_s=float(horizon_min) * 60.0,
                         end_s=float(end_s), routes=int(routes), time_limit_s=limit, solver_options=solver_options,
                         forecast=forecast, sample_s=float(sample_s),
                         lookahead_m=float(lookahead_m), time_to_teleport_s=float(time_to_teleport_s),
                         cost=cost, capacity=capacity, sensor_names=names, min_gain_s=float(min_gain_s),
                         reroute_share=float(reroute_share))
            results[name] = loop.run()
            pushes[name] = loop.pushes
            arrivals[name] = dict(loop.arrived)
            rows += loop.rows
            seg_rows += loop.segment_rows
            sensor_rows += loop.sensor_rows
            log.info("live %s: %s", name, results[name].to_dict())
    timeline = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    settings = {"city": str(getattr(city_obj, "name", None) or graph.graph.get("name", "graph")),
                "vehicles": len(vehicles), "trips": len(demand), "peak_start_s": start_s, "hours": float(hours),
                "step_min": float(step_min), "horizon_min": float(horizon_min), "solvers": solvers,
                "seed": int(seed), "routes": int(routes), "time_limit_s": limit, "detectors": len(det),
                "detector_edges": det, "drain_min": float(drain_min), "sample_s": float(sample_s),
                "forecast": getattr(forecast, "__name__", "forecast"), "cost": cost,
                "min_gain_s": float(min_gain_s), "reroute_share": float(reroute_share),
                "solver_work": {s: {k: v for k, v in solver_options.get(s, {}).items() if k in LIVE_WORK.get(s, {})}
                                for s in solvers},
                "speeds_from": "induction loops on the detector segments, libsumo edge mean speeds elsewhere"}
    segments = pd.DataFrame(seg_rows, columns=["strategy", "step", "start_s", "edge", "u", "v", "key", "volume_vph",
                                               "capacity_vph", "vc"])
    sensor_table = pd.DataFrame(sensor_rows, columns=list(SENSOR_COLUMNS))
    lines = _lines_wgs84(graph, net, set(segments["edge"]))
    res = LiveResult(results, timeline, pushes, arrivals, settings, (), segments, sensor_table, lines)
    if out is not None:
        files = res.write(out)
        res = dataclasses.replace(res, files=files)
    return res


def _capacities(graph: nx.MultiDiGraph, net: SumoNetwork) -> dict[str, float]:
    """Each SUMO edge's capacity (veh/h) from OSM lanes and class (:mod:`optimizer.inputs.capacity`)."""
    from optimizer.inputs.capacity import segment_capacities

    segs = list(net.edge_ids)
    caps = segment_capacities(graph, segs).capacity_vph
    return {net.edge_ids[s]: float(c) for s, c in zip(segs, caps)}


def _lines_wgs84(graph: nx.MultiDiGraph, net: SumoNetwork, edges: set[str]) -> dict[str, list[tuple[float, float]]]:
    from shapely.ops import transform

    from optimizer.inputs.roads import edge_line, graph_to_wgs84

    tr = graph_to_wgs84(graph)
    out = {}
    for seg, eid in net.edge_ids.items():
        if eid in edges:
            line = edge_line(graph, *seg)
            line = transform(tr.transform, line) if tr else line
            out[eid] = [(round(x, 6), round(y, 6)) for x, y in line.coords]
    return out
