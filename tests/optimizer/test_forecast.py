"""Forecasting sensors: each model on a series with a known answer, metrics by hand, the verdict, bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import ForecastError, InvalidInputError
from optimizer.sensing.forecast import (
    QKernelOptions,
    evaluate,
    fit_forecaster,
    forecast,
    metrics_table,
    verdict,
    write_forecast,
)
from optimizer.sensing.synthetic import synthetic_readings


def readings_from(fn, *, days: int = 4, sensors=("a", "b"), start: str = "2026-03-02", step: str = "5min"):
    """A readings table whose values are ``fn(minutes_of_day, sensor_index)`` (UTC times, all 'ok')."""
    times = pd.date_range(start, periods=days * 1440 // pd.Timedelta(step).seconds * 60, freq=step, tz="UTC")
    minutes = np.asarray(times.hour * 60 + times.minute, float)
    frames = []
    for i, s in enumerate(sensors):
        v = np.broadcast_to(np.asarray(fn(minutes, i), float), minutes.shape)
        frames.append(pd.DataFrame({"time": times, "sensor_id": s, "flow_vph": v, "speed_kph": v / 10 + 20,
                                    "occupancy_pct": 5.0, "quality": "ok"}))
    return pd.concat(frames, ignore_index=True).sort_values(["time", "sensor_id"], ignore_index=True)


def daily(minutes, i):
    """A strong daily shape (a morning peak), different per sensor, the same every day."""
    return 200 + 100 * i + 600 * np.exp(-0.5 * ((minutes - 480) / 60) ** 2) + 80 * np.sin(2 * np.pi * minutes / 1440)


def test_persistence_is_exact_on_a_constant_series():
    r = readings_from(lambda m, i: 300.0 + 50 * i)
    m, _ = evaluate(r, horizons=(15, 30, 60), models=("persistence", "historical"))
    p = m[m.model == "persistence"]
    assert len(p) == 6  # 2 targets x 3 horizons
    assert (p[["mae", "rmse", "mape"]] == 0).all().all()
    assert (p.rows > 500).all()


def test_historical_average_is_exact_on_a_purely_periodic_series_and_wins():
    """Seven identical days from a Monday: the held-out weekend falls back to the weekday profile, still exact."""
    r = readings_from(daily, days=7)
    m, v = evaluate(r, horizons=(15, 60), models=("persistence", "historical", "gbt"))
    h = m[m.model == "historical"]
    assert h.mae.max() < 1e-9 and h.rmse.max() < 1e-9
    assert (m[m.model == "persistence"].mae > 1).all()  # the series moves: persistence is not exact
    assert v["test_days"] == ["2026-03-07", "2026-03-08"]  # Saturday and Sunday
    assert v["winner"] == "historical"
    assert set(v["winner_by_horizon"].values()) == {"historical"}
    assert v["quantum_wins"] is None and "not evaluated" in v["statement"]


def test_gbt_beats_persistence_an_hour_ahead_on_a_daily_shape_with_noise():
    r = synthetic_readings(days=5, sensors=3, seed=2)
    m, _ = evaluate(r, horizons=(60,), models=("persistence", "gbt"), tz="Europe/Helsinki", targets=("flow_vph",))
    mae = m.set_index("model").mae
    assert mae["gbt"] < 0.7 * mae["persistence"]


def test_metrics_by_hand():
    obs = np.array([100.0, 0.0, 50.0, np.nan, 200.0])
    t = metrics_table(obs, {"a": np.array([110.0, 10.0, 40.0, 1.0, np.nan]), "b": np.array([100.0, 0.0, 50.0, 5.0, 5.0])})
    # scored rows: 0, 1, 2 (row 3 has no observation, row 4 no forecast from a)
    a = t.set_index("model").loc["a"]
    assert a["rows"] == 3
    assert a["mae"] == pytest.approx(10.0)
    assert a["rmse"] == pytest.approx(10.0)
    assert a["mape"] == pytest.approx(100 * (10 / 100 + 10 / 50) / 2)  # the zero observation is left out
    assert a["nmae"] == pytest.approx(10.0 / 50.0)
    b = t.set_index("model").loc["b"]
    assert b[["mae", "rmse", "mape", "nmae"]].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_the_verdict_names_the_winner_and_says_when_the_quantum_model_loses_or_wins():
    def table(mae_q, mae_q60=None):
        rows = []
        for target, scale in (("flow_vph", 100.0), ("speed_kph", 10.0)):
            for h in (15, 60):
                for model, mae in (("persistence", 2.0 if h == 15 else 6.0), ("gbt", 3.0), ("qkernel", mae_q if h == 15 or mae_q60 is None else mae_q60)):
                    rows.append({"model": model, "horizon_min": h, "mae": mae * scale / 100, "rmse": 0, "mape": 0,
                                 "target": target, "nmae": mae / 100})
        return pd.DataFrame(rows)

    lose = verdict(table(4.0))
    assert lose["winner"] == "gbt"  # mean nMAE: persistence 0.04, gbt 0.03, qkernel 0.04
    assert lose["winner_by_horizon"] == {"15": "persistence", "60": "gbt"}
    assert lose["quantum_wins"] is False and lose["quantum_rank"] == 3
    assert "does not win: 3rd of 3" in lose["statement"]
    win = verdict(table(1.0))
    assert win["winner"] == "qkernel" and win["quantum_wins"] is True
    assert "qkernel) wins" in win["statement"]
    at_60 = verdict(table(4.0, 2.9))  # second overall (0.0345 against gbt's 0.03), first at 60 min
    assert at_60["winner"] == "gbt" and at_60["quantum_rank"] == 2 and at_60["quantum_wins_horizons"] == ["60"]
    assert "does not win: 2nd of 3 (mean nMAE 0.0345), though it wins at 60 min" in at_60["statement"]


def test_the_quantum_model_runs_end_to_end_and_its_metrics_are_finite():
    r = synthetic_readings(days=3, sensors=2, seed=4)
    q = QKernelOptions(qubits=3, train_rows=60, reps=2)
    m, v = evaluate(r, horizons=(15, 30), models=("persistence", "qkernel"), tz="Europe/Helsinki", qkernel=q)
    qk = m[m.model == "qkernel"]
    assert len(qk) == 4 and np.isfinite(qk[["mae", "rmse", "mape", "nmae"]].to_numpy()).all()
    assert (qk.rows == m[m.model == "persistence"].rows.to_numpy()).all()  # judged on the same rows
    assert v["qkernel"]["train_rows_used"] == 60 and v["qkernel"]["qubits_used"] == 3
    assert isinstance(v["quantum_wins"], bool) and "qkernel" in v["statement"]
    # better than forecasting nothing: the flow's own mean
    flow = r.loc[r.quality == "ok", "flow_vph"]
    assert qk[qk.target == "flow_vph"].mae.max() < (flow - flow.mean()).abs().mean()


def test_the_live_forecast_is_per_sensor_fast_and_ignores_flagged_rows():
    r = synthetic_readings(days=2, sensors=20, seed=1, dropout=0.0, suspect=0.0)
    at = pd.Timestamp("2026-03-05T07:00:00+00:00")
    # a flagged reading at `at`: persistence must carry the previous 'ok' value
    s01 = (r.sensor_id == "S01") & (r.time == at)
    before = r.loc[(r.sensor_id == "S01") & (r.time == at - pd.Timedelta(minutes=5)), "flow_vph"].item()
    r.loc[s01, ["flow_vph", "quality"]] = [9999.0, "suspect"]
    f = fit_forecaster(r[r.time < "2026-03-05"], tz="Europe/Helsinki", horizons=(15,))
    for model in ("persistence", "historical", "gbt"):
        hs = (15,) if model == "gbt" else (15, 30, 60)  # the trees are fitted per horizon, the others need no fit
        t0 = time.perf_counter()
        out = f.predict(r, at=at, model=model, horizon_min=hs)
        assert time.perf_counter() - t0 < 1.0, model
        assert len(out) == 20 * len(hs) and out.sensor_id.nunique() == 20
        assert out[["flow_vph", "speed_kph"]].notna().all().all()
        assert (out.time == at).all() and set(out.horizon_min) == set(hs)
        assert (out.target_time == at + pd.to_timedelta(out.horizon_min, "min")).all()
    p = f.predict(r, at=at, model="persistence", horizon_min=15)
    assert p.set_index("sensor_id").loc["S02", "flow_vph"] == r.loc[(r.sensor_id == "S02") & (r.time == at), "flow_vph"].item()
    assert p.set_index("sensor_id").loc["S01", "flow_vph"] == before
    # the one-call form, and a time off the grid goes to the grid time before it
    one = forecast(r, at="2026-03-05T07:02:00+00:00", model="persistence", horizon_min=15)
    assert (one.time == at).all() and one.set_index("sensor_id").loc["S01", "flow_vph"] == before


def test_historical_forecast_is_the_training_profile():
    r = readings_from(daily, days=3)
    f = fit_forecaster(r, models=("historical",), horizons=(30,))
    out = f.predict(r, at="2026-03-04T07:30:00+00:00")
    assert out.set_index("sensor_id").flow_vph.to_numpy() == pytest.approx([daily(480.0, 0), daily(480.0, 1)])


def test_write_forecast_writes_both_files(tmp_path):
    r = readings_from(daily, days=3)
    m, v = evaluate(r, horizons=(15,), models=("persistence", "historical"))
    folder = write_forecast(tmp_path / "out", m, v)
    assert folder == tmp_path / "out" / "forecast"
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.csv", "verdict.json"]  # no temp files left
    back = pd.read_csv(folder / "metrics.csv")
    assert back.columns[:5].tolist() == ["model", "horizon_min", "mae", "rmse", "mape"]
    assert len(back) == 4
    assert json.loads((folder / "verdict.json").read_text())["winner"] == "historical"
    with pytest.raises(ForecastError, match="metrics: missing column"):
        write_forecast(tmp_path / "x", m.drop(columns="mape"), v)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r.iloc[0:0], "readings: the table is empty"),
        (lambda r: r.drop(columns="speed_kph"), "missing column.*'speed_kph'"),
        (lambda r: r.assign(time=r.time.dt.tz_localize(None)), "readings.time: timestamps have no time zone"),
        (lambda r: r.assign(time="yesterday"), "readings.time: cannot be read"),
        (lambda r: r.assign(flow_vph="many"), "readings.flow_vph: not numeric"),
        (lambda r: r[r.time < "2026-03-03"], "give at least two days"),
        (lambda r: r.assign(time=r.time + pd.to_timedelta(np.arange(len(r)) % 2 * 60, "s")), "not on a regular interval"),
        (lambda r: r.to_dict(), "expected a pandas DataFrame"),
    ],
)
def test_bad_readings_are_one_clear_error(change, match):
    r = readings_from(daily, days=3)
    with pytest.raises(ForecastError, match=match) as info:
        evaluate(change(r), horizons=(15,), models=("persistence",))
    assert isinstance(info.value, InvalidInputError) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizons": (15, 7)}, r"horizons: 7 min is not a positive multiple of the readings' interval \(5 min\)"),
        ({"horizons": (0,)}, "horizons: 0 min"),
        ({"horizons": ()}, "horizons: give at least one"),
        ({"horizons": (1445,)}, "horizons: 1445 min is more than a day ahead"),
        ({"models": ("persistence", "arima")}, "models: \\['arima'\\] not among"),
        ({"targets": ("occupancy",)}, "targets"),
        ({"tz": "Mars/Olympus"}, "tz: 'Mars/Olympus' is not a time zone"),
        ({"test_days": 3}, "test_days: must be an integer from 1 to 2"),
        ({"qkernel": {"qubits": 4}}, "qkernel: expected QKernelOptions"),
    ],
)
def test_bad_options_are_one_clear_error(kwargs, match):
    r = readings_from(daily, days=3)
    kw = {"horizons": (15,), "models": ("persistence",), **kwargs}
    with pytest.raises(ForecastError, match=match):
        evaluate(r, **kw)


def test_bad_forecast_calls_are_one_clear_error():
    r = readings_from(daily, days=2)
    f = fit_forecaster(r, models=("persistence", "gbt"), horizons=(15,))
    with pytest.raises(ForecastError, match="not among the fitted sensors"):
        f.predict(pd.concat([r, r.assign(sensor_id="zz")]))
    with pytest.raises(ForecastError, match="fitted for \\[15\\] min"):
        f.predict(r, model="gbt", horizon_min=30)
    assert len(f.predict(r, model="persistence", horizon_min=30)) == 2  # persistence needs no fit per horizon
    shifted = r.assign(time=r.time + pd.Timedelta(minutes=1))
    with pytest.raises(ForecastError, match="off the fitted 5 min grid"):
        f.predict(pd.concat([r, shifted]), model="persistence")
    with pytest.raises(ForecastError, match="at: .* no time zone"):
        f.predict(r, at="2026-03-03T08:00")
    with pytest.raises(ForecastError, match="at: no readings"):
        f.predict(r, at="2026-01-01T00:00+00:00")
    short = r[(r.time >= "2026-03-02T23:00+00:00") & (r.time <= "2026-03-03T00:10+00:00")]  # two dates, 75 min
    with pytest.raises(ForecastError, match="horizons: \\[120\\] min reach past the readings"):
        evaluate(short, horizons=(15, 120), models=("persistence", "gbt"))
    with pytest.raises(ForecastError, match="qkernel.qubits"):
        QKernelOptions(qubits=20)


def test_held_out_predictions_are_what_was_scored_and_the_report_draws_them(tmp_path):
    from optimizer.report.html import write_report
    from optimizer.runs.results import ingest_outputs

    r = synthetic_readings(days=3, sensors=3, seed=0)
    metrics, v, pred = evaluate(r, horizons=(15, 30), models=("persistence", "historical"), tz="Europe/Helsinki",
                                return_predictions=True)
    for (m, t, h), g in pred.groupby(["model", "target", "horizon_min"]):
        row = metrics[(metrics.model == m) & (metrics.target == t) & (metrics.horizon_min == h)].iloc[0]
        assert len(g) == row["rows"]
        assert float(np.mean(np.abs(g.predicted - g.observed))) == pytest.approx(row["mae"])
        assert ((g.target_time - g.time) == pd.Timedelta(minutes=int(h))).all()
    folder = write_forecast(tmp_path, metrics, v, pred)
    back = pd.read_csv(folder / "predictions.csv")
    assert len(back) == len(pred) and set(back.model) == {"persistence", "historical"}
    ingest_outputs(tmp_path, tmp_path / "results.duckdb")
    page = write_report(tmp_path / "results.duckdb", tmp_path / "report.html").read_text()
    assert 'id="forecast"' in page and 'data-figure="forecast-vs-observed"' in page
    assert page.count("<tr data-model=") == len(metrics)
    assert f'data-winner="{v["winner"]}"' in page
    # no predictions file: the table, and a note instead of the figure
    (folder / "predictions.csv").unlink()
    page = write_report(tmp_path / "results.duckdb", tmp_path / "report.html").read_text()
    assert 'id="forecast"' in page and "forecast-vs-observed" not in page
