"""The live re-routing loop in SUMO: pushed routes are the routes SUMO drives, an arrived vehicle is
never touched, the same seed gives the same run, the files keep their contract, and bad input is one
error naming the argument with nothing written.  Real SUMO through libsumo, no mocks."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import DemandError, InvalidInputError, UnknownSolverError
from optimizer.inputs.demand import sample_trips
from optimizer.plans.simulation import read_vehroutes
from optimizer.runs.live import STRATEGY_KEYS, TIMELINE_COLUMNS, live, persistence_forecast

SOLVER_OPTIONS = {"anneal": {"sweeps": 200, "reads": 4}, "cpsat": {"workers": 1}}


def _demand(helsinki) -> pd.DataFrame:
    """A crowded quarter-hour: 12 origin-destination pairs across the centre, 10 vehicles each (120)."""
    df = sample_trips(helsinki, 12, seed=4, min_distance_m=900.0)
    rng = np.random.default_rng(4)
    df["depart_s"] = 7 * 3600.0 + np.sort(rng.uniform(0, 600, len(df))).round()
    df["vehicles"] = 10
    return df


@pytest.fixture(scope="module")
def run(helsinki, tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    res = live(helsinki, demand=_demand(helsinki), step_min=5, horizon_min=15, solvers=["cpsat", "anneal"],
               solver_options=SOLVER_OPTIONS, seed=3, time_limit_s=5, drain_min=20, detectors=8,
               out=root / "out", workdir=root / "work")
    return res, root


def test_pushed_route_is_the_route_sumo_drives(run):
    res, root = run
    for name in ("cityopt-cpsat", "cityopt-anneal"):
        pushes = res.pushes[name]
        assert pushes, f"{name} re-routed no vehicle: the demand is not crowded enough to test anything"
        # read back through TraCI right after each push
        assert all(pushed == held for _, _, pushed, held in pushes)
        assert res.strategies[name].push_mismatches == 0
        assert res.strategies[name].push_failures == 0
        # and what SUMO itself wrote: each vehicle's final route ends with the last route pushed to it
        driven = read_vehroutes(root / "work" / name / "vehroutes.xml")
        last = {vid: pushed for _, vid, pushed, _ in pushes}
        for vid, pushed in last.items():
            edges = driven[vid][0]
            assert edges[-len(pushed):] == list(pushed), vid
        # a vehicle never pushed drove the shortest path it started with (the none run's route)
        none = read_vehroutes(root / "work" / "none" / "vehroutes.xml")
        untouched = sorted(set(none) - set(last))
        assert untouched
        assert all(driven[v][0] == none[v][0] for v in untouched)


def test_arrived_vehicle_is_never_rerouted(run):
    res, root = run
    for name in ("cityopt-cpsat", "cityopt-anneal"):
        tripinfo = ET.parse(root / "work" / name / "tripinfo.xml").getroot()
        arrival = {t.get("id"): float(t.get("arrival", "-1")) for t in tripinfo.iter("tripinfo")}
        for t, vid, _, _ in res.pushes[name]:
            assert arrival[vid] < 0 or arrival[vid] > t, (vid, t, arrival[vid])
            assert vid not in res.arrivals[name] or res.arrivals[name][vid] > t


def test_summary_and_timeline_keep_the_contract(run):
    res, root = run
    summary = json.loads((root / "out" / "live" / "summary.json").read_text())
    assert set(summary["strategies"]) == {"none", "sumo-rerouting", "cityopt-cpsat", "cityopt-anneal"}
    for name, entry in summary["strategies"].items():
        assert set(STRATEGY_KEYS) <= set(entry), name
        assert entry["vehicles_arrived"] == 120, name  # a quarter-hour's demand all arrives within the drain
        assert entry["total_travel_time_s"] > 0
    assert summary["verdict"]["best"] in summary["strategies"]
    assert summary["strategies"]["none"]["max_step_wall_s"] == 0
    for name in ("cityopt-cpsat", "cityopt-anneal"):
        assert 0 < summary["strategies"][name]["max_step_wall_s"] < 5 * 60  # real time
    timeline = pd.read_csv(root / "out" / "live" / "timeline.csv")
    assert list(timeline.columns) == list(TIMELINE_COLUMNS)
    for name, rows in timeline.groupby("strategy"):
        assert rows["sim_time_s"].diff().dropna().eq(300).all(), name
    ours = timeline[timeline.strategy == "cityopt-cpsat"]
    assert ours["vehicles_rerouted"].sum() == len(res.pushes["cityopt-cpsat"])
    assert ours["forecast_error_so_far"].dropna().between(0, 200).all()
    # the baselines see the same first step: same demand, same seed
    a, b = (timeline[timeline.strategy == s].iloc[1] for s in ("none", "cityopt-cpsat"))
    assert a.vehicles_en_route == b.vehicles_en_route


@pytest.mark.slow
def test_same_seed_same_results(helsinki, run, tmp_path):
    res, _ = run
    again = live(helsinki, demand=_demand(helsinki), step_min=5, horizon_min=15, solvers=["anneal"],
                 solver_options=SOLVER_OPTIONS, seed=3, time_limit_s=5, drain_min=20, detectors=8,
                 baselines=("none",), workdir=tmp_path)
    walls = {"max_step_wall_s", "mean_step_wall_s", "max_solve_wall_s", "sim_wall_s"}
    for name in ("none", "cityopt-anneal"):
        a, b = res.strategies[name].to_dict(), again.strategies[name].to_dict()
        assert {k: v for k, v in a.items() if k not in walls} == {k: v for k, v in b.items() if k not in walls}
    assert res.pushes["cityopt-anneal"] == again.pushes["cityopt-anneal"]


def test_persistence_forecast():
    free = {"a": 10.0, "b": 8.0}
    assert persistence_forecast({"a": 3.0, "b": math.nan}, free, []) == {"a": 3.0, "b": 8.0}
    assert persistence_forecast({}, free, []) == free


@pytest.mark.parametrize(("kwargs", "error", "names"), [
    ({"step_min": 20, "horizon_min": 15}, InvalidInputError, "step_min"),
    ({"step_min": 0}, InvalidInputError, "step_min"),
    ({"step_min": -5}, InvalidInputError, "step_min"),
    ({"horizon_min": float("nan")}, InvalidInputError, "horizon_min"),
    ({"solvers": ["cpsat", "warp-drive"]}, UnknownSolverError, "solvers"),
    ({"solvers": []}, InvalidInputError, "solvers"),
    ({"trips": 0}, DemandError, "trips"),
    ({"demand": pd.DataFrame(columns=["origin", "destination", "depart_s"])}, DemandError, "demand"),
    ({"hours": 0}, InvalidInputError, "hours"),
    ({"seed": -1}, InvalidInputError, "seed"),
])
def test_bad_input_is_one_error_naming_the_argument(helsinki, tmp_path, kwargs, error, names):
    out = tmp_path / "out"
    with pytest.raises(error, match=names) as info:
        live(helsinki, out=out, **kwargs)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_loops_sit_where_the_sensors_table_says(helsinki, tmp_path):
    from optimizer.plans.simulation import sumo_network
    from optimizer.runs.live import _sensor_edges
    from optimizer.sensing.twin import load_replay

    _, sensors = load_replay("helsinki")
    net = sumo_network(helsinki.graph, tmp_path)
    edges = _sensor_edges(sensors, net)
    want = [f"{int(r.u)}_{int(r.v)}_{int(r.key)}" for r in sensors.itertuples()]
    assert edges == list(dict.fromkeys(want))
    with pytest.raises(InvalidInputError, match="sensors"):
        _sensor_edges(sensors.drop(columns=["u"]), net)
    far = sensors.assign(u=-1)
    with pytest.raises(InvalidInputError, match="no sensor sits on a segment"):
        _sensor_edges(far, net)
