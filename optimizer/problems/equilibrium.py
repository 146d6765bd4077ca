"""Continuous static traffic assignment references: user equilibrium (UE) and system optimum (SO).

A transport planner compares a routing plan with what drivers do on their own
(Wardrop's user equilibrium: no driver can shorten their own trip) and with the
best any coordinator could do (the system optimum).  Here both come from
AequilibraE (https://www.aequilibrae.com), the open-source transport-planning
library, on the same osmnx road graph and demand as the discrete problem, so the
references are computed by code nobody here wrote:

* every directed edge ``(u, v, key)`` of the graph is one AequilibraE link with
  its free-flow time ``travel_time`` (s) and its capacity (veh/h, from
  :func:`optimizer.inputs.capacity.segment_capacities` unless given);
* the volume-delay function is BPR, ``t = t0 (1 + alpha (q/c)^beta)`` with ``q``
  in veh/h: a demand of ``n`` vehicles over a period of ``period_h`` hours is
  assigned as the hourly rate ``n / period_h``;
* UE: AequilibraE's bi-conjugate Frank-Wolfe (``bfw``) to a relative-gap target;
* SO: the same algorithm on the marginal cost.  For BPR the marginal cost of a
  link is ``d(q t(q))/dq = t0 (1 + alpha (beta + 1) (q/c)^beta)``, which is BPR
  with ``alpha' = alpha (beta + 1)``; the equilibrium of the marginal costs
  minimises ``sum_e q_e t_e(q_e)``.  The reported system travel time is always
  evaluated with the TRUE BPR at the flows found.

The system travel time is ``sum_e q_e * period_h * t_e(q_e) / 3600`` vehicle-hours.
For SO the result also carries a proven lower bound on the SO total, from the
convexity of the objective (the Frank-Wolfe bound ``f(x) - grad f(x).(x - y)``,
with ``y`` the all-or-nothing flows on the final marginal costs, computed here
with scipy's Dijkstra, independently of AequilibraE).

Parallel edges: the discrete model routes over the fastest parallel edge
(:func:`optimizer.inputs.roads.fastest_edge`); the continuous reference keeps
every edge as its own link, so its flows may split between parallel edges.  It
can only do better than the discrete model that way (a superset of the discrete
model's options), which keeps the SO total a lower bound.  Self-loops carry no
trip and get no flow.  Origins and destinations (AequilibraE's "centroids") are
real intersections: flows may pass through them (AequilibraE's blocking of
through-centroid flows is off).

Node ids are OSM integers (up to ~1e10); AequilibraE indexes arrays by node id,
so nodes are renumbered 1..n in the graph's node order.  AequilibraE renumbers
the centroids first internally (``Graph.prepare_graph``), so nothing else is
needed.  Nothing is written to disk: the graph and the demand matrix live in
memory (no AequilibraE project).

Examples
--------
Two parallel roads from A to B, 10 s and 20 s at free flow, each 1,000 veh/h;
3,000 vehicles in one hour.  At UE both are used and take the same time:

>>> import networkx as nx, pandas as pd
>>> g = nx.MultiDiGraph()
>>> g.add_edge(1, 2, travel_time=10.0, length=100.0)
0
>>> g.add_edge(1, 2, travel_time=20.0, length=200.0)
1
>>> od = pd.DataFrame({"origin": [1], "destination": [2], "vehicles": [3000]})
>>> cap = {(1, 2, 0): 1000.0, (1, 2, 1): 1000.0}
>>> ue = static_assignment(g, od, capacity_vph=cap, period_h=1.0, objective="ue", rgap=1e-8)
>>> so = static_assignment(g, od, capacity_vph=cap, period_h=1.0, objective="so", rgap=1e-8)
>>> ue.converged and so.converged
True
>>> q = ue.flows_vph
>>> round(q[1, 2, 0] + q[1, 2, 1], 6)
3000.0
>>> so.system_travel_time_veh_h <= ue.system_travel_time_veh_h
True
>>> so.lower_bound_veh_h <= so.system_travel_time_veh_h
True
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optimizer.errors import DemandError, InvalidInputError, InvalidOptionError
from optimizer.inputs.capacity import BPR_ALPHA, BPR_BETA, bpr_time_s, segment_capacities

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = ["OBJECTIVES", "AssignmentResult", "references", "static_assignment"]

log = logging.getLogger(__name__)

#: The two references: Wardrop's user equilibrium and the system optimum.
OBJECTIVES = ("ue", "so")

#: AequilibraE needs positive free-flow times; a zero-time edge is assigned with this (s).
_MIN_T0_S = 1e-6

Edge = tuple[Any, Any, Any]


@dataclass(frozen=True)
class AssignmentResult:
    """One static assignment: link flows (veh/h) and the system travel time under BPR.

    ``relative_gap`` is AequilibraE's, from its convergence report at the last
    iteration (UE: on BPR times; SO: on marginal costs).  ``lower_bound_veh_h``
    (SO only, else None) is a proven lower bound of the SO total.
    """

    objective: str
    flows_vph: Mapping[Edge, float] = field(repr=False)
    system_travel_time_veh_h: float
    relative_gap: float
    iterations: int
    converged: bool
    wall_s: float
    period_h: float
    vehicles: float
    rgap_target: float
    lower_bound_veh_h: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The figures, JSON-safe (no flows; a non-finite gap becomes None)."""
        return {
            "objective": self.objective,
            "system_travel_time_veh_h": self.system_travel_time_veh_h,
            "relative_gap": _finite_or_none(self.relative_gap),
            "rgap_target": self.rgap_target,
            "iterations": self.iterations,
            "converged": self.converged,
            "wall_s": self.wall_s,
            "period_h": self.period_h,
            "vehicles": self.vehicles,
            "lower_bound_veh_h": _finite_or_none(self.lower_bound_veh_h),
        }


def _finite_or_none(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# --------------------------------------------------------------------------- checks


def _check_number(value: Any, name: str, *, low: float, inclusive: bool = True) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    ok = math.isfinite(x) and (x >= low if inclusive else x > low)
    if not ok or isinstance(value, bool):
        rel = ">=" if inclusive else ">"
        msg = f"{name} must be a finite number {rel} {low}; got {value!r}"
        raise InvalidOptionError(msg)
    return x


def _check_options(objective: Any, alpha: Any, beta: Any, period_h: Any, rgap: Any,
                   max_iter: Any) -> tuple[float, float, float, float, int]:
    if objective not in OBJECTIVES:
        msg = f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}"
        raise InvalidOptionError(msg)
    a = _check_number(alpha, "alpha", low=0.0)
    b = _check_number(beta, "beta", low=1.0)
    p = _check_number(period_h, "period_h", low=0.0, inclusive=False)
    r = _check_number(rgap, "rgap", low=0.0, inclusive=False)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        msg = f"max_iter must be a whole number >= 1; got {max_iter!r}"
        raise InvalidOptionError(msg)
    return a, b, p, r, int(max_iter)


@dataclass(frozen=True)
class _Network:
    """The graph as arrays: links 0..m-1 (self-loops left out), nodes renumbered 1..n."""

    edges: list[Edge]
    a: np.ndarray  # int64, 1..n
    b: np.ndarray
    t0_s: np.ndarray
    capacity_vph: np.ndarray
    node_id: dict[Any, int]
    loops: list[Edge]


def _network(graph: nx.MultiDiGraph, capacity_vph: Mapping[Edge, float] | None) -> _Network:
    node_id = {n: i for i, n in enumerate(graph.nodes, start=1)}
    edges, loops = [], []
    for u, v, k in graph.edges(keys=True):
        (loops if u == v else edges).append((u, v, k))
    t0 = np.empty(len(edges))
    for i, (u, v, k) in enumerate(edges):
        try:
            t0[i] = float(graph.edges[u, v, k]["travel_time"])
        except (KeyError, TypeError, ValueError):
            t0[i] = math.nan
        if not (math.isfinite(t0[i]) and t0[i] >= 0):
            msg = (f"edge ({u}, {v}, {k}) has no usable travel_time ({graph.edges[u, v, k].get('travel_time')!r});"
                   " every edge needs a free-flow time in seconds >= 0 (osmnx add_edge_travel_times)")
            raise InvalidInputError(msg)
    missing = edges if capacity_vph is None else [e for e in edges if e not in capacity_vph]
    cap = np.empty(len(edges))
    if missing:
        computed = dict(zip(missing, segment_capacities(graph, missing).capacity_vph, strict=True))
    for i, e in enumerate(edges):
        c = capacity_vph[e] if capacity_vph is not None and e in capacity_vph else computed[e]
        cap[i] = _check_number(c, f"capacity_vph of edge {e}", low=0.0, inclusive=False)
    a = np.fromiter((node_id[u] for u, _, _ in edges), dtype=np.int64, count=len(edges))
    b = np.fromiter((node_id[v] for _, v, _ in edges), dtype=np.int64, count=len(edges))
    return _Network(edges, a, b, t0, cap, node_id, loops)


def _demand(od: pd.DataFrame, net: _Network, what: str = "od") -> pd.DataFrame:
    """OD rows as renumbered node ids and vehicles, summed per pair, positive, origin != destination."""
    if not isinstance(od, pd.DataFrame):
        msg = f"{what} must be a pandas DataFrame with columns origin, destination, vehicles; got {type(od).__name__}"
        raise DemandError(msg)
    missing = [c for c in ("origin", "destination", "vehicles") if c not in od.columns]
    if missing:
        msg = f"{what} lacks column(s) {', '.join(missing)}; it needs origin, destination, vehicles"
        raise DemandError(msg)
    veh = pd.to_numeric(od["vehicles"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(veh) & (veh >= 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = f"{what} row {row}: vehicles must be a finite count >= 0; got {od['vehicles'].iloc[row]!r}"
        raise DemandError(msg)
    o, d = [], []
    for col, out in (("origin", o), ("destination", d)):
        for row, node in enumerate(od[col]):
            try:
                out.append(net.node_id[node])
            except (KeyError, TypeError):
                msg = f"{what} row {row}: {col} {node!r} is not a node of the road graph"
                raise DemandError(msg) from None
    table = pd.DataFrame({"o": np.asarray(o, dtype=np.int64), "d": np.asarray(d, dtype=np.int64),
                          "vehicles": veh})
    table = table[(table.o != table.d) & (table.vehicles > 0)]
    return table.groupby(["o", "d"], as_index=False, sort=True)["vehicles"].sum()


# --------------------------------------------------------------------------- shortest paths


def _csgraph(net: _Network, cost: np.ndarray, n: int):
    """A scipy CSR graph of the cheapest parallel link per node pair (explicit zeros are edges)."""
    import scipy.sparse as sp

    frame = pd.DataFrame({"a": net.a, "b": net.b, "c": cost}).groupby(["a", "b"], as_index=False)["c"].min()
    return sp.csr_matrix((frame.c.to_numpy(), (frame.a.to_numpy(), frame.b.to_numpy())), shape=(n + 1, n + 1))


def _aon_cost(net: _Network, cost: np.ndarray, demand: pd.DataFrame, n: int) -> float:
    """``sum_od d_od * (least cost from o to d)`` under link costs ``cost`` (demand in its own units)."""
    from scipy.sparse.csgraph import dijkstra

    g = _csgraph(net, cost, n)
    total = 0.0
    origins = demand.o.unique()
    for start in range(0, len(origins), 64):
        chunk = origins[start:start + 64]
        dist = dijkstra(g, directed=True, indices=chunk)
        row = {o: i for i, o in enumerate(chunk)}
        part = demand[demand.o.isin(chunk)]
        sp_cost = dist[[row[o] for o in part.o], part.d.to_numpy()]
        total += float(np.dot(part.vehicles.to_numpy(), sp_cost))
    return total


def _check_reachable(net: _Network, demand: pd.DataFrame, n: int, inverse: dict[int, Any]) -> None:
    """Refuse an OD pair with no path: AequilibraE would drop its demand without a word."""
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    g = _csgraph(net, np.ones(len(net.a)), n)
    _, label = connected_components(g, directed=True, connection="strong")
    maybe = demand[label[demand.o.to_numpy()] != label[demand.d.to_numpy()]]
    for o, group in maybe.groupby("o"):
        seen = breadth_first_order(g, int(o), directed=True, return_predecessors=False)
        lost = group[~group.d.isin(seen)]
        if len(lost):
            d = int(lost.d.iloc[0])
            msg = (f"no road path from node {inverse[int(o)]} to node {inverse[d]} (and {len(lost) - 1} more "
                   "pairs from that origin): drop those trips or use a graph where they connect")
            raise DemandError(msg)


# --------------------------------------------------------------------------- AequilibraE


@contextmanager
def _quiet_aequilibrae():
    """AequilibraE's progress bars off and its 'no parameter file' warning hushed, for this call only."""
    os.environ.setdefault("AEQ_SHOW_PROGRESS", "FALSE")  # read once, when aequilibrae is first imported
    import aequilibrae  # noqa: F401  (its import sets its logger to DEBUG: import first, then hush)

    logger = logging.getLogger("aequilibrae")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # a gap not reached is reported by the result and our own warning
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            yield
    finally:
        logger.setLevel(level)


def _run_aequilibrae(net: _Network, demand: pd.DataFrame, *, alpha: float, beta: float, period_h: float,
                     rgap: float, max_iter: int) -> tuple[np.ndarray, float, int]:
    """Link flows (veh/h, in ``net.edges`` order), the final relative gap and the iterations."""
    with _quiet_aequilibrae():
        from aequilibrae.matrix import AequilibraeMatrix
        from aequilibrae.paths import Graph, TrafficAssignment, TrafficClass
        from aequilibrae.utils.python_signal import PythonSignal

        m = len(net.edges)
        network = pd.DataFrame({
            "link_id": np.arange(1, m + 1, dtype=np.int64),
            "a_node": net.a,
            "b_node": net.b,
            "direction": np.ones(m, dtype=np.int8),
            "travel_time": np.maximum(net.t0_s, _MIN_T0_S),
            "capacity": net.capacity_vph,
        })
        centroids = np.unique(np.concatenate([demand.o.to_numpy(), demand.d.to_numpy()])).astype(np.int64)
        graph = Graph()
        graph.network = network
        graph.prepare_graph(centroids)
        graph.set_graph("travel_time")
        graph.set_blocked_centroid_flows(False)

        zone = {c: i for i, c in enumerate(centroids)}
        matrix = AequilibraeMatrix()
        matrix.create_empty(zones=len(centroids), matrix_names=["demand"], memory_only=True)
        matrix.index[:] = centroids
        rate = np.zeros((len(centroids), len(centroids)))
        rate[[zone[o] for o in demand.o], [zone[d] for d in demand.d]] = demand.vehicles.to_numpy() / period_h
        matrix.matrices[:, :, 0] = rate
        matrix.computational_view(["demand"])

        assignment = TrafficAssignment()
        assignment.set_classes([TrafficClass("car", graph, matrix)])
        assignment.set_vdf("BPR")
        assignment.set_vdf_parameters({"alpha": alpha, "beta": beta})
        assignment.set_capacity_field("capacity")
        assignment.set_time_field("travel_time")
        assignment.set_algorithm("bfw")
        assignment.max_iter = max_iter
        assignment.rgap_target = rgap
        assignment.set_cores(1)  # one thread: the same flows bit for bit on every run
        quiet = PythonSignal(object)
        quiet.deactivate = True
        assignment.assignment.signal = quiet
        assignment.execute()

        flows = assignment.results()["PCE_AB"].reindex(network.link_id, fill_value=0.0).to_numpy()
        report = assignment.report()
    gap = float(report["rgap"].iloc[-1]) if len(report) else math.inf
    return np.asarray(flows, dtype=np.float64), gap, int(len(report))


# --------------------------------------------------------------------------- public


def static_assignment(
    graph: nx.MultiDiGraph,
    od: pd.DataFrame,
    *,
    capacity_vph: Mapping[Edge, float] | None = None,
    alpha: float = BPR_ALPHA,
    beta: float = BPR_BETA,
    period_h: float,
    objective: str = "ue",
    rgap: float = 1e-5,
    max_iter: int = 500,
) -> AssignmentResult:
    """Continuous static UE or SO link flows of an OD demand on a road graph, with AequilibraE.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        osmnx graph; edges need ``travel_time`` (s, free flow).
    od : pandas.DataFrame
        Columns ``origin``, ``destination`` (graph node ids) and ``vehicles``
        (a count over the period; repeated pairs are summed; a trip from a node
        to itself costs nothing and is left out).
    capacity_vph : mapping (u, v, key) -> veh/h, optional
        Edges it lacks (or all, when None) take
        :func:`~optimizer.inputs.capacity.segment_capacities`.
    alpha, beta : float
        BPR parameters.
    period_h : float
        Length of the period the demand is spread over, hours: the link flows
        are ``vehicles / period_h`` veh/h.
    objective : {"ue", "so"}
        User equilibrium, or system optimum (marginal-cost BPR).
    rgap, max_iter
        AequilibraE's relative-gap target and iteration cap.

    Returns
    -------
    AssignmentResult
        Flows per edge ``(u, v, key)`` (every edge of the graph, veh/h) and the
        system travel time under the true BPR, vehicle-hours.

    Raises
    ------
    DemandError
        A bad OD row, a node not in the graph, or a pair with no road path.
    InvalidOptionError
        An option out of range.
    """
    alpha, beta, period_h, rgap, max_iter = _check_options(objective, alpha, beta, period_h, rgap, max_iter)
    start = time.perf_counter()
    net = _network(graph, capacity_vph)
    demand = _demand(od, net)
    n = len(net.node_id)
    total_veh = float(demand.vehicles.sum())
    if demand.empty:
        flows = np.zeros(len(net.edges))
        gap, iterations = 0.0, 0
    else:
        inverse = {i: node for node, i in net.node_id.items()}
        _check_reachable(net, demand, n, inverse)
        a_vdf = alpha * (beta + 1.0) if objective == "so" else alpha
        flows, gap, iterations = _run_aequilibrae(net, demand, alpha=a_vdf, beta=beta, period_h=period_h,
                                                  rgap=rgap, max_iter=max_iter)
    t = bpr_time_s(net.t0_s, flows, net.capacity_vph, alpha=alpha, beta=beta)
    sttt = float(np.dot(flows, t)) * period_h / 3600.0
    bound = None
    if objective == "so":
        if demand.empty:
            bound = 0.0
        else:
            marginal = net.t0_s * (1.0 + alpha * (beta + 1.0) * (flows / net.capacity_vph) ** beta)
            rate = demand.assign(vehicles=demand.vehicles / period_h)
            slack = float(np.dot(flows, marginal)) - _aon_cost(net, marginal, rate, n)
            bound = sttt - max(slack, 0.0) * period_h / 3600.0
    converged = bool(demand.empty or gap <= rgap)
    if not converged:
        log.warning("AequilibraE %s assignment stopped at relative gap %.3g after %d iterations (target %.3g)",
                    objective, gap, iterations, rgap)
    out = {e: float(q) for e, q in zip(net.edges, flows, strict=True)}
    out.update(dict.fromkeys(net.loops, 0.0))
    return AssignmentResult(
        objective=objective,
        flows_vph=out,
        system_travel_time_veh_h=sttt,
        relative_gap=gap,
        iterations=iterations,
        converged=converged,
        wall_s=time.perf_counter() - start,
        period_h=period_h,
        vehicles=total_veh,
        rgap_target=rgap,
        lower_bound_veh_h=bound,
    )


def references(
    graph: nx.MultiDiGraph,
    trips: pd.DataFrame,
    *,
    alpha: float = BPR_ALPHA,
    beta: float = BPR_BETA,
    slice_s: float = 900.0,
    start_s: float = 0.0,
    rgap: float = 1e-5,
    max_iter: int = 500,
) -> dict[str, Any]:
    """UE and SO reference totals (vehicle-hours under BPR) of timed trips, one static assignment per slice.

    Trips (columns ``origin``, ``destination``, ``depart_s`` in seconds since
    midnight, optional ``vehicles``, default 1) fall in slice
    ``floor((depart_s - start_s) / slice_s)``; each slice's demand is assigned
    as a period of ``slice_s / 3600`` hours, and the totals are summed over
    slices.  Capacities come from
    :func:`~optimizer.inputs.capacity.segment_capacities`.

    ``lower_bound`` is True only when every trip is in one slice.  Then the SO
    total (over all paths, with fractional flows, and every parallel edge) is a
    proven lower bound of the BPR travel time of any discrete plan whose loads
    are counted over that period: the discrete plan's loads are one feasible
    point of the continuous SO problem.  (``so["lower_bound_veh_h"]`` is the
    certified bound, below the SO total by at most AequilibraE's gap.)  When
    trips span several slices it is only a reference: a discrete model that
    counts a trip on a segment in the slice it is on that segment (not the slice
    it departs in) groups the loads differently, since a long trip loads later
    slices and trips of different departure slices meet, so the sum of the
    per-departure-slice optima bounds nothing about it.

    Returns
    -------
    dict
        ``{"ue": {...}, "so": {...}, "slices": n, "method": str, "lower_bound": bool, "note": str}``;
        each of ``ue`` / ``so`` holds ``system_travel_time_veh_h``, ``relative_gap``
        (the worst over slices), ``iterations`` (summed), ``converged`` (all
        slices), ``wall_s``; ``so`` also ``lower_bound_veh_h``.
    """
    slice_s = _check_number(slice_s, "slice_s", low=0.0, inclusive=False)
    start_s = _check_number(start_s, "start_s", low=-math.inf)
    if not isinstance(trips, pd.DataFrame) or not {"origin", "destination", "depart_s"} <= set(trips.columns):
        msg = "trips must be a DataFrame with columns origin, destination, depart_s (and optional vehicles)"
        raise DemandError(msg)
    depart = pd.to_numeric(trips["depart_s"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(depart)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = f"trips row {row}: depart_s must be seconds since midnight; got {trips['depart_s'].iloc[row]!r}"
        raise DemandError(msg)
    vehicles = trips["vehicles"] if "vehicles" in trips.columns else pd.Series(1, index=trips.index)
    od = pd.DataFrame({"origin": trips["origin"].to_numpy(), "destination": trips["destination"].to_numpy(),
                       "vehicles": vehicles.to_numpy(),
                       "slice": np.floor((depart - start_s) / slice_s).astype(np.int64)})
    edges = list(graph.edges(keys=True))
    caps = dict(zip(edges, segment_capacities(graph, edges).capacity_vph, strict=True))
    _demand(od, _network(graph, caps), "trips")  # refuse a bad row once, numbered as in the trips table
    period_h = slice_s / 3600.0
    acc: dict[str, dict[str, Any]] = {
        obj: {"system_travel_time_veh_h": 0.0, "relative_gap": 0.0, "iterations": 0, "converged": True,
              "wall_s": 0.0} for obj in OBJECTIVES}
    acc["so"]["lower_bound_veh_h"] = 0.0
    slices = sorted(od["slice"].unique())
    for s in slices:
        part = od[od["slice"] == s]
        for obj in OBJECTIVES:
            r = static_assignment(graph, part, capacity_vph=caps, alpha=alpha, beta=beta, period_h=period_h,
                                  objective=obj, rgap=rgap, max_iter=max_iter)
            a = acc[obj]
            a["system_travel_time_veh_h"] += r.system_travel_time_veh_h
            a["relative_gap"] = max(a["relative_gap"], r.relative_gap)
            a["iterations"] += r.iterations
            a["converged"] = a["converged"] and r.converged
            a["wall_s"] += r.wall_s
            if obj == "so":
                a["lower_bound_veh_h"] += r.lower_bound_veh_h
    for a in acc.values():
        a["relative_gap"] = _finite_or_none(a["relative_gap"])
    one = len(slices) <= 1
    from importlib.metadata import version

    method = (f"AequilibraE {version('aequilibrae')} static assignment, bi-conjugate Frank-Wolfe to relative gap "
              f"{rgap:g} (at most {max_iter} iterations); BPR alpha={alpha:g}, beta={beta:g}; SO as the "
              f"equilibrium of marginal costs (BPR with alpha*(beta+1)); one assignment per {slice_s:g} s "
              "departure slice, every edge its own link, capacities from OSM lanes")
    note = ("all trips in one slice: the SO total is a lower bound of any discrete plan's BPR travel time"
            if one else
            f"trips span {len(slices)} departure slices: the per-slice UE/SO totals are references, not a "
            "bound, since a discrete model that counts trips in the slice they are on a segment groups "
            "loads differently")
    return {"ue": acc["ue"], "so": acc["so"], "slices": len(slices), "method": method,
            "lower_bound": one, "note": note}
