"""Property tests of every QUBO builder, on random small instances drawn by hypothesis.

For each builder two properties, checked over *every* bitstring of instances of
at most 16 variables (energies of all ``2**n`` assignments at once):

a) the energy is the problem's cost plus its penalties, as the builder's module
   documents them, written out here independently of the builder; on a feasible
   assignment (slack bits set right) the energy is the problem's objective;
b) the penalty is large enough: the QUBO's minimum is a feasible assignment whose
   objective is the problem's optimum, found by enumerating the problem's own
   decisions (route choices, slot assignments, level choices), and every
   assignment whose energy is below the penalty bound is feasible.

And for :mod:`solvers.qubo` itself: the ways of building one QUBO (term by term,
arrays, ``from_coo``, ``from_terms``, ``from_matrix``) agree, ``add_onehot`` adds
exactly ``w (1 - sum)**2``, and every way of computing energies agrees.

Run more examples with ``CITYOPT_HYPOTHESIS_PROFILE=thorough`` (see ``conftest.py``).
"""

from __future__ import annotations

import itertools
import json
import math
from functools import cache

import networkx as nx
import numpy as np
import osmnx  # noqa: F401 - imported here, not inside a strategy: its import draws from `random`
import pandas as pd
import pytest
from hypothesis import assume, event, example, given, note
from hypothesis import strategies as st

from optimizer.errors import DemandError, InvalidInputError
from optimizer.inputs.grid import CostCurve, Grid, Unit
from optimizer.inputs.peak import Peak, TrafficModel
from optimizer.inputs.profiles import DayProfile
from optimizer.problems.dispatch.problem import Dispatch
from optimizer.problems.fleet.problem import Fleet, brute_force
from optimizer.problems.traffic import Traffic
from solvers.qubo import QUBO, QUBOBuilder, bits_index, index_bits
from tests.optimizer.test_dispatch import _brute_force as dispatch_brute_force
from tests.optimizer.test_dispatch import _expected_energy as dispatch_expected_energy
from tests.optimizer.test_dispatch import lowered_case9

#: Largest QUBO whose every assignment the tests enumerate.
MAX_ENUMERATED = 16


def all_bits(n: int) -> np.ndarray:
    """Every assignment of ``n`` bits, row ``k`` = index ``k`` with variable 0 most significant."""
    return index_bits(np.arange(2**n), n)


def close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


# =================================================================== solvers.qubo
weights = st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def term_lists(draw: st.DrawFn, max_n: int = 8) -> tuple[int, list[tuple], float]:
    """``(n, ops, offset)``: ops are ``("lin", i, w)`` and ``("quad", i, j, w)`` (``i == j`` allowed)."""
    n = draw(st.integers(1, max_n))
    idx = st.integers(0, n - 1)
    op = st.one_of(st.tuples(st.just("lin"), idx, weights), st.tuples(st.just("quad"), idx, idx, weights))
    return n, draw(st.lists(op, max_size=30)), draw(weights)


def loop_energy(n: int, ops: list[tuple], offset: float, x: np.ndarray) -> float:
    """The energy of ``x`` straight from the terms, in exact rational arithmetic."""
    from fractions import Fraction

    e = Fraction(offset)
    for o in ops:
        if o[0] == "lin":
            e += Fraction(o[2]) * int(x[o[1]])
        else:
            e += Fraction(o[3]) * int(x[o[1]]) * int(x[o[2]])
    return float(e)


def _scale(ops: list[tuple], offset: float) -> float:
    return abs(offset) + sum(abs(o[-1]) for o in ops)


@given(term_lists(), st.data())
def test_builder_paths_build_the_same_qubo(terms, data) -> None:
    """Scalar calls, array calls (in any chunking) and ``from_coo`` give the same QUBO to the
    last bit when the terms come in the same order; its energies are the terms' sum."""
    n, ops, offset = terms
    labels = [f"v{i}" for i in range(n)]
    scalar = QUBOBuilder(labels)
    for o in ops:
        if o[0] == "lin":
            scalar.add_linear(labels[o[1]], o[2])
        else:
            scalar.add_quadratic(labels[o[1]], labels[o[2]], o[3])
    scalar.add_offset(offset)
    q = scalar.build()

    # the same ops, runs of one kind cut at random into array calls or left as scalar calls
    arrays = QUBOBuilder(labels)
    k = 0
    while k < len(ops):
        run = 1
        while k + run < len(ops) and ops[k + run][0] == ops[k][0]:
            run += 1
        take = data.draw(st.integers(1, run), label="chunk")
        chunk = ops[k:k + take]
        if data.draw(st.booleans(), label="as array"):
            if chunk[0][0] == "lin":
                arrays.add_linear_array([o[1] for o in chunk], [o[2] for o in chunk])
            else:
                arrays.add_quadratic_array([o[1] for o in chunk], [o[2] for o in chunk], [o[3] for o in chunk])
        else:
            for o in chunk:
                if o[0] == "lin":
                    arrays.add_linear(labels[o[1]], o[2])
                else:
                    arrays.add_quadratic(labels[o[1]], labels[o[2]], o[3])
        k += take
    arrays.add_offset(offset)
    assert arrays.build().is_equal(q)

    # from_coo: linear terms as pairs (i, i), in the same order
    rows = [o[1] for o in ops]
    cols = [o[1] if o[0] == "lin" else o[2] for o in ops]
    coo = QUBO.from_coo(n, None, rows, cols, [o[-1] for o in ops], offset, labels=labels)
    assert coo.is_equal(q)
    kept = QUBO.from_coo(n, None, rows, cols, [o[-1] for o in ops], offset, labels=labels, drop_zeros=False)
    assert kept.num_interactions >= q.num_interactions
    assert set(zip(q.quad_i.tolist(), q.quad_j.tolist())) <= set(zip(kept.quad_i.tolist(), kept.quad_j.tolist()))

    # the sums: every stored coefficient is the sum of its terms; pairs sorted, each once
    assert np.all(q.quad_i < q.quad_j)
    keys = q.quad_i * n + q.quad_j
    assert np.all(np.diff(keys) > 0)
    scale = _scale(ops, offset)
    X = all_bits(n)
    E = q.energies(X)
    for x, e in zip(X, E):
        assert close(e, loop_energy(n, ops, offset, x), scale)
    np.testing.assert_allclose(kept.energies(X), E, rtol=1e-12, atol=1e-12 * scale)


@given(term_lists(max_n=9))
@example(terms=(3, [("quad", 0, 2, 1.0)], 0.0))  # to_bqm put variable 2 before 1 (fixed)
def test_energies_agree_every_way(terms) -> None:
    """Batch energies = one-by-one = the doubling table (both bit orders) = ``x^T Q x`` =
    the Ising form; and conversions (dict, JSON, matrix, bqm, scaling, sums) keep them."""
    n, ops, offset = terms
    q = QUBO.from_coo(n, None, [o[1] for o in ops], [o[1] if o[0] == "lin" else o[2] for o in ops],
                      [o[-1] for o in ops], offset)
    scale = _scale(ops, offset)
    tol = 1e-9 * max(1.0, scale)
    X = all_bits(n)
    E = q.energies(X)
    np.testing.assert_allclose([q.energy(x) for x in X], E, rtol=1e-12, atol=tol)
    np.testing.assert_allclose(q.all_energies(), E, rtol=1e-12, atol=tol)
    little = q.all_energies(order="little")
    np.testing.assert_allclose(little[bits_index(X, order="little")], E, rtol=1e-12, atol=tol)
    Q = q.dense()
    np.testing.assert_allclose(np.einsum("mi,ij,mj->m", X, Q, X) + q.offset, E, rtol=1e-12, atol=tol)
    h, J, c = q.to_ising()
    S = 1.0 - 2.0 * X
    ising = c + S @ h + sum((w * S[:, i] * S[:, j] for (i, j), w in J.items()), np.zeros(len(X)))
    np.testing.assert_allclose(ising, E, rtol=1e-12, atol=tol)
    assert QUBO.from_dict(json.loads(json.dumps(q.to_dict()))).is_equal(q)
    assert QUBO.from_matrix(Q, q.offset).is_almost_equal(q, atol=tol)
    assert QUBO.from_bqm(q.to_bqm()).is_almost_equal(q, atol=tol)
    np.testing.assert_allclose(q.scaled(-2.5).energies(X), -2.5 * E, rtol=1e-12, atol=tol)
    np.testing.assert_allclose((q + q.scaled(3.0)).energies(X), 4.0 * E, rtol=1e-12, atol=4 * tol)
    # one sample at a time, any subset of rows, equals the batch
    rows = X[::3]
    np.testing.assert_allclose(q.energies(rows), E[::3], rtol=1e-12, atol=tol)


@st.composite
def onehot_groups(draw: st.DrawFn) -> tuple[int, list[list[int]], list[float]]:
    """``(n, groups, penalties)``: disjoint groups over ``n`` variables (some left out)."""
    n = draw(st.integers(1, 10))
    owner = draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n))  # -1: in no group
    groups = [[v for v in range(n) if owner[v] == g] for g in range(4)]
    groups = [g for g in groups if g]
    pens = draw(st.lists(st.floats(0.001, 1000.0, allow_nan=False), min_size=len(groups), max_size=len(groups)))
    return n, groups, pens


@given(onehot_groups(), st.lists(st.tuples(st.integers(0, 9), weights), max_size=6))
def test_add_onehot_is_its_squared_penalty(spec, linear) -> None:
    """``add_onehot(g, w)`` adds exactly ``w (1 - sum_g x)**2`` and records the group: zero on
    one-hot assignments, at least ``w`` on every other; ``penalty=0`` only records it."""
    n, groups, pens = spec
    b = QUBOBuilder(range(n))
    for g, w in zip(groups, pens):
        b.add_onehot(g, penalty=w)
    q = b.build()
    assert q.onehot == tuple(tuple(g) for g in groups)
    X = all_bits(n)
    E = q.energies(X)
    scale = sum(pens)
    expected = np.zeros(len(X))
    for g, w in zip(groups, pens):
        expected += w * (1 - X[:, g].sum(axis=1)) ** 2
    np.testing.assert_allclose(E, expected, rtol=1e-12, atol=1e-12 * scale)
    onehot = np.all([X[:, g].sum(axis=1) == 1 for g in groups], axis=0) if groups else np.ones(len(X), bool)
    assert np.all(np.abs(E[onehot]) <= 1e-12 * scale)
    if groups:
        assert np.all(E[~onehot] >= min(pens) - 1e-12 * scale)
    np.testing.assert_array_equal(q.onehot_violations(X),
                                  sum((X[:, g].sum(axis=1) != 1).astype(int) for g in groups) if groups else 0)
    assert [q.is_feasible(x) for x in X[:64]] == onehot[:64].tolist()
    # penalty 0 records the group and adds nothing; other terms are left as they were
    b0 = QUBOBuilder(range(n))
    b1 = QUBOBuilder(range(n))
    for i, w in linear:
        if i < n:
            b0.add_linear(i, w)
            b1.add_linear(i, w)
    for g in groups:
        b0.add_onehot(g, penalty=0.0)
    assert b0.build().onehot == q.onehot
    np.testing.assert_array_equal(b0.build().energies(X), b1.build().energies(X))


# =================================================================== traffic
@st.composite
def traffic_instances(draw: st.DrawFn) -> Traffic:
    """A random street graph (a two-way ring, random chords and parallel edges, random travel
    times), random trips (repeats allowed) and ``k`` routes each: at most 12 variables."""
    m = draw(st.integers(3, 7), label="nodes")
    g = nx.MultiDiGraph(crs="EPSG:4326", name="random")
    for i in range(m):
        g.add_node(i, x=24.94 + 0.001 * i, y=60.17)
    edges = [(i, (i + 1) % m) for i in range(m)] + [((i + 1) % m, i) for i in range(m)]
    pair = st.tuples(st.integers(0, m - 1), st.integers(1, m - 1)).map(lambda e: (e[0], (e[0] + e[1]) % m))
    edges += draw(st.lists(pair, max_size=2 * m), label="chords")
    times = st.one_of(st.integers(1, 60).map(float), st.floats(0.5, 60.0, allow_nan=False))
    for u, v in edges:  # a repeated (u, v) is a parallel edge
        g.add_edge(u, v, travel_time=draw(times), length=100.0)
    trips = draw(st.lists(pair, min_size=1, max_size=4), label="trips")
    routes = draw(st.integers(1, 3), label="routes")
    df = pd.DataFrame({"trip_id": range(len(trips)), "origin": [o for o, _ in trips],
                       "destination": [d for _, d in trips]})
    if not draw(st.booleans(), label="bpr"):  # the static proxy: everyone at 07:00 in one two-hour slice
        df["depart_s"] = 7 * 3600.0
        return Traffic(g, df, routes=routes, model=TrafficModel("congestion", peak=Peak(slice_s=7200.0)))
    # BPR in a crowded ten minutes: groups of vehicles, departures a few minutes apart, 5-minute slices
    df["depart_s"] = [7 * 3600.0 + draw(st.integers(0, 600)) for _ in trips]
    df["vehicles"] = [draw(st.integers(1, 80)) for _ in trips]
    return Traffic(g, df, routes=routes, model=TrafficModel(peak=Peak(7 * 3600, 7 * 3600 + 600, 300)))


def _traffic_incidence(prob: Traffic) -> tuple[np.ndarray, np.ndarray]:
    """``(A, w)``: ``A[v, e]`` = 1 when variable v's route drives segment e, ``w`` the
    segments' travel times in ms-rounded seconds, from the routes' node lists and the graph."""
    G = prob.graph
    seg: dict[tuple, int] = {}
    rows = []
    for t, r in prob.variables:
        nodes = prob.candidates[t][r].nodes
        used = []
        for u, v in zip(nodes[:-1], nodes[1:]):
            data = G.get_edge_data(u, v)
            k = min(data, key=lambda k: (data[k]["travel_time"], str(k)))
            used.append(seg.setdefault((u, v, k), len(seg)))
        rows.append(used)
    A = np.zeros((len(rows), len(seg)))
    for v, used in enumerate(rows):
        A[v, used] = 1.0
    w = np.array([round(G.edges[e]["travel_time"], 3) for e in seg])
    return A, w


@given(traffic_instances())
def test_traffic_qubo_is_congestion_plus_onehot_penalty(prob: Traffic) -> None:
    """Every assignment: energy = sum_e w_e load_e**2 + P sum_t (1 - sum_r x[t, r])**2 (the static
    proxy) or the BPR surrogate + the same penalty, and the QUBO minimum is the route choice of
    least cost (brute force over choices)."""
    q = prob.to_qubo()
    n = q.num_variables
    note(f"{prob!r}, P={prob.penalty}")
    assert n == len(prob.variables) <= 12
    event(f"{prob.num_trips} trip(s)")
    if any(len(c) > 1 for c in prob.candidates):
        event("a choice of routes")
    if any(len(prob.graph.get_edge_data(*s[:2])) > 1 for s in prob.segments):
        event("parallel edges")
    X = all_bits(n)
    E = q.all_energies()
    if prob.model.objective == "congestion":
        A, w = _traffic_incidence(prob)
        cong = (X @ A) ** 2 @ w
    else:  # the surrogate: each cell's fitted a n + b n**2, loads counted from the routes and departures
        event("bpr surrogate")
        cong = np.array([prob.surrogate(x) for x in X])
    starts = np.cumsum([0] + [len(c) for c in prob.candidates])
    viol = sum((1 - X[:, a:b].sum(axis=1)) ** 2 for a, b in zip(starts[:-1], starts[1:]))
    P = prob.penalty
    scale = float(P * len(prob.candidates) * 4 + cong.max())
    np.testing.assert_allclose(E, cong + P * viol, rtol=1e-12, atol=1e-9 * scale)
    # the problem's own scoring agrees on a sample
    feasible = viol == 0
    for j in np.linspace(0, len(X) - 1, 40).astype(int):
        if prob.model.objective == "congestion":
            assert close(prob.congestion(X[j]), cong[j], scale)
        assert prob.is_feasible(X[j]) == bool(feasible[j])
        if feasible[j] and prob.model.objective == "congestion":
            assert close(prob.objective(X[j]), E[j], scale)
    if prob.model.objective == "congestion":
        # the documented penalty rule: P > max over routes of sum_e w_e (2 N_e - 1)
        trip_of = np.array([t for t, _ in prob.variables])
        n_e = np.array([len(set(trip_of[A[:, e] > 0])) for e in range(A.shape[1])])
        assert P > max(A @ (w * (2 * n_e - 1)))
    # b) the optimum, by brute force over route choices
    best = math.inf
    for choice in itertools.product(*[range(len(c)) for c in prob.candidates]):
        x = prob.bits_for(list(choice))
        best = min(best, float(((x @ A) ** 2) @ w) if prob.model.objective == "congestion" else prob.surrogate(x))
    j = int(np.argmin(E))
    assert prob.is_feasible(X[j]) and close(prob.surrogate(X[j]), best, scale)
    assert close(E[j], best, scale)
    assert E[~feasible].min() > best + 1e-9 * scale  # all zeros at least is infeasible


# =================================================================== fleet
costs = st.one_of(st.integers(0, 60).map(float), st.floats(0.0, 60.0, allow_nan=False, allow_subnormal=False))


@st.composite
def fleets(draw: st.DrawFn, kind: str) -> Fleet:
    """A random cost matrix (symmetric or not, zeros allowed) and ``kind``: ``tsp`` (one vehicle,
    2-4 stops), ``vehicles`` (two uncapacitated vehicles, two stops: idle items, returns to the
    depot) or ``cvrp`` (2-3 vehicles, 2-3 stops, integer demands and capacities that do not take
    every stop, so capacity slack); at most 16 variables."""
    n = 2 if kind == "vehicles" else draw(st.integers(2, 4 if kind == "tsp" else 3), label="stops")
    C = np.array(draw(st.lists(costs, min_size=(n + 1) ** 2, max_size=(n + 1) ** 2)), dtype=float)
    C = C.reshape(n + 1, n + 1)
    if draw(st.booleans(), label="symmetric"):
        C = np.triu(C) + np.triu(C, 1).T
    if kind == "tsp":
        return Fleet(C)
    if kind == "vehicles":  # 2 vehicles x 2 slots, 4 items: 16 variables
        return Fleet(C, vehicles=2)
    vehicles = draw(st.integers(2, 3), label="vehicles")
    demands = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n), label="demands")
    top = max(1, max(demands))
    caps = draw(st.lists(st.integers(1, max(top, sum(demands) - 1)), min_size=vehicles, max_size=vehicles),
                label="capacities")
    caps[0] = max(caps[0], top)  # some vehicle can carry the largest demand
    try:
        prob = Fleet(C, vehicles=vehicles, capacity=caps, demands=demands)
    except DemandError:  # the vehicles cannot carry every stop
        assume(False)
    assume(len(prob.variables) <= MAX_ENUMERATED)
    return prob


def _fleet_energy(prob: Fleet, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, V)`` of the module docstring for every row of ``X``, from the variables' labels:
    route cost of the slots, and the row, column and capacity residuals squared."""
    col = {lab: j for j, lab in enumerate(prob.variables)}
    C = prob.cost
    loc = {i: (i if isinstance(i, int) else 0) for i in prob.items}
    Xf = X.astype(float)

    def x(i, v, p):
        return Xf[:, col[("x", i, v, p)]]

    T = np.zeros(len(X))
    for v, K in enumerate(prob.slots_per_vehicle):
        if K == 0:  # a vehicle too small for any stop drives nowhere
            continue
        for i in prob.items:
            T += C[0, loc[i]] * x(i, v, 0) + C[loc[i], 0] * x(i, v, K - 1)
            for j in prob.items:
                if i != j:
                    for p in range(K - 1):
                        T += C[loc[i], loc[j]] * x(i, v, p) * x(j, v, p + 1)
    V = np.zeros(len(X))
    for i in prob.items:
        V += (1 - sum(x(i, v, p) for v, p in prob.slots)) ** 2
    for v, p in prob.slots:
        V += (1 - sum(x(i, v, p) for i in prob.items)) ** 2
    for v, K in enumerate(prob.slots_per_vehicle):
        if prob.capacities is None:
            continue
        Q = int(prob.capacities[v])
        if np.sort(prob.demands)[::-1][:K].sum() <= Q:
            assert v not in prob.slack
            continue
        a = prob.slack[v]
        sums = {sum(c) for r in range(len(a) + 1) for c in itertools.combinations(a, r)}
        assert sums == set(range(Q + 1))  # the slack reaches every integer 0..Q, nothing more
        load = sum(prob.demands[s - 1] * x(s, v, p) for s in range(1, prob.n + 1) for p in range(K))
        z = sum(ak * Xf[:, col[("y", v, k)]] for k, ak in enumerate(a))
        V += (load + z - Q) ** 2
    return T, V


def _fleet_optimum(prob: Fleet) -> float:
    """The least cost over every placement of the items in the slots (the model's own decisions:
    an idle item between two stops is a return to the depot) that keeps to the capacities."""
    best = math.inf
    for perm in set(itertools.permutations([i if isinstance(i, int) else 0 for i in prob.items])):
        cost, s0, ok = 0.0, 0, True
        for v, K in enumerate(prob.slots_per_vehicle):
            seq = [0, *perm[s0:s0 + K], 0]
            cost += sum(prob.cost[a, b] for a, b in zip(seq[:-1], seq[1:]))
            if prob.capacities is not None:
                ok &= sum(prob.demands[s - 1] for s in seq if s) <= prob.capacities[v] + 1e-9
            s0 += K
        if ok:
            best = min(best, cost)
    return best


@pytest.mark.parametrize("kind", ["tsp", "vehicles", "cvrp"])
@given(data=st.data())
def test_fleet_qubo_is_route_cost_plus_penalties(kind: str, data: st.DataObject) -> None:
    """Every assignment: energy = T(x) + P (rows + columns + capacity residuals squared); the
    minimum is the optimal plan, and every assignment below P is feasible with exact slack."""
    prob = data.draw(fleets(kind), label="fleet")
    q = prob.to_qubo()
    n = q.num_variables
    note(f"{prob!r} cost={prob.cost.tolist()} demands={prob.demands.tolist()} "
         f"caps={None if prob.capacities is None else prob.capacities.tolist()} P={prob.penalty}")
    assert n <= MAX_ENUMERATED
    event(f"{prob.num_vehicles} vehicle(s)")
    for what, has in (("capacity slack", prob.slack), ("idle items", len(prob.items) > prob.n)):
        if has:
            event(what)
    X = all_bits(n)
    E = q.all_energies()
    T, V = _fleet_energy(prob, X)
    P = prob.penalty
    scale = float(P * (V.max() + 1) + T.max())
    np.testing.assert_allclose(E, T + P * V, rtol=1e-12, atol=1e-9 * scale)
    # b) the optimum of the model, by enumerating placements; the penalty clears it
    opt = _fleet_optimum(prob)
    assume(math.isfinite(opt))  # some instances admit no plan (bin packing)
    assert P > opt
    j = int(np.argmin(E))
    assert prob.is_feasible(X[j]) and close(prob.objective(X[j]), opt, scale)
    assert close(E[j], opt, scale)
    below = np.flatnonzero(E < P - 1e-9 * scale)
    assert np.all(V[below] == 0)
    for k in below:
        assert prob.is_feasible(X[k]) and close(prob.objective(X[k]), E[k], scale)
    # the feasible plans are exactly the zero-penalty assignments
    for k in np.flatnonzero(V == 0)[:50]:
        assert prob.is_feasible(X[k])
    # brute_force (orders and splits, no return to the depot mid-route) finds the same optimum
    # unless a return is a shortcut: C[a, 0] + C[0, b] < C[a, b]
    bf, routes = brute_force(prob)
    assert bf >= opt - 1e-9 * scale
    shortcut = bool(np.any(prob.cost[:, [0]] + prob.cost[[0], :] < prob.cost - 1e-9))
    if not shortcut:
        assert close(bf, opt, scale)
        assert close(q.energy(prob.bits_for(routes)), bf, scale)


# =================================================================== dispatch
@cache
def case9() -> Grid:
    return Grid.load("case9")


def _cost(draw: st.DrawFn, *, quadratic: bool = True) -> CostCurve:
    c0 = draw(st.sampled_from([0.0, 5.0, 50.0]), label="c0")
    c1 = draw(st.floats(-20.0, 120.0, allow_nan=False), label="c1")
    c2 = draw(st.sampled_from([0.0, 0.01, 0.1]), label="c2") if quadratic else 0.0
    return CostCurve(c0=c0, c1=c1, c2=c2)


FLAVOURS = ("plain", "ramp", "minimum", "storage")


@st.composite
def dispatches(draw: st.DrawFn, flavour: str, balancing: str) -> Dispatch:
    """Small random units over a random day of 1-3 periods (at most 16 variables).

    ``flavour``: ``plain`` (one or two generators), ``ramp`` (two levels, two periods, a ramp
    limit), ``minimum`` (minimum up/down times: start and stop bits) or ``storage`` (a battery);
    ``balancing``: ``ext_grid`` (an external grid balances) or ``spill`` (every unit discrete,
    an external grid among them or not).
    """
    q = 10.0
    periods = {"ramp": 2, "minimum": draw(st.integers(2, 3))}.get(flavour) or draw(st.integers(1, 3))
    levels = 2 if flavour == "ramp" else draw(st.integers(1, 2 if periods < 3 else 1), label="levels")
    units, top = [], 0.0  # top: the most the units can supply (MW)
    if balancing == "ext_grid" or draw(st.booleans(), label="ext grid"):
        lo = draw(st.sampled_from([-40.0, -10.0, 0.0]), label="export limit")
        hi = draw(st.sampled_from([10.0, 25.0, 60.0]), label="import limit")
        units.append(Unit("ext", "ext_grid", 0, 0, lo, hi, _cost(draw)))
        top += hi
    for i in range(draw(st.integers(1, 1 if flavour in ("ramp", "storage") else 2), label="generators")):
        p_max = draw(st.integers(1, 4), label="p_max") * q + draw(st.sampled_from([0.0, 3.0]))
        p_min = draw(st.sampled_from([0.0, 0.3 * p_max, math.floor(p_max / q) * q]), label="p_min")
        minimum = flavour == "minimum" and i == 0
        units.append(Unit(
            f"gen {i}", "gen", i, 0, p_min, p_max, _cost(draw),
            startup_eur=draw(st.sampled_from([0.0, 20.0, 300.0]), label="startup"),
            ramp_mw_per_h=draw(st.sampled_from([0.5, 1.0] if flavour == "ramp" else [None, 2.0]), label="ramp"),
            min_up_h=draw(st.sampled_from([16.0, 24.0] if minimum else [None, 8.0]), label="min up"),
            min_down_h=draw(st.sampled_from([None, 12.0, 24.0] if minimum else [None]), label="min down"),
            initial_on=draw(st.booleans(), label="initial on")))
        top += math.floor(p_max / q) * q
    if flavour == "storage":
        p = draw(st.sampled_from([10.0, 20.0]), label="battery MW")
        e_max = draw(st.sampled_from([1.0, 2.0, 4.0]), label="battery size") * p * 24 / periods
        units.append(Unit("battery", "storage", 0, 0, -p, p, e_max_mwh=e_max,
                          e_init_mwh=draw(st.sampled_from([0.0, 0.5, 1.0])) * e_max,
                          cycle_cost_eur_per_mwh=draw(st.sampled_from([0.0, 5.0]))))
    share = st.floats(0.0, 1.0, allow_nan=False)
    # loads in whole kW: the model balances to 1e-9 quanta and the MW brute force to 1e-9 MW, so a
    # load a hair (3.8e-9 MW) above a whole quantum would be balanced by one and not the other
    load = np.round(top * np.array(draw(st.lists(share, min_size=periods, max_size=periods), label="load")), 3)
    profile = DayProfile(periods, (0,), load[:, None], np.zeros((periods, 1)), (), np.zeros((periods, 0)))
    spill = draw(st.sampled_from([None, 10.0, 15.0]), label="spill max") if balancing == "spill" else None
    try:
        prob = Dispatch(case9(), profile, units, levels=levels, quantum_mw=q, balancing=balancing,
                        spill_max_mw=spill)
    except InvalidInputError:  # an infeasible day
        assume(False)
    assume(len(prob.variables) <= MAX_ENUMERATED)
    return prob


@cache
def case9_lowered(line: int, share: float) -> Grid:
    return lowered_case9(case9(), line, share)


@st.composite
def case9_dispatches(draw: st.DrawFn, network: bool = False) -> Dispatch:
    """``Dispatch.from_grid("case9", ...)`` with 2-3 units, 1-2 periods, 1-2 levels, any seed; with
    ``network``, the DC line limits on, one line's rating cut to 30-100% so that they bind."""
    grid = case9()
    kw = {}
    if network:
        grid = case9_lowered(draw(st.integers(0, 8), label="line"),
                             draw(st.sampled_from([1.0, 0.6, 0.45, 0.3]), label="rating share"))
        kw = {"network": True, "quantum_mw": draw(st.sampled_from([None, 30.0, 60.0]), label="quantum")}
    try:
        prob = Dispatch.from_grid(grid, units=draw(st.integers(2, 3), label="units"),
                                  periods=draw(st.integers(1, 2), label="periods"),
                                  levels=draw(st.integers(1, 2), label="levels"),
                                  seed=draw(st.integers(0, 2**31 - 1), label="seed"),
                                  initial_on=draw(st.booleans(), label="initial on"),
                                  load_scale=draw(st.sampled_from([0.5, 1.0, 1.3]), label="load scale"), **kw)
    except InvalidInputError:
        assume(False)
    assume(len(prob.variables) <= MAX_ENUMERATED)
    return prob


def _check_dispatch(prob: Dispatch, data: st.DataObject) -> None:
    q = prob.to_qubo()
    n = q.num_variables
    note(f"{prob!r} units={prob.units} load={prob.profile.net_load_mw.tolist()} P={prob.penalty}")
    event(f"balancing {prob.balancing}")
    for what, has in (("start/stop bits", prob.start_var), ("storage", prob.soc_windows),
                      ("ramp pairs", prob.ramp_pairs), ("binding balance", any(w.binding for w in prob.balance_windows))):
        if has:
            event(what)
    X = all_bits(n)
    E = q.all_energies()
    ub, lb = prob._cost_parts
    P = prob.penalty
    scale = float(max(abs(ub), abs(lb), P))
    # a) energy = C(x) + P V(x), the documented formulation written out term by term
    picks = data.draw(st.lists(st.integers(0, len(X) - 1), min_size=8, max_size=24), label="assignments")
    for j in [*picks, int(np.argmin(E)), int(np.argmax(E))]:
        assert close(E[j], dispatch_expected_energy(prob, X[j]), scale), X[j]
    # the problem's own enumeration: feasible level choices and their cost
    feasible = [c for c in prob.enumerate_choices() if not prob.violations(c)]
    assume(feasible)
    costs = [prob.cost_eur(c) for c in feasible]
    opt = min(costs)
    for c, cost in zip(feasible, costs):  # slack and start/stop bits set right: energy = objective
        bits = prob.bits_for(c)
        assert close(q.energy(bits), cost, scale) and close(prob.objective(bits), cost, scale)
    assert lb <= opt + 1e-9 * scale and max(costs) <= ub + 1e-9 * scale and P > ub - lb
    # b) the QUBO minimum is the optimum; below UB lie exactly the feasible plans, at zero penalty
    j = int(np.argmin(E))
    assert prob.is_feasible(X[j]) and close(prob.objective(X[j]), opt, scale) and close(E[j], opt, scale)
    below = np.flatnonzero(E <= ub + 1e-9 * scale)
    for k in below:
        assert prob.is_feasible(X[k]) and close(E[k], prob.objective(X[k]), scale)
    choices = {prob.level_choice(X[k]).tobytes() for k in below}
    assert choices == {c.tobytes() for c in feasible}
    # an independent brute force, in MW from the units alone, agrees
    bf, _ = dispatch_brute_force(prob)
    assert close(bf, opt, scale)


@pytest.mark.parametrize("balancing", ["ext_grid", "spill"])
@pytest.mark.parametrize("flavour", FLAVOURS)
@given(data=st.data())
def test_dispatch_qubo_is_cost_plus_penalties(flavour: str, balancing: str, data: st.DataObject) -> None:
    """Random units and days: energy = cost + P violations; minimum = optimum; P large enough."""
    prob = data.draw(dispatches(flavour, balancing), label="dispatch")
    assert prob.balancing == balancing
    _check_dispatch(prob, data)


@given(case9_dispatches(), st.data())
def test_case9_dispatch_qubo_is_cost_plus_penalties(prob: Dispatch, data: st.DataObject) -> None:
    """The same on case9 with random seeds, unit counts, periods and levels."""
    _check_dispatch(prob, data)


@given(case9_dispatches(network=True), st.data())
def test_case9_network_dispatch_qubo_is_cost_plus_penalties(prob: Dispatch, data: st.DataObject) -> None:
    """The same with DC line limits (line windows in flow quanta, their slack bits in the QUBO)."""
    if prob.line_windows:
        event("binding line windows")
    _check_dispatch(prob, data)
    # the rounded PTDF and tightened limits are safe: every feasible plan keeps pandapower's own DC flows
    for c in prob.enumerate_choices():
        if not prob.violations(c):
            assert not prob.line_violations(prob.output_mw(c)), c


def test_fleet_vehicle_too_small_for_any_stop() -> None:
    """Regression (found by the fleet property): a vehicle whose capacity is below every demand
    has no slots; building the QUBO raised ``KeyError: ('x', 1, 1, 0)``.  Now it has no terms and
    the QUBO minimum is the optimal plan, the small vehicle unused."""
    C = np.array([[0.0, 4.0, 7.0], [3.0, 0.0, 2.0], [6.0, 5.0, 0.0]])
    prob = Fleet(C, vehicles=2, capacity=[5, 1], demands=[2, 3])
    assert prob.slots_per_vehicle == (2, 0)
    q = prob.to_qubo()
    E = q.all_energies()
    x = all_bits(q.num_variables)[int(np.argmin(E))]
    assert prob.routes(x) == [[1, 2], []] and prob.objective(x) == 12.0 == brute_force(prob)[0]
    assert float(E.min()) == pytest.approx(12.0)
