"""The traffic plans' outside judges in a run: SUMO replays every plan, AequilibraE gives UE/SO and a bound."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from optimizer.cli import main
from optimizer.errors import InvalidInputError
from optimizer.runs.runner import SolverRequest, comparison_rows, run_problem, verdict
from optimizer.runs.scenarios import build_problem


@pytest.fixture(scope="module")
def crowded_run(tmp_path_factory, helsinki):
    """60 trips of 8 vehicles in a 20-minute peak: congested enough that plans differ."""
    out = tmp_path_factory.mktemp("judged")
    prob = build_problem("traffic", city=helsinki, trips=60, routes=3, seed=2, vehicles_per_trip=8,
                         peak="07:00-07:20", slice_min=5)
    reqs = [SolverRequest("shortest"), SolverRequest("ue"), SolverRequest("cpsat", time_limit_s=90)]  # returns at the proof, sooner
    recs = run_problem(prob, reqs, out=out, seed=1, simulate=True, references=True)
    return prob, recs, out


def test_every_plan_is_replayed_in_sumo_on_its_own_edges(crowded_run):
    prob, recs, _ = crowded_run
    for r in recs:
        sim = r.summary["simulation"]
        assert sim["vehicles"] == prob.num_vehicles == 480
        assert sim["route_mismatches"] == 0
        assert sim["arrived"] + sim["unfinished"] + sim["undeparted"] == sim["vehicles"]
        assert sim["total_travel_time_veh_h"] > 0 and "trip_travel_time_s" not in sim
        table = pd.read_csv(r.out_dir / "simulation.csv")
        assert list(table.trip_id) == list(prob.trips.trip_id)
        assert table.sumo_travel_time_s.notna().all()
        # SUMO's trips take at least their free-flow times, less rounding and SUMO's own speeds
        assert (table.sumo_travel_time_s >= 0.5 * r.plan.routes.travel_time_s.to_numpy()).all()


def test_the_comparison_is_ranked_by_the_model_and_by_sumo(crowded_run):
    _, recs, out = crowded_run
    rows = comparison_rows(recs)
    for row in rows:
        assert row["rank_model"] >= 1 and row["rank_simulation"] >= 1
        assert row["sim_travel_time_veh_h"] > 0
    csv = pd.read_csv(next(out.glob("traffic/*/comparison.csv")))
    assert {"rank_model", "rank_simulation", "sim_travel_time_veh_h", "surrogate_error"} <= set(csv.columns)
    v = json.loads(next(out.glob("traffic/*/verdict.json")).read_text())
    assert "in SUMO" in v["text"] and v["simulation_winners"]
    assert "coordinated routing (cpsat)" in v["text"]


def test_the_so_bound_is_below_every_plan(crowded_run):
    """AequilibraE's SO over the span is a proven lower bound of the sliced BPR objective."""
    _, recs, _ = crowded_run
    refs = recs[0].summary["references"]
    assert refs["static"]["so"]["relative_gap"] <= 1e-3
    for r in recs:
        assert r.summary["references"] == refs  # computed once for the instance
        assert refs["so_bound_veh_h"] <= r.summary["objective"] * (1 + 1e-9)
    # the continuous UE spreads traffic: never above everyone on the shortest path (static)
    assert refs["static"]["so"]["system_travel_time_veh_h"] <= refs["static"]["ue"]["system_travel_time_veh_h"] + 1e-9
    v = verdict(recs)
    assert 0 <= v["gap_to_so_bound"] and "SO bound" in v["text"]


def test_the_exact_model_plan_wins_the_model(crowded_run):
    _, recs, _ = crowded_run
    obj = {r.request.folder: r.summary["objective"] for r in recs}
    assert obj["cpsat"] <= min(obj.values()) * (1 + 1e-9)
    assert obj["cpsat"] < obj["shortest"]  # congestion: the shortest paths are not the best plan


def test_judges_are_for_traffic_only(helsinki, tmp_path, capsys):
    prob = build_problem("dispatch", grid="case9", periods=4, seed=1)
    with pytest.raises(InvalidInputError, match="traffic"):
        run_problem(prob, [SolverRequest("milp")], out=None, simulate=True)
    rc = main(["run", "--problem", "dispatch", "--grid", "case9", "--periods", "4", "--solver", "milp",
               "--simulate", "--out", str(tmp_path / "o")])
    assert rc == 2 and "--simulate applies to traffic" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_simulate_works_on_a_city_file(tmp_path, capsys):
    """Not only the bundled city: an OSM file the user gives (a 5 x 5 grid in the East, 30 groups of 10)."""
    from tests.fuzz.cases import osm_xml

    city = tmp_path / "grid.osm"
    city.write_text(osm_xml(n=5, lat0=60.0, lon0=25.5))
    out = tmp_path / "out"
    rc = main(["-q", "run", "--problem", "traffic", "--city", str(city), "--trips", "30", "--routes", "2",
               "--vehicles-per-trip", "10", "--peak", "07:00-07:30", "--min-distance-m", "200",
               "--solver", "shortest", "cpsat", "--simulate", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    summaries = [json.loads(p.read_text()) for p in out.glob("traffic/*/*/summary.json")]
    assert len(summaries) == 2
    for s in summaries:
        sim = s["simulation"]
        assert sim["vehicles"] == 300 and sim["route_mismatches"] == 0
        assert sim["arrived"] + sim["unfinished"] + sim["undeparted"] == 300
