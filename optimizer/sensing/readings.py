"""Detector readings and the sensors that made them: the data model, its files, and its checks.

This module is the contract the other parts of :mod:`optimizer.sensing` (the
digital twin, the forecasts, the live loop) read and write.

The readings table
------------------
One row per sensor and interval (a long table), columns in this order:

================  ==========================================================
``time``          start of the interval, a tz-aware pandas Timestamp in UTC
``sensor_id``     str, a row of the sensors table
``flow_vph``      float, vehicles per hour over the interval (NaN: not measured)
``speed_kph``     float, mean speed of the vehicles counted (NaN allowed)
``occupancy_pct`` float, percent of the interval a vehicle stood over the loop (NaN allowed)
``quality``       str, ``"ok"`` or the row's flags joined by ``";"`` (see below)
================  ==========================================================

In a file, ``time`` is ISO 8601 with a UTC offset or ``Z``
(``2024-05-06T07:00:00Z``, ``2024-05-06T10:00:00+03:00``).  Times without an
offset are refused unless a time zone is given (``tz="Europe/Helsinki"``, the
CLI's ``--tz``), which then says what zone they are in; an offset in the file
wins over ``tz``.  Files are written in UTC with ``Z``.

The sensors table
-----------------
``sensor_id`` (str, unique), ``lon``, ``lat`` (WGS84 degrees) and
``bearing_deg`` (the compass direction of the traffic counted: north 0, east 90)
or ``osm_way_id`` (the OpenStreetMap way the detector sits on), at least one of
the two in every row; other columns (``name``, ...) are kept.  Snapped to a
city (:mod:`optimizer.sensing.snapping`) it gains ``u``, ``v``, ``key`` (the
road graph's edge), ``snap_m`` (metres from the sensor to it),
``bearing_diff_deg`` and ``snap_note`` (empty when snapped, else why not).

Either table is a CSV (``.csv``, comma-separated UTF-8 with a header) or a
Parquet file (``.parquet``/``.pq``), chosen by the file's suffix.

Flags (never silent drops)
--------------------------
Every row read is kept; what is wrong with it is named in ``quality``:

- ``negative_flow``: ``flow_vph < 0``; ``missing_flow``: ``flow_vph`` empty;
- ``impossible_speed``: ``speed_kph < 0`` or above :data:`MAX_SPEED_KPH` (200);
- ``impossible_occupancy``: ``occupancy_pct`` outside 0..100;
- ``duplicate``: a repeated ``(time, sensor_id)``, on each repeat after the first;
- ``out_of_order``: a time earlier than one before it for the same sensor, in
  the order of the file;
- ``gap_before``: the row after a gap, i.e. after one or more missing intervals
  (time since the sensor's previous reading at least 1.5 intervals); the
  interval is given or the most common step between a sensor's readings;
- ``unknown_sensor``: a ``sensor_id`` the sensors table does not hold;
- ``unsnapped_sensor``: the sensor could not be placed on the city's roads
  (only when a city is given; the sensors table's ``snap_note`` says why).

Flags from the source are kept too (the public formats' ``faulty_records``
and ``mostly_imputed``, a twin's ``dropout``).  :attr:`Sensors.flags` counts
the rows carrying each flag, and :meth:`Sensors.summary` adds the gaps (and
the intervals they miss), the time span and the interval.

Examples
--------
>>> import pandas as pd
>>> readings = pd.DataFrame({
...     "time": ["2024-05-06T07:00:00Z", "2024-05-06T07:05:00Z", "2024-05-06T07:15:00Z",
...              "2024-05-06T07:15:00Z", "2024-05-06T07:00:00Z"],
...     "sensor_id": ["a", "a", "a", "a", "x"],
...     "flow_vph": [600.0, -12.0, 640.0, 640.0, 100.0],
...     "speed_kph": [38.0, 41.0, 250.0, 39.0, 30.0]})
>>> sensors = pd.DataFrame({"sensor_id": ["a"], "lon": [24.9415], "lat": [60.1741],
...                         "bearing_deg": [267.0]})
>>> s = Sensors.from_frames(readings, sensors)
>>> s.readings["quality"].tolist()
['ok', 'unknown_sensor', 'negative_flow', 'impossible_speed;gap_before', 'duplicate']
>>> s.summary()["gaps"], s.summary()["interval_s"], s.flags["duplicate"]
(1, 300.0, 1)
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import SensorDataError
from optimizer.inputs.checks import check_lonlat_columns, one_line, rows_text
from optimizer.io import atomic_write_bytes, atomic_write_text
from optimizer.sensing.snapping import (
    DEFAULT_MAX_BEARING_DIFF_DEG,
    DEFAULT_MAX_SNAP_M,
    snap_sensors,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "FLAGS",
    "GAP_FACTOR",
    "MAX_SPEED_KPH",
    "OK",
    "READING_COLUMNS",
    "SENSOR_COLUMNS",
    "SUFFIXES",
    "Sensors",
    "check_zone",
    "counts_text",
    "first_line",
    "flag_readings",
    "infer_interval_s",
    "looks_like",
    "parse_times",
    "read_table",
    "standard_readings",
    "standard_sensors",
    "write_table",
]

log = logging.getLogger(__name__)

#: The readings table's columns, in order.
READING_COLUMNS = ("time", "sensor_id", "flow_vph", "speed_kph", "occupancy_pct", "quality")
#: The sensors table's own columns (``bearing_deg`` or ``osm_way_id`` may be empty, not both).
SENSOR_COLUMNS = ("sensor_id", "lon", "lat", "bearing_deg", "osm_way_id")
#: The quality of a row with nothing wrong.
OK = "ok"
#: The flags this module sets, in the order they are written.
FLAGS = ("negative_flow", "missing_flow", "impossible_speed", "impossible_occupancy", "duplicate",
         "out_of_order", "gap_before", "unknown_sensor", "unsnapped_sensor")
#: Speeds above this (km/h) are impossible for road traffic.
MAX_SPEED_KPH = 200.0
#: File suffixes read and written, by format.
SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: A step between a sensor's readings at least this many intervals long is a gap.
GAP_FACTOR = 1.5

_SEP = ";"
_ZONE_AT_END = re.compile(r"\d:\d\d(?::\d\d(?:[.,]\d*)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$", re.IGNORECASE)
_TIME_EXAMPLE = "2024-05-06T07:00:00Z or 2024-05-06T10:00:00+03:00"


# ------------------------------------------------------------------ files
def _suffix(path: Path, what: str) -> str:
    name = path.name.lower()
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    msg = (f"{what} file {str(path)!r}: unknown suffix {path.suffix or '(none)'!r}; name it .csv "
           f"(comma-separated, with a header) or .parquet")
    raise SensorDataError(msg)


def _check_file(path: Any, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        msg = f"{what} file: {path!r} is not a file path; give the path of a {what} .csv or .parquet file"
        raise SensorDataError(msg)
    file = Path(path)
    if not file.is_file():
        msg = f"no {what} file at {str(file)!r}; check the path"
        raise SensorDataError(msg)
    if file.stat().st_size == 0:
        msg = f"{what} file {str(file)!r} is empty; it needs a header and one row per {_row_word(what)}"
        raise SensorDataError(msg)
    return file


def _row_word(what: str) -> str:
    return "sensor" if what == "sensors" else "reading"


def first_line(path: Path) -> str:
    """The first line of a text file ("" when it cannot be read as text)."""
    try:
        with open(path, encoding="utf-8-sig", errors="strict") as f:
            return f.readline(4096).strip()
    except (OSError, UnicodeDecodeError):
        return ""


def looks_like(path: Path) -> str | None:
    """Which public format a file's first line looks like, as words for a message (None: none known)."""
    line = first_line(path)
    if not line:
        return None
    semi = line.split(";")
    if len(semi) >= 13 and all(re.fullmatch(r"-?\d+(?:[.,]\d+)?", f.strip() or "x") for f in semi):
        return "a Digitraffic LAM raw data file (read it with optimizer.sensing.formats.read_lam_raw, format='lam')"
    comma = line.split(",")
    if len(comma) >= 12 and re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", comma[0].strip()):
        return "a PeMS 5-minute station file (read it with optimizer.sensing.formats.read_pems_5min, format='pems')"
    if line.split("\t")[:3] == ["ID", "Fwy", "Dir"]:
        return ("a PeMS station metadata file (read it with optimizer.sensing.formats.read_pems_meta, "
                "format='pems')")
    if line.startswith(("{", "[")):
        return ("JSON, perhaps Digitraffic station metadata (read it with "
                "optimizer.sensing.formats.read_digitraffic_stations, format='lam')")
    return None


def read_table(path: str | os.PathLike[str], what: str, *, required: Sequence[str] = ()) -> pd.DataFrame:
    """A readings or sensors table from a CSV or Parquet file, as read (text columns for CSV).

    ``what`` names the table in messages (``"readings"``, ``"sensors"``).  A
    missing, empty, unreadable or headless file, or one without the
    ``required`` columns, is refused with :class:`SensorDataError` naming the
    file, the column and the fix (and the public format the file looks like).
    """
    import pandas as pd

    file = _check_file(path, what)
    kind = _suffix(file, what)
    where = f"{what} file {str(file)!r}"
    try:
        if kind == "csv":
            raw = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True,
                              encoding="utf-8-sig")
        else:
            raw = pd.read_parquet(file)
    except pd.errors.EmptyDataError as exc:
        msg = f"{where} holds no table; it needs a header and one row per {_row_word(what)}"
        raise SensorDataError(msg) from exc
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        hint = looks_like(file) if kind == "csv" else None
        fix = (f"it looks like {hint}" if hint else
               "write it as UTF-8 comma-separated text with a header" if kind == "csv" else
               "write a Parquet file (pandas DataFrame.to_parquet) or a .csv")
        msg = f"cannot read {where} ({one_line(exc)}); {fix}"
        raise SensorDataError(msg) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        hint = looks_like(file) if kind == "csv" else None
        fix = (f"this looks like {hint}" if hint else
               f"the {what} table has columns {', '.join(required)} (see optimizer.sensing.readings)")
        msg = (f"{where} has no column(s) {', '.join(map(repr, missing))} (found: "
               f"{', '.join(map(repr, list(raw.columns)[:8]))}); {fix}")
        raise SensorDataError(msg)
    if raw.empty:
        msg = f"{where} has columns but no rows; add one row per {_row_word(what)}"
        raise SensorDataError(msg)
    return raw


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a readings or sensors table atomically as CSV or Parquet (by suffix); times in UTC with ``Z``."""
    path = Path(path)
    kind = _suffix(path, "output")
    if kind == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return atomic_write_bytes(path, buf.getvalue())
    out = df.copy()
    for col in out.columns:
        if hasattr(out[col], "dt") and getattr(out[col].dt, "tz", None) is not None:
            out[col] = _iso_utc(out[col])
    return atomic_write_text(path, out.to_csv(index=False, lineterminator="\n"))


def _iso_utc(times: pd.Series) -> pd.Series:
    import pandas as pd

    utc = times.dt.tz_convert("UTC")
    whole = (utc.dt.microsecond == 0) & (utc.dt.nanosecond == 0)
    if bool(whole.all()) and not utc.isna().any():
        text = np.datetime_as_string(utc.dt.tz_localize(None).to_numpy(), unit="s")
        return pd.Series(np.char.add(text.astype(str), "Z"), index=times.index, dtype=object)
    return utc.map(lambda t: t.isoformat().replace("+00:00", "Z"))


# ------------------------------------------------------------------ times
def check_zone(tz: Any, *, flag: str = "tz") -> str:
    """``tz`` as an IANA time-zone name that this machine knows, else :class:`SensorDataError`.

    >>> check_zone("Europe/Helsinki")
    'Europe/Helsinki'
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not isinstance(tz, str) or not tz.strip():
            raise ValueError(tz)
        ZoneInfo(tz.strip())
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        msg = (f"{flag}={tz!r} is not a time zone this machine knows; give an IANA zone name such as "
               f"'Europe/Helsinki', 'America/Los_Angeles' or 'UTC'")
        raise SensorDataError(msg) from exc
    return tz.strip()


def parse_times(values: pd.Series, *, tz: str | None, where: str, column: str = "time",
                ambiguous: str = "raise") -> pd.Series:
    """``values`` (text, naive or aware datetimes) as tz-aware UTC Timestamps.

    Text with an offset or ``Z`` is read as written.  Naive times need ``tz``,
    the zone they were recorded in; at the autumn change of clocks an hour is
    ambiguous and refused unless ``ambiguous="infer"`` (times in the order they
    were recorded).  Empty, malformed or mixed values, and an unknown zone, are
    refused naming the rows and the fix.
    """
    return _parse_times(values, tz=tz, where=where, column=column, ambiguous=ambiguous).dt.as_unit("ns")


def _parse_times(values: pd.Series, *, tz: str | None, where: str, column: str, ambiguous: str) -> pd.Series:
    import pandas as pd
    from pandas.api.types import is_datetime64_any_dtype

    zone = None if tz is None else check_zone(tz)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if is_datetime64_any_dtype(values.dtype):
        if values.isna().any():
            _refuse_times(values.isna(), values, where, column, "empty")
        return _localize(values, zone, where, column, ambiguous, text=values.astype(str))
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    if empty.any():
        _refuse_times(empty.to_numpy(), values, where, column, "empty")
    has_zone = text.str.contains(_ZONE_AT_END).to_numpy(dtype=bool)
    if has_zone.all():
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        if parsed.isna().any():
            _refuse_times(parsed.isna().to_numpy(), values, where, column, "malformed")
        return parsed
    if has_zone.any():
        row = int(np.flatnonzero(~has_zone)[0])
        msg = (f"{where}: {column} mixes times with and without a UTC offset ({rows_text(~has_zone)} have none, "
               f"first: {str(values.iloc[row])!r}); write every time with its offset, e.g. {_TIME_EXAMPLE}")
        raise SensorDataError(msg)
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if parsed.isna().any():
        _refuse_times(parsed.isna().to_numpy(), values, where, column, "malformed")
    return _localize(parsed, zone, where, column, ambiguous, text=text)


def _refuse_times(mask: Any, values: pd.Series, where: str, column: str, kind: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    row = int(np.flatnonzero(mask)[0])
    what = "is empty" if kind == "empty" else f"is not a date and time (first: {str(values.iloc[row])!r})"
    msg = f"{where}: {column} in {rows_text(mask)} {what}; write ISO 8601 times such as {_TIME_EXAMPLE}"
    raise SensorDataError(msg)


def _localize(naive: pd.Series, zone: str | None, where: str, column: str, ambiguous: str, *,
              text: pd.Series) -> pd.Series:
    if zone is None:
        msg = (f"{where}: {column} has no UTC offset or zone (first: {str(text.iloc[0])!r}); write times with "
               f"their offset ({_TIME_EXAMPLE}) or give the zone they were recorded in "
               f"(tz='Europe/Helsinki', --tz)")
        raise SensorDataError(msg)
    try:
        local = naive.dt.tz_localize(zone, ambiguous=ambiguous, nonexistent="raise")
    except Exception as exc:  # pytz's AmbiguousTimeError / NonExistentTimeError, or ValueError from infer
        msg = (f"{where}: {column} holds local times that {zone} skips or repeats when the clocks change "
               f"({one_line(exc)}); write those times with their UTC offset ({_TIME_EXAMPLE})")
        raise SensorDataError(msg) from exc
    return local.dt.tz_convert("UTC")


# ------------------------------------------------------------------ columns
def _numbers(raw: pd.DataFrame, column: str, where: str) -> np.ndarray:
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if column not in raw.columns:
        return np.full(len(raw), np.nan)
    col = raw[column]
    if is_numeric_dtype(col.dtype) and not is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=float, na_value=np.nan)
    as_text = col.astype("string").str.strip()
    values = pd.to_numeric(as_text, errors="coerce").astype(float)
    bad = values.isna() & as_text.notna() & (as_text != "") & ~as_text.str.lower().isin(["nan", "na", "null"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        msg = (f"{where}: {column} in {rows_text(bad.to_numpy())} is not a number (first: "
               f"{str(col.iloc[row])!r}); write a decimal number (with a point) or leave the field empty")
        raise SensorDataError(msg)
    return values.to_numpy(dtype=float)


def _ids(col: pd.Series, where: str, column: str = "sensor_id") -> pd.Series:
    from pandas.api.types import is_float_dtype, is_integer_dtype

    if is_integer_dtype(col.dtype):
        ids = col.astype("Int64").astype("string")
    elif is_float_dtype(col.dtype):  # ids stored as floats (101.0) are written as whole numbers
        whole = col.notna() & (col % 1 == 0)
        ids = col.astype("string").where(~whole, col[whole].astype("int64").astype("string"))
    else:
        ids = col.astype("string").str.strip()
    empty = ids.isna() | (ids == "")
    if empty.any():
        msg = f"{where}: {column} is empty in {rows_text(empty.to_numpy())}; give every row its sensor's id"
        raise SensorDataError(msg)
    return ids.astype(object)


def standard_readings(raw: pd.DataFrame, *, where: str, tz: str | None = None,
                      ambiguous: str = "raise") -> pd.DataFrame:
    """The readings table (:data:`READING_COLUMNS`, in file order) from a frame as read.

    ``time``, ``sensor_id`` and ``flow_vph`` are required; ``speed_kph``,
    ``occupancy_pct`` may be absent (NaN) and ``quality`` too (``"ok"``).
    """
    import pandas as pd

    missing = [c for c in ("time", "sensor_id", "flow_vph") if c not in raw.columns]
    if missing:
        msg = (f"{where} has no column(s) {', '.join(map(repr, missing))}; the readings table has columns "
               f"{', '.join(READING_COLUMNS)} (speed_kph, occupancy_pct and quality may be left out)")
        raise SensorDataError(msg)
    if raw.empty:
        msg = f"{where} has no rows; give one row per sensor and interval"
        raise SensorDataError(msg)
    raw = raw.reset_index(drop=True)
    out = pd.DataFrame({
        "time": parse_times(raw["time"], tz=tz, where=where, ambiguous=ambiguous),
        "sensor_id": _ids(raw["sensor_id"], where),
        "flow_vph": _numbers(raw, "flow_vph", where),
        "speed_kph": _numbers(raw, "speed_kph", where),
        "occupancy_pct": _numbers(raw, "occupancy_pct", where),
    })
    if "quality" in raw.columns:
        q = raw["quality"].astype("string").fillna(OK).str.strip()
        out["quality"] = q.where(q != "", OK).astype(object)
    else:
        out["quality"] = OK
    return out


def standard_sensors(raw: pd.DataFrame, *, where: str) -> pd.DataFrame:
    """The sensors table from a frame as read: checked ids, coordinates, bearings and way ids.

    ``lon``/``lat`` must be WGS84 degrees (both may be empty: a sensor with no
    position, never snapped); each row needs ``bearing_deg`` (0 to 360) or
    ``osm_way_id`` (a whole number).  Other columns are kept after these.
    """
    import pandas as pd

    missing = [c for c in ("sensor_id", "lon", "lat") if c not in raw.columns]
    if missing or not ({"bearing_deg", "osm_way_id"} & set(raw.columns)):
        missing += [] if {"bearing_deg", "osm_way_id"} & set(raw.columns) else ["bearing_deg or osm_way_id"]
        msg = (f"{where} has no column(s) {', '.join(missing)}; the sensors table has columns sensor_id, lon, "
               f"lat and bearing_deg (compass degrees of the traffic counted) or osm_way_id")
        raise SensorDataError(msg)
    if raw.empty:
        msg = f"{where} has no rows; give one row per sensor"
        raise SensorDataError(msg)
    raw = raw.reset_index(drop=True)
    ids = _ids(raw["sensor_id"], where)
    dup = ids.duplicated(keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        msg = (f"{where}: sensor_id {ids.iloc[row]!r} appears more than once ({rows_text(dup)}); give each "
               f"sensor one row")
        raise SensorDataError(msg)
    lon = _numbers(raw, "lon", where)
    lat = _numbers(raw, "lat", where)
    placed = ~(np.isnan(lon) & np.isnan(lat))
    coords = pd.DataFrame({"lon": lon, "lat": lat})
    if placed.any():  # rows with no position stand in as (0, 0) so that messages count rows as in the file
        check_lonlat_columns(coords.where(np.column_stack([placed, placed]), 0.0), [("lon", "lat")], where=where,
                             error=SensorDataError)
    bearing = _numbers(raw, "bearing_deg", where)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(bearing) & ~((bearing >= 0) & (bearing <= 360))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = (f"{where}: bearing_deg in {rows_text(bad)} is outside 0..360 (first: {bearing[row]:g}); give the "
               f"compass direction of the traffic counted: north 0, east 90, south 180, west 270")
        raise SensorDataError(msg)
    way = _numbers(raw, "osm_way_id", where)
    bad_way = ~np.isnan(way) & ((way <= 0) | (np.mod(way, 1) != 0))
    if bad_way.any():
        row = int(np.flatnonzero(bad_way)[0])
        msg = (f"{where}: osm_way_id in {rows_text(bad_way)} is not an OpenStreetMap way id (first: "
               f"{way[row]:g}); give the way's whole positive number or leave it empty")
        raise SensorDataError(msg)
    neither = np.isnan(bearing) & np.isnan(way)
    if neither.any():
        msg = (f"{where}: {rows_text(neither)} give neither bearing_deg nor osm_way_id; each sensor needs one to "
               f"say which road and direction it counts")
        raise SensorDataError(msg)
    out = pd.DataFrame({
        "sensor_id": ids,
        "lon": coords["lon"].to_numpy(dtype=float),
        "lat": coords["lat"].to_numpy(dtype=float),
        "bearing_deg": np.where(np.isnan(bearing), np.nan, np.mod(bearing, 360.0)),
        "osm_way_id": pd.array([pd.NA if np.isnan(w) else int(w) for w in way], dtype="Int64"),
    })
    extra = [c for c in raw.columns if c not in out.columns]
    for c in extra:
        out[c] = raw[c].to_numpy()
    if "snap_note" in out.columns:  # a table snapped before: its edges as read back from a file
        out["snap_note"] = out["snap_note"].astype("string").fillna("").astype(object)
        for c in ("u", "v", "key"):
            if c in out.columns:
                try:
                    out[c] = pd.array([pd.NA if pd.isna(x) else int(float(x)) for x in out[c]], dtype="Int64")
                except (TypeError, ValueError):
                    out[c] = out[c].astype(object)
        for c in ("snap_m", "bearing_diff_deg"):
            if c in out.columns:
                out[c] = _numbers(out, c, where)
    return out


# ------------------------------------------------------------------ flags
def infer_interval_s(times: pd.Series, sensor_ids: pd.Series) -> float | None:
    """The most common positive step (seconds) between consecutive readings of a sensor (None: no step)."""
    import pandas as pd

    df = pd.DataFrame({"t": times.astype("int64") // 10**6, "s": sensor_ids}).drop_duplicates()
    df = df.sort_values(["s", "t"], kind="mergesort")
    step = df.groupby("s", sort=False)["t"].diff().dropna()
    step = step[step > 0]
    if step.empty:
        return None
    counts = step.value_counts()
    best = counts[counts == counts.max()].index.min()  # ties: the shorter step
    return float(best) / 1000.0


#: Flags kept from a file's ``quality`` column although this module computes them: a table written
#: sorted no longer shows the order of the file it came from.
_STICKY = frozenset({"out_of_order"})


def _existing_flags(quality: pd.Series) -> dict[int, list[str]]:
    """The source's own flags by row position (only rows that carry any)."""
    text = quality.astype("string").fillna(OK).str.strip()
    out = {}
    for i in np.flatnonzero(((text != OK) & (text != "")).to_numpy()):
        flags = [f for f in (t.strip() for t in str(text.iloc[i]).split(_SEP))
                 if f and f != OK and (f not in FLAGS or f in _STICKY)]
        if flags:
            out[int(i)] = flags
    return out


def flag_readings(readings: pd.DataFrame, sensor_ids: Iterable[str], *, unsnapped: Iterable[str] = (),
                  interval_s: float | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Flag what is wrong with each reading; rows are kept, in the order given.

    Returns the readings with ``quality`` set (the source's own flags kept, this
    module's :data:`FLAGS` recomputed) and a dict: ``flags`` (rows per flag),
    ``rows_ok``, ``gaps``, ``missing_intervals`` and ``interval_s``.
    """
    import pandas as pd

    df = readings.reset_index(drop=True).copy()
    n = len(df)
    t = df["time"].astype("int64").to_numpy()
    sid = df["sensor_id"]
    flow = df["flow_vph"].to_numpy(dtype=float)
    speed = df["speed_kph"].to_numpy(dtype=float)
    occ = df["occupancy_pct"].to_numpy(dtype=float)
    marks: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        marks["negative_flow"] = flow < 0
        marks["missing_flow"] = np.isnan(flow)
        marks["impossible_speed"] = (speed < 0) | (speed > MAX_SPEED_KPH)
        marks["impossible_occupancy"] = (occ < 0) | (occ > 100)
    marks["duplicate"] = df.duplicated(["time", "sensor_id"], keep="first").to_numpy()
    ts = pd.Series(t)
    prev_max = ts.groupby(sid.to_numpy()).cummax().groupby(sid.to_numpy()).shift()
    marks["out_of_order"] = (ts < prev_max).fillna(False).to_numpy(dtype=bool)
    if interval_s is None:
        interval_s = infer_interval_s(df["time"], sid)
    gap = np.zeros(n, dtype=bool)
    missing_intervals = 0
    if interval_s is not None and n:
        order = pd.DataFrame({"t": t, "s": sid.to_numpy(), "i": np.arange(n)})
        order = order[~marks["duplicate"]].sort_values(["s", "t", "i"], kind="mergesort")
        step_s = order.groupby("s", sort=False)["t"].diff().to_numpy() / 1e9
        with np.errstate(invalid="ignore"):
            is_gap = step_s >= GAP_FACTOR * interval_s
        gap[order["i"].to_numpy()[is_gap]] = True
        missing_intervals = int(np.sum(np.round(step_s[is_gap] / interval_s) - 1))
    marks["gap_before"] = gap
    known = {str(s) for s in sensor_ids}
    marks["unknown_sensor"] = ~sid.astype(str).isin(known).to_numpy()
    marks["unsnapped_sensor"] = sid.astype(str).isin({str(s) for s in unsnapped}).to_numpy()
    rows: dict[int, list[str]] = _existing_flags(df["quality"]) if "quality" in df.columns else {}
    for f in FLAGS:
        for i in np.flatnonzero(marks[f]):
            row = rows.setdefault(int(i), [])
            if f not in row:
                row.append(f)
    quality = np.full(n, OK, dtype=object)
    counts = dict.fromkeys(FLAGS, 0)
    for i, row in rows.items():
        quality[i] = _SEP.join(row)
        for f in row:
            counts[f] = counts.get(f, 0) + 1
    df["quality"] = quality
    info = {"flags": counts, "rows_ok": n - len(rows), "gaps": int(gap.sum()),
            "missing_intervals": missing_intervals, "interval_s": interval_s}
    return df[list(READING_COLUMNS)], info


# ------------------------------------------------------------------ Sensors
def _load_city(city: Any) -> Any:
    if city is None or not isinstance(city, (str, os.PathLike)):
        return city
    from optimizer.inputs.city import City

    return City.load(city)


def _stream_files(spec: Any) -> tuple[Path, Path, str | None]:
    """``(readings file, sensors file, tz)`` of a stream folder or ``"replay:NAME"``."""
    import json

    if isinstance(spec, str) and spec.startswith("replay:"):
        import city_data

        name = spec.split(":", 1)[1]
        rep = city_data.find_replay(name)
        if rep is None:
            msg = (f"no sensor replay named {name!r}: the shipped ones are {list(city_data.available_replays())}; "
                   "give a stream folder or the two files")
            raise SensorDataError(msg)
        spec = rep.path()
    if not isinstance(spec, (str, os.PathLike)) or not Path(spec).is_dir():
        msg = (f"readings_path {spec!r} with no sensors_path: give a stream folder (readings.* and sensors.csv), "
               "'replay:NAME', or both files")
        raise SensorDataError(msg)
    folder = Path(spec)
    found = [folder / f"readings.{x}" for x in ("csv", "csv.gz", "parquet") if (folder / f"readings.{x}").is_file()]
    if not found or not (folder / "sensors.csv").is_file():
        msg = (f"{str(folder)!r} holds no readings.csv (.csv.gz, .parquet) and sensors.csv; write them with "
               "`cityopt sensors simulate` or give both files")
        raise SensorDataError(msg)
    meta = folder / "twin.json"
    tz = None
    if meta.is_file():
        try:
            tz = json.loads(meta.read_text(encoding="utf-8")).get("tz")
        except ValueError:
            tz = None
    return found[0], folder / "sensors.csv", tz


@dataclass(frozen=True, eq=False)
class Sensors:
    """Readings and the sensors that made them, checked and flagged (see the module docstring).

    Attributes
    ----------
    readings
        The readings table, sorted by ``time`` then ``sensor_id`` (repeats in file order).
    sensors
        The sensors table; snapped (``u, v, key, snap_m, bearing_diff_deg, snap_note``) when a city was given.
    flags
        Rows carrying each flag (every name in :data:`FLAGS`, and the source's own).
    interval_s
        The readings' interval in seconds (given or inferred; None with one reading per sensor).
    """

    readings: pd.DataFrame
    sensors: pd.DataFrame
    flags: dict[str, int]
    interval_s: float | None = None
    gaps: int = 0
    missing_intervals: int = 0
    rows_ok: int = 0
    city: str | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)
    #: The local time zone of the stream (its days and times of day), where known (a twin's ``twin.json``).
    tz: str | None = None

    @classmethod
    def read(cls, readings_path: str | os.PathLike[str], sensors_path: str | os.PathLike[str] | None = None, *,
             city: Any = None, tz: str | None = None, interval_s: float | None = None,
             max_snap_m: float = DEFAULT_MAX_SNAP_M,
             max_bearing_diff_deg: float = DEFAULT_MAX_BEARING_DIFF_DEG, unknown_sensors: str = "flag") -> Sensors:
        """Read cityopt's own readings and sensors files (CSV or Parquet), check, flag and (with a city) snap.

        >>> stream = Sensors.read("replay:helsinki")          # the replay cityopt ships
        >>> len(stream.sensors), stream.rows_ok, stream.tz, stream.interval_s
        (18, 4172, 'Europe/Helsinki', 300.0)

        Parameters
        ----------
        readings_path, sensors_path
            The two tables of the module docstring (``.csv``, ``.csv.gz``, ``.parquet``); or, with no
            ``sensors_path``, a stream folder holding ``readings.*`` and ``sensors.csv`` (what
            ``cityopt sensors simulate`` writes), or ``"replay:NAME"`` (a shipped replay).  A folder's
            ``twin.json`` gives the stream's local time zone (:attr:`tz`).
        city
            An :class:`optimizer.City`, a road graph, or a city spec (``"helsinki"``, a file):
            each sensor is then snapped to its road segment.
        tz
            The zone of times written without an offset (``"Europe/Helsinki"``).
        interval_s
            The readings' interval in seconds (default: the most common step).
        max_snap_m, max_bearing_diff_deg
            Snapping tolerances (:func:`optimizer.sensing.snapping.snap_sensors`).
        unknown_sensors
            ``"flag"`` (default): readings of sensors the table lacks are kept and
            flagged ``unknown_sensor``; ``"error"``: they are refused.  Readings
            none of whose sensors the table holds are always refused (the wrong files).

        Public formats (Digitraffic LAM, PeMS) are read by :mod:`optimizer.sensing.formats`.
        """
        local = None
        if sensors_path is None:
            readings_path, sensors_path, local = _stream_files(readings_path)
        tz = None if tz is None else check_zone(tz)
        raw_r = read_table(readings_path, "readings", required=("time", "sensor_id", "flow_vph"))
        raw_s = read_table(sensors_path, "sensors", required=("sensor_id", "lon", "lat"))
        out = cls.from_frames(raw_r, raw_s, city=city, tz=tz, interval_s=interval_s, max_snap_m=max_snap_m,
                              max_bearing_diff_deg=max_bearing_diff_deg, unknown_sensors=unknown_sensors,
                              readings_where=f"readings file {str(readings_path)!r}",
                              sensors_where=f"sensors file {str(sensors_path)!r}",
                              sources=(str(readings_path), str(sensors_path)))
        zone = tz or local
        return dataclasses.replace(out, tz=zone) if zone else out

    @classmethod
    def from_frames(cls, readings: pd.DataFrame, sensors: pd.DataFrame, *, city: Any = None,
                    tz: str | None = None, interval_s: float | None = None,
                    max_snap_m: float = DEFAULT_MAX_SNAP_M,
                    max_bearing_diff_deg: float = DEFAULT_MAX_BEARING_DIFF_DEG,
                    readings_where: str = "readings", sensors_where: str = "sensors",
                    ambiguous: str = "raise", unknown_sensors: str = "flag",
                    sources: Sequence[str] = ()) -> Sensors:
        """The same as :meth:`read`, from two DataFrames (as read, or already in the data model)."""
        if unknown_sensors not in ("flag", "error"):
            msg = f"unknown_sensors={unknown_sensors!r}: use 'flag' (the default) or 'error'"
            raise SensorDataError(msg)
        if interval_s is not None and (isinstance(interval_s, bool) or not isinstance(interval_s, (int, float))
                                       or not (0 < float(interval_s) <= 86_400)):
            msg = f"interval_s must be a number of seconds in (0, 86400], got {interval_s!r}"
            raise SensorDataError(msg)
        r = standard_readings(readings, where=readings_where, tz=tz, ambiguous=ambiguous)
        s = standard_sensors(sensors, where=sensors_where)
        _check_known(r, s, readings_where, sensors_where, strict=unknown_sensors == "error")
        city_obj = _load_city(city)
        unsnapped: list[str] = []
        city_name = None
        if city_obj is not None:
            s = snap_sensors(s, city_obj, max_snap_m=max_snap_m, max_bearing_diff_deg=max_bearing_diff_deg)
        if "snap_note" in s.columns:  # snapped now, or a sensors table snapped before and read back
            unsnapped = s.loc[s["snap_note"] != "", "sensor_id"].astype(str).tolist()
        if city_obj is not None:
            city_name = str(getattr(city_obj, "name", None) or getattr(city_obj, "graph", {}).get("name", "graph"))
            if unsnapped:
                log.warning("%d of %d sensors could not be snapped to %s's roads (see snap_note)",
                            len(unsnapped), len(s), city_name)
        r, info = flag_readings(r, s["sensor_id"], unsnapped=unsnapped,
                                interval_s=None if interval_s is None else float(interval_s))
        r = r.sort_values(["time", "sensor_id"], kind="mergesort").reset_index(drop=True)
        return cls(readings=r, sensors=s, flags=info["flags"], interval_s=info["interval_s"],
                   gaps=info["gaps"], missing_intervals=info["missing_intervals"], rows_ok=info["rows_ok"],
                   city=city_name, sources=tuple(str(x) for x in sources))

    @property
    def snapped(self) -> bool:
        """True when the sensors were snapped to a city's roads."""
        return "snap_note" in self.sensors.columns

    def summary(self) -> dict[str, Any]:
        """What was read, for ``summary.json``: rows, sensors, rows per flag, gaps, time span and interval."""
        t = self.readings["time"]
        out: dict[str, Any] = {
            "schema_version": 1,
            "rows": len(self.readings),
            "rows_ok": self.rows_ok,
            "sensors": len(self.sensors),
            "sensors_with_readings": int(self.readings["sensor_id"].nunique()),
            "flags": dict(self.flags),
            "gaps": self.gaps,
            "missing_intervals": self.missing_intervals,
            "time_start": _iso(t.min()),
            "time_end": _iso(t.max()),
            "interval_s": self.interval_s,
            "city": self.city,
            "sources": list(self.sources),
        }
        if self.snapped:
            ok = self.sensors["snap_note"] == ""
            out["sensors_snapped"] = int(ok.sum())
            out["sensors_unsnapped"] = {str(k): str(v) for k, v in
                                        zip(self.sensors.loc[~ok, "sensor_id"], self.sensors.loc[~ok, "snap_note"])}
        return out

    def write(self, readings_path: str | os.PathLike[str], sensors_path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write both tables (CSV or Parquet by suffix), each atomically; read back by :meth:`read`."""
        _suffix(Path(readings_path), "readings")
        _suffix(Path(sensors_path), "sensors")
        return write_table(self.readings, readings_path), write_table(self.sensors, sensors_path)

    def __repr__(self) -> str:
        bad = {k: v for k, v in self.flags.items() if v}
        return (f"Sensors({len(self.readings)} readings, {len(self.sensors)} sensors, "
                f"interval_s={self.interval_s}, flags={bad})")


def _check_known(readings: pd.DataFrame, sensors: pd.DataFrame, readings_where: str, sensors_where: str, *,
                 strict: bool) -> None:
    """Refuse readings none of whose sensors the table holds (the wrong pair of files), or, strict, any such."""
    known = set(sensors["sensor_id"].astype(str))
    ids = readings["sensor_id"].astype(str)
    unknown = ~ids.isin(known).to_numpy()
    if not unknown.any() or not (strict or unknown.all()):
        return
    names = sorted(set(ids[unknown]))
    shown = ", ".join(map(repr, names[:5])) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    what = "none of the sensor ids in" if unknown.all() else "sensor ids in"
    msg = (f"{what} {readings_where} are in {sensors_where} ({shown}; {rows_text(unknown)}); give the sensors "
           f"table that goes with these readings, or add a row for each of these sensors")
    raise SensorDataError(msg)


def _iso(t: Any) -> str | None:
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return None
    try:
        return t.tz_convert("UTC").isoformat().replace("+00:00", "Z")
    except (AttributeError, TypeError, ValueError):
        return None


def counts_text(flags: Mapping[str, int]) -> str:
    """The non-zero flag counts as one line (``"duplicate 2, gap_before 1"``; ``"none"``)."""
    items = [f"{k} {v}" for k, v in flags.items() if v]
    return ", ".join(items) if items else "none"


def local_zone(graph: Any, tz: Any) -> Any:
    """The zone of a city's clock hours: the IANA zone ``tz``, or with none a fixed offset of
    ``round(lon / 15)`` hours at the graph's centre (no daylight saving: give a name for that).

    >>> local_zone(None, "Europe/Helsinki").key
    'Europe/Helsinki'
    """
    import datetime as dt

    if tz is None:
        from optimizer.inputs.roads import graph_to_wgs84

        xs = np.array([d["x"] for _, d in graph.nodes(data=True)], dtype=float)
        ys = np.array([d["y"] for _, d in graph.nodes(data=True)], dtype=float)
        lon = float(np.median(xs))
        tr = graph_to_wgs84(graph)
        if tr is not None:
            lon = tr.transform(lon, float(np.median(ys)))[0]
        hours = int(round(lon / 15.0))
        return dt.timezone(dt.timedelta(hours=hours), f"UTC{hours:+03d}:00")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"tz {tz!r} is not a time zone: give an IANA name such as 'Europe/Helsinki', or None"
        raise SensorDataError(msg) from None
