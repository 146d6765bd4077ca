"""The ``ue`` baseline: a user equilibrium, checked from scratch (no trip can gain by switching alone)."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.errors import InvalidOptionError
from optimizer.inputs.peak import Peak, TrafficModel
from optimizer.problems.traffic import Traffic
from optimizer.solve import solve


def _crowd(grid_graph, vehicles: int, slice_s: float = 900.0) -> Traffic:
    """8 trips corner to corner, all leaving at 07:00, ``vehicles`` each."""
    nodes = list(grid_graph.nodes)
    trips = pd.DataFrame({"trip_id": range(8), "origin": [nodes[0]] * 8, "destination": [nodes[-1]] * 8,
                          "depart_s": [7 * 3600.0] * 8, "vehicles": [vehicles] * 8})
    return Traffic(grid_graph, trips, routes=3, model=TrafficModel(peak=Peak(slice_s=slice_s)))


@pytest.fixture
def crowded(grid_graph):
    return _crowd(grid_graph, 60)


@pytest.mark.parametrize("vehicles,slice_s", [(1, 900.0), (20, 900.0), (60, 300.0), (5, 60.0)])
def test_ue_is_an_equilibrium(grid_graph, vehicles, slice_s):
    prob = _crowd(grid_graph, vehicles, slice_s)
    sol = solve(prob, "ue", seed=3)
    assert sol.info["equilibrium"] is True
    assert prob.best_response_gain(sol.bits) <= 1e-9


def test_everyone_on_the_shortest_path_is_no_equilibrium_in_a_crowd(crowded):
    short = solve(crowded, "shortest")
    assert crowded.best_response_gain(short.bits) > 1.0  # seconds a driver would save alone
    ue = solve(crowded, "ue", seed=1)
    assert ue.decision != short.decision
    a_ue = crowded.assess(ue.bits)["system_travel_time_veh_h"]
    a_short = crowded.assess(short.bits)["system_travel_time_veh_h"]
    assert a_ue < a_short


def test_ue_without_congestion_is_everyone_on_the_shortest_path(grid_graph):
    assert solve(_crowd(grid_graph, 1), "ue", seed=1).decision == [0] * 8


def test_the_so_plan_beats_the_equilibrium_in_a_crowd(crowded):
    """Coordinated routing (CP-SAT's exact optimum) never costs more than selfish routing, here less."""
    ue = crowded.assess(solve(crowded, "ue", seed=1).bits)["system_travel_time_veh_h"]
    so = crowded.assess(solve(crowded, "cpsat", seed=0).bits)["system_travel_time_veh_h"]
    assert so <= ue + 1e-9


@pytest.mark.parametrize("opts", [{"max_rounds": 0}, {"max_rounds": 1.5}, {"period_h": 1.0}])
def test_ue_options_are_checked_before_it_runs(crowded, opts):
    with pytest.raises(InvalidOptionError):
        solve(crowded, "ue", **opts)
