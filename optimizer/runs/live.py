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
   else the speed limit).  Any callable with its signature can replace it.
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
   beats the current routes'.
4. *Push.*  Each vehicle whose group changed route gets ``traci.vehicle.setRoute``
   with its fixed edges followed by the new route, and the route SUMO then holds
   (``getRoute``) is read back and must equal it; a vehicle that has arrived is
   never touched (:attr:`LiveResult.pushes` records every push with SUMO's
   answer).

``step_wall_s`` is the wall time of steps 1-4 (the optimiser's share is
``solve_wall_s``); real time needs ``max_step_wall_s`` below the step length.

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
    "STRATEGY_KEYS",
    "TIMELINE_COLUMNS",
    "LiveResult",
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
                    "solve_wall_s", "step_wall_s", "mean_network_speed_kph", "strategy")
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

    def write(self, out: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``out/live/timeline.csv`` and ``out/live/summary.json`` (each atomically)."""
        from optimizer.io import atomic_write_json, atomic_write_text

        folder = Path(out) / "live"
        timeline = atomic_write_text(folder / "timeline.csv", self.timeline.to_csv(index=False))
        summary = atomic_write_json(folder / "summary.json", self.to_dict())
        return timeline, summary


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


def _solver_options(name: str, given: Mapping[str, Any] | None, *, warm: np.ndarray | None) -> dict[str, Any]:
    """The options of ``name`` in the loop: the caller's, and the warm start where the solver takes one."""
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


# ------------------------------------------------------------------ the loop
class _Problem:
    """The Traffic sub-problem of one step, its candidates given (the current route first)."""

    @staticmethod
    def build(graph: nx.MultiDiGraph, trips: pd.DataFrame, candidates: list[tuple[Any, ...]], model: Any,
              capacity: Callable[[Edge, float], float] | None = None) -> Any:
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
                 lookahead_m: float, time_to_teleport_s: float, cost: str) -> None:
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
                forecast = self.forecast(observed if step > 0 else {}, self.free_ms, self.history)
                solve_wall, rerouted = 0.0, float("nan")
                if self.solver is not None:
                    solve_wall, rerouted = self._control(ls, t, forecast, through, step)
                step_wall = time.perf_counter() - c0
                self.rows.append({
                    "step": step, "sim_time_s": t, "vehicles_en_route": int(ls.vehicle.getIDCount()),
                    "vehicles_rerouted": rerouted,
                    "forecast_error_so_far": float(np.mean(errors)) if errors else float("nan"),
                    "solve_wall_s": solve_wall if self.solver is not None else float("nan"),
                    "step_wall_s": step_wall if self.solver is not None else float("nan"),
                    "mean_network_speed_kph": mean_speed, "strategy": self.strategy})
                last_forecast = forecast
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

    # -------------------------------------------------------------- control
    def _digraph_of(self, speeds: Mapping[str, float]) -> tuple[nx.MultiDiGraph, nx.DiGraph]:
        import osmnx as ox

        g = self.graph.copy()
        for eid, e in self.edge_of.items():
            g.edges[e]["travel_time"] = round(self.length[eid] / max(speeds.get(eid, self.free_ms[eid]),
                                                                       _MIN_SPEED_MS), 3)
        return g, ox.convert.to_digraph(g, weight="travel_time")

    def _control(self, ls: Any, now: float, speeds: Mapping[str, float], through: Mapping[str, float],
                 step: int) -> tuple[float, int]:
        """Re-optimise and push; returns (solver wall s, vehicles re-routed)."""
        import networkx as nx
        import pandas as pd

        from optimizer.inputs.peak import Peak, TrafficModel
        from optimizer.problems.traffic import Route
        from optimizer.solve import solve

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
            return 0.0, 0
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
            prob = _Problem.build(graph, pd.DataFrame(rows), candidates, model)
        warm = prob.shortest_path_bits()
        seed = self.seed + step
        t0 = time.perf_counter()
        choice = [0] * len(keys)
        if any(len(c) > 1 for c in candidates):
            opts = _solver_options(self.solver, self.solver_options, warm=warm)
            sol = solve(prob, self.solver, seed=seed, time_limit_s=self.time_limit_s, **opts)
            if prob.is_feasible(sol.bits) and prob.objective(sol.bits) < prob.objective(warm) - 1e-9:
                choice = prob.route_choice(sol.bits)
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
        return solve_wall, rerouted

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
            sim_wall_s=sim_wall)


# ------------------------------------------------------------------ entry
def _busiest(vehicles: Sequence[_Vehicle], net: SumoNetwork, n: int, lengths: Mapping[str, float]) -> list[str]:
    load: dict[str, int] = {}
    for v in vehicles:
        for e in v.edges[1:]:  # not the first edge: vehicles are inserted there, on top of a loop
            load[e] = load.get(e, 0) + 1
    ranked = sorted((e for e in load if lengths[e] >= 20.0), key=lambda e: (-load[e], e))
    return ranked[:n]


def _sensor_edges(sensors: Any, net: SumoNetwork) -> list[str]:
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
         time_to_teleport_s: float = 300.0, cost: str = "forecast") -> LiveResult:
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
        Each step's solver time limit (default: a third of the step).
    solver_options
        ``{solver: {option: value}}``.
    baselines
        Which of ``none`` and ``sumo-rerouting`` to run too.
    forecast
        Replaces :func:`persistence_forecast`.
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
    with work_folder(workdir) as tmp:
        root = Path(tmp)
        net = sumo_network(graph, root / "net")
        vehicles = _demand(graph, net, demand)
        lengths = {eid: float(graph.edges[e]["length"]) for e, eid in net.edge_ids.items()}
        det = _sensor_edges(sensors, net) if sensors is not None else _busiest(vehicles, net, int(detectors), lengths)
        end_s = math.ceil(vehicles[-1].depart_s + float(drain_min) * 60.0) + 1
        for name in strategies:
            solver = name.removeprefix("cityopt-") if name.startswith("cityopt-") else None
            work = root / name
            work.mkdir(parents=True, exist_ok=True)
            loop = _Loop(strategy=name, solver=solver, graph=graph, net=net, vehicles=vehicles, detector_edges=det,
                         work=work, seed=int(seed), step_s=float(step_s), horizon_s=float(horizon_min) * 60.0,
                         end_s=float(end_s), routes=int(routes), time_limit_s=limit, solver_options=solver_options,
                         forecast=forecast or persistence_forecast, sample_s=float(sample_s),
                         lookahead_m=float(lookahead_m), time_to_teleport_s=float(time_to_teleport_s),
                         cost=cost)
            results[name] = loop.run()
            pushes[name] = loop.pushes
            arrivals[name] = dict(loop.arrived)
            rows += loop.rows
            log.info("live %s: %s", name, results[name].to_dict())
    timeline = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    settings = {"city": str(getattr(city_obj, "name", None) or graph.graph.get("name", "graph")),
                "vehicles": len(vehicles), "trips": len(demand), "peak_start_s": start_s, "hours": float(hours),
                "step_min": float(step_min), "horizon_min": float(horizon_min), "solvers": solvers,
                "seed": int(seed), "routes": int(routes), "time_limit_s": limit, "detectors": len(det),
                "detector_edges": det, "drain_min": float(drain_min), "sample_s": float(sample_s),
                "forecast": getattr(forecast or persistence_forecast, "__name__", "forecast"), "cost": cost,
                "speeds_from": "induction loops on the detector segments, libsumo edge mean speeds elsewhere"}
    res = LiveResult(results, timeline, pushes, arrivals, settings)
    if out is not None:
        files = res.write(out)
        res = LiveResult(results, timeline, pushes, arrivals, settings, files)
    return res
