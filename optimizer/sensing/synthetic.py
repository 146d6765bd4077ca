"""A synthetic sensor stream with a known daily shape: for tests, docstrings and forecast measurements.

Not a digital twin (that is SUMO's job): a few lines of arithmetic that give a
readings table in the documented long format (``time, sensor_id, flow_vph,
speed_kph, occupancy_pct, quality``) with what forecasting must cope with:

- flow per sensor: a night floor, a morning peak (about 08:00 local time, its
  height, time and width varying from day to day), a lower evening peak, and a
  weekend shape (no commuter peak, a midday bump), times a slowly drifting
  multiplicative noise (an AR(1) process, so the recent past says something
  about the next half hour) and white noise on top;
- speed from flow by the BPR curve, ``v = v_free / (1 + 0.15 (q / c)^4)``, with
  noise; occupancy from density (``q / v``) times an effective vehicle length
  of 7 m;
- dropouts: a fraction of rows with ``quality = "missing"`` and no values, and
  a fraction flagged ``"suspect"`` holding impossible values (negative flow),
  which a forecaster must ignore.

Times are tz-aware UTC at a regular interval; the daily shape follows local time in ``tz``.

Examples
--------
>>> r = synthetic_readings(days=2, sensors=3, seed=1)
>>> len(r), sorted(r.sensor_id.unique()), str(r.time.dt.tz)
(1728, ['S01', 'S02', 'S03'], 'UTC')
>>> r.columns.tolist()
['time', 'sensor_id', 'flow_vph', 'speed_kph', 'occupancy_pct', 'quality']
>>> bool((r.loc[r.quality == "ok", "flow_vph"] >= 0).all())
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.errors import InvalidInputError

__all__ = ["synthetic_readings"]


def _bump(hours: np.ndarray, centre: float | np.ndarray, width: float | np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def synthetic_readings(
    *,
    days: int = 6,
    sensors: int = 10,
    interval_min: int = 5,
    start: str = "2026-03-04",
    tz: str = "Europe/Helsinki",
    seed: int = 0,
    day_variation: float = 0.15,
    noise: float = 0.06,
    dropout: float = 0.01,
    suspect: float = 0.005,
) -> pd.DataFrame:
    """Readings of ``sensors`` detectors over ``days`` days from local midnight of ``start``.

    Parameters
    ----------
    days, sensors, interval_min
        Extent and resolution (interval in minutes, dividing 1440).
    start
        The first local day (2026-03-04 is a Wednesday: six days take in a weekend).
    tz
        The local time zone of the daily shape.
    seed
        Everything random comes from ``numpy.random.default_rng(seed)``.
    day_variation
        Relative standard deviation of each day's morning peak height; the peak's hour varies by
        ``1.5 * day_variation`` hours and its width by ``0.5 * day_variation`` (relative).
    noise
        Standard deviation of the slow multiplicative noise (AR(1), correlation 0.95 per 5 minutes).
    dropout, suspect
        Fractions of rows ``"missing"`` (no values) and ``"suspect"`` (impossible values).
    """
    for name, v, lo in (("days", days, 1), ("sensors", sensors, 1), ("interval_min", interval_min, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            msg = f"{name}: must be an integer >= {lo}, got {v!r}"
            raise InvalidInputError(msg)
    if 1440 % interval_min:
        msg = f"interval_min: {interval_min} does not divide a day (1440 minutes); use e.g. 5 or 15"
        raise InvalidInputError(msg)
    rng = np.random.default_rng(seed)
    steps = 1440 // interval_min
    local = pd.date_range(pd.Timestamp(start).tz_localize(tz), periods=days * steps, freq=f"{interval_min}min")
    hours = (local.hour + local.minute / 60).to_numpy(float)[:, None]  # (T, 1)
    weekend = np.asarray(local.dayofweek >= 5)[:, None]
    day = np.repeat(np.arange(days), steps)

    capacity = rng.uniform(900, 1800, sensors)  # veh/h
    v_free = rng.uniform(40, 60, sensors)  # km/h
    peak_share = rng.uniform(0.6, 0.9, sensors)  # the morning peak's flow over capacity
    # each day's peak: height, hour and width vary
    height = 1 + day_variation * rng.standard_normal((days, sensors))
    centre = 8.0 + 1.5 * day_variation * rng.standard_normal((days, sensors))  # hours
    width = 1.0 * (1 + 0.5 * day_variation * rng.standard_normal((days, sensors)))
    width = np.clip(width, 0.5, None)
    morning = peak_share * height[day] * _bump(hours, centre[day], width[day])
    evening = 0.7 * peak_share * height[day] * _bump(hours, 16.5, 1.5)
    daytime = 0.25 * _bump(hours, 13.0, 4.0)
    weekday_shape = 0.06 + daytime + morning + evening
    weekend_shape = 0.05 + 0.45 * peak_share * _bump(hours, 13.0, 2.5)
    shape = np.where(weekend, weekend_shape, weekday_shape)

    # slow multiplicative noise: AR(1) with correlation 0.95 per 5 minutes
    rho = 0.95 ** (interval_min / 5)
    eps = rng.standard_normal((len(local), sensors)) * noise * np.sqrt(1 - rho**2)
    ar = np.zeros_like(eps)
    for t in range(1, len(local)):
        ar[t] = rho * ar[t - 1] + eps[t]
    flow = capacity * shape * np.exp(ar) * (1 + 0.03 * rng.standard_normal(ar.shape))
    flow = np.clip(flow, 0, None)
    speed = v_free / (1 + 0.15 * (flow / capacity) ** 4) * (1 + 0.03 * rng.standard_normal(ar.shape))
    occupancy = np.clip(100 * flow / speed * 0.007, 0, 100)

    ids = [f"S{i + 1:02d}" for i in range(sensors)]
    out = pd.DataFrame({
        "time": np.repeat(local.tz_convert("UTC"), sensors),
        "sensor_id": np.tile(ids, len(local)),
        "flow_vph": flow.ravel().round(1),
        "speed_kph": speed.ravel().round(2),
        "occupancy_pct": occupancy.ravel().round(2),
        "quality": "ok",
    })
    u = rng.uniform(size=len(out))
    missing = u < dropout
    bad = (u >= dropout) & (u < dropout + suspect)
    out.loc[missing, ["flow_vph", "speed_kph", "occupancy_pct"]] = np.nan
    out.loc[missing, "quality"] = "missing"
    out.loc[bad, "flow_vph"] = -50.0
    out.loc[bad, "quality"] = "suspect"
    return out
