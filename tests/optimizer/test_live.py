"""The live re-routing loop in SUMO: pushed routes are the routes SUMO drives, an arrived vehicle is
never touched, the same seed gives the same run, the files keep their contract, and bad input is one
error naming the argument with nothing written.  Real SUMO through libsumo, no mocks."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import DemandError, InvalidInputError, UnknownSolverError
from optimizer.inputs.demand import sample_trips
from optimizer.plans.simulation import read_vehroutes
from optimizer.runs.live import STRATEGY_KEYS, TIMELINE_COLUMNS, live, persistence_forecast

#: Work budgets, not wall limits: the loop's plans do not depend on the machine's load (the 60 s wall limit
#: of the runs below is only the real-time guard, and ``wall_limited_steps`` proves it never struck).
SOLVER_OPTIONS = {"anneal": {"sweeps": 200, "reads": 4}, "cpsat": {"workers": 1, "deterministic_time": 3.0}}


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
               solver_options=SOLVER_OPTIONS, seed=3, time_limit_s=60, drain_min=20, detectors=8,
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
        assert summary["strategies"][name]["wall_limited_steps"] == 0  # the work budget, not the clock, ended each
    assert summary["settings"]["solver_work"] == {"cpsat": {"deterministic_time": 3.0}, "anneal": {"sweeps": 200}}
    timeline = pd.read_csv(root / "out" / "live" / "timeline.csv")
    assert list(timeline.columns) == list(TIMELINE_COLUMNS)
    for name, rows in timeline.groupby("strategy"):
        assert rows["sim_time_s"].diff().dropna().eq(300).all(), name
    ours = timeline[timeline.strategy == "cityopt-cpsat"]
    assert ours["vehicles_rerouted"].sum() == len(res.pushes["cityopt-cpsat"])
    solved = ours[ours.solver_stopped_by.notna()]
    assert len(solved) and solved.solver_stopped_by.isin(["work", "optimal"]).all()
    assert (solved.solver_work > 0).all()  # CP-SAT's deterministic seconds
    sweeps = timeline[(timeline.strategy == "cityopt-anneal") & timeline.solver_stopped_by.notna()]
    assert len(sweeps) and sweeps.solver_work.eq(200).all() and sweeps.solver_stopped_by.eq("work").all()
    assert ours["forecast_error_so_far"].dropna().between(0, 200).all()
    # the baselines see the same first step: same demand, same seed
    a, b = (timeline[timeline.strategy == s].iloc[1] for s in ("none", "cityopt-cpsat"))
    assert a.vehicles_en_route == b.vehicles_en_route


def test_same_seed_same_results(helsinki, run, tmp_path):
    res, _ = run
    # CP-SAT too: its budget is deterministic time, so a busy machine gives the same plans as an idle one
    again = live(helsinki, demand=_demand(helsinki), step_min=5, horizon_min=15, solvers=["cpsat", "anneal"],
                 solver_options=SOLVER_OPTIONS, seed=3, time_limit_s=60, drain_min=20, detectors=8,
                 baselines=("none",), workdir=tmp_path)
    walls = {"max_step_wall_s", "mean_step_wall_s", "max_solve_wall_s", "sim_wall_s"}
    for name in ("none", "cityopt-cpsat", "cityopt-anneal"):
        a, b = res.strategies[name].to_dict(), again.strategies[name].to_dict()
        assert {k: v for k, v in a.items() if k not in walls} == {k: v for k, v in b.items() if k not in walls}
    assert res.pushes["cityopt-anneal"] == again.pushes["cityopt-anneal"]
    assert res.pushes["cityopt-cpsat"] == again.pushes["cityopt-cpsat"]


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


# ------------------------------------------------------------------ what the run writes for the report
def test_segment_loads_and_loop_readings_are_written(run):
    res, root = run
    live_dir = root / "out" / "live"
    seg = pd.read_csv(live_dir / "segments.csv")
    assert set(seg.strategy) == {"none", "sumo-rerouting", "cityopt-cpsat", "cityopt-anneal"}
    assert (seg.vc > 0).all() and np.allclose(seg.vc, seg.volume_vph / seg.capacity_vph)
    geo = json.loads((live_dir / "segment_loads.geojson").read_text())
    props = {f["properties"]["edge"]: f["properties"] for f in geo["features"]}
    from optimizer.inputs.peak import clock

    for r in seg.sample(20, random_state=0).itertuples():
        assert props[r.edge][f"vc {r.strategy} {clock(r.start_s)}"] == pytest.approx(r.vc, abs=1e-4)
    loops = pd.read_csv(live_dir / "sensors.csv")
    assert set(loops.edge) == set(res.settings["detector_edges"])
    # the forecast written beside step s is the one made at step s - 1: persistence, so the speed measured then
    none = loops[loops.strategy == "none"].sort_values(["edge", "step"])
    for _, g in none.groupby("edge"):
        prev = g.speed_kph.shift(1)
        both = prev.notna() & g.forecast_speed_kph.notna()
        assert np.allclose(g.forecast_speed_kph[both], prev[both], atol=1e-6)


def test_the_report_gains_the_live_section_with_its_figures(run, tmp_path):
    from optimizer.report.html import write_report
    from optimizer.runs.results import ingest_outputs

    res, root = run
    out = root / "out"
    # as the demo does it: the database beside live/ (no solver runs here: the live loop alone)
    ingest_outputs(out, out / "results.duckdb")
    page = write_report(out / "results.duckdb", tmp_path / "report.html").read_text()
    assert 'id="live"' in page
    assert "Work per step: cpsat deterministic_time 3; anneal sweeps 200; wall guard 60 s, cut no step." in page
    for fig in ("live-timeline", "live-forecast", "vc-peak-map"):
        assert f'data-figure="{fig}"' in page, fig
    assert page.count('data-figure="vc-peak-map"') == 3  # none, SUMO's rerouting, the best cityopt
    for name, r in res.strategies.items():
        row = page.split(f'<tr data-strategy="{name}">')[1].split("</tr>")[0]
        assert f'data-value="{r.total_travel_time_s / 3600.0!r}"' in row, name
    # without live/ beside the database, no section
    ingest_outputs(tmp_path / "elsewhere", tmp_path / "results.duckdb")
    bare = write_report(tmp_path / "results.duckdb", tmp_path / "bare.html").read_text()
    assert 'id="live"' not in bare and "live-timeline" not in bare


# ------------------------------------------------------------------ the learned forecast and staggering
@pytest.fixture(scope="module")
def replay():
    from optimizer.sensing.twin import load_replay

    return load_replay("helsinki")


def _fake_loop(sensors, net=None):
    from types import SimpleNamespace

    edges = [f"{int(r.u)}_{int(r.v)}_{int(r.key)}" for r in sensors.itertuples()]
    names = dict(zip(edges, sensors.sensor_id))
    return SimpleNamespace(sensor_names=names, capacity={e: 1800.0 for e in [*edges, "other"]}, step_s=300.0,
                           horizon_s=900.0), edges


@pytest.mark.parametrize("model", ["historical", "gbt"])
def test_the_learned_forecast_gives_each_slice_its_own_speeds(replay, model):
    from optimizer.runs.live import SensorForecast

    readings, sensors = replay
    fc = SensorForecast(readings, model=model, tz="Europe/Helsinki").fit(step_s=300, horizon_s=900)
    assert fc.horizons == (5, 10, 15)
    loop, edges = _fake_loop(sensors)
    fc.start(loop)
    free = {e: 11.0 for e in edges} | {"other": 11.0, "empty": 11.0}
    # nothing read yet: persistence
    assert fc({}, free, []) == free
    # one step of readings at 07:30 local: the last replay day's values at 07:25 on the loops
    last = readings[readings.time == pd.Timestamp("2026-03-06T05:25Z")].set_index("sensor_id")
    reads = {e: (float(last.flow_vph[s]), float(last.speed_kph[s]) / 3.6, 1.0) for e, s in loop.sensor_names.items()}
    fc.observe(7.5 * 3600, reads, {"other": 100.0}, {"other": 6.0})
    out = fc({"other": 6.0}, free, [])
    assert all(len(v) == 3 for v in out.values())
    # a loop's slices are its sensor's forecast 5, 10 and 15 min ahead, anchored to its reading now (the
    # first step: over the model's first-slice forecast)
    frame = pd.DataFrame(fc._rows)
    want = fc.forecaster.predict(frame, horizon_min=(5, 10, 15), model=model)
    s0, e0 = sensors.sensor_id.iloc[0], edges[0]
    speeds = want[want.sensor_id == s0].sort_values("horizon_min").speed_kph.to_numpy()
    a = np.clip(float(last.speed_kph[s0]) / speeds[0], 0.5, 2.0)
    assert np.allclose(out[e0], np.clip(speeds * a / 3.6, 0.5, 1.2 * 11.0))
    # the next step anchors on the forecast made now for then
    reads2 = {e: (f * 1.1, sp * 0.9, o) for e, (f, sp, o) in reads.items()}
    fc.observe(7.5 * 3600 + 300, reads2, {"other": 100.0}, {"other": 6.0})
    out2 = fc({"other": 6.0}, free, [])
    want2 = fc.forecaster.predict(pd.DataFrame(fc._rows), horizon_min=(5, 10, 15), model=model)
    sp2 = want2[want2.sensor_id == s0].sort_values("horizon_min").speed_kph.to_numpy()
    a2 = np.clip(reads2[e0][1] * 3.6 / speeds[0], 0.5, 2.0)
    assert np.allclose(out2[e0], np.clip(sp2 * a2 / 3.6, 0.5, 1.2 * 11.0))
    # a segment measured but without a loop: its speed scaled by the forecast growth of the loops' flow
    assert "other" in fc.vc_forecast and len(fc.vc_forecast["other"]) == 3
    assert out["empty"] == (11.0, 11.0, 11.0)
    vc0 = 100 / (300 / 3600) / 1800
    assert all(0.5 * vc0 - 1e-12 <= vc <= 2.0 * vc0 + 1e-12 for vc in fc.vc_forecast["other"])
    assert all(0.5 <= v <= 11.0 for v in out["other"])


def test_the_forecast_option_changes_what_the_optimiser_sees(helsinki):
    """Per-slice speeds reach the optimiser: each cell's time is its slice's forecast, not the first slice's."""
    from types import SimpleNamespace

    from optimizer.inputs.peak import Peak, TrafficModel
    from optimizer.problems.traffic import Traffic
    from optimizer.runs.live import _Loop, _Problem

    base = Traffic.from_city(helsinki, trips=4, routes=2, seed=2)
    trips = base.trips.assign(depart_s=7 * 3600.0 + np.array([0.0, 300.0, 600.0, 650.0]))  # slices 0, 1, 2, 2
    model = TrafficModel(peak=Peak(7 * 3600.0, 7 * 3600.0 + 900.0, 300.0))
    segs = sorted({s for cands in base.candidates for r in cands for s in r.segments})
    ids = {s: f"{s[0]}_{s[1]}_{s[2]}" for s in segs}
    fake = SimpleNamespace(net=SimpleNamespace(edge_ids=ids),
                           length={ids[s]: float(helsinki.graph.edges[s]["length"]) for s in segs})
    slow = {ids[s]: (10.0, 5.0, 2.0) for s in segs}  # the forecast: slower in every later slice
    flat = _Problem.build(base.graph, trips, list(base.candidates), model)
    sliced = _Problem.build(base.graph, trips, list(base.candidates), model, slice_t0=_Loop._slice_t0(fake, slow))
    t_flat, _ = flat._cell_t0_cap()
    t_sl, _ = sliced._cell_t0_cap()
    for c, (e, sl) in enumerate(zip(sliced.cell_segment, sliced.cell_slice)):
        eid = ids[sliced.segments[e]]
        assert t_sl[c] == pytest.approx(round(fake.length[eid] / slow[eid][min(max(sl, 0), 2)], 3))
    assert (sliced.cell_slice > 0).any() and not np.allclose(t_sl, t_flat)
    bits = sliced.shortest_path_bits()
    assert sliced.objective(bits) != pytest.approx(flat.objective(bits))


def test_staggering_moves_the_largest_savings_first_within_the_share():
    import networkx as nx

    from optimizer.problems.traffic import Route
    from optimizer.runs.live import _Loop

    g = nx.MultiDiGraph()
    for u, v, t in [(0, 1, 100.0), (0, 2, 40.0), (0, 3, 95.0), (0, 4, 10.0)]:
        g.add_edge(u, v, 0, travel_time=t, length=100.0)

    def route(v):
        return Route((0, v), ((0, v, 0),), g.edges[0, v, 0]["travel_time"], 100.0)

    cands = [(route(1), route(2)), (route(1), route(3)), (route(1), route(4)), (route(1), route(2))]
    loop = SimpleNamespace(min_gain_s=30.0, reroute_share=0.5, held_back=0)
    # savings: 60, 5, 90, 60 s; 4 groups x 2 vehicles: group 1 saves too little, and of the 8 vehicles the
    # solver would move at most 4 move, the largest savings first
    out = _Loop._stagger(loop, [1, 1, 1, 1], cands, [2, 2, 2, 2], g)
    assert out == [1, 0, 1, 0]
    assert loop.held_back == 4
    loop = SimpleNamespace(min_gain_s=0.0, reroute_share=0.75, held_back=0)
    assert _Loop._stagger(loop, [1, 1, 1, 1], cands, [2, 2, 2, 2], g) == [1, 0, 1, 1]
    loop = SimpleNamespace(min_gain_s=0.0, reroute_share=1.0, held_back=0)
    assert _Loop._stagger(loop, [1, 1, 0, 1], cands, [2, 2, 2, 2], g) == [1, 1, 0, 1]


def test_bad_forecast_and_stagger_options_are_one_error(helsinki, tmp_path):
    out = tmp_path / "out"
    for kwargs, match in [({"forecast": "crystal-ball"}, "forecast"), ({"reroute_share": 0}, "reroute_share"),
                          ({"min_gain_s": -1}, "min_gain_s"), ({"forecast": 3}, "forecast"),
                          ({"work_scale": 0}, "work_scale"), ({"work_scale": float("nan")}, "work_scale")]:
        with pytest.raises(InvalidInputError, match=match):
            live(helsinki, out=out, **kwargs)
    assert not out.exists()
