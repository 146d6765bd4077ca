"""The SUMO digital twin's sensor stream: loops on the intended segments, counts that match
the vehicles SUMO itself reports passing, determinism, dropouts flagged not dropped, writers
and the shipped Helsinki replay.  Real SUMO runs (the pinned eclipse-sumo), kept tiny:
one day, 30 simulated minutes, a few hundred vehicles, four sensors."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InvalidInputError, SumoMissingError
from optimizer.inputs.roads import fastest_edge
from optimizer.sensing.twin import (
    READING_COLUMNS,
    SENSOR_COLUMNS,
    SensorNoise,
    _apply_noise,
    _edge_geometry,
    _read_stream,
    _snap_sensors,
    daily_demand,
    load_replay,
    simulate_sensors,
    write_sensor_stream,
)

TINY = {"n_busiest": 4, "days": 1, "start": "07:30", "end": "08:00", "peak": "07:45", "vehicles_per_day": 400,
        "seed": 2, "tz": "Europe/Helsinki"}
N_INTERVALS = 6
NOISY = SensorNoise(p_dropout=0.2, p_gap=0.0, p_outage=0.0, p_stuck=0.0)


@pytest.fixture(scope="module")
def exact(helsinki, tmp_path_factory):
    work = tmp_path_factory.mktemp("twin-exact")
    readings, sensors = simulate_sensors(helsinki, noise=None, workdir=work, **TINY)
    return readings, sensors, next(work.glob("day-*"))


@pytest.fixture(scope="module")
def noisy(helsinki):
    return simulate_sensors(helsinki, noise=NOISY, **TINY)


def _edge_id(row):
    return f"{row.u}_{row.v}_{row.key}"


# ---------------------------------------------------------------- placement
def test_loops_sit_mid_lane_on_every_lane_of_the_busiest_segments(helsinki, exact):
    readings, sensors, day = exact
    graph = helsinki.graph
    assert list(sensors.columns) == list(SENSOR_COLUMNS) and len(sensors) == 4
    loops = [d.attrib for d in ET.parse(day / "detectors.add.xml").getroot().iter("inductionLoop")]
    by_sensor = Counter(d["id"].split("_")[0] for d in loops)
    for i, row in enumerate(sensors.itertuples()):
        edge = (row.u, row.v, row.key)
        assert graph.has_edge(*edge)
        mine = [d for d in loops if d["id"].split("_")[0] == f"s{i}"]
        assert sorted(d["lane"] for d in mine) == [f"{_edge_id(row)}_{k}" for k in range(row.lanes)]
        assert by_sensor[f"s{i}"] == row.lanes
        for d in mine:
            assert float(d["pos"]) == pytest.approx(graph.edges[edge]["length"] / 2, abs=0.01)
            assert d["period"] == "300"
        lon, lat, bearing = _edge_geometry(graph, edge)
        assert (row.lon, row.lat, row.bearing_deg) == pytest.approx((lon, lat, bearing), abs=1e-6 + 0.05)
    # the busiest, counted independently: the route file SUMO was given, edge by edge
    loads = Counter(e for r in ET.parse(day / "routes.rou.xml").getroot().iter("route")
                    for e in r.get("edges").split())
    eligible = {f"{u}_{v}_{k}": loads.get(f"{u}_{v}_{k}", 0) for u, v, k, d in graph.edges(keys=True, data=True)
                if u != v and d["length"] >= 25.0}
    chosen = {_edge_id(r) for r in sensors.itertuples()}
    assert min(eligible[e] for e in chosen) >= max(n for e, n in eligible.items() if e not in chosen)


# ------------------------------------------------------------------- counts
def _passages(day: Path):
    """Per SUMO edge: (entry, exit) times of every vehicle that drove it, from vehroute output."""
    out: dict[str, list[tuple[float, float]]] = {}
    for veh in ET.parse(day / "vehroutes.xml").getroot().iter("vehicle"):
        route = (veh.findall("route") or veh.findall("routeDistribution/route"))[-1]
        edges = route.get("edges").split()
        # an unfinished vehicle (still driving at the end) has exit time -1 on the edges it has not left
        exits = [float(x) if float(x) >= 0 else math.inf for x in route.get("exitTimes", "").split()]
        enter = float(veh.get("depart"))
        for e, x in zip(edges, exits + [math.inf] * (len(edges) - len(exits))):
            out.setdefault(e, []).append((enter, x))
            enter = x
    return out


def test_counts_equal_the_vehicles_sumo_reports_passing(exact):
    readings, sensors, day = exact
    passages = _passages(day)
    start = pd.Timestamp("2026-03-02 07:30", tz="Europe/Helsinki").tz_convert("UTC")
    t0 = 7.5 * 3600
    exact_cells = 0
    for row in sensors.itertuples():
        mine = readings[readings["sensor_id"] == row.sensor_id].sort_values("time")
        assert len(mine) == N_INTERVALS
        counts = (mine["flow_vph"].to_numpy() * 5 / 60).round().astype(int)
        assert counts.sum() > 0
        trips = passages.get(_edge_id(row), [])
        for j, n in enumerate(counts):
            a, b = t0 + 300 * j, t0 + 300 * (j + 1)
            surely = sum(1 for enter, leave in trips if a <= enter and leave < b)     # wholly inside
            maybe = sum(1 for enter, leave in trips if enter < b and leave >= a)       # overlapping
            assert surely <= n <= maybe, (row.sensor_id, j, surely, n, maybe)
            exact_cells += surely == n
        assert mine["time"].iloc[0] == start
        # over the window: every vehicle that left the edge before the end passed the loop
        done = sum(1 for enter, leave in trips if leave < b)
        started = sum(1 for enter, leave in trips if enter < b)
        assert done <= counts.sum() <= started
    assert exact_cells >= 0.5 * len(sensors) * N_INTERVALS


def test_speed_is_the_count_weighted_mean_of_the_lanes_and_free_speed_when_empty(helsinki, exact):
    readings, sensors, day = exact
    loops = ET.parse(day / "e1.xml").getroot().findall("interval")
    for i, row in enumerate(sensors.itertuples()):
        mine = readings[readings["sensor_id"] == row.sensor_id].sort_values("time").reset_index()
        for j, r in mine.iterrows():
            begin = 7.5 * 3600 + 300 * j
            lanes = [x for x in loops if x.get("id").split("_")[0] == f"s{i}" and float(x.get("begin")) == begin]
            n = sum(int(x.get("nVehContrib")) for x in lanes)
            assert r.flow_vph == n * 12
            if n:
                want = sum(int(x.get("nVehContrib")) * float(x.get("speed")) for x in lanes) / n * 3.6
                assert r.speed_kph == pytest.approx(want, abs=0.01)
            else:
                assert r.speed_kph == pytest.approx(helsinki.graph.edges[row.u, row.v, row.key]["speed_kph"])
            occ = np.mean([float(x.get("occupancy")) for x in lanes])
            assert r.occupancy_pct == pytest.approx(occ, abs=1e-3)


# ------------------------------------------------------------ noise, seeds
def test_the_same_seed_gives_the_same_stream_and_noise_keeps_the_traffic(helsinki, exact, noisy):
    again, _ = simulate_sensors(helsinki, noise=NOISY, **TINY)
    readings, sensors = noisy
    pd.testing.assert_frame_equal(readings, again)
    pd.testing.assert_frame_equal(sensors, exact[1])
    ok = readings["quality"] == "ok"
    truth = exact[0].set_index(["time", "sensor_id"])["flow_vph"]
    seen = readings[ok].set_index(["time", "sensor_id"])["flow_vph"]
    rel = (seen - truth.loc[seen.index]).abs() / truth.loc[seen.index].clip(lower=12)
    assert rel.median() < 0.15 and not seen.equals(truth.loc[seen.index])
    demand = {k: TINY[k] for k in ("days", "start", "end", "peak", "vehicles_per_day")}
    two, three = (daily_demand(helsinki, seed=s, **demand)[0] for s in (2, 3))
    assert not two.trips[["origin", "destination"]].equals(three.trips[["origin", "destination"]])
    assert two.sumo_seed != three.sumo_seed


def test_dropouts_are_flagged_not_dropped(noisy):
    readings, sensors = noisy
    assert len(readings) == len(sensors) * N_INTERVALS                 # no row missing
    drop = readings["quality"] == "dropout"
    assert 0 < drop.sum() < len(readings)
    vals = readings[["flow_vph", "speed_kph", "occupancy_pct"]]
    assert vals[drop].isna().all().all() and vals[~drop].notna().all().all()
    assert set(readings["quality"]) <= {"ok", "dropout"}


def test_the_noise_model_stuck_outage_and_gap_runs():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 30, size=(50, 48))
    speed, occ = rng.uniform(20, 40, counts.shape), rng.uniform(0, 20, counts.shape)
    off = _apply_noise(counts, speed, occ, SensorNoise.off(), np.random.default_rng(1), 12.0)
    assert np.array_equal(off[0], counts * 12.0) and not off[3].any() and off[4].all()
    stuck = SensorNoise(flow_rel=0.0, speed_kph=0.0, occupancy_rel=0.0, p_stuck=1.0, stuck_intervals=(4, 4),
                        p_outage=0.0, p_dropout=0.0, p_gap=0.0)
    flow = _apply_noise(counts, speed, occ, stuck, np.random.default_rng(1), 12.0)[0]
    runs = [max(len(list(g)) for g in np.split(r, np.nonzero(np.diff(r))[0] + 1)) for r in flow]
    assert min(runs) >= 4 or any(r[-1] == r[-2] for r in flow)        # a run of 4 repeats (or cut at the end)
    out = SensorNoise(p_stuck=0.0, p_outage=1.0, outage_intervals=(5, 5), p_dropout=0.0, p_gap=1.0,
                      gap_intervals=(2, 2))
    _, _, _, bad, keep = _apply_noise(counts, speed, occ, out, np.random.default_rng(1), 12.0)
    assert set(bad.sum(axis=1)) <= {1, 2, 3, 4, 5} and bad.sum() > 3 * 50
    assert set((~keep).sum(axis=1)) <= {1, 2} and (~keep).any(axis=1).all()


def test_demand_has_a_morning_peak_and_quieter_weekends(helsinki):
    week = daily_demand(helsinki, days=7, vehicles_per_day=600, seed=5, start="06:00", end="10:00")
    assert [d.date.weekday() for d in week] == list(range(7))
    sizes = [len(d.trips) for d in week]
    assert max(sizes[5:]) < min(sizes[:5])
    t = np.concatenate([d.trips["depart_s"].to_numpy() for d in week[:5]])
    hist = np.histogram(t, bins=8, range=(6 * 3600, 10 * 3600))[0]
    assert hist[3] + hist[4] > 2 * (hist[0] + hist[7])
    for d in week[:2]:
        nodes = d.trips["nodes"].iloc[0]
        assert nodes[0] == d.trips["origin"].iloc[0] and nodes[-1] == d.trips["destination"].iloc[0]


# ------------------------------------------------------------- snapping
def test_a_sensor_snaps_by_edge_by_way_or_by_position_and_bearing(helsinki):
    graph = helsinki.graph
    two_way = next((u, v, k) for u, v, k in graph.edges(keys=True)
                   if graph.has_edge(v, u) and graph.edges[u, v, k]["length"] > 60 and u != v)
    lon, lat, bearing = _edge_geometry(graph, two_way)
    back = fastest_edge(graph, two_way[1], two_way[0])
    way = graph.edges[two_way]["osmid"]
    table = pd.DataFrame([
        {"sensor_id": "a", "u": two_way[0], "v": two_way[1], "key": two_way[2]},
        {"sensor_id": "b", "lon": lon, "lat": lat, "bearing_deg": bearing},
        {"sensor_id": "c", "lon": lon, "lat": lat, "bearing_deg": (bearing + 180) % 360},
        {"sensor_id": "d", "osm_way_id": way, "bearing_deg": bearing},
    ])
    snapped = _snap_sensors(graph, table)
    got = [(r.u, r.v, r.key) for r in snapped.itertuples()]
    assert got[0] == two_way and got[1] == two_way and got[2][:2] == back[:2]
    assert graph.edges[got[3]]["osmid"] == graph.edges[two_way]["osmid"]
    assert abs((snapped["bearing_deg"][3] - bearing + 180) % 360 - 180) <= 60
    with pytest.raises(InvalidInputError, match="no segment of the road graph belongs to OSM way 1"):
        _snap_sensors(graph, pd.DataFrame([{"sensor_id": "x", "osm_way_id": 1}]))
    with pytest.raises(InvalidInputError, match=r"row 1 \(sensor_id 'x'\).*no segment u=1, v=2"):
        _snap_sensors(graph, pd.DataFrame([{"sensor_id": "x", "u": 1, "v": 2, "key": 0}]))
    with pytest.raises(InvalidInputError, match="no road segment within 50 m"):
        _snap_sensors(graph, pd.DataFrame([{"sensor_id": "x", "lon": lat, "lat": lon}]))   # swapped


def test_sensors_given_by_position_and_bearing_read_what_the_placed_loops_read(helsinki, exact, tmp_path):
    readings, sensors, _ = exact
    given = sensors.loc[[1, 3], ["sensor_id", "lon", "lat", "bearing_deg"]].assign(sensor_id=["east", "west"])
    given.to_csv(tmp_path / "sensors.csv", index=False)
    r, s = simulate_sensors(helsinki, noise=None, sensors=tmp_path / "sensors.csv", **TINY)
    assert list(s["sensor_id"]) == ["east", "west"]
    assert [tuple(x) for x in s[["u", "v", "key"]].to_numpy()] == \
        [tuple(x) for x in sensors.loc[[1, 3], ["u", "v", "key"]].to_numpy()]
    # loops do not touch the traffic: the same seed gives the same counts on the same segments
    for new, old in (("east", sensors["sensor_id"][1]), ("west", sensors["sensor_id"][3])):
        a = r[r["sensor_id"] == new].drop(columns="sensor_id").reset_index(drop=True)
        b = readings[readings["sensor_id"] == old].drop(columns="sensor_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------- refusals
@pytest.mark.parametrize(("kw", "match"), [
    ({"interval_min": 7}, "not a whole number of 7-minute intervals"),
    ({"start": "10:00", "end": "09:00"}, "empty or longer than a day"),
    ({"days": 0}, "days must be a whole number"),
    ({"tz": "Mars/Olympus"}, "tz 'Mars/Olympus' is not a time zone"),
    ({"peak": "12:00"}, "peak 12:00 lies outside the window"),
    ({"n_busiest": 10_000}, "n_busiest=10000, but only"),
    ({"start_date": "2026-13-01"}, "start_date '2026-13-01' is not a date"),
])
def test_bad_arguments_are_refused_before_sumo_runs(helsinki, tmp_path, kw, match):
    with pytest.raises(InvalidInputError, match=match):
        simulate_sensors(helsinki, **{**TINY, **kw, "workdir": tmp_path / "w"})
    assert not (tmp_path / "w").exists()


def test_without_sumo_one_clear_error_and_nothing_written(helsinki, tmp_path):
    with pytest.raises(SumoMissingError, match="pip install eclipse-sumo==1.28.0") as err:
        simulate_sensors(helsinki, **TINY, sumo_home=tmp_path, workdir=tmp_path / "w")
    assert "\n" not in str(err.value) and not (tmp_path / "w").exists()


# ---------------------------------------------------------------- writing
@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_written_streams_read_back_the_same(noisy, tmp_path, fmt):
    readings, sensors = noisy
    paths = write_sensor_stream(tmp_path, readings, sensors, fmt=fmt)
    assert paths["readings"].name == f"readings.{fmt}" and paths["sensors"].name == "sensors.csv"
    back, s = _read_stream(tmp_path)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), readings.reset_index(drop=True),
                                  check_dtype=False, check_index_type=False, atol=1e-6)
    assert list(s["sensor_id"]) == list(sensors["sensor_id"])
    if fmt == "csv":
        assert paths["readings"].read_text().splitlines()[1].startswith("2026-03-02T05:30:00+00:00,twin-0")


def test_bad_streams_are_refused_and_nothing_is_written(noisy, tmp_path):
    readings, sensors = noisy
    cases = [
        (readings.drop(columns="quality"), sensors, "lack the column"),
        (readings.assign(quality="bad"), sensors, "quality 'bad' is not one of"),
        (readings, sensors.iloc[1:], "that the sensors table lacks"),
        (readings.assign(time=readings["time"].dt.tz_localize(None)), sensors, "timezone-aware"),
        (readings.assign(flow_vph=np.nan), sensors, "quality 'ok' need a finite flow_vph"),
    ]
    for r, s, match in cases:
        with pytest.raises(InvalidInputError, match=match):
            write_sensor_stream(tmp_path / "out", r, s)
    with pytest.raises(InvalidInputError, match="fmt 'xlsx'"):
        write_sensor_stream(tmp_path / "out", readings, sensors, fmt="xlsx")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------- shipped replay
def test_the_shipped_helsinki_replay_loads_as_promised(helsinki):
    import city_data

    folder = city_data.find_replay("helsinki").path()
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1_000_000
    readings, sensors = load_replay("helsinki")
    assert list(readings.columns) == list(READING_COLUMNS)
    assert str(readings["time"].dt.tz) == "UTC"
    local = readings["time"].dt.tz_convert("Europe/Helsinki")
    days = sorted(set(local.dt.date))
    assert len(days) == 5 and [d.weekday() for d in days] == [0, 1, 2, 3, 4]
    assert local.dt.strftime("%H:%M").min() == "06:00" and local.dt.strftime("%H:%M").max() == "09:55"
    steps = readings["time"].drop_duplicates().sort_values().diff().dropna()
    assert (steps[steps < pd.Timedelta("1h")] == pd.Timedelta("5min")).all()
    assert 15 <= len(sensors) <= 20 and set(readings["sensor_id"]) == set(sensors["sensor_id"])
    assert set(readings["quality"]) == {"ok", "dropout"}
    graph = helsinki.graph
    for row in sensors.itertuples():
        assert graph.has_edge(row.u, row.v, row.key), row.sensor_id
        lon, lat, bearing = _edge_geometry(graph, (row.u, row.v, row.key))
        assert (row.lon, row.lat, row.bearing_deg) == pytest.approx((lon, lat, bearing), abs=1e-6 + 0.05)
    # a morning peak: the busiest hour is 07:00-09:00 local
    hourly = readings.groupby(local.dt.hour)["flow_vph"].mean()
    assert hourly.idxmax() in (7, 8)


def test_an_unknown_replay_names_the_shipped_ones():
    with pytest.raises(InvalidInputError, match=r"no sensor replay named 'atlantis'.*\['helsinki'\]"):
        load_replay("atlantis")


@pytest.mark.slow
def test_the_replay_recipe_makes_the_shipped_files_again(tmp_path):
    """The README's call, run again (5 SUMO days, minutes): byte for byte the shipped readings and sensors."""
    import city_data
    from optimizer.sensing.twin import build_replay

    paths = build_replay("helsinki", tmp_path)
    shipped = city_data.find_replay("helsinki").path()
    for name in ("readings.csv.gz", "sensors.csv", "README.md"):      # twin.json also holds wall times
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name
    assert paths["readme"].name == "README.md"
