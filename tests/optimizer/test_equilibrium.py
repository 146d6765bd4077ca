"""Continuous UE / SO references (AequilibraE) against hand-solved networks and from-scratch checks."""

from __future__ import annotations

import json
import math
import os

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from optimizer.errors import DemandError, InvalidOptionError
from optimizer.inputs.capacity import bpr_time_s, segment_capacities
from optimizer.inputs.demand import sample_trips
from optimizer.problems.equilibrium import references, static_assignment

ALPHA, BETA = 0.15, 4.0


def _road(g: nx.MultiDiGraph, u, v, t0_s: float, highway: str, lanes: str = "1") -> None:
    g.add_edge(u, v, travel_time=t0_s, length=t0_s * 10.0, highway=highway, lanes=lanes, oneway=True)


def _bpr(t0, q, c, alpha=ALPHA):
    return t0 * (1.0 + alpha * (q / c) ** BETA)


# ------------------------------------------------------------------ two parallel roads, by hand

T0 = (60.0, 90.0)  # s: a primary road (1,500 veh/h) and a residential one (600 veh/h), both one lane
CAP = (1500.0, 600.0)
VEHICLES, PERIOD_H = 1500, 0.5  # 3,000 veh/h: more than the fast road takes before it is as slow as the other
Q = VEHICLES / PERIOD_H


@pytest.fixture(scope="module")
def two_roads() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, x=24.93, y=60.17)
    g.add_node(2, x=24.95, y=60.17)
    _road(g, 1, 2, T0[0], "primary")
    _road(g, 1, 2, T0[1], "residential")
    return g


@pytest.fixture(scope="module")
def two_roads_runs(two_roads):
    od = pd.DataFrame({"origin": [1], "destination": [2], "vehicles": [VEHICLES]})
    return {obj: static_assignment(two_roads, od, period_h=PERIOD_H, objective=obj, rgap=1e-9)
            for obj in ("ue", "so")}


def _by_hand(alpha: float) -> float:
    """Flow on the fast road where both roads cost the same under BPR with this alpha (brentq)."""
    return brentq(lambda qa: _bpr(T0[0], qa, CAP[0], alpha) - _bpr(T0[1], Q - qa, CAP[1], alpha), 0.0, Q,
                  xtol=1e-10)


def _total_veh_h(qa: float) -> float:
    qb = Q - qa
    return (qa * _bpr(T0[0], qa, CAP[0]) + qb * _bpr(T0[1], qb, CAP[1])) * PERIOD_H / 3600.0


def test_capacities_come_from_the_osm_tags(two_roads):
    assert segment_capacities(two_roads, [(1, 2, 0), (1, 2, 1)]).capacity_vph.tolist() == list(CAP)


def test_ue_equalises_the_times_of_the_used_roads(two_roads_runs):
    ue = two_roads_runs["ue"]
    qa, qb = ue.flows_vph[1, 2, 0], ue.flows_vph[1, 2, 1]
    assert ue.converged and ue.relative_gap <= 1e-9
    assert qa + qb == pytest.approx(Q, rel=1e-12)
    assert qa > 0 and qb > 0
    ta, tb = _bpr(T0[0], qa, CAP[0]), _bpr(T0[1], qb, CAP[1])
    assert ta == pytest.approx(tb, rel=1e-6)
    assert qa == pytest.approx(_by_hand(ALPHA), rel=1e-6)
    assert ue.system_travel_time_veh_h == pytest.approx(_total_veh_h(qa), rel=1e-12)


def test_so_equalises_marginal_costs_and_beats_ue(two_roads_runs):
    so, ue = two_roads_runs["so"], two_roads_runs["ue"]
    qa, qb = so.flows_vph[1, 2, 0], so.flows_vph[1, 2, 1]
    assert so.converged
    # marginal cost t0 (1 + alpha (beta + 1) (q/c)^beta) equal on both roads
    assert _bpr(T0[0], qa, CAP[0], ALPHA * (BETA + 1)) == pytest.approx(
        _bpr(T0[1], qb, CAP[1], ALPHA * (BETA + 1)), rel=1e-6)
    best = _by_hand(ALPHA * (BETA + 1))
    assert qa == pytest.approx(best, rel=1e-6)
    # the true BPR total at the SO flows is the least total over every split
    splits = np.linspace(0.0, Q, 3001)
    assert so.system_travel_time_veh_h <= min(_total_veh_h(s) for s in splits) + 1e-9
    assert so.system_travel_time_veh_h < ue.system_travel_time_veh_h - 1e-3
    assert so.lower_bound_veh_h <= so.system_travel_time_veh_h
    assert so.lower_bound_veh_h == pytest.approx(_total_veh_h(best), rel=1e-7)
    assert ue.lower_bound_veh_h is None


def test_result_to_dict_is_json_without_flows(two_roads_runs):
    d = two_roads_runs["so"].to_dict()
    json.dumps(d, allow_nan=False)
    assert "flows_vph" not in d and d["objective"] == "so" and d["vehicles"] == VEHICLES


def test_nothing_is_written_to_disk(two_roads, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    od = pd.DataFrame({"origin": [1], "destination": [2], "vehicles": [10]})
    static_assignment(two_roads, od, period_h=1.0)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ Braess


def _braess(bridge: bool) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="epsg:4326")
    for n, (x, y) in {"s": (0, 0), "a": (1, 1), "b": (1, -1), "t": (2, 0)}.items():
        g.add_node(n, x=24.9 + x / 100, y=60.2 + y / 100)
    _road(g, "s", "a", 10.0, "living_street")  # 300 veh/h: congests
    _road(g, "b", "t", 10.0, "living_street")
    _road(g, "a", "t", 60.0, "motorway", "6")  # 12,000 veh/h: hardly congests
    _road(g, "s", "b", 60.0, "motorway", "6")
    if bridge:
        _road(g, "a", "b", 1.0, "motorway", "6")
    return g


def test_braess_ue_costs_more_than_so_and_the_bridge_hurts_selfish_drivers():
    od = pd.DataFrame({"origin": ["s"], "destination": ["t"], "vehicles": [700]})
    ue = static_assignment(_braess(True), od, period_h=1.0, objective="ue", rgap=1e-8)
    so = static_assignment(_braess(True), od, period_h=1.0, objective="so", rgap=1e-8)
    ue_no_bridge = static_assignment(_braess(False), od, period_h=1.0, objective="ue", rgap=1e-8)
    assert ue.flows_vph["a", "b", 0] > 100.0  # selfish drivers take the bridge ...
    assert ue.system_travel_time_veh_h > ue_no_bridge.system_travel_time_veh_h * 1.01  # ... and all lose
    assert ue.system_travel_time_veh_h > so.system_travel_time_veh_h * 1.01
    assert so.system_travel_time_veh_h <= ue_no_bridge.system_travel_time_veh_h + 1e-9


# ------------------------------------------------------------------ Helsinki, from scratch

H_PERIOD_H, H_VEHICLES, H_RGAP = 0.25, 10, 1e-4  # 10 vehicles per sampled pair: a congested quarter hour


@pytest.fixture(scope="module")
def helsinki_runs(helsinki):
    trips = sample_trips(helsinki, 200, seed=1)
    od = trips[["origin", "destination"]].assign(vehicles=H_VEHICLES)
    runs = {obj: static_assignment(helsinki.graph, od, period_h=H_PERIOD_H, objective=obj, rgap=H_RGAP)
            for obj in ("ue", "so")}
    return helsinki.graph, od, runs


def _times(graph, flows):
    edges = list(graph.edges(keys=True))
    cap = segment_capacities(graph, edges).capacity_vph
    q = np.array([flows[e] for e in edges])
    t0 = np.array([graph.edges[e]["travel_time"] for e in edges])
    return edges, q, bpr_time_s(t0, q, cap)


def test_helsinki_flows_are_conserved(helsinki_runs):
    graph, od, runs = helsinki_runs
    rate = H_VEHICLES / H_PERIOD_H
    balance = dict.fromkeys(graph.nodes, 0.0)  # arrivals - departures, veh/h
    for o, d in zip(od.origin, od.destination):
        balance[o] -= rate
        balance[d] += rate
    for r in runs.values():
        assert set(r.flows_vph) == set(graph.edges(keys=True))
        assert min(r.flows_vph.values()) >= -1e-9
        net = dict.fromkeys(graph.nodes, 0.0)
        for (u, v, _), q in r.flows_vph.items():
            net[u] -= q
            net[v] += q
        for n in graph.nodes:
            assert net[n] == pytest.approx(balance[n], abs=1e-6), n


def test_helsinki_converges_and_the_ue_gap_holds_from_scratch(helsinki_runs):
    graph, od, runs = helsinki_runs
    for r in runs.values():
        assert r.converged and r.relative_gap <= H_RGAP and r.iterations >= 2
    # the UE gap recomputed with networkx: BPR times at the UE flows, shortest paths on them
    edges, q, t = _times(graph, runs["ue"].flows_vph)
    cheapest = nx.DiGraph()
    for (u, v, _), te in zip(edges, t):
        if not cheapest.has_edge(u, v) or cheapest[u][v]["t"] > te:
            cheapest.add_edge(u, v, t=te)
    rate = H_VEHICLES / H_PERIOD_H
    least = sum(rate * nx.shortest_path_length(cheapest, o, d, weight="t")
                for o, d in zip(od.origin, od.destination))
    spent = float(q @ t)
    assert 0.0 <= (spent - least) / spent <= 10 * H_RGAP


def test_helsinki_so_below_ue_below_all_or_nothing(helsinki_runs):
    graph, od, runs = helsinki_runs
    # all-or-nothing at free flow, with networkx: everyone on the fastest path, then BPR
    loads = dict.fromkeys(graph.edges(keys=True), 0.0)
    for o, d in zip(od.origin, od.destination):
        path = nx.shortest_path(graph, o, d, weight="travel_time")
        for u, v in zip(path[:-1], path[1:]):
            k = min(graph[u][v], key=lambda k: graph[u][v][k]["travel_time"])
            loads[u, v, k] += H_VEHICLES / H_PERIOD_H
    _, q, t = _times(graph, loads)
    aon = float(q @ t) * H_PERIOD_H / 3600.0
    so, ue = runs["so"].system_travel_time_veh_h, runs["ue"].system_travel_time_veh_h
    assert runs["so"].lower_bound_veh_h <= so < ue < aon
    assert aon > 1.02 * ue  # congested enough that the references differ from everyone-on-the-shortest-path


def test_references_in_one_slice_match_the_static_assignment_and_bound(two_roads, two_roads_runs):
    trips = pd.DataFrame({"origin": [1] * 3, "destination": [2] * 3, "vehicles": [500, 700, 300],
                          "depart_s": [25200.0, 25900.0, 27000.0 - 1e-6]})  # 07:00 to just before 07:30
    ref = references(two_roads, trips, alpha=ALPHA, beta=BETA, slice_s=1800.0, start_s=25200.0, rgap=1e-9,
                     max_iter=500)
    assert ref["slices"] == 1 and ref["lower_bound"] is True
    for obj in ("ue", "so"):
        want = two_roads_runs[obj]
        assert ref[obj]["system_travel_time_veh_h"] == pytest.approx(want.system_travel_time_veh_h, rel=1e-12)
        assert ref[obj]["relative_gap"] <= 1e-9 and ref[obj]["converged"]
        assert ref[obj]["iterations"] == want.iterations
    assert ref["so"]["lower_bound_veh_h"] == pytest.approx(two_roads_runs["so"].lower_bound_veh_h, rel=1e-12)
    assert "AequilibraE" in ref["method"]
    json.dumps(ref, allow_nan=False)


def test_references_across_slices_sum_the_slices_and_claim_no_bound(two_roads):
    trips = pd.DataFrame({"origin": [1] * 4, "destination": [2] * 4, "vehicles": [400, 500, 300, 200],
                          "depart_s": [0.0, 100.0, 950.0, 1700.0]})
    ref = references(two_roads, trips, alpha=ALPHA, beta=BETA, slice_s=900.0, start_s=0.0, rgap=1e-7,
                     max_iter=500)
    assert ref["slices"] == 2 and ref["lower_bound"] is False
    per_slice = [pd.DataFrame({"origin": [1], "destination": [2], "vehicles": [v]}) for v in (900, 500)]
    for obj in ("ue", "so"):
        want = sum(static_assignment(two_roads, p, period_h=0.25, objective=obj, rgap=1e-7)
                   .system_travel_time_veh_h for p in per_slice)
        assert ref[obj]["system_travel_time_veh_h"] == pytest.approx(want, rel=1e-12)
    assert ref["so"]["system_travel_time_veh_h"] < ref["ue"]["system_travel_time_veh_h"]


# ------------------------------------------------------------------ refusals


def test_bad_demand_and_options_are_refused_naming_the_field(two_roads):
    od = pd.DataFrame({"origin": [1], "destination": [99], "vehicles": [1]})
    with pytest.raises(DemandError, match="destination 99 is not a node"):
        static_assignment(two_roads, od, period_h=1.0)
    back = pd.DataFrame({"origin": [2], "destination": [1], "vehicles": [1]})
    with pytest.raises(DemandError, match="no road path from node 2 to node 1"):
        static_assignment(two_roads, back, period_h=1.0)
    ok = pd.DataFrame({"origin": [1], "destination": [2], "vehicles": [1]})
    with pytest.raises(InvalidOptionError, match="objective"):
        static_assignment(two_roads, ok, period_h=1.0, objective="fastest")
    with pytest.raises(InvalidOptionError, match="period_h"):
        static_assignment(two_roads, ok, period_h=0.0)
    with pytest.raises(DemandError, match="vehicles"):
        static_assignment(two_roads, ok.assign(vehicles=-1), period_h=1.0)


def test_no_demand_is_no_flow(two_roads):
    od = pd.DataFrame({"origin": [1, 2], "destination": [1, 2], "vehicles": [5, 0]})
    r = static_assignment(two_roads, od, period_h=1.0, objective="so")
    assert r.system_travel_time_veh_h == 0.0 and r.converged and r.iterations == 0
    assert set(r.flows_vph.values()) == {0.0} and math.isclose(r.lower_bound_veh_h, 0.0)


def test_references_refuse_a_bad_trip_row_by_its_number(two_roads):
    trips = pd.DataFrame({"origin": [1, 7], "destination": [2, 2], "depart_s": [0.0, 10.0]})
    with pytest.raises(DemandError, match="trips row 1: origin 7 is not a node"):
        references(two_roads, trips, slice_s=900.0, start_s=0.0)
    with pytest.raises(DemandError, match="depart_s"):
        references(two_roads, trips.drop(columns="depart_s"), slice_s=900.0, start_s=0.0)


def test_a_gap_not_reached_is_reported_not_hidden(two_roads, caplog):
    od = pd.DataFrame({"origin": [1], "destination": [2], "vehicles": [VEHICLES]})
    r = static_assignment(two_roads, od, period_h=PERIOD_H, objective="ue", max_iter=1)
    assert r.converged is False and r.iterations == 1 and r.relative_gap == math.inf
    assert r.to_dict()["relative_gap"] is None
    assert "stopped at relative gap" in caplog.text
