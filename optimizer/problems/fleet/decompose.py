"""``decompose`` for fleet problems: cluster first, route second, then improve.

1. **Cluster**: stops are swept by angle around the depot into the vehicles,
   each filled up to its capacity and slot count (first-fit decreasing when the
   sweep leaves a stop over); each vehicle's stops are cut, in sweep order, into
   clusters of at most ``cluster_size`` stops.
2. **Route**: each cluster is a small open-path TSP in the position encoding
   (``m**2`` qubits for ``m`` stops: 16 for 4), from the previous cluster's last
   stop (the depot for the first) to the depot for a vehicle's last cluster
   (free end otherwise), solved by the inner solver (QAOA by default).  An
   infeasible inner answer falls back to the nearest-neighbour order, counted
   in ``info["fallbacks"]``.
3. **Improve**: the generic ``decompose`` solver on the whole fleet QUBO,
   started from the stitched plan (``start="given"``), with the same inner
   solver; skipped when two whole one-hot rows do not fit in ``sub_size``
   (no sub-problem could then move a stop).

``info`` reports the energy after step 2 and after step 3, so each phase's
contribution is visible, and every inner call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.problems.fleet.qubo import nearest_neighbour_order
from solvers.errors import InvalidOptionError
from solvers.options import inner_solves

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.fleet.problem import Fleet
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["cluster_route_solve", "path_qubo"]

def path_qubo(cost: np.ndarray, start: int, stops: list[int], end: int | None) -> QUBO:
    """Position-encoded open path ``start -> stops (some order) -> end`` (``end=None``: free end).

    Variables ``(s, p)``; rows (each stop once) are the one-hot groups, columns
    carry the same penalty ``P`` = nearest-neighbour path cost + 0.001 (> the
    optimum; every cost term is >= 0, so any violation costs more than ``P``).
    """
    from solvers.qubo import QUBOBuilder

    m = len(stops)
    labels = [(s, p) for s in stops for p in range(m)]
    b = QUBOBuilder(labels)
    order = nearest_neighbour_order(cost, start, stops)
    ub = sum(cost[a, b] for a, b in zip([start, *order[:-1]], order))
    ub += cost[order[-1] if order else start, end] if end is not None else 0.0
    P = math.ceil(ub * 1000.0) / 1000.0 + 0.001
    for s in stops:
        b.add_linear((s, 0), cost[start, s])
        if end is not None:
            b.add_linear((s, m - 1), cost[s, end])
    for p in range(m - 1):
        for s in stops:
            for t in stops:
                if s != t and cost[s, t]:
                    b.add_quadratic((s, p), (t, p + 1), cost[s, t])
    for s in stops:
        b.add_onehot([(s, p) for p in range(m)], penalty=P)
    for p in range(m):
        col = [(s, p) for s in stops]
        b.add_offset(P)
        for a, u in enumerate(col):
            b.add_linear(u, -P)
            for w in col[a + 1:]:
                b.add_quadratic(u, w, 2.0 * P)
    return b.build(metadata={"problem": "fleet", "onehot_penalty": P, "sub_problem": "cluster path"})


def _sweep_clusters(prob: Fleet) -> list[list[int]]:
    """Stops per vehicle: an angular sweep around the depot, capacity- and slot-feasible."""
    V = prob.num_vehicles
    if prob.coords is not None:
        d = prob.coords[1:] - prob.coords[0]
        key = np.arctan2(d[:, 1], d[:, 0])
    else:
        key = prob.cost[0, 1:]
    order = (np.argsort(key, kind="stable") + 1).tolist()
    groups: list[list[int]] = [[] for _ in range(V)]
    load = np.zeros(V)
    v = 0
    for s in order:
        while v < V and not _fits(prob, groups[v], load[v], s, v):
            v += 1
        if v == V:
            greedy = prob._greedy_routes()
            if greedy is None:
                msg = "decompose: no capacity-feasible clustering found by sweep or first-fit; add vehicles"
                raise InvalidOptionError(msg)
            return greedy
        groups[v].append(s)
        load[v] += prob.demands[s - 1]
    return groups


def _fits(prob: Fleet, group: list[int], load: float, s: int, v: int) -> bool:
    if len(group) >= prob.slots_per_vehicle[v]:
        return False
    return prob.capacities is None or load + prob.demands[s - 1] <= prob.capacities[v] + 1e-9


def check_options(options: Mapping[str, Any]) -> None:
    """Check the values of ``decompose``'s options on fleet problems (InvalidOptionError naming the option).

    >>> check_options({"cluster_size": 9})
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: option 'cluster_size' of solver 'decompose' must be in [1, 5], got 9
    """
    from solvers.options import check_range

    inner = options.get("inner", "qaoa")
    if inner not in ("qaoa", "exact", "anneal"):
        msg = f"option 'inner' of solver 'decompose' must be qaoa, exact or anneal, got {inner!r}"
        raise InvalidOptionError(msg)
    check_range("decompose", "cluster_size", options.get("cluster_size", 4), low=1, high=5, integer=True)
    check_range("decompose", "sub_size", options.get("sub_size", 16), low=1, high=30, integer=True)
    check_range("decompose", "max_rounds", options.get("max_rounds", 1), low=1, high=10**5, integer=True)
    check_range("decompose", "max_inner_calls", options.get("max_inner_calls"), low=1, high=10**6, integer=True,
                allow_none=True)
    if not isinstance(options.get("inner_options") or {}, dict):
        msg = f"option 'inner_options' of solver 'decompose' must be a mapping, got {options['inner_options']!r}"
        raise InvalidOptionError(msg)
    if not isinstance(options.get("improve", True), bool):
        msg = f"option 'improve' of solver 'decompose' must be true or false, got {options['improve']!r}"
        raise InvalidOptionError(msg)


def cluster_route_solve(prob: Fleet, *, seed: int | None = None, time_limit_s: float | None = None,
                        **options: Any) -> Solution:
    """Cluster first (sweep), route second (inner solver per cluster), then improve (generic decompose).

    Option names are checked by :func:`optimizer.solve.check_request` (the solver table) before this runs.
    """
    from solvers.decompose import QAOA_INNER_DEFAULTS
    from solvers.registry import solve_qubo
    from solvers.solution import Solution, Status

    check_options(options)
    inner = options.get("inner", "qaoa")
    cluster_size = options.get("cluster_size", 4)
    inner_options = dict(options.get("inner_options") or (QAOA_INNER_DEFAULTS if inner == "qaoa" else {}))
    sub_size = options.get("sub_size", 16)
    t0 = time.perf_counter()
    deadline = None if time_limit_s is None else t0 + float(time_limit_s)
    rng = np.random.default_rng(seed)
    qubo = prob.to_qubo()

    groups = _sweep_clusters(prob)
    routes: list[list[int]] = []
    clusters, calls, fallbacks = [], 0, 0
    for g in groups:
        route: list[int] = []
        chunks = [g[k:k + cluster_size] for k in range(0, len(g), cluster_size)]
        for c, chunk in enumerate(chunks):
            start = route[-1] if route else 0
            end = 0 if c == len(chunks) - 1 else None
            q = path_qubo(prob.cost, start, chunk, end)
            clusters.append(len(chunk))
            if len(chunk) == 1:
                route.extend(chunk)
                continue
            remaining = None if deadline is None else max(1e-3, deadline - time.perf_counter())
            with inner_solves():  # each cluster's QAOA logs at DEBUG
                sol = solve_qubo(q, inner, seed=None if seed is None else int(rng.integers(2**31)),
                                 time_limit_s=remaining, **inner_options)
            calls += 1
            if sol.feasible and q.is_feasible(sol.bits):
                pos = {q.labels[i]: None for i in np.flatnonzero(sol.bits)}
                order = sorted(pos, key=lambda sp: sp[1])
                if sorted(s for s, _ in order) == sorted(chunk) and len(order) == len(chunk):
                    route.extend(s for s, _ in order)
                    continue
            fallbacks += 1
            route.extend(nearest_neighbour_order(prob.cost, start, chunk))
        routes.append(route)
    bits = prob.bits_for(routes)
    e_route = qubo.energy(bits)
    info: dict[str, Any] = {"method": "cluster first (sweep), route second, then improve",
                            "inner": inner, "cluster_sizes": clusters,
                            "cluster_qubits": [m * m for m in clusters], "route_inner_calls": calls,
                            "fallbacks": fallbacks, "energy_after_cluster_route": e_route,
                            "objective_after_cluster_route": prob.objective(bits)}
    row = max(len(g) for g in qubo.onehot)
    if options.get("improve", True) and 2 * row <= sub_size and (deadline is None or time.perf_counter() < deadline):
        remaining = None if deadline is None else max(1e-3, deadline - time.perf_counter())
        kw = {k: options[k] for k in ("max_rounds", "max_inner_calls") if k in options}
        imp = solve_qubo(qubo, "decompose", seed=seed, time_limit_s=remaining, inner=inner, sub_size=sub_size,
                         inner_options=inner_options, start="given", initial=bits.tolist(), **kw)
        if imp.feasible and prob.is_feasible(imp.bits) and imp.energy <= e_route:
            bits = imp.bits
        info.update({"improve": "decompose", "improve_inner_calls": imp.info["inner_calls"],
                     "improve_sub_sizes": imp.info["sub_sizes"], "energy_trace": imp.info["energy_trace"]})
    else:
        info["improve"] = (f"skipped: a one-hot row has {row} variables, two need {2 * row} > sub_size={sub_size}"
                           if options.get("improve", True) and 2 * row > sub_size else "skipped")
    energy = qubo.energy(bits)
    info.update({"energy_after_improve": energy, "inner_calls": calls + info.get("improve_inner_calls", 0),
                 "qaoa_calls": (calls + info.get("improve_inner_calls", 0)) if inner == "qaoa" else 0,
                 "objective": prob.objective(bits), "start_is_classical": False})
    opts = {"inner": inner, "cluster_size": cluster_size, "sub_size": sub_size, "inner_options": inner_options}
    return Solution(bits, energy, Status.FEASIBLE, "decompose", True, time.perf_counter() - t0, None, "qubo",
                    opts, {"max_qubits": max([m * m for m in clusters] + [sub_size if "improve_inner_calls" in info else 0])},
                    info)
