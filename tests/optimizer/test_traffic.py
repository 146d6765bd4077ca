"""The traffic problem: QUBO against the problem for every assignment, solvers agree, plans validate."""

from __future__ import annotations

import itertools
import json
import math

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
from optimizer.inputs.capacity import segment_capacity
from optimizer.inputs.peak import Peak, TrafficModel
from optimizer.problems.traffic import Traffic
from solvers.qubo import index_bits

#: The old static model (one slice holds every trip) scored by the congestion proxy, and a short,
#: crowded peak scored by BPR (60 vehicles a trip leaving within 10 minutes, 5-minute slices).
STATIC_PROXY = TrafficModel(objective="congestion", peak=Peak(7 * 3600, 9 * 3600, 7200))
CROWDED_BPR = TrafficModel(peak=Peak(7 * 3600, 7 * 3600 + 600, 300))


def independent_cost(prob: Traffic, choice: list[int]) -> float:
    """The objective recomputed from the candidates' node lists with plain dicts and the formulas written out."""
    G = prob.graph
    m = prob.model
    loads: dict = {}
    for t, r in enumerate(choice):
        nodes = prob.candidates[t][r].nodes
        clock_s = float(prob.trips.depart_s[t])
        for u, v in zip(nodes[:-1], nodes[1:]):
            data = G.get_edge_data(u, v)
            k = min(data, key=lambda k: (data[k]["travel_time"], str(k)))
            cell = (u, v, k, math.floor((clock_s - m.peak.start_s) / m.peak.slice_s))
            loads[cell] = loads.get(cell, 0) + int(prob.trips.vehicles[t])
            clock_s += round(G.edges[u, v, k]["travel_time"], 3)
    total = 0.0
    for (u, v, k, _), n in loads.items():
        t0 = round(G.edges[u, v, k]["travel_time"], 3)
        if m.objective == "congestion":
            total += t0 * n * n
        else:
            cap = segment_capacity(G.edges[u, v, k])
            total += n * t0 * (1 + m.alpha * (n / m.peak.slice_h / cap) ** m.beta) / 3600.0
    return total


def small_instances(helsinki):
    out = []
    for seed, trips, routes in [(1, 3, 3), (2, 4, 3), (3, 6, 2), (4, 5, 2), (5, 4, 3), (6, 3, 2)]:
        for model, vehicles in ((STATIC_PROXY, 1), (CROWDED_BPR, 60)):
            p = Traffic.from_city(helsinki, trips=trips, routes=routes, seed=seed, model=model, vehicles=vehicles)
            assert len(p.variables) <= 12
            out.append(p)
    return out


@pytest.fixture(scope="module")
def small(helsinki):
    return small_instances(helsinki)


def choices(prob):
    return [list(c) for c in itertools.product(*[range(len(c)) for c in prob.candidates])]


def test_qubo_equals_surrogate_plus_penalty_for_every_assignment(small):
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
            sur = prob.surrogate(x)
            pen = P * sum((1 - int(x[g].sum())) ** 2 for g in groups)
            assert e == pytest.approx(sur + pen, rel=1e-9, abs=1e-6)
            if prob.model.objective == "congestion":  # the proxy is its own quadratic
                assert sur == pytest.approx(prob.congestion(x), abs=1e-6)
            if prob.is_feasible(x):
                choice = prob.route_choice(x)
                assert prob.objective(x) == pytest.approx(independent_cost(prob, choice), rel=1e-9, abs=1e-9)


def test_crowded_instances_interact(small):
    # the crowded peak must make BPR bite and trips share cells, or the tests above prove little
    crowded = [p for p in small if p.model is CROWDED_BPR]
    delays = [p.assess(p.shortest_path_bits())["delay_veh_h"] / p.assess(p.shortest_path_bits())[
        "free_flow_travel_time_veh_h"] for p in crowded]
    assert max(delays) > 0.2
    shared = [max(len({p.variables[v][0] for v in u}) for u in p.cell_users) >= 2 for p in crowded]
    assert sum(shared) >= 4


def test_qubo_optimum_is_the_surrogates_optimum(small):
    for prob in small:
        q = prob.to_qubo()
        n = q.num_variables
        X = index_bits(np.arange(2**n), n)
        E = q.energies(X)
        feas = np.array([prob.is_feasible(x) for x in X])
        # brute force over route choices, independent of the QUBO
        best = min(prob.surrogate(prob.bits_for(c)) for c in choices(prob))
        assert E[feas].min() == pytest.approx(best, rel=1e-9, abs=1e-6)
        assert E.min() == pytest.approx(best, rel=1e-9, abs=1e-6)
        assert E[~feas].min() > best  # the penalty is large enough
        assert prob.is_feasible(X[int(np.argmin(E))])


def test_native_cpsat_is_exact(small):
    """CP-SAT's piecewise model: its objective is its plan's exact cost, and no route choice beats it."""
    for prob in small:
        cn = solve(prob, "cpsat", seed=0)
        exact = prob.objective(cn.bits)
        assert cn.status.value == "OPTIMAL"
        assert cn.info["objective"] == pytest.approx(exact, rel=1e-6)
        best = min(independent_cost(prob, c) for c in choices(prob))
        assert exact == pytest.approx(best, rel=1e-9)
        assert cn.best_bound == pytest.approx(best, rel=1e-6)


def test_qubo_solvers_agree_on_the_surrogate(small):
    for prob in small:
        e = solve(prob, "exact")
        cq = solve(prob, "cpsat", on="qubo", seed=0)
        a = solve(prob, "anneal", seed=0)
        sur = [prob.surrogate(s.bits) for s in (e, cq, a)]
        assert sur[0] == pytest.approx(sur[1], rel=1e-9) == pytest.approx(sur[2], rel=1e-9)
        assert prob.surrogate(e.bits) <= prob.surrogate(prob.shortest_path_bits()) + 1e-9
        if prob.model.objective == "congestion":  # the surrogate is the objective
            assert prob.objective(e.bits) == pytest.approx(prob.objective(solve(prob, "cpsat").bits), abs=1e-6)


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


@pytest.mark.parametrize("which", [2, 3])
def test_plan_validates_and_writes(small, tmp_path, which):
    prob = small[which]
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
    per_hour = 3600.0 if prob.model.objective == "bpr" else 1.0
    assert sum(s["properties"]["contribution"] for s in seg["features"]) / per_hour == pytest.approx(plan.objective)
    import pandas as pd

    it = pd.read_csv(files["itinerary"])
    assert set(it.trip_id) == set(prob.trips.trip_id)
    last = it.groupby("trip_id").elapsed_s.max()
    assert last.to_numpy() == pytest.approx(plan.routes.bpr_travel_time_s.to_numpy(), abs=1e-3)
    assert np.all(plan.routes.bpr_travel_time_s >= plan.routes.travel_time_s - 0.01)  # ms-rounded free flow
    if prob.model.objective == "bpr":  # vehicle-weighted BPR times add up to the objective
        veh_h = float((plan.routes.bpr_travel_time_s * plan.routes.vehicles).sum()) / 3600.0
        assert veh_h == pytest.approx(plan.objective, rel=1e-9)
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
        type(plan)(bad, plan.graph, plan.trips, plan.objective, plan.model).validate()
    # a trip without a route
    with pytest.raises(PlanValidationError, match="has 0 routes"):
        type(plan)(plan.routes.iloc[1:], plan.graph, plan.trips, plan.objective, plan.model).validate()
    # a tampered objective
    with pytest.raises(PlanValidationError, match="objective"):
        type(plan)(plan.routes, plan.graph, plan.trips, plan.objective * 0.9, plan.model).validate()
    # a route that ends elsewhere
    bad = plan.routes.copy()
    bad.at[bad.index[0], "nodes"] = nodes[:-1]
    with pytest.raises(PlanValidationError, match="not"):
        type(plan)(bad, plan.graph, plan.trips, plan.objective, plan.model).validate()


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
    prob = problems.Traffic.from_city(helsinki, trips=120, routes=3, seed=2, vehicles=20, model=CROWDED_BPR)
    base = prob.objective(prob.shortest_path_bits())
    cn = solve(prob, "cpsat", seed=0, time_limit_s=90)  # returns at its proof; the limit is for a loaded machine
    assert cn.feasible, cn.status
    obj = prob.objective(cn.bits)
    assert obj < base  # a crowded peak: the shortest paths are not the best plan
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
    assert E.min() == pytest.approx(min(prob.surrogate(x) for x in X[feas]))
    plan = prob.decode(solve(prob, "cpsat")).validate()
    assert plan.objective == pytest.approx(min(prob.objective(x) for x in X[feas]))


def test_native_cpsat_solves_where_rounding_dents_the_convex_cost(helsinki):
    """Rounded to microseconds, a cell's BPR table can lose convexity by a unit; the secants once made
    a load every plan must carry cost more than its bound allowed, and CP-SAT called 300 trips infeasible."""
    prob = Traffic.from_city(helsinki, trips=300, routes=3, seed=1)
    sol = solve(prob, "cpsat", seed=0, time_limit_s=20)
    assert sol.status.value in ("OPTIMAL", "FEASIBLE")
    assert sol.info["objective"] == pytest.approx(prob.objective(sol.bits), rel=1e-6)
    assert prob.objective(sol.bits) <= prob.objective(prob.shortest_path_bits()) * (1 + 1e-9)
