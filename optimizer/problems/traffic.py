"""Traffic route assignment (Neukart et al. 2017): each trip picks one of k routes.

The objective is congestion, the sum over road segments ``e`` of

    w_e * load_e ** 2

where ``load_e`` is the number of trips whose chosen route uses ``e`` and
``w_e`` is the segment's free-flow travel time in seconds (osmnx's
``travel_time``, rounded to the millisecond so every solver scores the same
numbers exactly).  Units: vehicle-seconds.  With a travel time that grows
linearly in the load, ``w_e * load_e**2`` is the total time the ``load_e``
vehicles spend on ``e``; squaring it penalises piling trips onto one street.

A route between two consecutive nodes uses the fastest of the parallel edges
(as osmnx's routing does), and candidate routes are the k shortest simple
paths by travel time (Yen's algorithm), all distinct, shortest first.

QUBO: one binary ``x[t, r]`` per trip t and candidate r.  Since ``x**2 = x``,

    load_e**2 = sum_{v in V_e} x_v + 2 sum_{u < v in V_e} x_u x_v

and each trip's one-hot constraint adds ``P * (1 - sum_r x[t, r])**2``.  The
penalty is ``P = max_{t, r} sum_{e in route(t, r)} w_e (2 N_e - 1) + 0.001``,
with ``N_e`` the number of trips that have some candidate through ``e``.  Proof
that it is large enough: from an infeasible assignment, dropping the extra
routes of a trip with several never raises congestion and removes a positive
penalty; adding a route to a trip with none raises congestion by at most
``sum_e w_e (2 N_e - 1) < P`` and removes a penalty of ``P``.  So every
infeasible assignment costs strictly more than some feasible one, and the QUBO
minimum is the problem's optimum (tests check it by enumeration too).

Examples
--------
>>> from optimizer import City, problems, solve
>>> prob = problems.Traffic.from_city(City.load("helsinki"), trips=6, routes=3, seed=1)
>>> len(prob.variables), prob.to_qubo().num_variables
(18, 18)
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
from optimizer.inputs.capacity import BPR_ALPHA, BPR_BETA
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


class Traffic(Problem):
    """Route assignment over a road graph: minimise congestion (vehicle-seconds).

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        A road graph in osmnx conventions (edge ``travel_time`` and ``length``).
    trips : pandas.DataFrame
        Columns ``trip_id``, ``origin``, ``destination`` (graph node ids).
    routes : int
        Candidate routes per trip, k >= 1 (fewer where the graph has fewer
        simple paths).
    city : str
        Name of the city, for the instance name.
    seed : int or None
        The seed the trips were sampled with (for the instance name).

    Use :meth:`from_city` to sample trips from a city.
    """

    kind = "traffic"
    objective_units = "vehicle-seconds"

    def __init__(self, graph: nx.MultiDiGraph, trips: pd.DataFrame, *, routes: int = 3,
                 city: str = "graph", seed: int | None = None, demand: str = "sampled") -> None:
        _check_routes(routes)
        missing = {"trip_id", "origin", "destination"} - set(trips.columns)
        if missing:
            msg = f"trips is missing column(s) {sorted(missing)}; expected trip_id, origin, destination"
            raise DemandError(msg)
        if len(trips) < 1:
            msg = "trips is empty: give at least one trip"
            raise DemandError(msg)
        self.graph = graph
        self.trips = trips.reset_index(drop=True)[["trip_id", "origin", "destination"]].copy()
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

    # ----------------------------------------------------------- construction
    @classmethod
    def from_city(cls, city: City | nx.MultiDiGraph, trips: int = 12, routes: int = 3, *,
                  seed: int = 1, weight: str | None = None, min_distance_m: float = 300.0) -> Traffic:
        """Sample ``trips`` origin-destination pairs from ``city`` and give each ``routes`` candidates.

        Parameters
        ----------
        city : City or networkx.MultiDiGraph
        trips : int
            Number of trips (vehicles), >= 1.
        routes : int
            Candidate routes per trip (k), >= 1.
        seed : int
            Seed of the trip sampling.
        weight : {None, "pois", "buildings"}
            Weight origins and destinations by points of interest or buildings.
        min_distance_m : float
            Least straight-line distance between a trip's ends.
        """
        from optimizer.inputs.demand import sample_trips

        if not isinstance(routes, int) or isinstance(routes, bool) or routes < 1:
            msg = f"routes must be an integer >= 1 (candidate routes per trip), got {routes!r}"
            raise InvalidInputError(msg)
        graph, city_obj = graph_of(city)
        name = getattr(city_obj, "name", None) or graph.graph.get("name") or "graph"
        df = sample_trips(city, trips, seed=seed, weight=weight, min_distance_m=min_distance_m)
        demand = "sampled" if weight is None else f"sampled-{weight}"
        return cls(graph, df, routes=routes, city=str(name), seed=seed, demand=demand)

    @classmethod
    def from_csv(cls, city: City | nx.MultiDiGraph, path: str, routes: int = 3) -> Traffic:
        """Trips from a CSV of ``origin_lon, origin_lat, dest_lon, dest_lat`` rows."""
        from optimizer.inputs.demand import trips_from_csv

        _check_routes(routes)  # before the file is read and every trip snapped
        graph, city_obj = graph_of(city)
        name = getattr(city_obj, "name", None) or graph.graph.get("name") or "graph"
        df = trips_from_csv(city, path)
        return cls(graph, df, routes=routes, city=str(name), seed=None, demand="csv")

    def _candidate_routes(self) -> tuple[tuple[Route, ...], ...]:
        import networkx as nx
        import osmnx as ox
        from tqdm.auto import tqdm

        D = ox.convert.to_digraph(self.graph, weight="travel_time")
        out = []
        rows = list(self.trips.itertuples(index=False))
        bar = tqdm(rows, desc="candidate routes", unit="trip", disable=len(rows) < 50 or not sys.stderr.isatty())
        for row in bar:
            o, d = row.origin, row.destination
            for node, label in ((o, "origin"), (d, "destination")):
                if node not in self.graph:
                    msg = f"trip {row.trip_id}: {label} node {node!r} is not in the road graph"
                    raise DemandError(msg)
            if o == d:
                msg = f"trip {row.trip_id}: origin and destination are the same node {o!r}"
                raise DemandError(msg)
            try:
                paths = list(itertools.islice(nx.shortest_simple_paths(D, o, d, weight="travel_time"), self.k))
            except nx.NetworkXNoPath:
                paths = []
            if not paths:
                msg = f"trip {row.trip_id}: no route from node {o} to node {d} in the road graph"
                raise DemandError(msg)
            out.append(tuple(self._route(p) for p in paths))
        return tuple(out)

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
        # V_e: variables using each segment; N_e: trips that can use it
        users: list[list[int]] = [[] for _ in self.segments]
        for v, segs in enumerate(self.var_segments):
            for e in segs:
                users[e].append(v)
        self.segment_users: tuple[tuple[int, ...], ...] = tuple(tuple(u) for u in users)
        self.segment_trips = np.array(
            [len({self.variables[v][0] for v in u}) for u in self.segment_users], dtype=np.int64
        )

    # ---------------------------------------------------------------- identity
    @property
    def num_trips(self) -> int:
        return len(self.candidates)

    @property
    def instance_name(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.city.lower()).strip("-") or "graph"
        if self.demand == "csv":
            return f"{slug}-csv{self.num_trips}-k{self.k}"
        weight = "" if self.demand == "sampled" else "-" + self.demand.split("-", 1)[1]
        return f"{slug}-t{self.num_trips}-k{self.k}-s{self.seed}{weight}"

    @property
    def instance(self) -> dict[str, Any]:
        return {
            "name": self.instance_name,
            "city": self.city,
            "trips": self.num_trips,
            "routes": self.k,
            "seed": self.seed,
            "demand": self.demand,
            "variables": len(self.variables),
            "segments": len(self.segments),
            "graph_nodes": self.graph.number_of_nodes(),
            "graph_edges": self.graph.number_of_edges(),
        }

    def __repr__(self) -> str:
        return f"Traffic({self.instance_name!r}, variables={len(self.variables)}, segments={len(self.segments)})"

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
        """Load (trips) on each segment of :attr:`segments` under ``bits``."""
        loads = np.zeros(len(self.segments), dtype=np.int64)
        for v in np.flatnonzero(np.asarray(bits).reshape(-1)):
            loads[list(self.var_segments[v])] += 1
        return loads

    def congestion(self, bits: np.ndarray) -> float:
        """``sum_e w_e load_e**2`` of any assignment (feasible or not)."""
        loads = self.segment_loads(bits)
        # weights are whole milliseconds and loads integers: round off float noise
        return round(float(self.segment_weights @ (loads.astype(np.float64) ** 2)), 6)

    def objective(self, bits: np.ndarray) -> float:
        self.route_choice(bits)  # raises when infeasible
        return self.congestion(bits)

    @cached_property
    def _var_offsets(self) -> np.ndarray:
        """Index of trip ``t``'s first variable: its candidate ``r`` is variable ``offsets[t] + r``."""
        return np.cumsum([0] + [len(c) for c in self.candidates])

    @cached_property
    def capacities(self) -> CapacityReport:
        """Capacity (veh/h) of each segment of :attr:`segments`, from its OSM lanes and class."""
        from optimizer.inputs.capacity import segment_capacities

        return segment_capacities(self.graph, self.segments)

    def assess(self, bits: np.ndarray, *, period_h: float = 1.0, alpha: float = BPR_ALPHA,
               beta: float = BPR_BETA) -> dict[str, Any]:
        """A plan judged as a transport planner would: travel time under BPR on each segment's capacity.

        Every trip is taken to travel within one period of ``period_h`` hours
        (volume = load / period_h; departure times come later), so the total
        system travel time is ``sum_e load_e * t_e(load_e / period_h)`` in
        vehicle-hours, beside the same at free flow.  Independent of the
        congestion proxy the solvers minimise: a plan that wins on the proxy can
        lose here, and the comparison says so.
        """
        from optimizer.inputs.capacity import bpr_time_s

        if not (math.isfinite(period_h) and period_h > 0):
            msg = f"period_h must be a positive number of hours, got {period_h!r}"
            raise InvalidInputError(msg)
        self.route_choice(bits)
        loads = self.segment_loads(bits).astype(np.float64)
        cap = self.capacities.capacity_vph
        t0 = self.segment_weights
        t = bpr_time_s(t0, loads / period_h, cap, alpha=alpha, beta=beta)
        vc = loads / period_h / cap
        used = loads > 0
        return {
            "model": "bpr",
            "alpha": alpha,
            "beta": beta,
            "period_h": period_h,
            "system_travel_time_veh_h": float(loads @ t) / 3600.0,
            "free_flow_travel_time_veh_h": float(loads @ t0) / 3600.0,
            "delay_veh_h": float(loads @ (t - t0)) / 3600.0,
            "max_volume_capacity": round(float(vc.max()) if vc.size else 0.0, 6),
            "segments_over_capacity": int(np.count_nonzero(vc > 1.0)),
            "segments_used": int(np.count_nonzero(used)),
            "capacity_lanes_from": self.capacities.sources,
        }

    # ------------------------------------------------------------------- QUBO
    @cached_property
    def penalty(self) -> float:
        """The one-hot penalty P (see the module docstring for the proof)."""
        delta = 0.0
        for segs in self.var_segments:
            delta = max(delta, float(sum(self.segment_weights[e] * (2 * self.segment_trips[e] - 1) for e in segs)))
        return math.ceil(delta * 1000.0) / 1000.0 + 0.001

    @cached_property
    def _qubo(self) -> QUBO:
        from solvers.qubo import QUBOBuilder

        b = QUBOBuilder(self.variables)  # variable k of the builder is self.variables[k]
        lin_i, lin_w, qi, qj, qw = [], [], [], [], []
        for e, users in enumerate(self.segment_users):  # load_e**2 = sum_v x_v + 2 sum_{u<v} x_u x_v
            w = float(self.segment_weights[e])
            u = np.asarray(users, dtype=np.int64)
            a, c = np.triu_indices(len(u), 1)
            lin_i.append(u)
            lin_w.append(np.full(len(u), w))
            qi.append(u[a])
            qj.append(u[c])
            qw.append(np.full(len(a), 2.0 * w))
        if lin_i:
            b.add_linear_array(np.concatenate(lin_i), np.concatenate(lin_w))
            b.add_quadratic_array(np.concatenate(qi), np.concatenate(qj), np.concatenate(qw))
        start = 0
        for cands in self.candidates:
            b.add_onehot(list(self.variables[start : start + len(cands)]), penalty=self.penalty)
            start += len(cands)
        return b.build(metadata={"problem": "traffic", "instance": self.instance_name,
                                 "onehot_penalty": self.penalty,
                                 "penalty_rule": "max_{t,r} sum_{e in r} w_e (2 N_e - 1) + 0.001"})

    def to_qubo(self) -> QUBO:
        return self._qubo

    # ----------------------------------------------------------- native model
    def native_cpsat(self) -> CpSatModel:
        """CP-SAT on the integer model: loads as sums, ``load**2`` by its tangent cuts.

        ``sq_e >= (2l + 1) load_e - l (l + 1)`` for ``l = 0..N_e-1`` equals
        ``load_e**2`` at every integer load once minimised, and gives CP-SAT's
        LP relaxation a tight bound.  Weights are integers in milliseconds.
        """
        from ortools.sat.python import cp_model

        from solvers.cpsat import CpSatModel

        m = cp_model.CpModel()
        x = [m.new_bool_var(f"x[{t},{r}]") for t, r in self.variables]
        start = 0
        for cands in self.candidates:
            m.add_exactly_one(x[start : start + len(cands)])
            start += len(cands)
        obj = []
        for e, users in enumerate(self.segment_users):
            n_e = int(self.segment_trips[e])
            w = int(round(self.segment_weights[e] * 1000))
            load = sum(x[v] for v in users)
            if n_e <= 1:
                obj.append(w * load)  # load in {0, 1}: load**2 == load
                continue
            sq = m.new_int_var(0, n_e * n_e, f"sq[{e}]")
            for lvl in range(n_e):
                m.add(sq >= (2 * lvl + 1) * load - lvl * (lvl + 1))
            obj.append(w * sq)
        m.minimize(sum(obj))
        # hint: everyone on the shortest path
        for v, (_, r) in enumerate(self.variables):
            m.add_hint(x[v], 1 if r == 0 else 0)
        return CpSatModel(m, x, objective_scale=1000.0, info={"model": "traffic-native"})

    # -------------------------------------------------------------- baselines
    def shortest_path_bits(self) -> np.ndarray:
        """Everyone on their shortest path by free-flow travel time (candidate 0)."""
        return self.bits_for([0] * self.num_trips)

    def native_solvers(self) -> dict[str, Any]:
        return {"shortest": self._solve_shortest, "ue": self._solve_ue}

    def _solve_ue(self, *, seed: int | None = None, time_limit_s: float | None = None,
                  period_h: float = 1.0, max_rounds: int = 1000, **options: Any) -> Solution:
        """The discrete user equilibrium over the candidate routes: what drivers do on their own.

        Best responses under BPR travel time (:meth:`assess`'s model, every trip
        within ``period_h``): from everyone on the shortest path, each trip in
        turn (a seeded order) moves to the candidate that is quickest for it
        given everyone else's routes, until a whole round moves no trip.  A
        congestion game with increasing separable costs has Rosenthal's exact
        potential, so this ends, at a pure Nash equilibrium: no trip can lower
        its own travel time alone.  ``max_rounds`` and ``time_limit_s`` bound it
        (status TIMEOUT-free: the last assignment is returned, ``info['equilibrium']`` False).
        """
        import time

        from optimizer.inputs.capacity import bpr_time_s
        from solvers.solution import Solution, Status

        check_ue_options({"period_h": period_h, "max_rounds": max_rounds})
        t_start = time.perf_counter()
        deadline = None if time_limit_s is None else t_start + float(time_limit_s)
        cap = self.capacities.capacity_vph
        t0 = self.segment_weights
        offsets = self._var_offsets
        segs = [[np.asarray(self.var_segments[offsets[t] + r], dtype=np.int64) for r in range(len(c))]
                for t, c in enumerate(self.candidates)]
        choice = [0] * self.num_trips
        loads = self.segment_loads(self.bits_for(choice)).astype(np.float64)
        order = np.random.default_rng(seed).permutation(self.num_trips)
        rounds, moves, equilibrium = 0, 0, False
        while rounds < max_rounds and (deadline is None or time.perf_counter() < deadline):
            rounds += 1
            moved = False
            for t in order:
                own = segs[t][choice[t]]
                loads[own] -= 1  # the others' loads; each candidate then carries this trip too
                times = [float(np.sum(bpr_time_s(t0[e], (loads[e] + 1) / period_h, cap[e]))) for e in segs[t]]
                cur = times[choice[t]]
                best = int(np.argmin(times))
                if times[best] < cur * (1 - 1e-12) - 1e-12:
                    choice[t] = best
                    moved = True
                    moves += 1
                loads[segs[t][choice[t]]] += 1
            if not moved:
                equilibrium = True
                break
        info = {"equilibrium": equilibrium, "rounds": rounds, "moves": moves, "period_h": period_h,
                "model": "bpr best responses from the shortest paths"}
        return Solution(self.bits_for(choice), float("nan"), Status.FEASIBLE, "ue", True,
                        time.perf_counter() - t_start, None, "qubo", {"period_h": period_h,
                                                                       "max_rounds": max_rounds},
                        info=info, decision=choice)

    def best_response_gain(self, bits: np.ndarray, *, period_h: float = 1.0) -> float:
        """The most seconds any one trip could save by switching candidate alone (0 at an equilibrium).

        Computed from scratch from the assignment, independently of the ``ue`` solver.
        """
        from optimizer.inputs.capacity import bpr_time_s

        choice = self.route_choice(bits)
        loads = self.segment_loads(bits).astype(np.float64)
        cap, t0 = self.capacities.capacity_vph, self.segment_weights
        gain = 0.0
        offsets = self._var_offsets
        for t, cands in enumerate(self.candidates):
            own = set(self.var_segments[offsets[t] + choice[t]])
            mine = sum(float(bpr_time_s(t0[e], loads[e] / period_h, cap[e])) for e in own)
            for r in range(len(cands)):
                other = self.var_segments[offsets[t] + r]
                alt = sum(float(bpr_time_s(t0[e], (loads[e] + (0 if e in own else 1)) / period_h, cap[e]))
                          for e in other)
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
            objective=self.objective(bits), objective_units=self.objective_units,
        )


def check_ue_options(options: Mapping[str, Any]) -> None:
    """Check ``ue``'s option values (InvalidOptionError naming the option).

    >>> check_ue_options({"period_h": 0})
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: option 'period_h' of solver 'ue' must be in [1e-06, 24], got 0
    """
    from solvers.options import check_range

    check_range("ue", "period_h", options.get("period_h", 1.0), low=1e-6, high=24)
    check_range("ue", "max_rounds", options.get("max_rounds", 1000), low=1, high=10**6, integer=True)
