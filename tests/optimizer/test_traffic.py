"""The traffic problem: QUBO against the problem for every assignment, solvers agree, plans validate."""

from __future__ import annotations

import itertools
import json

import networkx as nx
import numpy as np
import pytest

from optimizer import (
    InfeasibleSolutionError,
    InvalidInputError,
    PlanValidationError,
    problems,
    solve,
)
from optimizer.problems.traffic import Traffic
from solvers.qubo import index_bits


def independent_congestion(prob: Traffic, choice: list[int]) -> float:
    """Congestion recomputed from the candidate routes' node lists with plain dicts."""
    G = prob.graph
    loads: dict = {}
    for t, r in enumerate(choice):
        nodes = prob.candidates[t][r].nodes
        for u, v in zip(nodes[:-1], nodes[1:]):
            data = G.get_edge_data(u, v)
            k = min(data, key=lambda k: (data[k]["travel_time"], str(k)))
            loads[(u, v, k)] = loads.get((u, v, k), 0) + 1
    return sum(round(G.edges[e]["travel_time"], 3) * n * n for e, n in loads.items())


def small_instances(helsinki):
    out = []
    for seed, trips, routes in [(1, 3, 3), (2, 4, 3), (3, 6, 2), (4, 5, 2), (5, 4, 3), (6, 3, 2)]:
        p = Traffic.from_city(helsinki, trips=trips, routes=routes, seed=seed)
        assert len(p.variables) <= 12
        out.append(p)
    return out


@pytest.fixture(scope="module")
def small(helsinki):
    return small_instances(helsinki)


def test_qubo_equals_congestion_plus_penalty_for_every_assignment(small):
    for prob in small:
        q = prob.to_qubo()
        n = q.num_variables
        X = index_bits(np.arange(2**n), n)
        E = q.energies(X)
        P = prob.penalty
        groups, start = [], 0
        for cands in prob.candidates:
            groups.append(list(range(start, start + len(cands))))
            start += len(cands)
        for x, e in zip(X, E):
            cong = prob.congestion(x)
            pen = P * sum((1 - int(x[g].sum())) ** 2 for g in groups)
            assert e == pytest.approx(cong + pen, abs=1e-6)
            if prob.is_feasible(x):
                choice = prob.route_choice(x)
                assert cong == pytest.approx(independent_congestion(prob, choice), abs=1e-6)


def test_qubo_optimum_is_problem_optimum(small):
    for prob in small:
        q = prob.to_qubo()
        n = q.num_variables
        X = index_bits(np.arange(2**n), n)
        E = q.energies(X)
        feas = np.array([prob.is_feasible(x) for x in X])
        # brute force over route choices, independent of the QUBO
        best = min(independent_congestion(prob, list(c))
                   for c in itertools.product(*[range(len(c)) for c in prob.candidates]))
        assert E[feas].min() == pytest.approx(best, abs=1e-6)
        assert E.min() == pytest.approx(best, abs=1e-6)
        assert E[~feas].min() > best  # the penalty is large enough
        assert prob.is_feasible(X[int(np.argmin(E))])


def test_exact_cpsat_qubo_and_native_agree(small):
    for prob in small:
        e = solve(prob, "exact")
        cq = solve(prob, "cpsat", on="qubo", seed=0)
        cn = solve(prob, "cpsat", seed=0)
        a = solve(prob, "anneal", seed=0)
        objs = [prob.objective(s.bits) for s in (e, cq, cn)]
        assert objs[0] == pytest.approx(objs[1], abs=1e-6) == pytest.approx(objs[2], abs=1e-6)
        assert cn.status.value == "OPTIMAL" and cn.best_bound == pytest.approx(objs[0], abs=1e-6)
        assert prob.objective(a.bits) == pytest.approx(objs[0], abs=1e-6)
        assert prob.objective(e.bits) <= prob.objective(prob.shortest_path_bits()) + 1e-9


def test_candidate_routes_are_distinct_real_shortest_first(small):
    for prob in small:
        D = nx.DiGraph(prob.graph)
        for (row, cands) in zip(prob.trips.itertuples(), prob.candidates):
            assert 1 <= len(cands) <= prob.k
            assert len({c.nodes for c in cands}) == len(cands)
            times = [c.travel_time_s for c in cands]
            assert times == sorted(times)
            for c in cands:
                assert c.nodes[0] == row.origin and c.nodes[-1] == row.destination
                assert all(D.has_edge(u, v) for u, v in zip(c.nodes[:-1], c.nodes[1:]))
                assert len(set(c.nodes)) == len(c.nodes)  # simple path
            sp = nx.shortest_path_length(prob.graph, row.origin, row.destination, weight="travel_time")
            assert times[0] == pytest.approx(sp)


def test_plan_validates_and_writes(small, tmp_path):
    prob = small[1]
    sol = solve(prob, "cpsat", seed=0)
    plan = prob.decode(sol).validate()
    assert plan.objective == pytest.approx(prob.objective(sol.bits))
    files = plan.write(tmp_path)
    gj = json.loads(files["plan"].read_text())
    assert len(gj["features"]) == prob.num_trips
    for f, row in zip(gj["features"], prob.trips.itertuples()):
        assert f["geometry"]["type"] == "LineString"
        lon, lat = f["geometry"]["coordinates"][0]
        assert 24.0 < lon < 26.0 and 59.0 < lat < 61.0
        assert (lon, lat) == pytest.approx((prob.graph.nodes[row.origin]["x"], prob.graph.nodes[row.origin]["y"]))
        assert f["properties"]["trip_id"] == row.trip_id and f["properties"]["nodes"][0] == row.origin
    seg = json.loads(files["segment_loads"].read_text())
    assert sum(s["properties"]["contribution"] for s in seg["features"]) == pytest.approx(plan.objective)
    import pandas as pd

    it = pd.read_csv(files["itinerary"])
    assert set(it.trip_id) == set(prob.trips.trip_id)
    last = it.groupby("trip_id").elapsed_s.max()
    assert last.to_numpy() == pytest.approx(plan.routes.travel_time_s.to_numpy(), abs=1e-3)
    assert plan.explore() is not None
    # offline: Leaflet inlined, nothing linked from the network, every segment drawn
    page = plan.explore(offline=True).get_root().render()
    assert "<script src=" not in page and "<link " not in page
    assert "L.map(" in page and "leaflet-container" in page
    assert page.count('"_style"') == len(seg["features"])


def test_validate_rejects_broken_plans(small):
    prob = small[0]
    plan = prob.decode(solve(prob, "exact"))
    # a route with a missing edge: skip a node in the middle
    bad = plan.routes.copy()
    nodes = list(bad.iloc[0]["nodes"])
    far = next(n for n in prob.graph.nodes if n not in nodes and not prob.graph.has_edge(nodes[0], n))
    bad.at[bad.index[0], "nodes"] = [nodes[0], far] + nodes[1:]
    with pytest.raises(PlanValidationError, match="no road segment"):
        type(plan)(bad, plan.graph, plan.trips, plan.objective).validate()
    # a trip without a route
    with pytest.raises(PlanValidationError, match="has 0 routes"):
        type(plan)(plan.routes.iloc[1:], plan.graph, plan.trips, plan.objective).validate()
    # a tampered objective
    with pytest.raises(PlanValidationError, match="objective"):
        type(plan)(plan.routes, plan.graph, plan.trips, plan.objective * 0.9).validate()
    # a route that ends elsewhere
    bad = plan.routes.copy()
    bad.at[bad.index[0], "nodes"] = nodes[:-1]
    with pytest.raises(PlanValidationError, match="not"):
        type(plan)(bad, plan.graph, plan.trips, plan.objective).validate()


def test_decode_refuses_infeasible(small):
    prob = small[0]
    with pytest.raises(InfeasibleSolutionError, match="exactly 1"):
        prob.decode(np.zeros(len(prob.variables), dtype=np.uint8))


def test_bad_input(helsinki):
    with pytest.raises(InvalidInputError, match="routes"):
        Traffic.from_city(helsinki, trips=3, routes=0)
    with pytest.raises(InvalidInputError, match="trips"):
        Traffic.from_city(helsinki, trips=0)
    with pytest.raises(InvalidInputError, match="trips"):
        Traffic.from_city(helsinki, trips=10**7)
    import pandas as pd

    n = next(iter(helsinki.graph.nodes))
    with pytest.raises(InvalidInputError, match="same node"):
        Traffic(helsinki.graph, pd.DataFrame({"trip_id": [0], "origin": [n], "destination": [n]}))
    with pytest.raises(InvalidInputError, match="not in the road graph"):
        Traffic(helsinki.graph, pd.DataFrame({"trip_id": [0], "origin": [n], "destination": [-1]}))


def test_large_instance_cpsat_beats_baseline(helsinki):
    prob = problems.Traffic.from_city(helsinki, trips=120, routes=3, seed=2)
    base = prob.objective(prob.shortest_path_bits())
    cn = solve(prob, "cpsat", seed=0, time_limit_s=30)
    obj = prob.objective(cn.bits)
    assert obj <= base
    assert cn.best_bound <= obj + 1e-6
    prob.decode(cn).validate()


@pytest.mark.parametrize("seed", [1, 2])
def test_qaoa_on_qsim_samples_the_optimum_of_small_instances(helsinki, seed):
    prob = Traffic.from_city(helsinki, trips=3, routes=2, seed=seed)
    assert len(prob.variables) <= 6
    best = solve(prob, "exact")
    sol = solve(prob, "qaoa", seed=7, depth=2, shots=512, maxiter=60)
    assert sol.solver == "qaoa" and sol.resources["backend"] == "qsim"
    assert sol.resources["qubits"] == len(prob.variables)
    # the answer is one of QAOA's own samples: it must be feasible and optimal
    assert prob.is_feasible(sol.bits)
    assert prob.objective(sol.bits) == pytest.approx(prob.objective(best.bits), abs=1e-6)
    assert 0.0 < sol.resources["p_best"] <= 1.0


def test_traffic_on_a_bare_graph(grid_graph):
    prob = Traffic.from_city(grid_graph, trips=3, routes=2, seed=1, min_distance_m=100)
    q = prob.to_qubo()
    X = index_bits(np.arange(2**q.num_variables), q.num_variables)
    feas = np.array([prob.is_feasible(x) for x in X])
    E = q.energies(X)
    assert E.min() == pytest.approx(min(prob.congestion(x) for x in X[feas]))
    assert prob.decode(solve(prob, "cpsat")).validate().objective == pytest.approx(E.min())
