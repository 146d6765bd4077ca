"""Road capacities from OSM tags and the BPR travel time, against hand-computed values."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InvalidInputError
from optimizer.inputs.capacity import (
    HIGHWAY_DEFAULTS,
    bpr_time_s,
    parse_lanes,
    segment_capacities,
    segment_capacity,
)
from optimizer.inputs.peak import Peak, TrafficModel
from optimizer.problems.traffic import Traffic


@pytest.mark.parametrize("value,lanes", [
    ("2", 2), (3, 3), (2.0, 2), ("2;3", 2), ("3;2", 2), (["2", None, "3"], 2), ([None, None], None),
    ("none", None), ("-1", None), ("0", None), ("50 mph", None), ("2.5", None), (None, None), ("99", None),
    (float("nan"), None), (True, None), ("1 ", 1),
])
def test_lanes_are_parsed_or_given_up(value, lanes):
    assert parse_lanes(value) == lanes


@pytest.mark.parametrize("data,capacity", [
    ({"highway": "primary", "lanes": "4", "oneway": False}, 2 * 1500.0),   # a two-way road: half the lanes
    ({"highway": "primary", "lanes": "3", "oneway": False}, 2 * 1500.0),   # rounded up
    ({"highway": "primary", "lanes": "3", "oneway": True}, 3 * 1500.0),
    ({"highway": "secondary", "oneway": False}, 1000.0),                   # the class's default lanes
    ({"highway": "motorway", "oneway": True}, 2 * 2000.0),
    ({"highway": "primary", "lanes": "4", "lanes:forward": "3", "lanes:backward": "1"}, 3 * 1500.0),
    ({"highway": "primary", "lanes": "4", "lanes:forward": "3", "lanes:backward": "1", "reversed": True}, 1500.0),
    ({"highway": ["residential", "secondary"], "lanes": ["1", "2"], "oneway": True}, 600.0),
    ({"highway": "service"}, 600.0),                                       # a class the table lacks
    ({"highway": "residential", "lanes": "none", "oneway": True}, 600.0),
])
def test_capacity_from_lanes_and_class(data, capacity):
    assert segment_capacity(data) == capacity


def test_the_sources_are_counted():
    why: Counter[str] = Counter()
    for data in ({"highway": "service"}, {"highway": "primary", "lanes": "x", "oneway": True},
                 {"highway": "primary", "lanes": "2", "oneway": True}):
        segment_capacity(data, why=why)
    assert why["default"] == 2 and why["lanes"] == 1 and why["unreadable lanes value"] == 1
    assert why["class 'service' not in the table"] == 1


def test_bpr_against_hand_values():
    assert bpr_time_s(60.0, 0.0, 1000.0) == 60.0
    assert bpr_time_s(60.0, 1000.0, 1000.0) == pytest.approx(69.0)
    assert bpr_time_s(60.0, 2000.0, 1000.0) == pytest.approx(60.0 * (1 + 0.15 * 16))
    assert bpr_time_s(10.0, 500.0, 1000.0, alpha=1.0, beta=2.0) == pytest.approx(12.5)
    np.testing.assert_allclose(bpr_time_s([1.0, 2.0], [600.0, 1200.0], [600.0, 600.0]), [1.15, 2 * 3.4])


@pytest.mark.parametrize("kw,cap", [({}, 0.0), ({"alpha": -1.0}, 1.0), ({"beta": float("nan")}, 1.0)])
def test_bpr_refuses_what_has_no_meaning(kw, cap):
    with pytest.raises(InvalidInputError):
        bpr_time_s(1.0, 1.0, cap, **kw)


def test_every_class_has_a_positive_capacity():
    assert all(c.lane_capacity_vph > 0 and c.lanes >= 1 for c in HIGHWAY_DEFAULTS.values())


def test_assessment_is_the_bpr_sum_over_cells(grid_graph):
    nodes = list(grid_graph.nodes)
    caps = None
    for slice_s, over in ((3600.0, False), (60.0, True)):  # 40 vehicles in an hour: free flow; in a minute: jammed
        trips = pd.DataFrame({"trip_id": range(4), "origin": [nodes[0]] * 4, "destination": [nodes[-1]] * 4,
                              "depart_s": [7 * 3600.0] * 4, "vehicles": [10] * 4})
        prob = Traffic(grid_graph, trips, routes=2, model=TrafficModel(peak=Peak(slice_s=slice_s)))
        bits = prob.shortest_path_bits()
        caps = segment_capacities(grid_graph, prob.segments).capacity_vph
        t0 = prob.segment_weights
        # by hand: the shortest route's segments, entered one after another from 07:00
        route = prob.candidates[0][0]
        want = free = 0.0
        clock = 7 * 3600.0
        for seg in route.segments:
            e = prob.segments.index(seg)
            n = 40.0
            want += n * t0[e] * (1 + 0.15 * (n / (slice_s / 3600) / caps[e]) ** 4) / 3600
            free += n * t0[e] / 3600
            clock += t0[e]
        a = prob.assess(bits)
        assert a["system_travel_time_veh_h"] == pytest.approx(want, rel=1e-9)
        assert a["free_flow_travel_time_veh_h"] == pytest.approx(free, rel=1e-9)
        assert a["delay_veh_h"] == pytest.approx(want - free, rel=1e-6, abs=1e-12)
        assert (a["cells_over_capacity"] > 0) is over


def test_every_traffic_summary_carries_the_assessment():
    from optimizer.runs.runner import SolverRequest, run_problem
    from optimizer.runs.scenarios import build_problem

    prob = build_problem("traffic", trips=4, routes=2)
    (rec,) = run_problem(prob, [SolverRequest("shortest")], out=None, seed=1)
    a = rec.summary["assessment"]
    assert a["model"] == "bpr" and a["system_travel_time_veh_h"] >= a["free_flow_travel_time_veh_h"] > 0


def test_segment_loads_carry_capacity_and_bpr_time(grid_graph):
    nodes = list(grid_graph.nodes)
    trips = pd.DataFrame({"trip_id": range(3), "origin": [nodes[0]] * 3, "destination": [nodes[-1]] * 3,
                          "depart_s": [7 * 3600.0] * 3, "vehicles": [100] * 3})
    prob = Traffic(grid_graph, trips, routes=1)
    seg = prob.decode(prob.shortest_path_bits()).segment_loads()
    want = {"residential": 600.0, "secondary": 1000.0}  # one lane each way, MATSim's per-lane capacities
    assert len(seg) and (seg["capacity_vph"] == seg["highway"].map(want)).all()
    c = seg["capacity_vph"]
    vol = seg["load"] / 0.25  # 300 vehicles, each segment entered within one 15-minute slice
    np.testing.assert_allclose(seg["volume_capacity"], vol / c)
    np.testing.assert_allclose(seg["bpr_time_s"], seg["weight_s"] * (1 + 0.15 * (vol / c) ** 4))
    slice_cols = [k for k in seg.columns if k.startswith("vc ")]
    assert slice_cols and np.allclose(seg[slice_cols].max(axis=1), seg["volume_capacity"])
    assert (seg["volume_capacity"] > 1).any()


def test_the_verdict_says_who_wins_under_bpr_also_when_it_is_not_the_objective_winner():
    """200 trips in a two-hour peak barely load Helsinki's roads: the congestion proxy's detours cost travel time."""
    from optimizer.runs.runner import SolverRequest, comparison_rows, run_problem, verdict
    from optimizer.runs.scenarios import build_problem

    prob = build_problem("traffic", trips=200, routes=3, objective="congestion", slice_min=120)
    recs = run_problem(prob, [SolverRequest("shortest"), SolverRequest("cpsat")], out=None, seed=1)
    v = verdict(recs)
    bpr = {r["solver"]: r["bpr_travel_time_veh_h"] for r in comparison_rows(recs)}
    assert v["winners"] == ["cpsat"]
    assert v["bpr_winners"] == [min(bpr, key=bpr.get)] and v["bpr_best_veh_h"] == min(bpr.values())
    if v["bpr_winners"] != v["winners"]:
        assert "the objective's winner takes" in v["text"]
