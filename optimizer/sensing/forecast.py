"""Forecast each sensor's flow and speed 15-60 minutes ahead, and judge four models on held-out days.

Input: a readings long table (``time`` tz-aware timestamps at a regular interval,
``sensor_id``, ``flow_vph``, ``speed_kph``, ``occupancy_pct``, ``quality``).  Only
rows whose ``quality`` is ``"ok"`` are used; any other flag is a missing value
(flagged rows are kept in the table by the readers, never read here).  Two
``ok`` readings of one sensor at one time are averaged.

The models, for an origin time ``t`` (the latest readings) and a horizon ``h``:

- ``persistence``: the sensor's last ``ok`` value at or before ``t`` (at most
  ``max_stale_min`` old, else no forecast);
- ``historical``: the mean over the training days of the sensor's value at the
  time of day of ``t + h`` (local time in ``tz``, one slot per interval), on days
  of the same kind (weekday or weekend); without such days, all training days;
  without any, the sensor's training mean;
- ``gbt``: scikit-learn's ``HistGradientBoostingRegressor``, one per target and
  horizon, pooled over sensors: features at ``t`` are, for flow and speed each
  divided by the sensor's training mean, the last value and the last values
  5, 10, 15, 30 and 60 minutes before (in intervals: 1, 2, 3, 6, 12), the
  means of the last 3 and 12 intervals, the time of day of ``t`` as sine and
  cosine, the weekend flag and the day of the week, and the sensor (a
  categorical feature); the target is ``value(t + h)`` over the sensor's mean;
- ``qkernel``: quantum-kernel ridge regression (:class:`solvers.qkernel.QuantumKernelRidge`)
  on the same features without the sensor: missing values imputed by the
  training medians, standardised, reduced by PCA to ``QKernelOptions.qubits``
  whitened components (clipped to +-3), one qubit each; the target is the change
  from the last value, ``value(t + h) - value(t)`` over the sensor's mean (a
  level target did worse than persistence on the synthetic stream: kernel ridge
  on a few components cannot carry the level through, and shrinks to the mean
  where it knows nothing, while a change target shrinks to persistence).  The
  defaults (6 qubits, 2 layers, bandwidth 0.25, alpha 1) were picked on one
  synthetic stream (``synthetic_readings(seed=0)``, scored on its held-out days:
  bandwidth 0.1-0.4 by alpha 0.01-1, 4 and 6 qubits), so judge them on other
  data.  The Gram matrix is
  ``N x N``, so the ridge is fitted on a random subsample of at most
  ``QKernelOptions.train_rows`` training rows (default 400, seeded); one fit
  predicts every target and horizon at once (a multi-output ridge on one kernel),
  so each point is simulated on qsim exactly once.

:func:`evaluate` splits the days (local dates in ``tz``): the first are training
days, the last ``test_days`` (default a third, at least one) are held out.  Every
model is fitted on the training days only (a training row's target lies in a
training day too) and scored on every origin in the held-out days whose target
is observed and which every model forecasts: MAE, RMSE and MAPE (percent, over
rows with a non-zero observation) per model, target and horizon, and ``nmae``,
the MAE over the mean observed value of those rows, which ranks models across
targets.  :func:`verdict` names the winner per target and horizon (lowest MAE),
per horizon and overall (lowest mean ``nmae`` over the targets), and says
plainly whether the quantum model won.

:func:`fit_forecaster` fits the models on all the readings it is given (no
hold-out) and returns a :class:`Forecaster` whose :meth:`Forecaster.predict`
gives each sensor's forecast from the latest readings in milliseconds (the live
loop fits once, then predicts every step); :func:`forecast` is the one-call form.
:func:`write_forecast` writes ``forecast/metrics.csv`` and ``forecast/verdict.json`` atomically.

Examples
--------
>>> from optimizer.sensing.synthetic import synthetic_readings
>>> r = synthetic_readings(days=3, sensors=2, seed=0)
>>> metrics, v = evaluate(r, horizons=(15, 60), models=("persistence", "historical", "gbt"), tz="Europe/Helsinki")
>>> sorted(metrics.columns[:5])
['horizon_min', 'mae', 'mape', 'model', 'rmse']
>>> v["test_days"], v["winner"] in ("persistence", "historical", "gbt")
(['2026-03-06'], True)
>>> f = fit_forecaster(r, models=("persistence",), horizons=(15,))
>>> f.predict(r, horizon_min=15, model="persistence")[["sensor_id", "horizon_min"]].values.tolist()
[['S01', 15], ['S02', 15]]
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time as _time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import ForecastError
from optimizer.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "MODELS",
    "QUANTUM_MODEL",
    "TARGETS",
    "Forecaster",
    "QKernelOptions",
    "evaluate",
    "fit_forecaster",
    "forecast",
    "metrics_table",
    "verdict",
    "write_forecast",
]

#: The models, in the order of the tables (and of ties: the first wins).
MODELS = ("persistence", "historical", "gbt", "qkernel")
#: The quantum machine-learning model among them.
QUANTUM_MODEL = "qkernel"
#: What is forecast (the readings' columns).
TARGETS = ("flow_vph", "speed_kph")
#: The columns a readings table must have besides the targets.
KEY_COLUMNS = ("time", "sensor_id", "quality")
#: Lags of the learned models' features, in intervals.
LAGS = (1, 2, 3, 6, 12)
#: Rolling-mean windows of the learned models' features, in intervals.
WINDOWS = (3, 12)
METRIC_COLUMNS = ["model", "horizon_min", "mae", "rmse", "mape", "target", "nmae", "rows"]


@dataclass(frozen=True)
class QKernelOptions:
    """The quantum-kernel model's settings.

    ``qubits`` PCA components (one qubit each, 1-12), ``train_rows`` the most
    training rows in the Gram matrix, ``reps`` feature-map layers, ``bandwidth``
    the scale of the (whitened, clipped) components before the circuit,
    ``alpha`` the ridge's regularisation, ``entanglement`` ``"linear"`` or ``"ring"``.
    """

    qubits: int = 6
    train_rows: int = 400
    reps: int = 2
    bandwidth: float = 0.25
    alpha: float = 1.0
    entanglement: str = "linear"

    def __post_init__(self) -> None:
        for name, lo, hi in (("qubits", 1, 12), ("train_rows", 10, 5000), ("reps", 1, 10)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= v <= hi:
                msg = f"qkernel.{name}: must be an integer in [{lo}, {hi}], got {v!r}"
                raise ForecastError(msg)
        for name in ("bandwidth", "alpha"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                msg = f"qkernel.{name}: must be a finite number > 0, got {v!r}"
                raise ForecastError(msg)
        if self.entanglement not in ("linear", "ring"):
            msg = f"qkernel.entanglement: {self.entanglement!r} is not 'linear' or 'ring'"
            raise ForecastError(msg)


# ---------------------------------------------------------------- input checks
def _check_names(values: Any, allowed: Sequence[str], field_name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        msg = f"{field_name}: {bad or 'none'} not among {', '.join(allowed)}; name one or more of them"
        raise ForecastError(msg)
    return tuple(dict.fromkeys(values))


def _check_readings(readings: Any, targets: Sequence[str]) -> pd.DataFrame:
    """The readings with ``time`` as UTC timestamps; one ForecastError for what cannot be used."""
    if not isinstance(readings, pd.DataFrame):
        msg = f"readings: expected a pandas DataFrame (the long table), got {type(readings).__name__}"
        raise ForecastError(msg)
    missing = [c for c in (*KEY_COLUMNS, *targets) if c not in readings.columns]
    if missing:
        msg = (f"readings: missing column(s) {', '.join(map(repr, missing))}; a readings table has "
               f"time, sensor_id, flow_vph, speed_kph, occupancy_pct, quality")
        raise ForecastError(msg)
    if readings.empty:
        msg = "readings: the table is empty; give at least two days of readings"
        raise ForecastError(msg)
    t = readings["time"]
    if not pd.api.types.is_datetime64_any_dtype(t):
        try:
            t = pd.to_datetime(t)
        except (ValueError, TypeError) as exc:
            msg = f"readings.time: cannot be read as timestamps ({str(exc).splitlines()[0]}); use ISO 8601 with a UTC offset"
            raise ForecastError(msg) from None
    if getattr(t.dt, "tz", None) is None:
        msg = "readings.time: timestamps have no time zone; give them in UTC (e.g. tz_localize('UTC') or a '+00:00' suffix)"
        raise ForecastError(msg)
    if t.isna().any():
        msg = f"readings.time: {int(t.isna().sum())} row(s) without a time; flag or drop them"
        raise ForecastError(msg)
    for c in targets:
        if not pd.api.types.is_numeric_dtype(readings[c]):
            msg = f"readings.{c}: not numeric (dtype {readings[c].dtype}); write numbers, NaN where missing"
            raise ForecastError(msg)
    out = readings.loc[:, [*KEY_COLUMNS, *targets]].copy()
    out["time"] = t.dt.tz_convert("UTC")
    out["sensor_id"] = out["sensor_id"].astype(str)
    return out


def _minutes(td: pd.Timedelta) -> str:
    """``'5 min'``, ``'0.5 min'``: an interval as people write it."""
    return f"{td.total_seconds() / 60:g} min"


def _interval(df: pd.DataFrame) -> pd.Timedelta:
    """The readings' interval: the commonest step between one sensor's consecutive times; every time on its grid."""
    ns = df["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    order = np.lexsort((ns, df["sensor_id"].to_numpy()))
    t, sid = ns[order], df["sensor_id"].to_numpy()[order]
    d = np.diff(t)[sid[1:] == sid[:-1]]
    d = d[d > 0]
    if len(d) == 0:
        msg = "readings.time: no sensor has two times; give at least two days of readings at a regular interval"
        raise ForecastError(msg)
    steps, counts = np.unique(d, return_counts=True)
    step = int(steps[np.argmax(counts)])
    off = (t - t.min()) % step != 0
    if step % 1_000_000_000 or off.any():
        msg = (f"readings.time: not on a regular interval ({int(off.sum())} of {len(t)} times are off the "
               f"{_minutes(pd.Timedelta(step, 'ns'))} grid that starts at {pd.Timestamp(int(t.min()), tz='UTC')}); "
               f"resample to one interval, e.g. 5 minutes")
        raise ForecastError(msg)
    return pd.Timedelta(step, "ns")


def _check_horizons(horizons: Any, interval: pd.Timedelta) -> tuple[int, ...]:
    if isinstance(horizons, (int, float, np.number)):
        horizons = (horizons,)
    try:
        hs = tuple(horizons)
    except TypeError:
        hs = ()
    step_min = interval.total_seconds() / 60
    out = []
    for h in hs:
        ok = isinstance(h, (int, float, np.number)) and not isinstance(h, bool) and math.isfinite(h) and h > 0
        if ok and h > 1440:
            msg = f"horizons: {h!r} min is more than a day ahead; forecast at most 1440 min ahead"
            raise ForecastError(msg)
        if not ok or (h / step_min) != round(h / step_min):
            msg = (f"horizons: {h!r} min is not a positive multiple of the readings' interval "
                   f"({step_min:g} min); use e.g. {', '.join(str(int(step_min * k)) for k in (3, 6, 12))}")
            raise ForecastError(msg)
        out.append(int(h) if float(h).is_integer() else float(h))
    if not out:
        msg = f"horizons: give at least one horizon in minutes, got {horizons!r}"
        raise ForecastError(msg)
    return tuple(dict.fromkeys(out))


def _check_tz(tz: Any) -> str:
    try:
        pd.Timestamp("2026-01-01", tz=tz)
    except Exception:  # noqa: BLE001 - pytz, zoneinfo and dateutil raise different kinds
        msg = f"tz: {tz!r} is not a time zone; use an IANA name such as 'UTC' or 'Europe/Helsinki'"
        raise ForecastError(msg) from None
    return str(tz)


# ---------------------------------------------------------------- the panel
@dataclass
class _Panel:
    """Readings on a regular grid: ``values[target]`` is ``(T, S)``, NaN where no ``ok`` reading."""

    times: pd.DatetimeIndex
    sensors: list[str]
    values: dict[str, np.ndarray]
    interval: pd.Timedelta


def _panel(df: pd.DataFrame, targets: Sequence[str], interval: pd.Timedelta, *,
           sensors: Sequence[str] | None = None, end: pd.Timestamp | None = None) -> _Panel:
    """Pivot checked readings onto the grid from their first time to ``end`` (default their last)."""
    t0 = df["time"].min()
    t1 = df["time"].max() if end is None else t0 + ((end - t0) // interval) * interval
    times = pd.date_range(t0, t1, freq=interval)
    sensors = sorted(df["sensor_id"].unique()) if sensors is None else list(sensors)
    ok = df[df["quality"].astype(str) == "ok"]
    ti = ((ok["time"] - t0) // interval).to_numpy(np.int64)
    si = pd.Categorical(ok["sensor_id"], categories=sensors).codes
    keep = (ti >= 0) & (ti < len(times)) & (si >= 0)
    values = {}
    for c in targets:
        v = ok[c].to_numpy(float)
        m = keep & np.isfinite(v)
        total = np.zeros((len(times), len(sensors)))
        count = np.zeros_like(total)
        np.add.at(total, (ti[m], si[m]), v[m])
        np.add.at(count, (ti[m], si[m]), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values[c] = np.where(count > 0, total / count, np.nan)
    return _Panel(times, sensors, values, interval)


def _calendar(times: pd.DatetimeIndex, tz: str, interval: pd.Timedelta) -> dict[str, np.ndarray]:
    local = times.tz_convert(tz)
    minutes = np.asarray(local.hour * 60 + local.minute + local.second / 60, dtype=float)
    dow = np.asarray(local.dayofweek)
    return {
        "slot": (minutes // (interval.total_seconds() / 60)).astype(np.int64),
        "weekend": (dow >= 5).astype(np.int64),
        "dow": dow.astype(float),
        "tod_sin": np.sin(2 * np.pi * minutes / 1440),
        "tod_cos": np.cos(2 * np.pi * minutes / 1440),
        "date": np.asarray(local.date),
    }


def _ffill(a: np.ndarray, limit: int) -> np.ndarray:
    return pd.DataFrame(a).ffill(limit=limit).to_numpy() if limit > 0 else a.copy()


def _features(panel: _Panel, scale: dict[str, np.ndarray], tz: str, stale: int) -> tuple[np.ndarray, list[str]]:
    """The learned models' features at every origin: ``(T, S, F)`` and their names (the sensor code last)."""
    T, S = len(panel.times), len(panel.sensors)
    cols, names = [], []
    for c, v in panel.values.items():
        z = v / scale[c]
        last = _ffill(z, stale)
        cols.append(last)
        names.append(f"{c}_last")
        for k in LAGS:
            lag = np.full_like(last, np.nan)
            lag[k:] = last[:-k]
            cols.append(lag)
            names.append(f"{c}_lag{k}")
        zf = pd.DataFrame(z)
        for w in WINDOWS:
            cols.append(zf.rolling(w, min_periods=1).mean().to_numpy())
            names.append(f"{c}_mean{w}")
    cal = _calendar(panel.times, tz, panel.interval)
    for k in ("tod_sin", "tod_cos", "weekend", "dow"):
        cols.append(np.broadcast_to(np.asarray(cal[k], float)[:, None], (T, S)))
        names.append(k)
    cols.append(np.broadcast_to(np.arange(S, dtype=float)[None, :], (T, S)))
    names.append("sensor")
    return np.stack(cols, axis=-1), names


# ---------------------------------------------------------------- the fitted models
@dataclass
class Forecaster:
    """Fitted forecast models for a set of sensors (made by :func:`fit_forecaster` or :func:`evaluate`).

    :meth:`predict` gives every sensor's forecast from a readings table's latest
    times.  Attributes are the fitted state: per-sensor scales (training means),
    the historical profile ``(2 day kinds, slots, sensors)``, the boosted trees
    by ``(target, horizon)``, and the quantum model with its preprocessing.
    """

    models: tuple[str, ...]
    targets: tuple[str, ...]
    horizons: tuple[int, ...]
    sensors: list[str]
    interval: pd.Timedelta
    tz: str
    max_stale_min: float
    seed: int
    qkernel_options: QKernelOptions
    threads: int = 1
    scale: dict[str, np.ndarray] = field(default_factory=dict)
    profile: dict[str, np.ndarray] = field(default_factory=dict)
    trees: dict[tuple[str, int], Any] = field(default_factory=dict)
    qkernel: Any = None
    qkernel_prep: Any = None
    qkernel_columns: list[tuple[str, int]] = field(default_factory=list)
    fit_seconds: dict[str, float] = field(default_factory=dict)

    def _threads(self) -> Any:
        """Cap OpenMP (the boosted trees, qsim) at ``threads``: oversubscribed spinning costs 10-30x on a busy machine."""
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.threads, user_api="openmp")

    @property
    def stale_steps(self) -> int:
        return int(self.max_stale_min * 60 // self.interval.total_seconds())

    def steps(self, horizon_min: float) -> int:
        return round(horizon_min * 60 / self.interval.total_seconds())

    # ------------------------------------------------------------ fitting
    def _fit(self, panel: _Panel, train: np.ndarray) -> Forecaster:
        """Fit every model on the origins (and targets) whose day is a training day (``train``: (T,) bool)."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        T = len(panel.times)
        for c in self.targets:
            m = np.nanmean(np.where(train[:, None], panel.values[c], np.nan), axis=0) if train.any() else None
            if m is None or np.all(np.isnan(m)):
                msg = f"readings.{c}: the training days hold no 'ok' values; give readings with quality 'ok'"
                raise ForecastError(msg)
            m = np.where(np.isfinite(m) & (np.abs(m) > 1e-9), m, np.nanmean(m))
            self.scale[c] = np.abs(m)
        cal = _calendar(panel.times, self.tz, panel.interval)
        t0 = _time.perf_counter()
        slots = math.ceil(86400 / panel.interval.total_seconds())
        for c in self.targets:
            prof = np.full((2, slots, len(panel.sensors)), np.nan)
            v = np.where(train[:, None], panel.values[c], np.nan)
            for kind in (0, 1):
                for s in range(slots):
                    rows = (cal["slot"] == s) & (cal["weekend"] == kind) & train
                    if rows.any():
                        with np.errstate(all="ignore"), _quiet():
                            prof[kind, s] = np.nanmean(v[rows], axis=0)
            # fall back: the other kind of day, then the sensor's training mean
            prof = np.where(np.isnan(prof), prof[::-1], prof)
            with _quiet():
                mean = np.nanmean(v, axis=0)
            self.profile[c] = np.where(np.isnan(prof), mean[None, None, :], prof)
        self.fit_seconds["historical"] = _time.perf_counter() - t0

        learned = [m for m in self.models if m in ("gbt", QUANTUM_MODEL)]
        if not learned:
            return self
        too_far = [h for h in self.horizons if self.steps(h) >= T]
        if too_far:
            msg = (f"horizons: {too_far} min reach past the readings ({_minutes(panel.interval * T)} in all); "
                   f"give more days or shorter horizons")
            raise ForecastError(msg)
        X, names = _features(panel, self.scale, self.tz, self.stale_steps)
        S = len(panel.sensors)
        if "gbt" in self.models:
            t0 = _time.perf_counter()
            for c in self.targets:
                z = panel.values[c] / self.scale[c]
                for h in self.horizons:
                    k = self.steps(h)
                    rows = np.zeros(T, bool)
                    rows[: T - k] = train[: T - k] & train[k:]
                    y = np.full((T, S), np.nan)
                    y[: T - k] = z[k:]
                    sel = rows[:, None] & np.isfinite(y)
                    if sel.sum() < 20:
                        msg = (f"readings: too few training rows for {c} {h} min ahead ({int(sel.sum())}); "
                               f"give more training days or a shorter horizon")
                        raise ForecastError(msg)
                    log.info("forecast: fitting gbt for %s, %s min ahead, on %d rows", c, h, int(sel.sum()))
                    model = HistGradientBoostingRegressor(
                        max_iter=200, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=20,
                        categorical_features=[X.shape[-1] - 1] if S <= 250 else None,
                        early_stopping=False, random_state=self.seed,
                    )
                    Xs = X[sel] if S <= 250 else X[sel][:, :-1]
                    with self._threads():
                        self.trees[(c, h)] = model.fit(Xs, y[sel])
            self.fit_seconds["gbt"] = _time.perf_counter() - t0
        if QUANTUM_MODEL in self.models:
            self._fit_qkernel(panel, X[..., :-1], names[:-1], train)
        return self

    def _fit_qkernel(self, panel: _Panel, X: np.ndarray, names: list[str], train: np.ndarray) -> None:
        from sklearn.decomposition import PCA
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        from solvers.qkernel import QuantumKernelRidge

        t0 = _time.perf_counter()
        o = self.qkernel_options
        T, S, F = X.shape
        kmax = max(self.steps(h) for h in self.horizons)
        self.qkernel_columns = [(c, h) for c in self.targets for h in self.horizons]
        Y = np.full((T, S, len(self.qkernel_columns)), np.nan)
        for j, (c, h) in enumerate(self.qkernel_columns):
            k = self.steps(h)
            # the change from the last value: where the kernel knows nothing, the ridge shrinks to persistence
            Y[: T - k, :, j] = (panel.values[c] / self.scale[c])[k:] - X[: T - k, :, names.index(f"{c}_last")]
        rows = np.zeros(T, bool)
        rows[: T - kmax] = train[: T - kmax] & train[kmax:]
        sel = rows[:, None] & np.isfinite(Y).all(axis=-1)
        Xt, Yt = X[sel], Y[sel]
        if len(Xt) < 10:
            msg = (f"readings: too few training rows for the quantum kernel model ({len(Xt)}); "
                   f"give more training days or shorter horizons")
            raise ForecastError(msg)
        n_comp = min(o.qubits, F, len(Xt))
        prep = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            PCA(n_components=n_comp, whiten=True, random_state=self.seed),
            FunctionTransformer(np.clip, kw_args={"a_min": -3.0, "a_max": 3.0}),
        )
        prep.fit(Xt)  # on every training row: the subsample only bounds the Gram matrix
        rng = np.random.default_rng(self.seed)
        pick = rng.choice(len(Xt), size=min(o.train_rows, len(Xt)), replace=False)
        log.info("forecast: fitting the quantum kernel ridge on %d of %d training rows, %d qubits",
                 len(pick), len(Xt), n_comp)
        model = QuantumKernelRidge(alpha=o.alpha, reps=o.reps, bandwidth=o.bandwidth, entanglement=o.entanglement,
                                   threads=self.threads)
        self.qkernel = model.fit(prep.transform(Xt[pick]), Yt[pick])
        self.qkernel_prep = prep
        self.fit_seconds[QUANTUM_MODEL] = _time.perf_counter() - t0

    # ------------------------------------------------------------ forecasting
    def _predict_panel(self, panel: _Panel, origins: np.ndarray, models: Sequence[str]) -> dict[tuple[str, str, int], np.ndarray]:
        """Forecasts ``(len(origins), S)`` by (model, target, horizon) from origins (indices into ``panel``)."""
        out: dict[tuple[str, str, int], np.ndarray] = {}
        S = len(panel.sensors)
        origin_times = panel.times[origins]
        if "persistence" in models:
            for c in self.targets:
                last = _ffill(panel.values[c], self.stale_steps)[origins]
                for h in self.horizons:
                    out[("persistence", c, h)] = last
        if "historical" in models:
            for h in self.horizons:
                cal = _calendar(origin_times + pd.Timedelta(minutes=h), self.tz, panel.interval)
                for c in self.targets:
                    out[("historical", c, h)] = self.profile[c][cal["weekend"], cal["slot"]]
        if "gbt" in models or QUANTUM_MODEL in models:
            X, names = _features(panel, self.scale, self.tz, self.stale_steps)
            X = X[origins]
            flat = X.reshape(-1, X.shape[-1])
            if "gbt" in models:
                Xg = flat if S <= 250 else flat[:, :-1]
                for (c, h), model in self.trees.items():
                    with self._threads():
                        p = model.predict(Xg)
                    out[("gbt", c, h)] = p.reshape(len(origins), S) * self.scale[c]
            if QUANTUM_MODEL in models:
                log.info("forecast: quantum kernel for %d rows", flat.shape[0])
                P = self.qkernel.predict(self.qkernel_prep.transform(flat[:, :-1]))
                P = P.reshape(len(origins), S, -1)
                for j, (c, h) in enumerate(self.qkernel_columns):
                    last = X[:, :, names.index(f"{c}_last")]
                    out[(QUANTUM_MODEL, c, h)] = (last + P[:, :, j]) * self.scale[c]
        return out

    def predict(self, readings: pd.DataFrame, *, at: Any = None, horizon_min: float | Iterable[float] | None = None,
                model: str | None = None) -> pd.DataFrame:
        """Each sensor's forecast from the readings up to ``at`` (default: the latest reading).

        Returns one row per sensor and horizon: ``sensor_id``, ``time`` (the
        origin: ``at`` on the readings' grid), ``target_time``, ``horizon_min``,
        ``model`` and one column per target (NaN where the model has no forecast:
        persistence and ``qkernel`` for a sensor silent for longer than ``max_stale_min``).
        Only the last hour or so of readings is read, so a call takes milliseconds
        (plus a few for ``qkernel``'s simulations).
        """
        model = model or ("gbt" if "gbt" in self.models else self.models[0])
        _check_names(model, self.models, "model")
        horizons = self.horizons if horizon_min is None else _check_horizons(horizon_min, self.interval)
        bad = [h for h in horizons if h not in self.horizons]
        if bad and model in ("gbt", QUANTUM_MODEL):
            msg = f"horizon_min: the {model} model was fitted for {list(self.horizons)} min, not {bad}; fit it for those horizons"
            raise ForecastError(msg)
        df = _check_readings(readings, self.targets)
        unknown = sorted(set(df["sensor_id"]) - set(self.sensors))
        if unknown:
            msg = (f"readings.sensor_id: {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} "
                   f"not among the fitted sensors; fit the forecaster on readings that include them")
            raise ForecastError(msg)
        at = df["time"].max() if at is None else _timestamp(at, "at")
        window = self.interval * (max(LAGS) + max(WINDOWS) + self.stale_steps + 1)
        recent = df[(df["time"] <= at) & (df["time"] > at - window)]
        if recent.empty:
            msg = f"at: no readings in the {_minutes(window)} before {at}; forecast from a time the readings cover"
            raise ForecastError(msg)
        # the grid keeps the readings' phase; the origin is the last grid time at or before `at`
        phase = df["time"].min()
        off = int(((recent["time"] - phase) % self.interval != pd.Timedelta(0)).sum())
        if off:
            msg = (f"readings.time: {off} recent time(s) are off the fitted {_minutes(self.interval)} grid; "
                   f"give readings at the interval the forecaster was fitted on")
            raise ForecastError(msg)
        start = phase + ((recent["time"].min() - phase) // self.interval) * self.interval
        recent = recent[recent["time"] >= start]
        panel = _panel(recent, self.targets, self.interval, sensors=self.sensors, end=at)
        # persistence and historical need no fitting per horizon
        kept = dataclasses.replace(self, horizons=tuple(horizons)) if bad else self
        origin = np.array([len(panel.times) - 1])
        fc = kept._predict_panel(panel, origin, [model])
        rows = []
        origin_time = panel.times[-1]
        for h in horizons:
            frame = pd.DataFrame({
                "sensor_id": self.sensors,
                "time": origin_time,
                "target_time": origin_time + pd.Timedelta(minutes=h),
                "horizon_min": h,
                "model": model,
            })
            for c in self.targets:
                frame[c] = fc[(model, c, h)][0]
            rows.append(frame)
        return pd.concat(rows, ignore_index=True)


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings (an all-NaN column is an expected gap)."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._w.__exit__(*exc)


def _timestamp(value: Any, field_name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        msg = f"{field_name}: {value!r} is not a time; give an ISO 8601 time with a UTC offset"
        raise ForecastError(msg) from None
    if ts.tzinfo is None:
        msg = f"{field_name}: {value!r} has no time zone; give it in UTC (e.g. '2026-03-04T08:00+00:00')"
        raise ForecastError(msg)
    return ts.tz_convert("UTC")


def _setup(readings: Any, horizons: Any, models: Any, targets: Any, tz: Any, max_stale_min: Any,
           seed: Any, qkernel: QKernelOptions | None, threads: Any) -> tuple[pd.DataFrame, Forecaster]:
    models = _check_names(models, MODELS, "models")
    targets = _check_names(targets, TARGETS, "targets")
    tz = _check_tz(tz)
    if not isinstance(max_stale_min, (int, float)) or not math.isfinite(max_stale_min) or max_stale_min < 0:
        msg = f"max_stale_min: must be a number of minutes >= 0, got {max_stale_min!r}"
        raise ForecastError(msg)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        msg = f"seed: must be an integer >= 0, got {seed!r}"
        raise ForecastError(msg)
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1:
        msg = f"threads: must be an integer >= 1, got {threads!r}"
        raise ForecastError(msg)
    if qkernel is not None and not isinstance(qkernel, QKernelOptions):
        msg = f"qkernel: expected QKernelOptions(...), got {type(qkernel).__name__}"
        raise ForecastError(msg)
    df = _check_readings(readings, targets)
    interval = _interval(df)
    horizons = _check_horizons(horizons, interval)
    fc = Forecaster(models=models, targets=targets, horizons=horizons, sensors=sorted(df["sensor_id"].unique()),
                    interval=interval, tz=tz, max_stale_min=float(max_stale_min), seed=int(seed),
                    qkernel_options=qkernel or QKernelOptions(), threads=int(threads))
    return df, fc


def fit_forecaster(
    readings: pd.DataFrame,
    *,
    models: Iterable[str] = ("persistence", "historical", "gbt"),
    targets: Iterable[str] = TARGETS,
    horizons: Iterable[float] = (15, 30, 60),
    tz: str = "UTC",
    max_stale_min: float = 60.0,
    seed: int = 0,
    qkernel: QKernelOptions | None = None,
    threads: int = 1,
) -> Forecaster:
    """Fit the ``models`` on all of ``readings`` (every day is a training day); see :func:`evaluate` for the options.

    >>> from optimizer.sensing.synthetic import synthetic_readings
    >>> r = synthetic_readings(days=2, sensors=3, seed=0)
    >>> f = fit_forecaster(r, models=("historical",), horizons=(30,), tz="Europe/Helsinki")
    >>> out = f.predict(r, at="2026-03-05T06:00+00:00")        # 08:00 in Helsinki
    >>> out.loc[0, "target_time"].isoformat(), bool(out.flow_vph.gt(0).all())
    ('2026-03-05T06:30:00+00:00', True)
    """
    readings = getattr(readings, "readings", readings)  # a Sensors
    df, fc = _setup(readings, horizons, models, targets, tz, max_stale_min, seed, qkernel, threads)
    panel = _panel(df, fc.targets, fc.interval, sensors=fc.sensors)
    return fc._fit(panel, np.ones(len(panel.times), bool))


def forecast(
    readings: pd.DataFrame,
    *,
    at: Any = None,
    horizon_min: float | Iterable[float] = 15,
    model: str = "historical",
    forecaster: Forecaster | None = None,
    **fit_options: Any,
) -> pd.DataFrame:
    """Per-sensor forecasts from ``readings`` up to ``at`` with ``model`` (see :meth:`Forecaster.predict`).

    ``readings`` is the long table or a :class:`~optimizer.sensing.readings.Sensors`
    (whose local time zone, where it knows one, is the default ``tz``).  With no
    ``forecaster``, one is fitted on the readings up to ``at`` first
    (``fit_options`` go to :func:`fit_forecaster`): cheap for ``persistence`` and
    ``historical``; a loop calling every few minutes fits once and passes ``forecaster``.

    >>> from optimizer.sensing.synthetic import synthetic_readings
    >>> r = synthetic_readings(days=1, sensors=2, seed=0)
    >>> forecast(r, model="persistence", horizon_min=(15, 30)).shape
    (4, 7)
    """
    if hasattr(readings, "readings") and hasattr(readings, "sensors"):  # a Sensors
        if getattr(readings, "tz", None) and "tz" not in fit_options:
            fit_options["tz"] = readings.tz
        readings = readings.readings
    if forecaster is None:
        df = _check_readings(readings, tuple(fit_options.get("targets", TARGETS)))
        upto = df if at is None else df[df["time"] <= _timestamp(at, "at")]
        if upto.empty:
            msg = f"at: {at!r} is before the first reading; forecast from a time the readings cover"
            raise ForecastError(msg)
        hs = horizon_min if isinstance(horizon_min, Iterable) else (horizon_min,)
        forecaster = fit_forecaster(upto, models=(model,), horizons=hs, **fit_options)
    return forecaster.predict(readings, at=at, horizon_min=horizon_min, model=model)


# ---------------------------------------------------------------- evaluation
def metrics_table(observed: np.ndarray, predicted: dict[str, np.ndarray]) -> pd.DataFrame:
    """MAE, RMSE, MAPE (%), nMAE and rows of each model's predictions against ``observed``.

    Scored on the rows where the observation and *every* model's prediction are
    finite, so all models are judged on the same rows; MAPE over those with a
    non-zero observation; nMAE is MAE over the mean absolute observation.

    >>> t = metrics_table(np.array([1.0, 2.0, 4.0]), {"a": np.array([2.0, 2.0, 2.0])})
    >>> [float(x) for x in t.loc[0, ["mae", "rmse", "mape", "nmae", "rows"]]]
    [1.0, 1.2909944487358056, 50.0, 0.42857142857142855, 3.0]
    """
    obs = np.asarray(observed, float).ravel()
    preds = {m: np.asarray(p, float).ravel() for m, p in predicted.items()}
    ok = np.isfinite(obs)
    for p in preds.values():
        ok &= np.isfinite(p)
    rows = []
    y = obs[ok]
    scale = float(np.mean(np.abs(y))) if ok.any() else float("nan")
    nz = np.abs(y) > 0
    for m, p in preds.items():
        e = p[ok] - y
        mae = float(np.mean(np.abs(e))) if ok.any() else float("nan")
        rows.append({
            "model": m,
            "mae": mae,
            "rmse": float(np.sqrt(np.mean(e**2))) if ok.any() else float("nan"),
            "mape": float(100 * np.mean(np.abs(e[nz]) / np.abs(y[nz]))) if nz.any() else float("nan"),
            "nmae": mae / scale if scale > 0 else (0.0 if mae == 0 else float("nan")),
            "rows": int(ok.sum()),
        })
    return pd.DataFrame(rows)


def evaluate(
    readings: pd.DataFrame,
    horizons: Iterable[float] = (15, 30, 60),
    *,
    models: Iterable[str] = MODELS,
    targets: Iterable[str] = TARGETS,
    test_days: int | None = None,
    tz: str = "UTC",
    max_stale_min: float = 60.0,
    seed: int = 0,
    qkernel: QKernelOptions | None = None,
    threads: int = 1,
    return_predictions: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]] | tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Fit the models on the first days, score them on the last ``test_days``: ``(metrics, verdict)``.

    Parameters
    ----------
    readings
        The long table (any source: a reader's, SUMO's twin, :func:`~optimizer.sensing.synthetic.synthetic_readings`).
    horizons
        Minutes ahead, each a positive multiple of the readings' interval.
    models, targets
        Subsets of :data:`MODELS` and :data:`TARGETS`.
    test_days
        Held-out whole days at the end (local dates in ``tz``; a partial first or last date counts as a
        day); default a third of the days, at least one.
    tz
        The local time zone of days and times of day.
    max_stale_min
        The oldest reading persistence (and the features' last value) may carry forward.
    seed
        The learned models' and the quantum subsample's seed.
    qkernel
        The quantum model's settings (:class:`QKernelOptions`).
    threads
        CPU threads of the boosted trees and qsim (default 1: predictable on a shared machine).
    return_predictions
        Also return the held-out forecasts (a third item): one row per origin, sensor, model, target and
        horizon with ``time`` (the origin), ``target_time``, ``observed`` and ``predicted`` (the rows
        every model forecasts and that are observed, as scored).

    Returns
    -------
    metrics : DataFrame
        Columns ``model, horizon_min, mae, rmse, mape, target, nmae, rows``; one row per model, target and horizon.
    verdict : dict
        :func:`verdict` of the metrics, with the days, sensors, interval, settings and fit times.
    """
    readings = getattr(readings, "readings", readings)  # a Sensors
    df, fc = _setup(readings, horizons, models, targets, tz, max_stale_min, seed, qkernel, threads)
    panel = _panel(df, fc.targets, fc.interval, sensors=fc.sensors)
    dates = _calendar(panel.times, fc.tz, panel.interval)["date"]
    days = sorted(set(dates))
    if len(days) < 2:
        msg = f"readings: {len(days)} day ({days[0]}); give at least two days so that one can be held out"
        raise ForecastError(msg)
    n_test = max(1, len(days) // 3) if test_days is None else test_days
    if not isinstance(n_test, (int, np.integer)) or isinstance(n_test, bool) or not 1 <= n_test < len(days):
        msg = f"test_days: must be an integer from 1 to {len(days) - 1} (the readings span {len(days)} days), got {test_days!r}"
        raise ForecastError(msg)
    test_set = set(days[-n_test:])
    test = np.array([d in test_set for d in dates])
    log.info("forecast: %d sensors, %d days (%d held out), models %s", len(fc.sensors), len(days), n_test,
             ", ".join(fc.models))
    fc._fit(panel, ~test)
    origins = np.flatnonzero(test)
    t0 = _time.perf_counter()
    preds = fc._predict_panel(panel, origins, fc.models)
    predict_s = _time.perf_counter() - t0
    T = len(panel.times)
    frames, kept = [], []
    for c in fc.targets:
        for h in fc.horizons:
            k = fc.steps(h)
            obs = np.full((len(origins), len(fc.sensors)), np.nan)
            inside = origins + k < T
            obs[inside] = panel.values[c][origins[inside] + k]
            t = metrics_table(obs, {m: preds[(m, c, h)] for m in fc.models})
            t["target"], t["horizon_min"] = c, h
            frames.append(t)
            if return_predictions:
                ok = np.isfinite(obs)
                for m in fc.models:
                    ok &= np.isfinite(preds[(m, c, h)])
                oi, si = np.nonzero(ok)
                origin_times = panel.times[origins[oi]]
                for m in fc.models:
                    kept.append(pd.DataFrame({
                        "time": origin_times, "target_time": origin_times + pd.Timedelta(minutes=h),
                        "sensor_id": np.asarray(fc.sensors)[si], "model": m, "target": c, "horizon_min": h,
                        "observed": obs[oi, si], "predicted": preds[(m, c, h)][oi, si]}))
    metrics = pd.concat(frames, ignore_index=True)[METRIC_COLUMNS]
    v = verdict(metrics)
    v.update({
        "train_days": [str(d) for d in days[:-n_test]],
        "test_days": [str(d) for d in days[-n_test:]],
        "sensors": len(fc.sensors),
        "interval_min": fc.interval.total_seconds() / 60,
        "tz": fc.tz,
        "fit_seconds": {k: round(s, 3) for k, s in fc.fit_seconds.items()},
        "predict_seconds": round(predict_s, 3),
    })
    if QUANTUM_MODEL in fc.models:
        v["qkernel"] = {**asdict(fc.qkernel_options), "train_rows_used": int(fc.qkernel.train_states_.shape[0]),
                        "qubits_used": int(fc.qkernel.n_features_in_)}
    if return_predictions:
        cols = ["time", "target_time", "sensor_id", "model", "target", "horizon_min", "observed", "predicted"]
        return metrics, v, (pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=cols))
    return metrics, v


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def verdict(metrics: pd.DataFrame) -> dict[str, Any]:
    """The winners in a metrics table: per target and horizon (lowest MAE), per horizon and overall (lowest mean nMAE).

    Ties go to the model listed first in :data:`MODELS`.  ``statement`` says in
    one sentence who won and whether the quantum model did.

    >>> m = pd.DataFrame({"model": ["persistence", "qkernel"], "horizon_min": [15, 15], "mae": [2.0, 3.0],
    ...                   "rmse": [2.0, 3.0], "mape": [1.0, 1.5], "target": "flow_vph", "nmae": [0.1, 0.15]})
    >>> v = verdict(m)
    >>> v["winner"], v["quantum_wins"]
    ('persistence', False)
    >>> v["statement"]
    'persistence forecasts best overall (mean nMAE 0.1); the quantum kernel ridge (qkernel) does not win: 2nd of 2 (mean nMAE 0.15).'
    """
    order = {m: i for i, m in enumerate(MODELS)}
    m = metrics.copy()
    if "target" not in m:
        m["target"] = "value"
    if "nmae" not in m:
        m["nmae"] = m["mae"]
    m["_order"] = m["model"].map(order).fillna(len(order))

    def best(frame: pd.DataFrame, col: str) -> str:
        return str(frame.sort_values([col, "_order"], kind="stable").iloc[0]["model"])

    by_target = {str(t): {str(h): best(g, "mae") for h, g in gt.groupby("horizon_min")} for t, gt in m.groupby("target")}
    per_h = m.groupby(["horizon_min", "model"], as_index=False).agg(nmae=("nmae", "mean"), _order=("_order", "first"))
    by_h = {str(h): best(g, "nmae") for h, g in per_h.groupby("horizon_min")}
    overall = m.groupby("model", as_index=False).agg(nmae=("nmae", "mean"), _order=("_order", "first"))
    overall = overall.sort_values(["nmae", "_order"], kind="stable").reset_index(drop=True)
    winner = str(overall.loc[0, "model"])
    scores = {str(r.model): round(float(r.nmae), 6) for r in overall.itertuples()}
    out: dict[str, Any] = {
        "metric": "mae per target and horizon; mean nmae (mae / mean observed) across targets",
        "winner": winner,
        "winner_by_horizon": by_h,
        "winner_by_target": by_target,
        "nmae_overall": scores,
        "quantum_model": QUANTUM_MODEL,
    }
    best_text = f"{winner} forecasts best overall (mean nMAE {scores[winner]:.3g})"
    if QUANTUM_MODEL in scores:
        rank = int(overall.index[overall["model"] == QUANTUM_MODEL][0]) + 1
        out["quantum_wins"] = rank == 1
        out["quantum_rank"] = rank
        won_h = [h for h, w in by_h.items() if w == QUANTUM_MODEL]
        out["quantum_wins_horizons"] = won_h
        if rank == 1:
            tail = "the quantum kernel ridge (qkernel) wins"
        else:
            tail = (f"the quantum kernel ridge (qkernel) does not win: {_ordinal(rank)} of {len(overall)} "
                    f"(mean nMAE {scores[QUANTUM_MODEL]:.3g})")
            if won_h:
                tail += f", though it wins at {', '.join(won_h)} min"
        out["statement"] = f"{best_text}; {tail}."
    else:
        out["quantum_wins"] = None
        out["statement"] = f"{best_text}; the quantum kernel ridge (qkernel) was not evaluated."
    return out


def write_forecast(out_dir: str | Path, metrics: pd.DataFrame, verdict: dict[str, Any],
                   predictions: pd.DataFrame | None = None) -> Path:
    """Write ``out_dir/forecast/metrics.csv`` and ``out_dir/forecast/verdict.json`` (each atomically); the folder.

    With ``predictions`` (:func:`evaluate`'s ``return_predictions``) also ``predictions.csv``: the held-out
    forecasts the report draws against the observations.

    >>> import tempfile
    >>> m = pd.DataFrame({"model": ["persistence"], "horizon_min": [15], "mae": [1.0], "rmse": [1.0], "mape": [5.0]})
    >>> d = write_forecast(tempfile.mkdtemp(), m, {"winner": "persistence"})
    >>> sorted(p.name for p in d.iterdir())
    ['metrics.csv', 'verdict.json']
    """
    missing = [c for c in ("model", "horizon_min", "mae", "rmse", "mape") if c not in metrics.columns]
    if missing:
        msg = f"metrics: missing column(s) {', '.join(missing)}; pass the table evaluate() returns"
        raise ForecastError(msg)
    folder = Path(out_dir) / "forecast"
    cols = [c for c in METRIC_COLUMNS if c in metrics.columns] + [c for c in metrics.columns if c not in METRIC_COLUMNS]
    atomic_write_text(folder / "metrics.csv", metrics[cols].to_csv(index=False, float_format="%.6g"))
    atomic_write_json(folder / "verdict.json", verdict)
    if predictions is not None:
        p = predictions.copy()
        for c in ("time", "target_time"):
            if c in p and pd.api.types.is_datetime64_any_dtype(p[c]):
                p[c] = p[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        atomic_write_text(folder / "predictions.csv", p.to_csv(index=False, float_format="%.5g"))
    return folder
