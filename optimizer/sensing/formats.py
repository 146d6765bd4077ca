"""Public detector data into cityopt's readings and sensors tables: Digitraffic LAM (TMS) and Caltrans PeMS.

Each reader follows the field list its publisher documents, and converts to the
data model of :mod:`optimizer.sensing.readings`.

Digitraffic LAM raw data (Finland; fits the bundled Helsinki map)
----------------------------------------------------------------
Source of the field list: Fintraffic's *TMS documentation*, "TMS raw data",
https://www.digitraffic.fi/en/road-traffic/lam/ (Finnish:
https://www.digitraffic.fi/tieliikenne/lam/).  One file per station and day,
``lamraw_[lam_id]_[yearshort]_[day_number].csv``, one row per vehicle,
semicolon-separated, times in Finnish local time (EET/EEST), fields in order:
``pistetunnus`` (TMS point id), ``vuosi`` (year, two digits), ``päivän
järjestysnumero`` (ordinal day, 1 = 1 January), ``tunti``, ``minuutti``,
``sekunti``, ``sadasosa`` (1/100 s), ``pituus`` (length, m), ``kaista``
(lane), ``suunta`` (direction, 1 or 2), ``ajoneuvoluokka`` (vehicle class
1..7), ``nopeus`` (speed, km/h), ``faulty`` (0 valid, 1 faulty), ``kokonaisaika``,
``aikaväli``, ``jonoalku`` (technical).

:func:`read_lam_raw` counts the valid vehicles (``faulty`` 0) per station,
direction and 5-minute interval: ``flow_vph`` = count x 12, ``speed_kph`` =
their mean speed (NaN when none passed), ``occupancy_pct`` NaN (the raw file
has no loop occupancy).  An interval in which the station marked some vehicle
faulty is flagged ``faulty_records`` (those vehicles are not counted).  Every
5-minute interval of each local day in the file is written, so a quiet night
reads as zero flow, not as a gap.  Sensor ids are ``"<TMS point id>-<direction>"``.

Digitraffic station metadata
----------------------------
The stations list, https://tie.digitraffic.fi/api/tms/v1/stations (GeoJSON:
``features[].geometry.coordinates`` = [lon, lat, altitude],
``properties.id`` (road station id), ``properties.tmsNumber`` (the id in the
raw files), ``properties.name``, ``direction1Municipality``,
``direction2Municipality``; the API's model describes direction 1 as "according to the
road register address increasing direction", direction 2 as decreasing), and the sensor constants,
https://tie.digitraffic.fi/api/tms/v1/stations/sensor-constants
(``stations[].id``, ``stations[].sensorConstantValues[]`` of ``name``,
``value``).  The documentation above defines the constant ``Tien_suunta``:
"road direction by degrees in the ascending direction (north 0, east 90)".
Direction 1 counts traffic in the road register's ascending direction, so
:func:`read_digitraffic_stations` gives sensor ``"<n>-1"`` the bearing
``Tien_suunta`` and ``"<n>-2"`` the bearing ``Tien_suunta + 180`` (mod 360).
A station without ``Tien_suunta`` cannot tell its directions apart and is refused.

Caltrans PeMS 5-minute station data (California)
------------------------------------------------
Source of the field lists: the PeMS Data Clearinghouse, https://pems.dot.ca.gov/?dnode=Clearinghouse
(file types "Station 5-Minute" and "Station Metadata"; the feeds at
https://pems.dot.ca.gov/feeds/clhouse/), whose descriptions are transcribed at
http://mfbz.cn/a/175455.html; the metadata columns as Caltrans loads them in
https://github.com/cagov/caldata-mdsa-caltrans-pems (``stg_clearinghouse__station_meta``).
The 5-minute file (``dNN_text_station_5min_YYYY_MM_DD.txt``) is comma-separated
without a header: ``Timestamp`` (``MM/DD/YYYY HH24:MI:SS``, start of the
interval, local Pacific time), ``Station``, ``District``, ``Freeway #``,
``Direction of Travel``, ``Lane Type``, ``Station Length``, ``Samples``,
``% Observed``, ``Total Flow`` (vehicles in the 5 minutes), ``Avg Occupancy``
(fraction 0..1), ``Avg Speed`` (mph), then per lane ``Samples``, ``Flow``,
``Avg Occ``, ``Avg Speed``, ``Observed``.  :func:`read_pems_5min` gives
``flow_vph`` = Total Flow x 12, ``occupancy_pct`` = Avg Occupancy x 100,
``speed_kph`` = Avg Speed x 1.609344, and flags ``mostly_imputed`` where
``% Observed`` is below 50 (PeMS imputes unobserved lanes).
The metadata file (``dNN_text_meta_YYYY_MM_DD.txt``) is tab-separated with the
header ``ID, Fwy, Dir, District, County, City, State_PM, Abs_PM, Latitude,
Longitude, Length, Type, Lanes, Name, User_ID_1..4``; :func:`read_pems_meta`
takes the bearing from ``Dir`` as the nominal compass direction
(N 0, E 90, S 180, W 270) -- a freeway signed north may run north-east, so
snapping PeMS stations may need a wider ``max_bearing_diff_deg``.

Examples
--------
>>> import pathlib, tempfile
>>> raw = pathlib.Path(tempfile.mkdtemp()) / "lamraw_9001_24_127.csv"
>>> _ = raw.write_text("9001;24;127;7;0;12;34;4.3;1;1;1;30;0;43212;310;0\\n"
...                    "9001;24;127;7;1;5;2;4.7;1;1;1;36;0;43265;53;0\\n")
>>> r = read_lam_raw(raw)                     # 6 May 2024, 07:00-07:05 Finnish summer time
>>> r.loc[r["flow_vph"] > 0, ["time", "sensor_id", "flow_vph", "speed_kph"]].to_dict("records")
[{'time': Timestamp('2024-05-06 04:00:00+0000', tz='UTC'), 'sensor_id': '9001-1', 'flow_vph': 24.0, 'speed_kph': 33.0}]
>>> len(r)                                    # every 5 minutes of the local day
288
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import SensorDataError
from optimizer.inputs.checks import one_line, rows_text
from optimizer.sensing.readings import (
    READING_COLUMNS,
    Sensors,
    check_zone,
    first_line,
    looks_like,
)
from optimizer.sensing.snapping import DEFAULT_MAX_BEARING_DIFF_DEG, DEFAULT_MAX_SNAP_M

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "FORMATS",
    "LAM_FIELDS",
    "LAM_TZ",
    "PEMS_5MIN_FIELDS",
    "PEMS_LANE_FIELDS",
    "PEMS_META_FIELDS",
    "PEMS_TZ",
    "read_digitraffic_stations",
    "read_lam_raw",
    "read_pems_5min",
    "read_pems_meta",
    "read_sensors",
]

#: The formats :func:`read_sensors` reads.
FORMATS = ("cityopt", "lam", "pems")
#: Digitraffic LAM raw file fields, in order (the published Finnish names).
LAM_FIELDS = ("pistetunnus", "vuosi", "päivän järjestysnumero", "tunti", "minuutti", "sekunti", "sadasosa",
              "pituus", "kaista", "suunta", "ajoneuvoluokka", "nopeus", "faulty", "kokonaisaika", "aikaväli",
              "jonoalku")
#: LAM raw times are Finnish local time.
LAM_TZ = "Europe/Helsinki"
#: PeMS station 5-minute fields before the per-lane groups.
PEMS_5MIN_FIELDS = ("Timestamp", "Station", "District", "Freeway #", "Direction of Travel", "Lane Type",
                    "Station Length", "Samples", "% Observed", "Total Flow", "Avg Occupancy", "Avg Speed")
#: The five fields repeated for each lane N of a PeMS station 5-minute row.
PEMS_LANE_FIELDS = ("Samples", "Flow", "Avg Occ", "Avg Speed", "Observed")
#: PeMS station metadata columns.
PEMS_META_FIELDS = ("ID", "Fwy", "Dir", "District", "County", "City", "State_PM", "Abs_PM", "Latitude",
                    "Longitude", "Length", "Type", "Lanes", "Name")
#: PeMS times are California local time.
PEMS_TZ = "America/Los_Angeles"
#: PeMS ``% Observed`` below this is flagged ``mostly_imputed``.
PEMS_MIN_OBSERVED_PCT = 50.0

_MPH_TO_KPH = 1.609344
_PEMS_DIR_BEARING = {"N": 0.0, "E": 90.0, "S": 180.0, "W": 270.0}
_INTERVAL_S = 300


def _paths(paths: Any, what: str) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, Sequence) or not paths:
        msg = f"{what}: give a file path or a list of file paths, got {paths!r}"
        raise SensorDataError(msg)
    out = []
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            msg = f"{what}: {p!r} is not a file path"
            raise SensorDataError(msg)
        file = Path(p)
        if not file.is_file():
            msg = f"no {what} at {str(file)!r}; check the path"
            raise SensorDataError(msg)
        if file.stat().st_size == 0:
            msg = f"{what} {str(file)!r} is empty; it holds no readings"
            raise SensorDataError(msg)
        out.append(file)
    return out


def _max_fields(file: Path, sep: str) -> int:
    """The most fields on any line (rows may carry different numbers of per-lane groups)."""
    try:
        with open(file, encoding="utf-8-sig", errors="replace") as f:
            return max((line.count(sep) + 1 for line in f if line.strip()), default=1)
    except OSError as exc:
        msg = f"cannot read {str(file)!r} ({one_line(exc)})"
        raise SensorDataError(msg) from exc


def _read_text_table(file: Path, *, sep: str, what: str, header: Any = None, names: Any = None) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(file, sep=sep, header=header, names=None if names is None else list(names), dtype=str,
                           keep_default_na=False, na_values=[""], encoding="utf-8-sig", skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        msg = f"{what} {str(file)!r} holds no rows"
        raise SensorDataError(msg) from exc
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        hint = looks_like(file)
        fix = f"it looks like {hint}" if hint else f"check that it is a {what}"
        msg = f"cannot read {what} {str(file)!r} ({one_line(exc)}); {fix}"
        raise SensorDataError(msg) from exc


def _whole_numbers(raw: pd.DataFrame, columns: Sequence[str], where: str, *, decimal_comma: Sequence[str] = ()
                   ) -> dict[str, np.ndarray]:
    import pandas as pd

    out = {}
    for c in columns:
        text = raw[c].astype("string").str.strip()
        if c in decimal_comma:
            text = text.str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            msg = (f"{where}: field {c!r} in {rows_text(bad)} is not a number (first: {str(raw[c].iloc[row])!r}); "
                   f"the file is damaged or not in this format")
            raise SensorDataError(msg)
        out[c] = values.to_numpy(dtype=float)
    return out


# ------------------------------------------------------------------ Digitraffic LAM
def read_lam_raw(paths: Any, *, tz: str = LAM_TZ, interval_s: int = _INTERVAL_S) -> pd.DataFrame:
    """Digitraffic LAM raw files (one row per vehicle) as 5-minute readings per station and direction.

    Parameters
    ----------
    paths
        One ``lamraw_*.csv`` file or a list of them.
    tz
        The zone of the file's clock times (Digitraffic: Finnish local time).
    interval_s
        The reading interval in seconds (default 300: 5 minutes; divides an hour).

    Returns
    -------
    pandas.DataFrame
        The readings table (``time`` UTC, ``sensor_id`` ``"<point>-<direction>"``,
        ``flow_vph``, ``speed_kph``, ``occupancy_pct`` NaN, ``quality``).
    """
    import pandas as pd

    tz = check_zone(tz)
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or interval_s <= 0 or 3600 % interval_s:
        msg = f"interval_s must be a whole number of seconds that divides an hour (e.g. 300), got {interval_s!r}"
        raise SensorDataError(msg)
    frames = [_lam_file(file, tz, interval_s) for file in _paths(paths, "LAM raw file")]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["time", "sensor_id"], kind="mergesort").reset_index(drop=True)


def _lam_file(file: Path, tz: str, interval_s: int) -> pd.DataFrame:
    import pandas as pd

    where = f"LAM raw file {str(file)!r}"
    line = first_line(file)
    fields = line.split(";")
    if len(fields) < 13:
        hint = looks_like(file)
        fix = f"it looks like {hint}" if hint else "a LAM raw file is semicolon-separated, one vehicle per line"
        msg = (f"{where}: the first line has {len(fields)} field(s) where a LAM raw file has 16 "
               f"({', '.join(LAM_FIELDS[:4])}, ...); {fix}")
        raise SensorDataError(msg)
    has_header = not re.fullmatch(r"-?\d+", fields[0].strip())
    raw = _read_text_table(file, sep=";", what="LAM raw file", header=0 if has_header else None)
    if raw.shape[1] < 13:
        msg = f"{where} has {raw.shape[1]} fields per line where a LAM raw file has 16; check the file"
        raise SensorDataError(msg)
    raw = raw.iloc[:, : len(LAM_FIELDS)]
    raw.columns = list(LAM_FIELDS[: raw.shape[1]])
    if raw.empty:
        msg = f"{where} holds no vehicles"
        raise SensorDataError(msg)
    num = _whole_numbers(raw, ["pistetunnus", "vuosi", "päivän järjestysnumero", "tunti", "minuutti", "sekunti",
                               "sadasosa", "suunta", "nopeus", "faulty"], where)
    faulty = num["faulty"] != 0
    valid_clock = ((num["vuosi"] >= 0) & (num["vuosi"] <= 99) & (num["päivän järjestysnumero"] >= 1)
                   & (num["päivän järjestysnumero"] <= 366) & (num["tunti"] >= 0) & (num["tunti"] <= 23)
                   & (num["minuutti"] >= 0) & (num["minuutti"] <= 59) & (num["sekunti"] >= 0)
                   & (num["sekunti"] <= 59) & (num["sadasosa"] >= 0) & (num["sadasosa"] <= 99))
    bad_clock = ~valid_clock & ~faulty
    if bad_clock.any():
        msg = (f"{where}: {rows_text(bad_clock)} have an impossible clock time but are not marked faulty; "
               f"the file is damaged or not a LAM raw file")
        raise SensorDataError(msg)
    keep = valid_clock  # a faulty record with an impossible clock has no interval to count against
    year = 2000 + num["vuosi"][keep].astype(int)
    base = pd.to_datetime(pd.DataFrame({"year": year, "month": 1, "day": 1}))
    local = (base + pd.to_timedelta(num["päivän järjestysnumero"][keep] - 1, unit="D")
             + pd.to_timedelta(num["tunti"][keep], unit="h") + pd.to_timedelta(num["minuutti"][keep], unit="m")
             + pd.to_timedelta(num["sekunti"][keep] + num["sadasosa"][keep] / 100.0, unit="s"))
    try:
        aware = pd.Series(local).dt.tz_localize(tz, ambiguous="infer", nonexistent="shift_forward")
    except Exception as exc:  # the repeated hour of the autumn clock change, out of order
        msg = (f"{where}: its local times cannot be placed in {tz} around the change of clocks ({one_line(exc)}); "
               f"keep the file's vehicles in the order they passed")
        raise SensorDataError(msg) from exc
    df = pd.DataFrame({
        "station": num["pistetunnus"][keep].astype(int), "direction": num["suunta"][keep].astype(int),
        "local_day": local.dt.normalize().to_numpy(), "time": aware.dt.tz_convert("UTC").dt.floor(f"{interval_s}s"),
        "speed": num["nopeus"][keep], "faulty": faulty[keep],
    })
    bad_dir = ~df["direction"].isin([1, 2]) & ~df["faulty"]
    if bad_dir.any():
        msg = (f"{where}: suunta (direction) in {rows_text(bad_dir.to_numpy())} is not 1 or 2 but the record is "
               f"not marked faulty; the file is damaged or not a LAM raw file")
        raise SensorDataError(msg)
    df = df[df["direction"].isin([1, 2])]
    keys = ["station", "direction", "time"]
    counted = df[~df["faulty"]].groupby(keys)["speed"].agg(["size", "mean"])
    faulty_bins = df[df["faulty"]].groupby(keys).size()
    grids = []
    for (station, direction), sub in df.groupby(["station", "direction"]):
        for day in sorted(sub["local_day"].unique()):
            start = pd.Timestamp(day).tz_localize(tz)  # local midnights: a day has 23, 24 or 25 hours
            end = (pd.Timestamp(day) + pd.Timedelta(days=1)).tz_localize(tz)
            times = pd.date_range(start, end, freq=f"{interval_s}s", inclusive="left").tz_convert("UTC")
            grids.append(pd.DataFrame({"station": station, "direction": direction, "time": times}))
    grid = pd.concat(grids, ignore_index=True).drop_duplicates(keys, ignore_index=True)
    index = pd.MultiIndex.from_frame(grid[keys])
    count = counted["size"].reindex(index, fill_value=0).to_numpy(dtype=float)
    speed = counted["mean"].reindex(index).to_numpy(dtype=float)
    faulty_here = faulty_bins.reindex(index, fill_value=0).to_numpy() > 0
    return pd.DataFrame({
        "time": grid["time"],
        "sensor_id": (grid["station"].astype(str) + "-" + grid["direction"].astype(str)).to_numpy(),
        "flow_vph": count * 3600.0 / interval_s,
        "speed_kph": speed,
        "occupancy_pct": np.nan,
        "quality": np.where(faulty_here, "faulty_records", "ok"),
    })[list(READING_COLUMNS)]


def _load_json(path: Any, what: str) -> Any:
    file = _paths(path, what)[0]
    try:
        return json.loads(file.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        hint = looks_like(file)
        fix = f"it looks like {hint}" if hint else f"save the {what} as the API returns it (JSON)"
        msg = f"cannot read {what} {str(file)!r} as JSON ({one_line(exc)}); {fix}"
        raise SensorDataError(msg) from exc


def read_digitraffic_stations(stations_path: Any, constants_path: Any = None) -> pd.DataFrame:
    """Digitraffic TMS station metadata (GeoJSON) as a sensors table, two sensors (directions) per station.

    ``constants_path`` is the sensor-constants JSON holding each station's
    ``Tien_suunta``; the stations file may instead carry it as
    ``properties.tienSuunta`` (a convenience of cityopt's fixtures, not the API).
    """
    import pandas as pd

    where = f"Digitraffic stations file {str(stations_path)!r}"
    doc = _load_json(stations_path, "Digitraffic stations file")
    features = [doc] if isinstance(doc, dict) and doc.get("type") == "Feature" else \
        doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or not features:
        msg = (f"{where} is not a GeoJSON FeatureCollection of TMS stations (no 'features'); save "
               f"https://tie.digitraffic.fi/api/tms/v1/stations as returned")
        raise SensorDataError(msg)
    road_dir: dict[int, float] = {}
    if constants_path is not None:
        cdoc = _load_json(constants_path, "Digitraffic sensor constants file")
        stations = cdoc.get("stations") if isinstance(cdoc, dict) else cdoc
        if not isinstance(stations, list):
            msg = (f"Digitraffic sensor constants file {str(constants_path)!r} has no 'stations' list; save "
                   f"https://tie.digitraffic.fi/api/tms/v1/stations/sensor-constants as returned")
            raise SensorDataError(msg)
        for st in stations:
            for c in (st.get("sensorConstantValues") or []) if isinstance(st, dict) else []:
                if isinstance(c, dict) and c.get("name") == "Tien_suunta" and st.get("id") not in road_dir:
                    try:
                        road_dir[int(st["id"])] = float(c["value"])
                    except (KeyError, TypeError, ValueError):
                        continue
    rows = []
    for i, f in enumerate(features):
        props = f.get("properties") if isinstance(f, dict) else None
        coords = (f.get("geometry") or {}).get("coordinates") if isinstance(f, dict) else None
        if not isinstance(props, dict) or "tmsNumber" not in props or not isinstance(coords, list) or len(coords) < 2:
            msg = (f"{where}: feature {i} lacks properties.tmsNumber or geometry.coordinates [lon, lat]; "
                   f"the file is not TMS station metadata")
            raise SensorDataError(msg)
        station_id = props.get("id")
        bearing = props.get("tienSuunta", road_dir.get(int(station_id)) if station_id is not None else None)
        if bearing is None:
            msg = (f"{where}: station {props['tmsNumber']} (id {station_id}) has no Tien_suunta (road direction) "
                   f"in the sensor constants; without it its two directions cannot be told apart: pass "
                   f"constants_path= the file of https://tie.digitraffic.fi/api/tms/v1/stations/sensor-constants")
            raise SensorDataError(msg)
        for direction in (1, 2):
            rows.append({
                "sensor_id": f"{int(props['tmsNumber'])}-{direction}", "lon": coords[0], "lat": coords[1],
                "bearing_deg": (float(bearing) + (0.0 if direction == 1 else 180.0)) % 360.0,
                "osm_way_id": pd.NA, "name": props.get("name", ""), "station": int(props["tmsNumber"]),
                "direction": direction, "towards": props.get(f"direction{direction}Municipality", ""),
            })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ PeMS
def read_pems_5min(paths: Any, *, tz: str = PEMS_TZ) -> pd.DataFrame:
    """PeMS station 5-minute files as the readings table (flow per hour, occupancy in percent, speed in km/h)."""
    import pandas as pd

    tz = check_zone(tz)
    frames = []
    for file in _paths(paths, "PeMS 5-minute file"):
        where = f"PeMS 5-minute file {str(file)!r}"
        first = first_line(file).split(",")
        if len(first) < len(PEMS_5MIN_FIELDS) or not re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d",
                                                                   first[0].strip()):
            hint = looks_like(file)
            fix = (f"it looks like {hint}" if hint else
                   "a PeMS station 5-minute file has no header and starts 'MM/DD/YYYY HH:MM:SS,<station>,...'")
            msg = (f"{where}: the first line is not a PeMS 5-minute row ({len(first)} field(s), first "
                   f"{first[0][:40]!r}); {fix}")
            raise SensorDataError(msg)
        raw = _read_text_table(file, sep=",", what="PeMS 5-minute file", names=range(_max_fields(file, ",")))
        raw = raw.iloc[:, : len(PEMS_5MIN_FIELDS)]
        raw.columns = list(PEMS_5MIN_FIELDS)
        local = pd.to_datetime(raw["Timestamp"].str.strip(), format="%m/%d/%Y %H:%M:%S", errors="coerce")
        if local.isna().any():
            row = int(np.flatnonzero(local.isna().to_numpy())[0])
            msg = (f"{where}: Timestamp in {rows_text(local.isna().to_numpy())} is not MM/DD/YYYY HH:MM:SS "
                   f"(first: {str(raw['Timestamp'].iloc[row])!r})")
            raise SensorDataError(msg)
        station = raw["Station"].astype("string").str.strip()
        if (station.isna() | ~station.fillna("").str.fullmatch(r"\d+")).any():
            bad = (station.isna() | ~station.fillna("").str.fullmatch(r"\d+")).to_numpy()
            msg = f"{where}: Station in {rows_text(bad)} is not a station id (a whole number)"
            raise SensorDataError(msg)
        times = pd.Series(pd.NaT, index=raw.index, dtype=f"datetime64[ns, {tz}]")
        for _, idx in raw.groupby(station).groups.items():
            try:
                times.loc[idx] = local.loc[idx].dt.tz_localize(tz, ambiguous="infer", nonexistent="shift_forward")
            except Exception as exc:
                msg = (f"{where}: station {station.loc[idx[0]]}'s local times cannot be placed in {tz} around the "
                       f"change of clocks ({one_line(exc)}); keep each station's rows in time order")
                raise SensorDataError(msg) from exc
        values = {}
        for c in ("% Observed", "Total Flow", "Avg Occupancy", "Avg Speed"):
            text = raw[c].astype("string").str.strip()
            v = pd.to_numeric(text, errors="coerce")
            bad = (v.isna() & text.notna() & (text != "")).to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                msg = f"{where}: {c} in {rows_text(bad)} is not a number (first: {str(raw[c].iloc[row])!r})"
                raise SensorDataError(msg)
            values[c] = v.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            imputed = values["% Observed"] < PEMS_MIN_OBSERVED_PCT
        frames.append(pd.DataFrame({
            "time": times.dt.tz_convert("UTC"), "sensor_id": station.astype(object),
            "flow_vph": values["Total Flow"] * (3600.0 / _INTERVAL_S),
            "speed_kph": values["Avg Speed"] * _MPH_TO_KPH,
            "occupancy_pct": values["Avg Occupancy"] * 100.0,
            "quality": np.where(imputed, "mostly_imputed", "ok"),
        }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["time", "sensor_id"], kind="mergesort").reset_index(drop=True)


def read_pems_meta(path: Any) -> pd.DataFrame:
    """A PeMS station metadata file as the sensors table (bearing from the nominal direction ``Dir``)."""
    import pandas as pd

    file = _paths(path, "PeMS station metadata file")[0]
    where = f"PeMS station metadata file {str(file)!r}"
    raw = _read_text_table(file, sep="\t", what="PeMS station metadata file", header=0)
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in ("ID", "Dir", "Latitude", "Longitude") if c not in raw.columns]
    if missing:
        hint = looks_like(file)
        fix = f"it looks like {hint}" if hint else f"the file is tab-separated with the header {', '.join(PEMS_META_FIELDS)}"
        msg = f"{where} has no column(s) {', '.join(missing)}; {fix}"
        raise SensorDataError(msg)
    direction = raw["Dir"].astype("string").str.strip().str.upper()
    bad = ~direction.isin(list(_PEMS_DIR_BEARING)).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        msg = (f"{where}: Dir in {rows_text(bad)} is not N, E, S or W (first: {str(raw['Dir'].iloc[row])!r})")
        raise SensorDataError(msg)
    out = pd.DataFrame({
        "sensor_id": raw["ID"].astype("string").str.strip().astype(object),
        "lon": raw["Longitude"], "lat": raw["Latitude"],
        "bearing_deg": direction.map(_PEMS_DIR_BEARING).astype(float).to_numpy(),
        "osm_way_id": pd.NA,
    })
    for src, dst in (("Name", "name"), ("Fwy", "freeway"), ("Dir", "direction"), ("Type", "lane_type"),
                     ("Lanes", "lanes"), ("District", "district")):
        if src in raw.columns:
            out[dst] = raw[src].to_numpy()
    return out


# ------------------------------------------------------------------ one door
def read_sensors(readings_paths: Any, sensors_path: Any, *, format: str = "cityopt", city: Any = None,
                 tz: str | None = None, constants_path: Any = None, interval_s: float | None = None,
                 max_snap_m: float = DEFAULT_MAX_SNAP_M,
                 max_bearing_diff_deg: float = DEFAULT_MAX_BEARING_DIFF_DEG, unknown_sensors: str = "flag") -> Sensors:
    """Readings and sensors in any known format as a checked, flagged (and, with a city, snapped) :class:`Sensors`.

    Parameters
    ----------
    readings_paths
        ``cityopt``: the readings file; ``lam``: LAM raw file(s); ``pems``: PeMS 5-minute file(s).
    sensors_path
        ``cityopt``: the sensors file; ``lam``: the Digitraffic stations GeoJSON; ``pems``: the metadata file.
    format
        One of :data:`FORMATS`.
    tz
        ``cityopt``: the zone of times without an offset; ``lam``/``pems``: the
        zone of the files' clock (default Europe/Helsinki, America/Los_Angeles).
    constants_path
        ``lam`` only: the Digitraffic sensor-constants JSON (road directions).
    interval_s
        The readings' interval (``lam``: the aggregation interval, default 300 s;
        ``pems``: 300 s, the files' own).
    unknown_sensors
        ``"flag"`` or ``"error"``, as in :meth:`Sensors.read`.
    """
    if format not in FORMATS:
        msg = f"format={format!r} is not a known sensor data format; use one of {', '.join(FORMATS)}"
        raise SensorDataError(msg)
    common = dict(city=city, interval_s=interval_s, max_snap_m=max_snap_m, max_bearing_diff_deg=max_bearing_diff_deg,
                  unknown_sensors=unknown_sensors)
    if format == "cityopt":
        if not isinstance(readings_paths, (str, os.PathLike)):
            msg = f"format='cityopt' reads one readings file, got {readings_paths!r}"
            raise SensorDataError(msg)
        if constants_path is not None:
            msg = "constants_path applies to format='lam' only"
            raise SensorDataError(msg)
        return Sensors.read(readings_paths, sensors_path, tz=tz, **common)
    if format == "lam":
        step = _INTERVAL_S if interval_s is None else interval_s
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        readings = read_lam_raw(readings_paths, tz=tz or LAM_TZ, interval_s=step)
        sensors = read_digitraffic_stations(sensors_path, constants_path)
    else:
        if constants_path is not None:
            msg = "constants_path applies to format='lam' only"
            raise SensorDataError(msg)
        readings = read_pems_5min(readings_paths, tz=tz or PEMS_TZ)
        sensors = read_pems_meta(sensors_path)
    if common["interval_s"] is None:
        common["interval_s"] = float(_INTERVAL_S)
    paths = [readings_paths] if isinstance(readings_paths, (str, os.PathLike)) else list(readings_paths)
    return Sensors.from_frames(readings, sensors, readings_where=f"{format} readings",
                               sensors_where=f"{format} sensors file {str(sensors_path)!r}",
                               sources=tuple(map(str, paths)) + (str(sensors_path),), **common)
