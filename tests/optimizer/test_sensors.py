"""Street-sensor data: the readings and sensors tables, the public formats, flags, snapping and refusals.

Fixtures in ``tests/data/sensors/`` are written to the published field lists
(see :mod:`optimizer.sensing.formats`); the Digitraffic stations 9001 and 9002
are fictional numbers placed on real segments of the bundled Helsinki map.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from optimizer.errors import InvalidInputError, SensorDataError
from optimizer.sensing.formats import (
    read_digitraffic_stations,
    read_lam_raw,
    read_pems_5min,
    read_pems_meta,
    read_sensors,
)
from optimizer.sensing.readings import FLAGS, Sensors, parse_times
from optimizer.sensing.snapping import snap_sensors

DATA = Path(__file__).resolve().parents[1] / "data" / "sensors"
LAM = [DATA / "lamraw_9001_24_127.csv", DATA / "lamraw_9002_24_127.csv"]
STATIONS = DATA / "digitraffic_stations.json"
CONSTANTS = DATA / "digitraffic_sensor_constants.json"
PEMS = DATA / "d04_text_station_5min_2024_05_06.txt"
PEMS_META = DATA / "d04_text_meta_2024_05_06.txt"


def _at(df: pd.DataFrame, time: str, sensor: str) -> pd.Series:
    rows = df[(df["time"] == pd.Timestamp(time)) & (df["sensor_id"] == sensor)]
    assert len(rows) == 1, (time, sensor, len(rows))
    return rows.iloc[0]


# ------------------------------------------------------------------ Digitraffic LAM
def test_lam_raw_counts_vehicles_per_5_minutes_in_utc() -> None:
    r = read_lam_raw(LAM)
    # 3 sensors (9001 both ways, 9002 direction 1) x 288 five-minute intervals of 6 May 2024 (EEST)
    assert len(r) == 3 * 288
    assert sorted(r["sensor_id"].unique()) == ["9001-1", "9001-2", "9002-1"]
    assert r["time"].min() == pd.Timestamp("2024-05-05T21:00:00Z")   # local midnight, UTC+3
    assert r["time"].max() == pd.Timestamp("2024-05-06T20:55:00Z")
    first = _at(r, "2024-05-06T04:00:00Z", "9001-1")                # 07:00-07:05 local
    assert first["flow_vph"] == 36.0                                # 3 valid vehicles x 12
    assert first["speed_kph"] == pytest.approx(36.0)                # mean of 30, 36, 42
    assert first["quality"] == "faulty_records"                     # a 4th record marked faulty
    assert _at(r, "2024-05-06T04:00:00Z", "9001-2")[["flow_vph", "speed_kph"]].tolist() == [12.0, 28.0]
    assert _at(r, "2024-05-06T04:05:00Z", "9001-2")[["flow_vph", "speed_kph"]].tolist() == [12.0, 32.0]
    assert _at(r, "2024-05-06T05:10:00Z", "9002-1")[["flow_vph", "speed_kph"]].tolist() == [24.0, 30.0]
    quiet = _at(r, "2024-05-06T00:00:00Z", "9001-1")
    assert quiet["flow_vph"] == 0.0 and math.isnan(quiet["speed_kph"]) and quiet["quality"] == "ok"
    assert r["flow_vph"].sum() == 36 + 12 + 12 + 24
    assert r["occupancy_pct"].isna().all()


def test_lam_raw_on_the_autumn_clock_change_keeps_both_0330s(tmp_path: Path) -> None:
    # 27 October 2024 (day 301): clocks go back 04:00 EEST -> 03:00 EET, so 03:30 happens twice
    f = tmp_path / "lamraw_9001_24_301.csv"
    f.write_text("9001;24;301;3;30;0;0;4.3;1;1;1;50;0;1;1;0\n"
                 "9001;24;301;3;59;0;0;4.3;1;1;1;50;0;1;1;0\n"
                 "9001;24;301;3;30;0;0;4.3;1;1;1;60;0;1;1;0\n")
    r = read_lam_raw(f)
    assert len(r) == 25 * 12                                         # a 25-hour day
    assert _at(r, "2024-10-27T00:30:00Z", "9001-1")["speed_kph"] == 50.0   # 03:30 EEST
    assert _at(r, "2024-10-27T01:30:00Z", "9001-1")["speed_kph"] == 60.0   # 03:30 EET


def test_digitraffic_stations_give_each_direction_its_bearing() -> None:
    s = read_digitraffic_stations(STATIONS, CONSTANTS)
    assert s["sensor_id"].tolist() == ["9001-1", "9001-2", "9002-1", "9002-2"]
    assert s["bearing_deg"].tolist() == [267.0, 87.0, 267.0, 87.0]
    assert s.loc[0, ["lon", "lat"]].tolist() == [24.951724, 60.174054]
    with pytest.raises(SensorDataError, match="Tien_suunta"):
        read_digitraffic_stations(STATIONS)


def test_digitraffic_end_to_end_snaps_a_dual_carriageway_station(helsinki) -> None:
    s = read_sensors(LAM, STATIONS, format="lam", constants_path=CONSTANTS, city=helsinki)
    snapped = s.sensors.set_index("sensor_id")
    assert (snapped["snap_note"] == "").all()
    assert tuple(snapped.loc["9001-1", ["u", "v"]]) == (1371708589, 1375815869)   # Liisankatu westbound
    assert tuple(snapped.loc["9001-2", ["u", "v"]]) == (1375815869, 1371708589)   # ... and eastbound
    assert tuple(snapped.loc["9002-1", ["u", "v"]]) == (25413717, 25413719)       # Kaivokatu westbound
    assert tuple(snapped.loc["9002-2", ["u", "v"]]) == (335032905, 56438018)      # the eastbound carriageway
    assert snapped.loc["9002-2", "snap_m"] == pytest.approx(20.7, abs=0.2)
    summary = s.summary()
    assert summary["rows"] == 864 and summary["flags"]["faulty_records"] == 1
    assert summary["sensors_snapped"] == 4 and summary["interval_s"] == 300.0


# ------------------------------------------------------------------ PeMS
def test_pems_5min_converts_units_and_flags_imputed_rows() -> None:
    r = read_pems_5min(PEMS)
    assert len(r) == 4
    a = _at(r, "2024-05-06T14:00:00Z", "400001")                    # 07:00 PDT
    assert a["flow_vph"] == 512 * 12
    assert a["occupancy_pct"] == pytest.approx(8.12)
    assert a["speed_kph"] == pytest.approx(64.2 * 1.609344)
    assert a["quality"] == "ok"
    b = _at(r, "2024-05-06T14:00:00Z", "400002")
    assert b["quality"] == "mostly_imputed" and math.isnan(b["speed_kph"]) and b["flow_vph"] == 3600.0
    meta = read_pems_meta(PEMS_META)
    assert meta["sensor_id"].tolist() == ["400001", "400002"]
    assert meta["bearing_deg"].tolist() == [0.0, 180.0]
    assert meta.loc[0, "lon"] == "-121.9001" or float(meta.loc[0, "lon"]) == -121.9001


def test_pems_end_to_end_flags_the_gap() -> None:
    s = read_sensors(PEMS, PEMS_META, format="pems")
    assert s.flags["gap_before"] == 1 and s.gaps == 1 and s.missing_intervals == 1
    assert s.flags["mostly_imputed"] == 1
    assert _at(s.readings, "2024-05-06T14:10:00Z", "400002")["quality"] == "gap_before"
    assert s.sensors["lon"].tolist() == [-121.9001, -121.9005]


# ------------------------------------------------------------------ flags
def test_each_flag_on_a_crafted_file() -> None:
    s = Sensors.read(DATA / "flags_readings.csv", DATA / "flags_sensors.csv")
    assert len(s.readings) == 12                                      # nothing dropped
    expected = {"negative_flow": 1, "missing_flow": 1, "impossible_speed": 2, "impossible_occupancy": 1,
                "duplicate": 1, "out_of_order": 1, "gap_before": 2, "unknown_sensor": 1, "unsnapped_sensor": 0,
                "dropout": 1}
    assert s.flags == expected
    assert s.gaps == 2 and s.missing_intervals == 2 and s.rows_ok == 2 and s.interval_s == 300.0
    q = {(t.strftime("%H:%M"), sid): [] for t, sid in zip(s.readings["time"], s.readings["sensor_id"])}
    for t, sid, quality in zip(s.readings["time"], s.readings["sensor_id"], s.readings["quality"]):
        q[(t.strftime("%H:%M"), sid)].append(quality)
    assert q[("04:00", "s1")] == ["ok"]
    assert q[("04:05", "s1")] == ["negative_flow"]
    assert q[("04:10", "s1")] == ["impossible_speed"]
    assert q[("04:15", "s1")] == ["impossible_speed"]
    assert q[("04:20", "s1")] == ["impossible_occupancy", "duplicate"]   # file order kept for repeats
    assert q[("04:30", "s1")] == ["out_of_order;gap_before"]
    assert q[("04:40", "s1")] == ["gap_before"]
    assert q[("04:45", "s1")] == ["missing_flow"]
    assert q[("04:00", "s2")] == ["dropout"]                             # the source's own flag is kept
    assert q[("04:05", "ghost")] == ["unknown_sensor"]
    summary = s.summary()
    assert summary["flags"] == expected and summary["gaps"] == 2
    assert summary["time_start"] == "2024-05-06T04:00:00Z" and summary["time_end"] == "2024-05-06T04:45:00Z"
    assert set(FLAGS) <= set(summary["flags"])


def test_flags_are_recomputed_not_doubled_when_read_back(tmp_path: Path) -> None:
    s = Sensors.read(DATA / "flags_readings.csv", DATA / "flags_sensors.csv")
    s.write(tmp_path / "r.csv", tmp_path / "s.csv")
    again = Sensors.read(tmp_path / "r.csv", tmp_path / "s.csv")
    assert again.flags == s.flags
    assert again.readings["quality"].tolist() == s.readings["quality"].tolist()


# ------------------------------------------------------------------ snapping
def test_snapping_on_helsinki_by_position_and_bearing(helsinki) -> None:
    s = Sensors.read(DATA / "helsinki_readings.csv", DATA / "helsinki_sensors.csv", city=helsinki)
    t = s.sensors.set_index("sensor_id")
    edge = helsinki.graph.edges[1371708589, 1375815869, 0]
    assert "Liisankatu" in str(edge["name"]) and helsinki.graph.has_edge(1375815869, 1371708589)
    assert tuple(t.loc["liisankatu-w", ["u", "v", "key"]]) == (1371708589, 1375815869, 0)
    assert tuple(t.loc["liisankatu-e", ["u", "v", "key"]]) == (1375815869, 1371708589, 0)   # the reverse edge
    assert t.loc["liisankatu-w", "snap_m"] < 1.0 and t.loc["liisankatu-w", "bearing_diff_deg"] < 5.0
    assert tuple(t.loc["kaivokatu-way", ["u", "v"]]) == (25413717, 25413719)                # by OSM way id
    assert math.isnan(t.loc["kaivokatu-way", "bearing_diff_deg"])
    # one-way northbound Fabianinkatu counted southbound: flagged, with the reason
    assert pd.isna(t.loc["fabianinkatu-s", "u"])
    assert "runs within 45 deg of bearing 177" in t.loc["fabianinkatu-s", "snap_note"]
    assert "Fabianinkatu" in t.loc["fabianinkatu-s", "snap_note"]
    assert "runs both ways" in t.loc["liisankatu-way", "snap_note"]
    assert t.loc["pasila", "snap_note"].startswith("no road segment within 50 m")
    flagged = s.readings[s.readings["quality"].str.contains("unsnapped_sensor")]
    assert sorted(flagged["sensor_id"].unique()) == ["fabianinkatu-s", "pasila"]
    assert s.flags["unsnapped_sensor"] == 4
    summary = s.summary()
    assert summary["sensors_snapped"] == 4 and set(summary["sensors_unsnapped"]) == {
        "fabianinkatu-s", "liisankatu-way", "pasila"}


def test_snapping_every_sensor_placed_on_an_edge_lands_on_it(helsinki) -> None:
    """Every segment's midpoint, with the segment's own direction there, snaps back to exactly that segment."""
    from optimizer.inputs.roads import edge_line
    from optimizer.sensing.snapping import _EdgeIndex

    G = helsinki.graph
    index = _EdgeIndex(G)                      # its edges in the order of G.edges(keys=True)
    rows, truth = [], []
    for i in range(len(index.edges)):
        e = index.edges[i]
        mid = edge_line(G, e.u, e.v, e.key).interpolate(0.5, normalized=True)
        c = index.candidate(i, index.point(mid.x, mid.y))
        rows.append({"sensor_id": f"{e.u}-{e.v}-{e.key}", "lon": mid.x, "lat": mid.y, "bearing_deg": c.bearing_deg})
        truth.append((e.u, e.v, e.key))
    out = snap_sensors(pd.DataFrame(rows), G)
    got = list(zip(out["u"], out["v"], out["key"]))
    assert len(got) == G.number_of_edges() == 321
    assert [(g, t) for g, t in zip(got, truth) if g != t] == []


# ------------------------------------------------------------------ files
def test_parquet_round_trip(tmp_path: Path, helsinki) -> None:
    s = Sensors.read(DATA / "helsinki_readings.csv", DATA / "helsinki_sensors.csv", city=helsinki)
    s.write(tmp_path / "readings.parquet", tmp_path / "sensors.parquet")
    back = Sensors.read(tmp_path / "readings.parquet", tmp_path / "sensors.parquet")
    pd.testing.assert_frame_equal(back.readings, s.readings)
    assert str(back.readings["time"].dt.tz) == "UTC"
    assert back.sensors["sensor_id"].tolist() == s.sensors["sensor_id"].tolist()
    assert back.sensors["u"].tolist() == s.sensors["u"].tolist()
    csv = Sensors.read(*s.write(tmp_path / "readings.csv", tmp_path / "sensors.csv"))
    pd.testing.assert_frame_equal(csv.readings, s.readings)
    assert (tmp_path / "readings.csv").read_text().splitlines()[1].startswith("2024-05-06T04:00:00Z,")


def test_times_with_a_zone_name_and_offsets() -> None:
    naive = pd.Series(["2024-05-06 07:00", "2024-01-15 07:00"])
    utc = parse_times(naive, tz="Europe/Helsinki", where="t")
    assert utc.tolist() == [pd.Timestamp("2024-05-06T04:00Z"), pd.Timestamp("2024-01-15T05:00Z")]
    offset = parse_times(pd.Series(["2024-05-06T07:00:00+03:00", "2024-05-06T04:05:00Z"]), tz="America/Chicago",
                         where="t")
    assert offset.tolist() == [pd.Timestamp("2024-05-06T04:00Z"), pd.Timestamp("2024-05-06T04:05Z")]


# ------------------------------------------------------------------ refusals
def _readings_csv(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(("readings", "match"), [
    (PEMS, "PeMS 5-minute station file"),
    (LAM[0], "Digitraffic LAM raw data file"),
])
def test_a_public_format_given_as_our_csv_is_named(tmp_path: Path, readings: Path, match: str) -> None:
    copy = tmp_path / "readings.csv"
    copy.write_bytes(readings.read_bytes())
    with pytest.raises(SensorDataError, match=match) as err:
        Sensors.read(copy, DATA / "flags_sensors.csv")
    assert "readings.csv" in str(err.value) and "format=" in str(err.value)


@pytest.mark.parametrize(("text", "tz", "match"), [
    ("time,sensor_id\n2024-05-06T04:00:00Z,s1\n", None, "no column.*'flow_vph'"),
    ("time,sensor_id,flow_vph\n2024-05-06T04:00:00Z,s1,10\n2024-13-45T99:00:00Z,s1,12\n", None,
     r"time in row 1 \(file line 3\) is not a date and time \(first: '2024-13-45T99:00:00Z'\)"),
    ("time,sensor_id,flow_vph\n2024-05-06 07:00,s1,10\n", None, "no UTC offset or zone.*tz='Europe/Helsinki'"),
    ("time,sensor_id,flow_vph\n2024-05-06 07:00,s1,10\n", "Europe/Helsinky", "tz='Europe/Helsinky' is not a time zone"),
    ("time,sensor_id,flow_vph\n2024-05-06T07:00:00Z,s1,10\n2024-05-06 07:05,s1,10\n", None,
     "mixes times with and without a UTC offset"),
    ("time,sensor_id,flow_vph\n2024-05-06T07:00:00Z,s1,lots\n", None, "flow_vph in row 0.*'lots'"),
    ("time,sensor_id,flow_vph\n", None, "has columns but no rows"),
    ("", None, "is empty"),
    ("time,sensor_id,flow_vph\n2024-10-27 03:30,s1,10\n", "Europe/Helsinki", "skips or repeats"),
])
def test_bad_readings_files_are_refused_naming_the_field(tmp_path: Path, text: str, tz: str | None,
                                                         match: str) -> None:
    p = _readings_csv(tmp_path, text)
    with pytest.raises(SensorDataError, match=match) as err:
        Sensors.read(p, DATA / "flags_sensors.csv", tz=tz)
    assert isinstance(err.value, InvalidInputError) and isinstance(err.value, ValueError)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "match"), [
    ("sensor_id,lon,lat\ns1,24.95,60.17\n", "bearing_deg or osm_way_id"),
    ("sensor_id,lon,lat,bearing_deg,osm_way_id\ns1,24.95,60.17,,\n", "neither bearing_deg nor osm_way_id"),
    ("sensor_id,lon,lat,bearing_deg\ns1,24.95,60.17,400\n", "bearing_deg .* outside 0..360"),
    ("sensor_id,lon,lat,bearing_deg\ns1,60.17,124.95,90\n", "out of range"),
    ("sensor_id,lon,lat,bearing_deg\ns1,24.95,60.17,90\ns1,24.95,60.17,270\n", "'s1' appears more than once"),
])
def test_bad_sensors_files_are_refused(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "sensors.csv"
    p.write_text(text)
    with pytest.raises(SensorDataError, match=match):
        Sensors.read(DATA / "flags_readings.csv", p)


def test_refusals_of_the_public_readers(tmp_path: Path) -> None:
    with pytest.raises(SensorDataError, match="not a PeMS 5-minute row"):
        read_pems_5min(DATA / "flags_readings.csv")
    with pytest.raises(SensorDataError, match="where a LAM raw file has 16"):
        read_lam_raw(DATA / "flags_readings.csv")
    with pytest.raises(SensorDataError, match="not a GeoJSON FeatureCollection"):
        read_digitraffic_stations(CONSTANTS)
    with pytest.raises(SensorDataError, match="as JSON"):
        read_digitraffic_stations(LAM[0])
    with pytest.raises(SensorDataError, match="format='gtfs' is not a known"):
        read_sensors(PEMS, PEMS_META, format="gtfs")
    with pytest.raises(SensorDataError, match="tz='Mars/Olympus' is not a time zone"):
        read_pems_5min(PEMS, tz="Mars/Olympus")
    empty = tmp_path / "lamraw_1_24_1.csv"
    empty.write_text("")
    with pytest.raises(SensorDataError, match="is empty"):
        read_lam_raw(empty)
    wrong_suffix = tmp_path / "readings.txt"
    wrong_suffix.write_text("time,sensor_id,flow_vph\n")
    with pytest.raises(SensorDataError, match="unknown suffix '.txt'"):
        Sensors.read(wrong_suffix, DATA / "flags_sensors.csv")
    with pytest.raises(SensorDataError, match="no readings file at"):
        Sensors.read(tmp_path / "nope.csv", DATA / "flags_sensors.csv")


def test_unknown_sensors_flagged_refused_when_asked_or_when_no_reading_matches(tmp_path: Path) -> None:
    with pytest.raises(SensorDataError, match=r"sensor ids in .* are in .*\('ghost'; row 11 \(file line 13\)\)"):
        Sensors.read(DATA / "flags_readings.csv", DATA / "flags_sensors.csv", unknown_sensors="error")
    with pytest.raises(SensorDataError, match="none of the sensor ids in"):
        Sensors.read(DATA / "helsinki_readings.csv", DATA / "flags_sensors.csv")
    with pytest.raises(SensorDataError, match="unknown_sensors='drop'"):
        Sensors.read(DATA / "flags_readings.csv", DATA / "flags_sensors.csv", unknown_sensors="drop")


def test_summary_is_json_for_summary_json(tmp_path: Path, helsinki) -> None:
    import json

    from optimizer.io import atomic_write_json

    s = Sensors.read(DATA / "helsinki_readings.csv", DATA / "helsinki_sensors.csv", city=helsinki)
    back = json.loads(atomic_write_json(tmp_path / "summary.json", s.summary()).read_text())
    assert back["rows"] == 10 and back["sensors"] == 7 and back["city"] == "helsinki"
    assert back["flags"]["unsnapped_sensor"] == 4 and back["interval_s"] == 300.0
    assert back["sources"][0].endswith("helsinki_readings.csv")


def test_datetime_columns_of_any_resolution_and_naive_ones_need_a_zone(tmp_path: Path) -> None:
    sensors = pd.read_csv(DATA / "flags_sensors.csv")
    times = pd.to_datetime(["2024-05-06T04:00Z", "2024-05-06T04:05Z", "2024-05-06T04:20Z"]).as_unit("us")
    r = pd.DataFrame({"time": times, "sensor_id": "s1", "flow_vph": 100.0})
    s = Sensors.from_frames(r, sensors)
    assert s.interval_s == 300.0 and s.gaps == 1 and s.missing_intervals == 2
    naive = r.assign(time=times.tz_localize(None))
    naive.to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(SensorDataError, match="no UTC offset or zone"):
        Sensors.read(tmp_path / "naive.parquet", DATA / "flags_sensors.csv")
    local = Sensors.read(tmp_path / "naive.parquet", DATA / "flags_sensors.csv", tz="Europe/Helsinki")
    assert local.readings["time"].iloc[0] == pd.Timestamp("2024-05-06T01:00Z")
