"""`cityopt sensors simulate|read`: the contract's files, and bad input as one exit-2 line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from optimizer.cli import main


def test_simulate_writes_the_contracts_tables_and_read_checks_them(tmp_path: Path) -> None:
    out = tmp_path / "stream"
    rc = main(["-q", "sensors", "simulate", "--city", "helsinki", "--days", "1", "--busiest", "3",
               "--vehicles-per-day", "600", "--window", "07:00-07:20", "--tz", "Europe/Helsinki", "--out", str(out)])
    assert rc == 0
    readings = pd.read_csv(out / "readings.csv")
    sensors = pd.read_csv(out / "sensors.csv")
    assert list(readings.columns[:6]) == ["time", "sensor_id", "flow_vph", "speed_kph", "occupancy_pct", "quality"]
    assert {"sensor_id", "lon", "lat", "bearing_deg"} <= set(sensors.columns)
    assert sensors.sensor_id.nunique() == 3 and len(readings) == 3 * 4  # 3 loops x 4 five-minute intervals
    assert readings.flow_vph.dropna().ge(0).all() and readings.flow_vph.sum() > 0
    checked = tmp_path / "checked"
    assert main(["-q", "sensors", "read", str(out / "readings.csv"), str(out / "sensors.csv"), "--city", "helsinki",
                 "--out", str(checked)]) == 0
    summary = json.loads((checked / "sensors_summary.json").read_text())
    assert summary["rows"] == len(readings) and summary["sensors_snapped"] == 3
    assert summary["interval_s"] == 300


def test_read_the_shipped_replay(tmp_path: Path) -> None:
    from optimizer.sensing.twin import load_replay, write_sensor_stream

    readings, sensors = load_replay("helsinki")
    write_sensor_stream(tmp_path / "replay", readings, sensors)
    out = tmp_path / "out"
    assert main(["-q", "sensors", "read", str(tmp_path / "replay" / "readings.csv"),
                 str(tmp_path / "replay" / "sensors.csv"), "--out", str(out)]) == 0
    summary = json.loads((out / "sensors_summary.json").read_text())
    assert summary["rows"] == len(readings) and summary["flags"].get("dropout", 0) > 0  # flagged, not dropped


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "--days", "0"], "--days must be >= 1"),
    (["simulate", "--window", "0700"], "--window takes HH:MM-HH:MM"),
    (["read", "only-one.csv"], "readings file(s) and then the sensors file"),
    (["read", "missing.csv", "sensors.csv"], "missing.csv"),
    (["read", "r.csv", "s.csv", "--tz", "Mars/Base"], "Mars/Base"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                           needle: str) -> None:
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"time": ["2026-03-02T06:00:00Z"], "sensor_id": ["a"], "flow_vph": [10.0], "speed_kph": [30.0],
                  "occupancy_pct": [5.0], "quality": ["ok"]}).to_csv("r.csv", index=False)
    pd.DataFrame({"sensor_id": ["a"], "lon": [24.94], "lat": [60.17], "bearing_deg": [90.0]}).to_csv("s.csv", index=False)
    out = tmp_path / "out"
    rc = main(["sensors", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_forecast_on_the_shipped_replay_writes_the_contracts_table(tmp_path: Path) -> None:
    out = tmp_path / "f"
    assert main(["-q", "forecast", "--sensors", "replay:helsinki", "--models", "persistence", "historical",
                 "--horizons", "15,60", "--out", str(out)]) == 0
    metrics = pd.read_csv(out / "forecast" / "metrics.csv")
    assert {"model", "horizon_min", "mae", "rmse", "mape"} <= set(metrics.columns)
    assert set(metrics.model) == {"persistence", "historical"} and set(metrics.horizon_min) == {15, 60}
    verdict = json.loads((out / "forecast" / "verdict.json").read_text())
    assert verdict["winner"] in {"persistence", "historical"}
    # the winner by the table's own figures: lowest mean nMAE
    assert verdict["winner"] == metrics.groupby("model").nmae.mean().idxmin()


@pytest.mark.parametrize("argv, needle", [
    (["--sensors", "replay:atlantis"], "atlantis"),
    (["--sensors", "no-such-folder"], "is not a folder"),
    (["--sensors", "replay:helsinki", "--horizons", "15,-5"], "--horizons takes positive minutes"),
    (["--sensors", "replay:helsinki", "--horizons", "7"], "7"),
])
def test_bad_forecast_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               argv: list[str], needle: str) -> None:
    out = tmp_path / "out"
    rc = main(["forecast", *argv, "--models", "persistence", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_fit_od_on_the_replay_meets_the_geh_acceptance(tmp_path: Path) -> None:
    out = tmp_path / "od_fit"
    assert main(["-q", "sensors", "fit-od", "--sensors", "replay:helsinki", "--trips", "600",
                 "--prior-vehicles", "8000", "--out", str(out)]) == 0
    summary = json.loads((out / "od" / "summary.json").read_text())
    geh = pd.read_csv(out / "od" / "geh.csv")
    assert summary["share_geh_below_5_after"] >= 0.85 and summary["accepted_after"] is True
    assert summary["share_geh_below_5_after"] == pytest.approx((geh.geh < 5).mean())
    trips = pd.read_csv(out / "od" / "trips.csv")
    assert {"origin_lon", "origin_lat", "dest_lon", "dest_lat", "depart", "vehicles"} <= set(trips.columns)


def test_live_writes_the_contracts_summary_and_timeline(tmp_path: Path) -> None:
    out = tmp_path / "live_run"
    assert main(["-q", "live", "--city", "helsinki", "--trips", "30", "--vehicles-per-trip", "2", "--hours", "0.2",
                 "--solver", "cpsat", "--detectors", "4", "--work-scale", "0.2", "--out", str(out)]) == 0
    summary = json.loads((out / "live" / "summary.json").read_text())
    assert set(summary["strategies"]) == {"none", "sumo-rerouting", "cityopt-cpsat"}
    assert summary["settings"]["solver_work"] == {"cpsat": {"deterministic_time": 1.5}}  # 7.5 x 0.2
    for entry in summary["strategies"].values():
        assert {"total_travel_time_s", "time_loss_s", "vehicles_arrived", "teleports", "max_step_wall_s"} <= set(entry)
        assert entry["vehicles_arrived"] == 60
    timeline = pd.read_csv(out / "live" / "timeline.csv")
    assert {"step", "sim_time_s", "vehicles_en_route", "vehicles_rerouted", "forecast_error_so_far",
            "solve_wall_s", "mean_network_speed_kph"} <= set(timeline.columns)


@pytest.mark.parametrize("argv, needle", [
    (["--step-min", "20", "--horizon-min", "15"], "step"),
    (["--step-min", "0"], "step"),
    (["--solver", "nosuch"], "nosuch"),
    (["--trips", "0"], "trips"),
    (["--reroute-share", "0"], "reroute_share"),
    (["--min-gain", "-3"], "min_gain_s"),
    (["--forecast", "oracle"], "forecast"),
    (["--work-scale", "0"], "work_scale"),
])
def test_bad_live_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           argv: list[str], needle: str) -> None:
    out = tmp_path / "out"
    rc = main(["live", "--hours", "0.1", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
