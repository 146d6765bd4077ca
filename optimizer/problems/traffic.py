"""Traffic route assignment: each trip picks one of k candidate routes, in the morning peak.

Each trip departs at its time (:mod:`optimizer.inputs.peak`) with its vehicles
(1 unless the trips say more) and enters each segment of its route in a time
slice; trips interact on a segment only in the same slice.  A *cell* is a
(segment, slice) pair and ``n_c`` the vehicles on it.  The objective is

* ``bpr`` (the default): the system travel time in vehicle-hours under BPR on
  each segment's capacity, ``sum_c f_c(n_c) / 3600`` with
  ``f_c(n) = n t0 (1 + alpha (n / h / cap)**beta)``, exact in every score and in
  CP-SAT's native model (a convex piecewise-linear cost per cell, exact at
  integer loads);
* ``congestion``: Neukart et al.'s (2017) proxy ``sum_c w_e n_c**2`` in
  vehicle-seconds, ``w_e`` the free-flow time (one slice holding the whole
  period gives their static model).

Free-flow times are osmnx's ``travel_time`` rounded to the millisecond so every
solver scores the same numbers.  A route between two consecutive nodes uses the
fastest parallel edge, and candidates are the k shortest simple paths by travel
time (Yen's algorithm), all distinct, shortest first.

QUBO: one binary ``x[t, r]`` per trip t and candidate r.  Each cell's cost is a
quadratic ``a_c n + b_c n**2`` with ``a_c, b_c >= 0``: exact for the proxy
(``a = 0, b = w_e``), for BPR the least-squares surrogate of
:func:`optimizer.inputs.peak.bpr_surrogate`.  With ``n_c = sum_v m_v x_v``
(``m_v``: the vehicles of variable v's trip) and ``x**2 = x``,

    a n + b n**2 = sum_v (a m_v + b m_v**2) x_v + 2 b sum_{u < v} m_u m_v x_u x_v

and each trip's one-hot constraint adds ``P * (1 - sum_r x[t, r])**2`` with

    P = max_v sum_{c in cells(v)} (a_c m_v + b_c m_v (2 N_c - m_v)) + 0.001

``N_c`` being the vehicles of every trip with a candidate through c.  Proof that
it is large enough: from an infeasible assignment, dropping the extra routes of
a trip with several never raises the cost (``a, b >= 0``: the cost rises with the
load) and removes a positive penalty; adding a route of ``m`` vehicles to a trip
with none, where the others load a cell with at most ``N_c - m``, raises the cost
by at most ``a m + b ((N_c)**2 - (N_c - m)**2) = a m + b m (2 N_c - m)`` per cell,
less than P in all, and removes a penalty of P.  So every infeasible assignment
costs strictly more than some feasible one, and the QUBO's minimum is the
surrogate's optimum (tests check it by enumeration too).

Examples
--------
>>> from optimizer import City, problems, solve
>>> prob = problems.Traffic.from_city(City.load("helsinki"), trips=6, routes=3, seed=1)
>>> len(prob.variables), prob.to_qubo().num_variables, prob.objective_units
(18, 18, 'vehicle-hours')
>>> best = solve(prob, "cpsat")
>>> base = prob.objective(prob.shortest_path_bits())
>>> prob.objective(best.bits) <= base
True
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError, InfeasibleSolutionError, InvalidInputError
from optimizer.inputs.peak import TrafficModel, departure_times
from optimizer.inputs.roads import fastest_edge, graph_of, round_time_s
from optimizer.problems.base import Problem

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import pandas as pd

    from optimizer.inputs.capacity import CapacityReport
    from optimizer.inputs.city import City
    from optimizer.plans.routing import RoutingPlan
    from solvers.cpsat import CpSatModel
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["Route", "Traffic"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Route:
    """One candidate route: its nodes, its segments ``(u, v, key)`` and its totals."""

    nodes: tuple[Any, ...]
    segments: tuple[tuple[Any, Any, Any], ...]
    travel_time_s: float
    length_m: float


def _check_routes(routes: object) -> None:
    if not isinstance(routes, int) or isinstance(routes, bool) or routes < 1:
        msg = f"routes must be an integer >= 1 (candidate routes per trip), got {routes!r}"
        raise InvalidInputError(msg)



def _plain(node: Any) -> Any:
    """A node id as JSON keeps it (numpy integers as int)."""
    return node.item() if hasattr(node, "item") else node

class Traffic(Problem):
    """Route assignment over a road graph in the peak: minimise system travel time (or congestion).

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        A road graph in osmnx conventions (edge ``travel_time`` and ``length``).
    trips : pandas.DataFrame
        Columns ``trip_id``, ``origin``, ``destination`` (graph node ids), and
        optionally ``depart_s`` (seconds since midnight; drawn from the peak's
        profile with ``seed`` when absent) and ``vehicles`` (default 1).
    routes : int
        Candidate routes per trip, k >= 1 (fewer where the graph has fewer
        simple paths).
    city : str
        Name of the city, for the instance name.
    seed : int or None
        The seed the trips were sampled with (for the instance name).
    model : TrafficModel or None
        The objective (``bpr`` or ``congestion``), BPR's alpha and beta, and the
        peak period with its slices (default: BPR 0.15/4, 07:00-09:00, 15 min).

    Use :meth:`from_city` to sample trips from a city.
    """

    kind = "traffic"

    def __init__(self, graph: nx.MultiDiGraph, trips: pd.DataFrame, *, routes: int = 3,
                 city: str = "graph", seed: int | None = None, demand: str = "sampled",
                 model: TrafficModel | None = None) -> None:
        _check_routes(routes)
        missing = {"trip_id", "origin", "destination"} - set(trips.columns)
        if missing:
            msg = f"trips is missing column(s) {sorted(missing)}; expected trip_id, origin, destination"
            raise DemandError(msg)
        if len(trips) < 1:
            msg = "trips is empty: give at least one trip"
            raise DemandError(msg)
        self.model = TrafficModel() if model is None else model
        self.drawn_departures = "depart_s" not in trips.columns
        self.graph = graph
        self.trips = _with_times(trips.reset_index(drop=True), self.model, seed)
        self.k = routes
        self.city = city
        self.seed = seed
        self.demand = demand
        self.candidates: tuple[tuple[Route, ...], ...] = self._candidate_routes()
        # variables: (trip position, route index), trip-major
        self.variables: tuple[tuple[int, int], ...] = tuple(
            (t, r) for t, cands in enumerate(self.candidates) for r in range(len(cands))
        )
        self._build_segments()
        self._build_cells()

    # ----------------------------------------------------------- construction
    @classmethod
    def from_city(cls, city: City | nx.MultiDiGraph, trips: int = 12, routes: int = 3, *,
                  seed: int = 1, weight: str | None = None, min_distance_m: float = 300.0,
                  vehicles: int = 1, model: TrafficModel | None = None) -> Traffic:
        """Sample ``trips`` origin-destination pairs from ``city`` and give each ``routes`` candidates.

        Parameters
        ----------
        city : City or networkx.MultiDiGraph
        trips : int
            Number of trips, >= 1.  Each departs at a time drawn from the peak.
        routes : int
            Candidate routes per trip (k), >= 1.
        seed : int
            Seed of the trip sampling and of the departure times.
        weight : {None, "pois", "buildings"}
            Weight origins and destinations by points of interest or buildings.
        min_distance_m : float
            Least straight-line distance between a trip's ends.
        vehicles : int
            Vehicles per trip (a group with one origin, destination, departure
            and route: the demand of a trip table, scaled).
        model : TrafficModel or None
            Objective, BPR parameters and peak (see the class).
        """
        from optimizer.inputs.demand import sample_trips

        _check_routes(routes)
        _check_vehicles(vehicles)
        graph, city_obj = graph_of(city)
        name = getattr(city_obj, "name", None) or graph.graph.get("name") or "graph"
        df = sample_trips(city, trips, seed=seed, weight=weight, min_distance_m=min_distance_m)
        df["vehicles"] = int(vehicles)
        demand = "sampled" if weight is None else f"sampled-{weight}"
        return cls(graph, df, routes=routes, city=str(name), seed=seed, demand=demand, model=model)

    @classmethod
    def from_csv(cls, city: City | nx.MultiDiGraph, path: str, routes: int = 3, *,
                 model: TrafficModel | None = None, seed: int | None = None) -> Traffic:
        """Trips from a CSV of ``origin_lon, origin_lat, dest_lon, dest_lat`` rows (optional ``depart``, ``vehicles``).

        Without a ``depart`` column the departures are drawn from the peak with ``seed``.
        """
        from optimizer.inputs.demand import trips_from_csv

        _check_routes(routes)  # before the file is read and every trip snapped
        graph, city_obj = graph_of(city)
        name = getattr(city_obj, "name", None) or graph.graph.get("name") or "graph"
        df = trips_from_csv(city, path)
        return cls(graph, df, routes=routes, city=str(name), seed=seed, demand="csv", model=model)

    def _candidate_routes(self) -> tuple[tuple[Route, ...], ...]:
        """Each trip's ``k`` fastest simple paths (Yen's), filed in the cache under the graph's and trips' hash."""
        from optimizer.inputs.cache import cached_json, graph_fingerprint, source_hash

        rows = list(self.trips.itertuples(index=False))
        for row in rows:
            o, d = row.origin, row.destination
            for node, label in ((o, "origin"), (d, "destination")):
                if node not in self.graph:
                    msg = f"trip {row.trip_id}: {label} node {node!r} is not in the road graph"
                    raise DemandError(msg)
            if o == d:
                msg = f"trip {row.trip_id}: origin and destination are the same node {o!r}"
                raise DemandError(msg)
        od = [(row.origin, row.destination) for row in rows]

        def valid(paths: Any) -> bool:  # what the cache gives back: k or fewer paths per trip, on this graph
            return isinstance(paths, list) and len(paths) == len(od) and all(
                isinstance(ps, list) and 1 <= len(ps) <= self.k
                and all(isinstance(p, list) and p and p[0] == o and p[-1] == d
                        and all(self.graph.has_edge(a, b) for a, b in zip(p[:-1], p[1:])) for p in ps)
                for ps, (o, d) in zip(paths, od))

        key = {"graph": graph_fingerprint(self.graph, "travel_time"), "k": self.k, "code": source_hash(__name__),
               "od": [[_plain(o), _plain(d)] for o, d in od]}
        paths = cached_json("candidate-routes", key, lambda: self._k_shortest(rows), check=valid)
        return tuple(tuple(self._route(p) for p in ps) for ps in paths)

    def _k_shortest(self, rows: list[Any]) -> list[list[list[Any]]]:
        import networkx as nx
        import osmnx as ox
        from tqdm.auto import tqdm

        D = ox.convert.to_digraph(self.graph, weight="travel_time")
        out = []
        bar = tqdm(rows, desc="candidate routes", unit="trip", disable=len(rows) < 50 or not sys.stderr.isatty())
        for row in bar:
            o, d = row.origin, row.destination
            try:
                paths = list(itertools.islice(nx.shortest_simple_paths(D, o, d, weight="travel_time"), self.k))
            except nx.NetworkXNoPath:
                paths = []
            if not paths:
                msg = f"trip {row.trip_id}: no route from node {o} to node {d} in the road graph"
                raise DemandError(msg)
            out.append([[_plain(n) for n in p] for p in paths])
        return out

    def _route(self, nodes: list[Any]) -> Route:
        segs = tuple(fastest_edge(self.graph, u, v) for u, v in zip(nodes[:-1], nodes[1:]))
        tt = sum(float(self.graph.edges[s]["travel_time"]) for s in segs)
        ln = sum(float(self.graph.edges[s]["length"]) for s in segs)
        return Route(tuple(nodes), segs, tt, ln)

    def _build_segments(self) -> None:
        seg_index: dict[tuple[Any, Any, Any], int] = {}
        var_segments: list[list[int]] = []
        for t, r in self.variables:
            ids = []
            for s in self.candidates[t][r].segments:
                ids.append(seg_index.setdefault(s, len(seg_index)))
            var_segments.append(ids)
        self.segments: tuple[tuple[Any, Any, Any], ...] = tuple(seg_index)
        self.segment_weights = np.array(
            [round_time_s(self.graph.edges[s]["travel_time"]) for s in self.segments], dtype=np.float64
        )
        self.var_segments: tuple[tuple[int, ...], ...] = tuple(tuple(v) for v in var_segments)

    def _build_cells(self) -> None:
        """Cells (segment, slice) of every variable, their users and their most possible vehicles."""
        from scipy import sparse

        peak = self.model.peak
        depart = self.trips["depart_s"].to_numpy(dtype=np.float64)
        cell_index: dict[tuple[int, int], int] = {}
        var_cells = []
        for v, (t, _) in enumerate(self.variables):
            segs = self.var_segments[v]
            slices = peak.entry_slices(depart[t], self.segment_weights[list(segs)])
            var_cells.append(tuple(cell_index.setdefault((e, int(s)), len(cell_index))
                                   for e, s in zip(segs, slices)))
        self.var_cells: tuple[tuple[int, ...], ...] = tuple(var_cells)
        keys = np.array(list(cell_index), dtype=np.int64).reshape(-1, 2)
        self.cell_segment = keys[:, 0]
        self.cell_slice = keys[:, 1]
        self.var_vehicles = self.trips["vehicles"].to_numpy(dtype=np.int64)[[t for t, _ in self.variables]]
        rows = np.repeat(np.arange(len(self.variables)), [len(c) for c in self.var_cells])
        cols = np.fromiter(itertools.chain.from_iterable(self.var_cells), dtype=np.int64, count=len(rows))
        # incidence[v, c] = vehicles of v on cell c: loads = bits @ incidence
        self._incidence = sparse.csr_matrix((self.var_vehicles[rows].astype(np.float64), (rows, cols)),
                                            shape=(len(self.variables), len(cell_index)))
        users: list[list[int]] = [[] for _ in range(len(cell_index))]
        for v, cells in enumerate(self.var_cells):
            for c in cells:
                users[c].append(v)
        self.cell_users: tuple[tuple[int, ...], ...] = tuple(tuple(u) for u in users)
        veh = self.trips["vehicles"].to_numpy(dtype=np.int64)
        self.cell_max = np.array([int(veh[sorted({self.variables[v][0] for v in u})].sum()) for u in users],
                                 dtype=np.int64)

    # ---------------------------------------------------------------- identity
    @property
    def num_trips(self) -> int:
        return len(self.candidates)

    @property
    def num_vehicles(self) -> int:
        return int(self.trips["vehicles"].sum())

    @property
    def objective_units(self) -> str:  # type: ignore[override]
        return self.model.units

    @property
    def instance_name(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.city.lower()).strip("-") or "graph"
        if self.demand == "csv":
            name = f"{slug}-csv{self.num_trips}-k{self.k}" + (f"-s{self.seed}" if self.drawn_departures else "")
        else:
            weight = "" if self.demand == "sampled" else "-" + self.demand.split("-", 1)[1]
            name = f"{slug}-t{self.num_trips}-k{self.k}-s{self.seed}{weight}"
        veh = self.trips["vehicles"]
        if self.demand != "csv" and int(veh.iloc[0]) != 1:
            name += f"-v{int(veh.iloc[0])}"
        default = TrafficModel()
        if self.model.peak != default.peak:
            name += f"-{self.model.peak.name}"
        if self.model.objective != default.objective:
            name += f"-{self.model.objective}"
        if (self.model.alpha, self.model.beta) != (default.alpha, default.beta):
            name += f"-bpr{self.model.alpha:g}x{self.model.beta:g}"
        return name

    @property
    def instance(self) -> dict[str, Any]:
        return {
            "name": self.instance_name,
            "city": self.city,
            "trips": self.num_trips,
            "vehicles": self.num_vehicles,
            "routes": self.k,
            "seed": self.seed,
            "demand": self.demand,
            "objective": self.model.objective,
            "bpr": {"alpha": self.model.alpha, "beta": self.model.beta},
            "peak": self.model.peak.to_dict(),
            "variables": len(self.variables),
            "segments": len(self.segments),
            "cells": len(self.cell_users),
            "graph_nodes": self.graph.number_of_nodes(),
            "graph_edges": self.graph.number_of_edges(),
        }

    def __repr__(self) -> str:
        return (f"Traffic({self.instance_name!r}, variables={len(self.variables)}, segments={len(self.segments)}, "
                f"cells={len(self.cell_users)})")

    # ------------------------------------------------------------------ scoring
    def route_choice(self, bits: np.ndarray) -> list[int]:
        """The chosen route index of each trip (raises if a trip has not exactly one)."""
        bits = np.asarray(bits).reshape(-1)
        if bits.shape[0] != len(self.variables):
            msg = f"assignment has {bits.shape[0]} bits, the problem has {len(self.variables)} variables"
            raise InvalidInputError(msg)
        choice, start = [], 0
        for t, cands in enumerate(self.candidates):
            chosen = np.flatnonzero(bits[start : start + len(cands)])
            if chosen.size != 1:
                msg = f"trip {self.trips.trip_id[t]} has {chosen.size} routes chosen, needs exactly 1"
                raise InfeasibleSolutionError(msg)
            choice.append(int(chosen[0]))
            start += len(cands)
        return choice

    def bits_for(self, choice: list[int]) -> np.ndarray:
        """The assignment choosing route ``choice[t]`` for each trip ``t``."""
        bits = np.zeros(len(self.variables), dtype=np.uint8)
        start = 0
        for t, cands in enumerate(self.candidates):
            if not 0 <= choice[t] < len(cands):
                msg = f"trip {t}: route index {choice[t]} out of range 0..{len(cands) - 1}"
                raise InvalidInputError(msg)
            bits[start + choice[t]] = 1
            start += len(cands)
        return bits

    def is_feasible(self, bits: np.ndarray) -> bool:
        try:
            self.route_choice(bits)
        except InfeasibleSolutionError:
            return False
        return True

    def segment_loads(self, bits: np.ndarray) -> np.ndarray:
        """Vehicles on each segment of :attr:`segments` over the whole period under ``bits``."""
        return np.bincount(self.cell_segment, weights=self.cell_loads(bits),
                           minlength=len(self.segments)).astype(np.int64)

    def cell_loads(self, bits: np.ndarray) -> np.ndarray:
        """Vehicles on each cell (segment, slice) under ``bits`` (feasible or not)."""
        x = np.asarray(bits, dtype=np.float64).reshape(-1)
        return np.rint(self._incidence.T @ x)

    def _cell_t0_cap(self) -> tuple[np.ndarray, np.ndarray]:
        return self.segment_weights[self.cell_segment], self.capacities.capacity_vph[self.cell_segment]

    def congestion(self, bits: np.ndarray) -> float:
        """Neukart et al.'s proxy ``sum_c w_e n_c**2`` (vehicle-seconds) of any assignment."""
        n = self.cell_loads(bits)
        # weights are whole milliseconds and loads integers: round off float noise
        return round(float(self.segment_weights[self.cell_segment] @ (n * n)), 6)

    def travel_time_veh_h(self, bits: np.ndarray) -> float:
        """The exact BPR system travel time (vehicle-hours) of any assignment."""
        t0, cap = self._cell_t0_cap()
        return float(np.sum(self.model.cell_cost(self.cell_loads(bits), t0, cap))) / 3600.0

    def surrogate(self, bits: np.ndarray) -> float:
        """The QUBO's cost part (seconds, penalty excluded): ``sum_c a_c n_c + b_c n_c**2``."""
        n = self.cell_loads(bits)
        a, b = self._cell_quadratic
        return float(a @ n + b @ (n * n))

    def objective(self, bits: np.ndarray) -> float:
        """System travel time in vehicle-hours (``bpr``) or the congestion proxy in vehicle-seconds."""
        self.route_choice(bits)  # raises when infeasible
        return self.travel_time_veh_h(bits) if self.model.objective == "bpr" else self.congestion(bits)

    @cached_property
    def _var_offsets(self) -> np.ndarray:
        """Index of trip ``t``'s first variable: its candidate ``r`` is variable ``offsets[t] + r``."""
        return np.cumsum([0] + [len(c) for c in self.candidates])

    @cached_property
    def capacities(self) -> CapacityReport:
        """Capacity (veh/h) of each segment of :attr:`segments`, from its OSM lanes and class."""
        from optimizer.inputs.capacity import segment_capacities

        return segment_capacities(self.graph, self.segments)

    def assess(self, bits: np.ndarray) -> dict[str, Any]:
        """A plan judged as a transport planner would: BPR travel time per cell, whatever the objective.

        The system travel time in vehicle-hours, the same at free flow, the
        worst volume/capacity of any segment in any slice and the peak slice
        (the one with the most vehicles on the road).  Beside it the QUBO's
        quadratic estimate of the same plan and its relative error (``bpr``), or
        the congestion proxy (``congestion``): a plan that wins on what a solver
        minimised can lose here, and the comparison says so.
        """
        self.route_choice(bits)
        n = self.cell_loads(bits)
        t0, cap = self._cell_t0_cap()
        cost = self.model.cell_cost(n, t0, cap)
        exact = float(cost.sum()) / 3600.0
        free = float(n @ t0) / 3600.0
        vc = n / self.model.peak.slice_h / cap
        used = n > 0
        slices = np.unique(self.cell_slice)
        per_slice = np.array([n[self.cell_slice == s].sum() for s in slices])
        peak = int(slices[int(np.argmax(per_slice))]) if slices.size else 0
        out: dict[str, Any] = {
            "model": "bpr",
            "alpha": self.model.alpha,
            "beta": self.model.beta,
            "peak": self.model.peak.to_dict(),
            "vehicles": self.num_vehicles,
            "system_travel_time_veh_h": exact,
            "free_flow_travel_time_veh_h": free,
            "delay_veh_h": exact - free,
            "max_volume_capacity": round(float(vc.max()) if vc.size else 0.0, 6),
            "cells_over_capacity": int(np.count_nonzero(vc > 1.0)),
            "segments_used": int(np.unique(self.cell_segment[used]).size),
            "peak_slice": self.model.peak.label(peak),
            "capacity_lanes_from": self.capacities.sources,
        }
        if self.model.objective == "bpr":
            sur = self.surrogate(bits) / 3600.0
            out["surrogate_veh_h"] = sur
            out["surrogate_error"] = (sur - exact) / exact if exact > 0 else 0.0
        else:
            out["congestion_veh_s"] = self.congestion(bits)
        return out

    def references(self, *, rgap: float = 1e-4, max_iter: int = 500) -> dict[str, Any]:
        """AequilibraE's continuous UE and SO on the whole road graph and the same demand: the yardsticks.

        * ``so_bound_veh_h``: a proven lower bound of this problem's BPR system
          travel time, for any plan: the static SO over the span of slices the
          candidates occupy (``H = S h``).  By convexity of each cell's cost,
          ``sum_s f(n_s) >= S f(N / S)``, which is the static BPR cost of the
          segment's ``N`` vehicles over ``H``; the SO over all paths with
          fractional flows is no more than any discrete plan's static cost; and
          Frank-Wolfe's certified bound is no more than the SO.  (Free-flow times
          unrounded: to the millisecond.)
        * ``static``: that UE and SO over the span (each with its relative gap).
        * ``by_departure_slice``: UE and SO with each slice's departures assigned
          in their own slice: closer to the time structure, a reference only.
        """
        from optimizer.problems.equilibrium import references

        peak, m = self.model.peak, self.model
        lo, hi = int(self.cell_slice.min()), int(self.cell_slice.max())
        start = peak.start_s + lo * peak.slice_s
        span_s = (hi - lo + 1) * peak.slice_s
        static = references(self.graph, self.trips.assign(depart_s=start), alpha=m.alpha, beta=m.beta,
                            slice_s=span_s, start_s=start, rgap=rgap, max_iter=max_iter)
        sliced = references(self.graph, self.trips, alpha=m.alpha, beta=m.beta, slice_s=peak.slice_s,
                            start_s=peak.start_s, rgap=rgap, max_iter=max_iter)
        return {"so_bound_veh_h": static["so"]["lower_bound_veh_h"], "span_h": span_s / 3600.0,
                "static": static, "by_departure_slice": sliced}

    # ------------------------------------------------------------------- QUBO
    @cached_property
    def _cell_quadratic(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a_c, b_c)`` of every cell's quadratic cost (exact proxy or BPR surrogate), seconds."""
        t0, cap = self._cell_t0_cap()
        ab = np.array([self.model.quadratic(float(t0[c]), float(cap[c]), int(self.cell_max[c]))
                       for c in range(len(self.cell_users))], dtype=np.float64).reshape(-1, 2)
        return ab[:, 0], ab[:, 1]

    @cached_property
    def penalty(self) -> float:
        """The one-hot penalty P (see the module docstring for the proof)."""
        a, b = self._cell_quadratic
        delta = 0.0
        for v, cells in enumerate(self.var_cells):
            m = float(self.var_vehicles[v])
            c = np.asarray(cells, dtype=np.int64)
            delta = max(delta, float(np.sum(a[c] * m + b[c] * m * (2 * self.cell_max[c] - m))))
        return math.ceil(delta * 1000.0) / 1000.0 + 0.001

    @cached_property
    def _qubo(self) -> QUBO:
        from solvers.qubo import QUBOBuilder

        a_c, b_c = self._cell_quadratic
        b = QUBOBuilder(self.variables)  # variable k of the builder is self.variables[k]
        lin_i, lin_w, qi, qj, qw = [], [], [], [], []
        for c, users in enumerate(self.cell_users):
            u = np.asarray(users, dtype=np.int64)
            m = self.var_vehicles[u].astype(np.float64)
            lin_i.append(u)
            lin_w.append(a_c[c] * m + b_c[c] * m * m)
            if b_c[c] > 0 and len(u) > 1:
                i, j = np.triu_indices(len(u), 1)
                qi.append(u[i])
                qj.append(u[j])
                qw.append(2.0 * b_c[c] * m[i] * m[j])
        if lin_i:
            b.add_linear_array(np.concatenate(lin_i), np.concatenate(lin_w))
        if qi:
            b.add_quadratic_array(np.concatenate(qi), np.concatenate(qj), np.concatenate(qw))
        start = 0
        for cands in self.candidates:
            b.add_onehot(list(self.variables[start : start + len(cands)]), penalty=self.penalty)
            start += len(cands)
        cost = ("congestion proxy sum_c w_e n_c^2" if self.model.objective == "congestion"
                else "BPR surrogate sum_c a_c n_c + b_c n_c^2 (NNLS fit over loads 1..N_c)")
        return b.build(metadata={"problem": "traffic", "instance": self.instance_name,
                                 "onehot_penalty": self.penalty, "cost": cost, "energy_units": "seconds",
                                 "penalty_rule": "max_v sum_{c in v} a_c m_v + b_c m_v (2 N_c - m_v) + 0.001"})

    def to_qubo(self) -> QUBO:
        return self._qubo

    # ----------------------------------------------------------- native model
    def native_cpsat(self) -> CpSatModel:
        """CP-SAT on the integer model: each cell's load a sum, its cost exact at every integer load.

        A cell's cost ``F(n)`` (BPR's ``f_c``, or the proxy) is convex in the
        load, so ``cost_c >= F(l) + (F(l+1) - F(l)) (n_c - l)`` for
        ``l = 0..N_c-1`` (its secants) equals ``F(n_c)`` once minimised, and
        gives CP-SAT's LP relaxation a tight bound.  Cells only one trip can use
        cost ``F(m)`` times its variables, linearly.  Costs are integers in
        microseconds (milliseconds for the proxy, where they are exact), so the
        solver's objective is the plan's exact cost to about 1e-9.
        """
        from ortools.sat.python import cp_model

        from solvers.cpsat import CpSatModel

        m = cp_model.CpModel()
        x = [m.new_bool_var(f"x[{t},{r}]") for t, r in self.variables]
        start = 0
        for cands in self.candidates:
            m.add_exactly_one(x[start : start + len(cands)])
            start += len(cands)
        scale = 1000.0 if self.model.objective == "congestion" else 1e6
        t0, cap = self._cell_t0_cap()
        obj = []
        for c, users in enumerate(self.cell_users):
            n_max = int(self.cell_max[c])
            table = np.rint(self.model.cost(np.arange(n_max + 1), t0[c], cap[c]) * scale).astype(np.int64)
            # rounding can dent the convex cost by a unit; the secants need it convex (else a load
            # every plan must carry could cost more than the cost's upper bound allows)
            table = np.concatenate(([0], np.cumsum(np.maximum.accumulate(np.diff(table)))))
            trips = {self.variables[v][0] for v in users}
            if len(trips) == 1:  # one trip: its load is m or 0
                obj.extend(int(table[int(self.var_vehicles[v])]) * x[v] for v in users)
                continue
            load = m.new_int_var(0, n_max, f"n[{c}]")
            m.add(load == sum(int(self.var_vehicles[v]) * x[v] for v in users))
            cost = m.new_int_var(0, int(table[-1]), f"cost[{c}]")
            for lvl in range(n_max):
                slope = int(table[lvl + 1] - table[lvl])
                m.add(cost >= int(table[lvl]) + slope * (load - lvl))
            obj.append(cost)
        m.minimize(sum(obj))
        # hint: everyone on the shortest path
        for v, (_, r) in enumerate(self.variables):
            m.add_hint(x[v], 1 if r == 0 else 0)
        units = 3600.0 * scale if self.model.objective == "bpr" else scale
        return CpSatModel(m, x, objective_scale=units, info={"model": f"traffic-native-{self.model.objective}"})

    # -------------------------------------------------------------- baselines
    def shortest_path_bits(self) -> np.ndarray:
        """Everyone on their shortest path by free-flow travel time (candidate 0)."""
        return self.bits_for([0] * self.num_trips)

    def native_solvers(self) -> dict[str, Any]:
        return {"shortest": self._solve_shortest, "ue": self._solve_ue}

    def _trip_cells(self) -> list[list[np.ndarray]]:
        offsets = self._var_offsets
        return [[np.asarray(self.var_cells[offsets[t] + r], dtype=np.int64) for r in range(len(c))]
                for t, c in enumerate(self.candidates)]

    def _solve_ue(self, *, seed: int | None = None, time_limit_s: float | None = None,
                  max_rounds: int = 1000, **options: Any) -> Solution:
        """The discrete user equilibrium over the candidate routes: what drivers do on their own.

        Best responses under BPR travel time in each slice (:meth:`assess`'s
        model): from everyone on the shortest path, each trip in turn (a seeded
        order) moves its vehicles to the candidate that is quickest for them
        given everyone else's routes, until a whole round moves no trip.  A
        congestion game with increasing separable costs has Rosenthal's exact
        potential (weighted trips: the moves still lower it for equal-weight
        trips, and a round limit bounds the rest), so this ends at a pure Nash
        equilibrium: no trip can lower its own travel time alone.
        ``max_rounds`` and ``time_limit_s`` bound it (the last assignment is
        returned, ``info['equilibrium']`` False).
        """
        import time

        from solvers.solution import Solution, Status

        check_ue_options({"max_rounds": max_rounds})
        t_start = time.perf_counter()
        deadline = None if time_limit_s is None else t_start + float(time_limit_s)
        t0, cap = self._cell_t0_cap()
        cells = self._trip_cells()
        veh = self.trips["vehicles"].to_numpy(dtype=np.float64)
        choice = [0] * self.num_trips
        loads = self.cell_loads(self.bits_for(choice))
        order = np.random.default_rng(seed).permutation(self.num_trips)
        rounds, moves, equilibrium = 0, 0, False
        tt = self.model.travel_time_s
        while rounds < max_rounds and (deadline is None or time.perf_counter() < deadline):
            rounds += 1
            moved = False
            for t in order:
                m = veh[t]
                loads[cells[t][choice[t]]] -= m  # the others' loads; each candidate then carries this trip too
                times = [float(np.sum(tt(loads[c] + m, t0[c], cap[c]))) for c in cells[t]]
                cur = times[choice[t]]
                best = int(np.argmin(times))
                if times[best] < cur * (1 - 1e-12) - 1e-12:
                    choice[t] = best
                    moved = True
                    moves += 1
                loads[cells[t][choice[t]]] += m
            if not moved:
                equilibrium = True
                break
        info = {"equilibrium": equilibrium, "rounds": rounds, "moves": moves,
                "model": "bpr best responses per slice from the shortest paths"}
        return Solution(self.bits_for(choice), float("nan"), Status.FEASIBLE, "ue", True,
                        time.perf_counter() - t_start, None, "qubo", {"max_rounds": max_rounds},
                        info=info, decision=choice)

    def best_response_gain(self, bits: np.ndarray) -> float:
        """The most seconds any one trip could save by switching candidate alone (0 at an equilibrium).

        Computed from scratch from the assignment, independently of the ``ue`` solver.
        """
        choice = self.route_choice(bits)
        loads = self.cell_loads(bits)
        t0, cap = self._cell_t0_cap()
        tt = self.model.travel_time_s
        veh = self.trips["vehicles"].to_numpy(dtype=np.float64)
        offsets = self._var_offsets
        gain = 0.0
        for t, cands in enumerate(self.candidates):
            own = set(self.var_cells[offsets[t] + choice[t]])
            mine = sum(float(tt(loads[c], t0[c], cap[c])) for c in own)
            for r in range(len(cands)):
                alt = sum(float(tt(loads[c] + (0 if c in own else veh[t]), t0[c], cap[c]))
                          for c in self.var_cells[offsets[t] + r])
                gain = max(gain, mine - alt)
        return gain

    def _solve_shortest(self, *, seed: int | None = None, time_limit_s: float | None = None,
                        **options: Any) -> Solution:
        import time

        from solvers.solution import Solution, Status

        t0 = time.perf_counter()
        choice = [0] * self.num_trips
        return Solution(self.bits_for(choice), float("nan"), Status.FEASIBLE, "shortest", True,
                        time.perf_counter() - t0, None, "qubo", {}, decision=choice)

    # ------------------------------------------------------------------ decode
    def decode(self, solution: Solution | np.ndarray) -> RoutingPlan:
        """The routing plan of a feasible solution (one route per trip)."""
        from optimizer.plans.routing import RoutingPlan

        bits = np.asarray(getattr(solution, "bits", solution))
        choice = self.route_choice(bits)
        routes = [self.candidates[t][r] for t, r in enumerate(choice)]
        return RoutingPlan.from_routes(
            self.graph, self.trips, [r.nodes for r in routes], route_index=choice,
            objective=self.objective(bits), model=self.model,
        )


def _check_vehicles(vehicles: object) -> None:
    if not isinstance(vehicles, (int, np.integer)) or isinstance(vehicles, bool) or not 1 <= vehicles <= 1000:
        msg = f"vehicles must be an integer from 1 to 1000 (vehicles per trip), got {vehicles!r}"
        raise InvalidInputError(msg)


def _with_times(trips: pd.DataFrame, model: TrafficModel, seed: int | None) -> pd.DataFrame:
    """The trips with ``depart_s`` (drawn from the peak when absent) and ``vehicles`` (1 when absent)."""
    out = trips[["trip_id", "origin", "destination"]].copy()
    if "depart_s" in trips.columns:
        dep = trips["depart_s"].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(dep)) or np.any(dep < 0) or np.any(dep > 2 * 86400):
            msg = "trips depart_s must be seconds since midnight, from 0 to 48 h"
            raise DemandError(msg)
    else:
        dep = departure_times(len(out), model.peak, seed=0 if seed is None else seed)
    out["depart_s"] = dep
    veh = trips["vehicles"].to_numpy() if "vehicles" in trips.columns else np.ones(len(out), dtype=np.int64)
    for v in veh:
        _check_vehicles(int(v) if float(v).is_integer() else v)
    out["vehicles"] = veh.astype(np.int64)
    return out


def check_ue_options(options: Mapping[str, Any]) -> None:
    """Check ``ue``'s option values (InvalidOptionError naming the option).

    >>> check_ue_options({"max_rounds": 0})
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: option 'max_rounds' of solver 'ue' must be in [1, 1000000], got 0
    """
    from solvers.options import check_range

    check_range("ue", "max_rounds", options.get("max_rounds", 1000), low=1, high=10**6, integer=True)
