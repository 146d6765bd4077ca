"""The ``ue`` baseline: a user equilibrium, checked from scratch (no trip can gain by switching alone)."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.errors import InvalidOptionError
from optimizer.problems.traffic import Traffic
from optimizer.solve import solve


@pytest.fixture
def crowded(grid_graph):
    nodes = list(grid_graph.nodes)
    trips = pd.DataFrame({"trip_id": range(8), "origin": [nodes[0]] * 8, "destination": [nodes[-1]] * 8})
    return Traffic(grid_graph, trips, routes=3)


@pytest.mark.parametrize("period_h", [1.0, 0.01, 0.002])
def test_ue_is_an_equilibrium(crowded, period_h):
    sol = solve(crowded, "ue", seed=3, period_h=period_h)
    assert sol.info["equilibrium"] is True
    assert crowded.best_response_gain(sol.bits, period_h=period_h) <= 1e-9


def test_everyone_on_the_shortest_path_is_no_equilibrium_in_a_crowd(crowded):
    short = solve(crowded, "shortest")
    assert crowded.best_response_gain(short.bits, period_h=0.002) > 1.0  # seconds a driver would save alone
    ue = solve(crowded, "ue", seed=1, period_h=0.002)
    assert ue.decision != short.decision
    a_ue = crowded.assess(ue.bits, period_h=0.002)["system_travel_time_veh_h"]
    a_short = crowded.assess(short.bits, period_h=0.002)["system_travel_time_veh_h"]
    assert a_ue < a_short


def test_ue_without_congestion_is_everyone_on_the_shortest_path(crowded):
    assert solve(crowded, "ue", seed=1).decision == [0] * 8


@pytest.mark.parametrize("opts", [{"period_h": 0}, {"period_h": float("nan")}, {"max_rounds": 0}])
def test_ue_options_are_checked_before_it_runs(crowded, opts):
    with pytest.raises(InvalidOptionError):
        solve(crowded, "ue", **opts)
