"""SUMO as the judge: the network maps one to one onto the road graph, every vehicle drives
exactly its planned edges, the replay is deterministic, congestion shows, and a missing SUMO
stops with one line naming the package.  Real SUMO runs (the pinned eclipse-sumo), no mocks."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InvalidInputError
from optimizer.inputs.capacity import segment_lanes
from optimizer.inputs.roads import fastest_edge
from optimizer.plans.simulation import (
    HEADWAY_S,
    SimulationError,
    SumoMissingError,
    _read_net,
    check_sumo,
    simulate_routes,
    sumo_network,
)
from optimizer.problems import Traffic

N_TRIPS = 60


@pytest.fixture(scope="module")
def plan(helsinki):
    prob = Traffic.from_city(helsinki, trips=N_TRIPS, routes=3, seed=1)
    return prob.decode(prob.shortest_path_bits())


@pytest.fixture(scope="module")
def net(helsinki, tmp_path_factory):
    return sumo_network(helsinki.graph, tmp_path_factory.mktemp("sumo-net"))


def _routes(plan):
    return [list(n) for n in plan.routes["nodes"]]


def _planned_edges(graph, nodes):
    return ["{}_{}_{}".format(*fastest_edge(graph, u, v)) for u, v in zip(nodes[:-1], nodes[1:])]


def _net_edges(net_file):
    """SUMO edge id -> (from, to, length of lane 0, lanes), read from the net file itself."""
    out = {}
    for e in ET.parse(net_file).getroot().iter("edge"):
        if e.get("function") == "internal":
            continue
        lanes = e.findall("lane")
        out[e.get("id")] = (e.get("from"), e.get("to"), float(lanes[0].get("length")), len(lanes))
    return out


# ------------------------------------------------------------------ network
def test_every_graph_edge_is_one_sumo_edge_with_its_length_and_lanes(helsinki, net):
    G = helsinki.graph
    edges = _net_edges(net.net_file)
    assert len(edges) == G.number_of_edges() - nx.number_of_selfloops(G)
    for u, v, k, d in G.edges(keys=True, data=True):
        frm, to, length, lanes = edges[f"{u}_{v}_{k}"]
        assert (frm, to) == (str(u), str(v))
        assert abs(length - d["length"]) <= 1e-2
        assert lanes == segment_lanes(d)
        assert net.edge_ids[(u, v, k)] == f"{u}_{v}_{k}"
    # the bundled city has a pair of parallel edges: both are SUMO edges
    parallel = [(u, v) for u, v in {(u, v) for u, v, _ in G.edges(keys=True)} if len(G[u][v]) > 1]
    assert parallel and all(f"{u}_{v}_{k}" in edges for u, v in parallel for k in G[u][v])
    junctions = {j.get("id") for j in ET.parse(net.net_file).getroot().iter("junction")
                 if j.get("type") != "internal"}
    assert {str(n) for n in G.nodes} <= junctions


def test_every_turn_the_graph_allows_is_a_sumo_connection(helsinki, net):
    G = helsinki.graph
    cons = {(c.get("from"), c.get("to")) for c in ET.parse(net.net_file).getroot().iter("connection")}
    turns = [(f"{a}_{n}_{k1}", f"{n}_{b}_{k2}") for n in G.nodes
             for a, _, k1 in G.in_edges(n, keys=True) for _, b, k2 in G.out_edges(n, keys=True)
             if b != a and a != n and b != n]
    assert turns and not [t for t in turns if t not in cons]
    assert net.turns_added >= 1    # netconvert alone leaves out Helsinki's hairpins


def test_the_read_back_check_catches_a_net_that_differs(net):
    expected = {eid: (length, lanes) for eid, (_, _, length, lanes) in _net_edges(net.net_file).items()}
    _read_net(net.net_file, expected)
    eid = next(iter(expected))
    with pytest.raises(SimulationError, match="missing from SUMO"):
        _read_net(net.net_file, {**expected, "nowhere_0_0": (1.0, 1)})
    with pytest.raises(SimulationError, match="SUMO length"):
        _read_net(net.net_file, {**expected, eid: (expected[eid][0] + 0.5, expected[eid][1])})
    with pytest.raises(SimulationError, match="lanes"):
        _read_net(net.net_file, {**expected, eid: (expected[eid][0], expected[eid][1] + 1)})


def test_self_loops_are_dropped_and_recorded_parallel_edges_kept(grid_graph, tmp_path):
    G = grid_graph.copy()
    G.add_edge(5, 5, 0, **{**G.edges[5, 6, 0], "length": 40.0})
    G.add_edge(5, 6, 1, **{**G.edges[5, 6, 0], "travel_time": G.edges[5, 6, 0]["travel_time"] * 2})
    net = sumo_network(G, tmp_path)
    assert list(net.dropped) == [(5, 5, 0)] and "self-loop" in net.dropped[(5, 5, 0)]
    assert {"5_6_0", "5_6_1"} <= set(_net_edges(net.net_file))
    with pytest.raises(InvalidInputError, match="self-loop"):
        simulate_routes(G, [[4, 5, 5, 6]], [0.0], workdir=tmp_path, network=net)
    res = simulate_routes(G, [[4, 5, 6, 7]], [0.0], workdir=tmp_path, network=net)
    assert (res.vehicles, res.arrived, res.route_mismatches) == (1, 1, 0)
    assert read_route(tmp_path / "vehroutes.xml", "0.0") == ["4_5_0", "5_6_0", "6_7_0"]   # the fastest of the pair


def read_route(path, vid):
    for veh in ET.parse(path).getroot().iter("vehicle"):
        if veh.get("id") == vid:
            return veh.findall(".//route")[-1].get("edges").split()
    return None


# ------------------------------------------------------------------- replay
def test_every_vehicle_drives_exactly_its_planned_edges(plan, net, tmp_path):
    routes = _routes(plan)
    vehicles = [1 + i % 3 for i in range(len(routes))]
    departs = [25200.0 + 3.0 * i for i in range(len(routes))]
    res = simulate_routes(plan.graph, routes, departs, vehicles=vehicles, seed=7, workdir=tmp_path, network=net)
    assert res.vehicles == sum(vehicles)
    assert res.arrived + res.unfinished + res.undeparted == res.vehicles
    assert res.departed == res.arrived + res.unfinished
    assert res.route_mismatches == 0 and res.arrived > 0
    assert res.begin_s == 25200.0 and res.end_s > departs[-1] + 3600
    # independently of the module: parse SUMO's own files
    driven = {v.get("id"): v for v in ET.parse(tmp_path / "vehroutes.xml").getroot().iter("vehicle")}
    infos = {t.get("id"): t for t in ET.parse(tmp_path / "tripinfo.xml").getroot().iter("tripinfo")}
    want = {f"{i}.{j}" for i, c in enumerate(vehicles) for j in range(c)}
    assert set(infos) == want
    arrived = {vid for vid, t in infos.items() if float(t.get("arrival")) >= 0}
    assert len(arrived) == res.arrived and arrived <= set(driven)
    for vid in arrived:
        i, j = map(int, vid.split("."))
        route = driven[vid].findall(".//route")[-1]
        assert route.get("edges").split() == _planned_edges(plan.graph, routes[i])
        assert len(route.get("exitTimes").split()) == len(routes[i]) - 1
        assert float(infos[vid].get("depart")) >= departs[i] + j * HEADWAY_S
    for i, tt in enumerate(res.travel_time_s):
        mine = [float(infos[f"{i}.{j}"].get("duration")) for j in range(vehicles[i]) if f"{i}.{j}" in arrived]
        assert (math.isnan(tt) and not mine) or tt == pytest.approx(sum(mine) / len(mine))
    assert res.total_travel_time_veh_h == pytest.approx(
        sum(float(infos[v].get("duration")) for v in arrived) / 3600)


def test_same_seed_same_result_and_the_seed_matters(plan, net, tmp_path):
    routes, departs = _routes(plan), [25200.0 + i for i in range(N_TRIPS)]

    def run(seed, sub):
        res = simulate_routes(plan.graph, routes, departs, seed=seed, workdir=tmp_path / sub, network=net)
        d = res.to_dict()
        json.dumps(d, allow_nan=False)      # JSON-safe for summary.json
        return {k: v for k, v in d.items() if k not in ("wall_s", "netconvert_s")}

    first = run(1, "a")
    assert run(1, "b") == first
    assert run(2, "c")["trip_travel_time_s"] != first["trip_travel_time_s"]


def test_a_crowd_loses_more_time_than_light_traffic(plan, net, tmp_path):
    routes = _routes(plan)
    light = simulate_routes(plan.graph, routes, [25200.0 + 30.0 * i for i in range(N_TRIPS)],
                            workdir=tmp_path / "light", network=net)
    crowd = simulate_routes(plan.graph, routes, [25200.0 + 1.0 * i for i in range(N_TRIPS)],
                            vehicles=[5] * N_TRIPS, workdir=tmp_path / "crowd", network=net)
    assert crowd.vehicles == 5 * light.vehicles
    assert crowd.mean_time_loss_s > 2 * light.mean_time_loss_s
    assert crowd.mean_travel_time_s > light.mean_travel_time_s


def test_vehicles_still_driving_or_never_inserted_at_the_end_are_counted(plan, net, tmp_path):
    routes = _routes(plan)
    res = simulate_routes(plan.graph, routes, [25200.0] * N_TRIPS, vehicles=[20] * N_TRIPS,
                          end_s=25240.0, workdir=tmp_path, network=net)
    assert res.vehicles == 20 * N_TRIPS
    assert res.unfinished > 0 and res.undeparted > 0
    assert res.arrived + res.unfinished + res.undeparted == res.vehicles
    assert res.route_mismatches == 0


# --------------------------------------------------------------- the plan
def test_plan_simulate_uses_its_departures_and_vehicles(plan, net):
    default = plan.simulate(seed=1, network=net)           # the problem's departures, one vehicle each
    first = float(np.floor(plan.trips.depart_s.min()))
    assert (default.vehicles, default.begin_s, default.route_mismatches) == (N_TRIPS, first, 0)
    trips = plan.trips.assign(depart_s=[30000.5 + 10 * i for i in range(N_TRIPS)],
                              vehicles=[2] * N_TRIPS)
    res = dataclasses.replace(plan, trips=trips).simulate(seed=1, network=net)
    assert (res.vehicles, res.begin_s, res.route_mismatches) == (2 * N_TRIPS, 30000.0, 0)


# ---------------------------------------------------------------- refusals
def test_a_missing_sumo_is_one_line_naming_the_package(helsinki, tmp_path, monkeypatch):
    with pytest.raises(SumoMissingError) as err:
        check_sumo(tmp_path)                                # a SUMO_HOME without binaries
    assert isinstance(err.value, InvalidInputError)
    assert "\n" not in str(err.value) and "pip install eclipse-sumo==1.28.0" in str(err.value)
    with pytest.raises(SumoMissingError, match="eclipse-sumo"):
        sumo_network(helsinki.graph, tmp_path / "net", sumo_home=tmp_path)
    assert not (tmp_path / "net").exists()                 # refused before anything is written
    monkeypatch.setitem(sys.modules, "sumo", None)          # the package not installed
    with pytest.raises(SumoMissingError, match="eclipse-sumo.*'sumo' is not installed"):
        check_sumo()


@pytest.mark.parametrize("kw,match", [
    ({"departs_s": [0.0]}, "one departure per route"),
    ({"departs_s": [float("nan")] * 2}, "finite"),
    ({"vehicles": [1, 0]}, "whole numbers >= 1"),
    ({"vehicles": [1, 1.5]}, "whole numbers >= 1"),
    ({"seed": -1}, "--seed"),
    ({"time_to_teleport_s": 0.0}, "time_to_teleport_s"),
    ({"end_s": 10.0}, "after the last vehicle's departure"),
    ({"end_s": 21.0, "vehicles": [1, 2]}, "after the last vehicle's departure"),
    ({"routes": [[0, 1], [0, 5]]}, "no road segment"),
    ({"routes": [[0, 1], [3]]}, "at least two nodes"),
    ({"begin_s": 5.0, "departs_s": [4.0, 20.0]}, "at or before the first departure"),
    ({"begin_s": float("nan")}, "begin_s"),
])
def test_bad_inputs_are_refused_before_sumo_runs(grid_graph, tmp_path, kw, match):
    args = {"routes": [[0, 1, 2], [4, 5]], "departs_s": [0.0, 20.0], **kw}
    with pytest.raises(InvalidInputError, match=match):
        simulate_routes(grid_graph, args.pop("routes"), args.pop("departs_s"), workdir=tmp_path, **args)
    assert not (tmp_path / "tripinfo.xml").exists()


@pytest.mark.slow
def test_helsinki_peak_of_1000_trips(helsinki, net, tmp_path):
    prob = Traffic.from_city(helsinki, trips=1000, routes=3, seed=1)
    p = prob.decode(prob.shortest_path_bits())
    trips = p.trips.assign(depart_s=[25200.0 + 7200.0 * i / 1000 for i in range(1000)])
    res = dataclasses.replace(p, trips=trips).simulate(seed=1, workdir=tmp_path, network=net)
    assert res.vehicles == 1000 and res.route_mismatches == 0
    assert res.arrived + res.unfinished + res.undeparted == 1000


def test_the_trips_frame_is_not_changed(plan, net):
    before = plan.trips.copy()
    plan.simulate(network=net)
    pd.testing.assert_frame_equal(plan.trips, before)


def test_a_projected_graph_builds_the_same_network(grid_graph, tmp_path):
    import osmnx as ox

    G = ox.projection.project_graph(grid_graph)          # metres in UTM, not WGS84
    net = sumo_network(G, tmp_path)
    edges = _net_edges(net.net_file)
    assert all(abs(edges[f"{u}_{v}_{k}"][2] - d["length"]) <= 1e-2 for u, v, k, d in G.edges(keys=True, data=True))
    res = simulate_routes(G, [[0, 1, 2, 6]], [0.0], workdir=tmp_path, network=net)
    assert (res.arrived, res.route_mismatches) == (1, 0)
