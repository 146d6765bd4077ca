"""The notebook API: ``from optimizer import Sensors, forecast, live`` on the shipped replay, end to end
(real SUMO through libsumo, the learned forecast in the loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_sensors_forecast_live_round_trip_on_the_replay(tmp_path):
    from optimizer import Sensors, forecast, live

    stream = Sensors.read("replay:helsinki")
    assert stream.tz == "Europe/Helsinki" and len(stream.sensors) == 18
    # the historical average 15 min after 07:00 local on the last morning: the earlier mornings' mean at 07:15
    f = forecast(stream, model="historical", horizon_min=15, at="2026-03-06T05:00Z")
    r = stream.readings
    ok = r[(r.quality == "ok") & (r.time.dt.strftime("%H:%M") == "05:15") & (r.time < "2026-03-06")]
    want = ok.groupby("sensor_id").flow_vph.mean()
    got = f.set_index("sensor_id").flow_vph
    assert np.allclose(got[want.index], want)
    assert (f.target_time == pd.Timestamp("2026-03-06T05:15Z")).all()

    res = live("helsinki", sensors=stream, trips=40, vehicles_per_trip=4, hours=0.25, solvers=("cpsat",),
               forecast="historical", time_limit_s=3, baselines=("none",), drain_min=15, seed=2, out=tmp_path)
    assert res.settings["forecast"] == "historical_forecast"
    assert res.settings["detectors"] == 18  # the loops sit where the stream's sensors do
    loops = pd.read_csv(tmp_path / "live" / "sensors.csv")
    assert set(loops.sensor_id) <= set(stream.sensors.sensor_id)
    mine = loops[loops.strategy == "cityopt-cpsat"]
    # the learned forecast gives each loop a flow forecast too (persistence gives none)
    assert mine.forecast_flow_vph.notna().any()
    assert res.strategies["cityopt-cpsat"].vehicles_arrived == res.strategies["none"].vehicles_arrived == 160


def test_the_top_level_names_are_the_modules_own():
    import optimizer
    from optimizer.runs.live import live
    from optimizer.sensing.forecast import forecast
    from optimizer.sensing.readings import Sensors

    assert optimizer.Sensors is Sensors and optimizer.forecast is forecast and optimizer.live is live
    assert {"Sensors", "forecast", "live"} <= set(optimizer.__all__)
    with pytest.raises(AttributeError):
        optimizer.no_such_name  # noqa: B018
