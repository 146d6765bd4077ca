"""The position-encoding QUBO of a fleet problem (see :mod:`optimizer.problems.fleet.problem`).

The greedy feasible plan that sets the penalty ``P``, the penalty itself, and
the QUBO's terms: route costs, row and column one-hot penalties, and capacity
penalties with binary slack.  Private helpers of :class:`~optimizer.problems.fleet.problem.Fleet`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.fleet.problem import Fleet
    from solvers.qubo import QUBO

__all__ = ["build_qubo", "greedy_routes", "penalty"]


def greedy_routes(prob: Fleet) -> list[list[int]] | None:
    """First-fit decreasing into vehicles, then nearest-neighbour order (None if it fails)."""
    V = prob.num_vehicles
    load = np.zeros(V)
    groups: list[list[int]] = [[] for _ in range(V)]
    for s in sorted(range(1, prob.n + 1), key=lambda s: -prob.demands[s - 1]):
        for v in range(V):
            cap_ok = prob.capacities is None or load[v] + prob.demands[s - 1] <= prob.capacities[v] + 1e-9
            if cap_ok and len(groups[v]) < prob.slots_per_vehicle[v]:
                groups[v].append(s)
                load[v] += prob.demands[s - 1]
                break
        else:
            return None
    out = []
    for g in groups:
        route, cur, left = [], 0, set(g)
        while left:
            nxt = min(left, key=lambda s: (prob.cost[cur, s], s))
            route.append(nxt)
            left.remove(nxt)
            cur = nxt
        out.append(route)
    return out


def penalty(prob: Fleet) -> float:
    """The penalty P = (cost of a feasible plan) + 0.001 (see :mod:`optimizer.problems.fleet.problem`)."""
    greedy = prob._greedy_routes()
    ub = sum(prob.route_cost(r) for r in greedy) if greedy is not None else 2 * prob.n * float(prob.cost.max())
    return math.ceil(ub * 1000.0) / 1000.0 + 0.001


def build_qubo(prob: Fleet) -> QUBO:
    """The fleet QUBO: route costs plus row, column and capacity penalties of weight ``prob.penalty``."""
    from solvers.qubo import QUBOBuilder

    b = QUBOBuilder(prob.variables)
    C, P = prob.cost, prob.penalty
    real = [i for i in prob.items if isinstance(i, int)]
    for v in range(prob.num_vehicles):
        K = prob.slots_per_vehicle[v]
        for i in real:
            b.add_linear(("x", i, v, 0), C[0, i])
            b.add_linear(("x", i, v, K - 1), C[i, 0])
        for p in range(K - 1):
            for i in prob.items:
                for j in prob.items:
                    c = C[prob._loc(i), prob._loc(j)]
                    if i != j and c:
                        b.add_quadratic(("x", i, v, p), ("x", j, v, p + 1), c)
    for i in prob.items:  # rows: the declared one-hot groups, exactly P (1 - sum)^2 each
        b.add_onehot([("x", i, v, p) for v, p in prob.slots], penalty=P)
    for v, p in prob.slots:  # columns: same penalty, not declared (they overlap the rows)
        col = [("x", i, v, p) for i in prob.items]
        b.add_offset(P)
        for a, u in enumerate(col):
            b.add_linear(u, -P)
            for w in col[a + 1:]:
                b.add_quadratic(u, w, 2.0 * P)
    for v, weights in prob.slack.items():  # capacity: P (sum q x + sum a y - Q)^2
        terms = [(("x", s, v, p), float(prob.demands[s - 1])) for s in real
                 for p in range(prob.slots_per_vehicle[v]) if prob.demands[s - 1]]
        terms += [(("y", v, k), float(w)) for k, w in enumerate(weights)]
        Q = float(prob.capacities[v])
        b.add_offset(P * Q * Q)
        for a, (u, wu) in enumerate(terms):
            b.add_linear(u, P * (wu * wu - 2.0 * Q * wu))
            for w, ww in terms[a + 1:]:
                b.add_quadratic(u, w, 2.0 * P * wu * ww)
    return b.build(metadata={"problem": "fleet", "instance": prob.name, "onehot_penalty": P,
                             "onehot_groups": "rows (each item in one slot); column and capacity "
                                              "penalties use the same P but are not declared",
                             "penalty_rule": "cost of a feasible plan (greedy) + 0.001"})
