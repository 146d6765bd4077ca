"""Sensors onto the road graph: each detector to the one segment it counts.

A detector sits on one carriageway and counts one direction of travel, so a
sensor is matched by position *and* direction.  :func:`snap_sensors` takes the
sensors table (``sensor_id, lon, lat`` and ``bearing_deg`` or ``osm_way_id``,
see :mod:`optimizer.sensing.readings`) and a city, and for each sensor:

1. finds the road segments (graph edges ``u, v, key``, their geometry running
   from ``u`` to ``v``) within ``max_snap_m`` metres of it (default 50 m;
   distances in the city's UTM zone, segments from a shapely ``STRtree``);
2. keeps those whose direction of travel at the point nearest the sensor lies
   within ``max_bearing_diff_deg`` (default 45 degrees) of ``bearing_deg``
   (compass degrees: north 0, east 90), and those whose OSM way id
   (the edge's ``osmid``, one id or a list once osmnx has merged ways) holds
   ``osm_way_id`` when the sensor gives one;
3. takes the nearest of them (ties: the smaller bearing difference).

On a two-way street the two directions share one geometry; the bearing tells
them apart.  A sensor with only an ``osm_way_id`` on a two-way street is
ambiguous and stays unsnapped, as does a sensor with no segment near it or none
running its way: such a sensor is never dropped, and ``snap_note`` says why
(the nearest segment, its distance and direction).

The columns added are ``u``, ``v``, ``key`` (the edge; empty when unsnapped),
``snap_m`` (metres from the sensor to the edge), ``bearing_diff_deg`` (degrees
between the sensor's bearing and the edge's direction there; empty without a
bearing) and ``snap_note`` (empty when snapped, else the reason).

Examples
--------
>>> import networkx as nx, pandas as pd
>>> G = nx.MultiDiGraph(crs="EPSG:4326")          # one two-way street running east
>>> G.add_node(1, x=24.9400, y=60.17); G.add_node(2, x=24.9430, y=60.17)
>>> for u, v in ((1, 2), (2, 1)):
...     _ = G.add_edge(u, v, osmid=555, name="Testikatu", length=167.0)
>>> sensors = pd.DataFrame({"sensor_id": ["east", "west", "north"], "lon": [24.9415] * 3,
...                         "lat": [60.17005] * 3, "bearing_deg": [90.0, 270.0, 0.0]})
>>> snapped = snap_sensors(sensors, G)
>>> snapped[["sensor_id", "u", "v", "snap_m"]].to_dict("records")[:2]
[{'sensor_id': 'east', 'u': 1, 'v': 2, 'snap_m': 5.6}, {'sensor_id': 'west', 'u': 2, 'v': 1, 'snap_m': 5.6}]
>>> print(snapped["snap_note"].iloc[2])
no segment within 50 m runs within 45 deg of bearing 0 (nearest: 'Testikatu' segment 2->1 at 5.6 m runs 270 deg, 90 deg off)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import SensorDataError
from optimizer.inputs.roads import edge_line, graph_of

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import pandas as pd

__all__ = [
    "DEFAULT_MAX_BEARING_DIFF_DEG",
    "DEFAULT_MAX_SNAP_M",
    "SNAP_COLUMNS",
    "bearing_diff_deg",
    "snap_sensors",
]

#: A sensor farther than this (metres) from every segment stays unsnapped.
DEFAULT_MAX_SNAP_M = 50.0
#: A segment whose direction differs from the sensor's bearing by more than this (degrees) is not its segment.
DEFAULT_MAX_BEARING_DIFF_DEG = 45.0
#: The columns :func:`snap_sensors` adds to the sensors table.
SNAP_COLUMNS = ("u", "v", "key", "snap_m", "bearing_diff_deg", "snap_note")

#: Half the length (metres) of the piece of segment whose direction is taken at the nearest point.
_STEP_M = 2.0
#: Distances closer than this (metres) are ties (the two directions of one two-way street).
_TIE_M = 0.01


def bearing_diff_deg(a: Any, b: Any) -> Any:
    """The smaller angle between compass bearings ``a`` and ``b`` in degrees, 0 to 180.

    >>> bearing_diff_deg(350.0, 10.0), bearing_diff_deg(90.0, 270.0)
    (20.0, 180.0)
    """
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) % 360.0
    out = np.minimum(d, 360.0 - d)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class _Edge:
    u: Any
    v: Any
    key: Any
    name: str
    way_ids: frozenset[int]


@dataclass(frozen=True)
class _Candidate:
    edge: _Edge
    dist_m: float
    bearing_deg: float


def _way_ids(osmid: Any) -> frozenset[int]:
    values = osmid if isinstance(osmid, (list, tuple, set)) else [osmid]
    out = set()
    for value in values:
        try:
            out.add(int(value))
        except (TypeError, ValueError):
            continue
    return frozenset(out)


def _name(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


class _EdgeIndex:
    """The graph's segments, projected to the city's UTM zone, in an STRtree."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        import geopandas as gpd
        from pyproj import Transformer
        from shapely import STRtree

        if graph.number_of_edges() == 0:
            msg = "the road graph has no segments to snap sensors to; load a city with drivable roads"
            raise SensorDataError(msg)
        self.edges: list[_Edge] = []
        lines = []
        for u, v, key, data in graph.edges(keys=True, data=True):
            self.edges.append(_Edge(u, v, key, _name(data.get("name")), _way_ids(data.get("osmid"))))
            lines.append(edge_line(graph, u, v, key))
        series = gpd.GeoSeries(lines, crs=graph.graph.get("crs", "EPSG:4326"))
        self.crs = series.estimate_utm_crs()
        self.lines = list(series.to_crs(self.crs))
        self.tree = STRtree(self.lines)
        self.to_metric = Transformer.from_crs(series.crs, self.crs, always_xy=True)
        self.to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def point(self, lon: float, lat: float):
        from shapely.geometry import Point

        return Point(*self.to_metric.transform(lon, lat))

    def candidate(self, i: int, pt: Any) -> _Candidate:
        """Edge ``i``'s distance to ``pt`` and its direction of travel at the point nearest ``pt``."""
        import osmnx as ox

        line = self.lines[i]
        s = line.project(pt)
        a = line.interpolate(max(s - _STEP_M, 0.0))
        b = line.interpolate(min(s + _STEP_M, line.length))
        (lon_a, lon_b), (lat_a, lat_b) = self.to_lonlat.transform([a.x, b.x], [a.y, b.y])
        bearing = float(ox.bearing.calculate_bearing(lat_a, lon_a, lat_b, lon_b))
        return _Candidate(self.edges[i], float(line.distance(pt)), bearing)

    def near(self, pt: Any, max_m: float) -> list[_Candidate]:
        idx = self.tree.query(pt, predicate="dwithin", distance=max_m)
        return [self.candidate(int(i), pt) for i in np.sort(idx)]

    def nearest(self, pt: Any) -> _Candidate:
        i = int(np.atleast_1d(self.tree.query_nearest(pt))[0])
        return self.candidate(i, pt)


def _describe(c: _Candidate) -> str:
    name = f"{c.edge.name!r} " if c.edge.name else ""
    return f"{name}segment {c.edge.u}->{c.edge.v} at {c.dist_m:.1f} m runs {c.bearing_deg:.0f} deg"


def _order(c: _Candidate) -> tuple[str, str, str]:
    """Ties broken by the edge's ids, so the same input always gives the same segment."""
    return (str(c.edge.u), str(c.edge.v), str(c.edge.key))


def _pick(cands: list[_Candidate], bearing: float | None, way: int | None, *, max_m: float,
          max_diff: float, nearest: _Candidate) -> tuple[_Candidate | None, str]:
    """The matching candidate, or None and the reason none matches."""
    if not cands:
        return None, f"no road segment within {max_m:g} m (nearest: {_describe(nearest)})"
    pool = cands
    if way is not None:
        pool = [c for c in pool if way in c.edge.way_ids]
        if not pool:
            return None, (f"no segment of OSM way {way} within {max_m:g} m (nearest segment: "
                          f"{_describe(min(cands, key=lambda c: c.dist_m))}); check osm_way_id")
    if bearing is not None:
        matching = [c for c in pool if bearing_diff_deg(bearing, c.bearing_deg) <= max_diff]
        if not matching:
            best = min(pool, key=lambda c: (round(c.dist_m / _TIE_M), bearing_diff_deg(bearing, c.bearing_deg),
                                            _order(c)))
            return None, (f"no segment within {max_m:g} m runs within {max_diff:g} deg of bearing "
                          f"{bearing:g} (nearest: {_describe(best)}, "
                          f"{bearing_diff_deg(bearing, best.bearing_deg):.0f} deg off)")
        return min(matching, key=lambda c: (round(c.dist_m / _TIE_M), bearing_diff_deg(bearing, c.bearing_deg),
                                            _order(c))), ""
    best = min(pool, key=lambda c: (round(c.dist_m / _TIE_M), _order(c)))
    rivals = [c for c in pool if abs(c.dist_m - best.dist_m) <= _TIE_M
              and bearing_diff_deg(c.bearing_deg, best.bearing_deg) > max_diff]
    if rivals:
        return None, (f"OSM way {way} runs both ways here ({best.edge.u}->{best.edge.v} and "
                      f"{rivals[0].edge.u}->{rivals[0].edge.v}); give bearing_deg to say which direction "
                      f"the sensor counts")
    return best, ""


def _optional_float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _optional_int(value: Any) -> int | None:
    f = _optional_float(value)
    return None if f is None else int(f)


def snap_sensors(sensors: pd.DataFrame, city: Any, *, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                 max_bearing_diff_deg: float = DEFAULT_MAX_BEARING_DIFF_DEG) -> pd.DataFrame:
    """A copy of ``sensors`` with each sensor's road segment (:data:`SNAP_COLUMNS`) added.

    Parameters
    ----------
    sensors
        The sensors table: ``sensor_id``, ``lon``, ``lat`` (WGS84 degrees; a row
        with both empty stays unsnapped) and ``bearing_deg`` and/or ``osm_way_id``.
    city
        An :class:`optimizer.City` or an osmnx ``MultiDiGraph`` in WGS84.
    max_snap_m
        Segments farther than this from the sensor (metres) are not considered.
    max_bearing_diff_deg
        A segment whose direction of travel differs from ``bearing_deg`` by more
        than this (degrees) is not the sensor's.

    Returns
    -------
    pandas.DataFrame
        The rows of ``sensors`` in their order, with ``u``, ``v``, ``key``
        (empty when unsnapped), ``snap_m``, ``bearing_diff_deg`` and ``snap_note``
        ("" when snapped, else why not).
    """
    import pandas as pd

    for name, value, hi in (("max_snap_m", max_snap_m, 10_000.0), ("max_bearing_diff_deg", max_bearing_diff_deg, 180.0)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0.0 < float(value) <= hi):
            msg = f"{name} must be a number in (0, {hi:g}], got {value!r}"
            raise SensorDataError(msg)
    graph, _ = graph_of(city)
    index = _EdgeIndex(graph)
    rows = []
    bearings = sensors["bearing_deg"] if "bearing_deg" in sensors else pd.Series(np.nan, index=sensors.index)
    ways = sensors["osm_way_id"] if "osm_way_id" in sensors else pd.Series(pd.NA, index=sensors.index)
    for lon, lat, bearing_value, way_value in zip(sensors["lon"], sensors["lat"], bearings, ways):
        bearing, way = _optional_float(bearing_value), _optional_int(way_value)
        x, y = _optional_float(lon), _optional_float(lat)
        if x is None or y is None:
            rows.append((pd.NA, pd.NA, pd.NA, np.nan, np.nan, "no coordinates (lon, lat) to snap from"))
            continue
        if bearing is None and way is None:
            rows.append((pd.NA, pd.NA, pd.NA, np.nan, np.nan, "neither bearing_deg nor osm_way_id is given"))
            continue
        pt = index.point(x, y)
        nearest = index.nearest(pt)
        best, note = _pick(index.near(pt, float(max_snap_m)), bearing, way, max_m=float(max_snap_m),
                           max_diff=float(max_bearing_diff_deg), nearest=nearest)
        if best is None:
            rows.append((pd.NA, pd.NA, pd.NA, np.nan, np.nan, note))
            continue
        diff = np.nan if bearing is None else round(bearing_diff_deg(bearing, best.bearing_deg), 1)
        rows.append((best.edge.u, best.edge.v, best.edge.key, round(best.dist_m, 1), diff, ""))
    out = sensors.drop(columns=[c for c in SNAP_COLUMNS if c in sensors.columns]).copy()
    cols = list(zip(*rows)) if rows else [[] for _ in SNAP_COLUMNS]
    for name, values in zip(SNAP_COLUMNS, cols):
        out[name] = _column(name, values)
    return out


def _column(name: str, values: Iterable[Any]) -> Any:
    import pandas as pd

    values = list(values)
    if name in ("snap_m", "bearing_diff_deg"):
        return pd.array(values, dtype="float64")
    if name == "snap_note":
        return pd.array(values, dtype=object)
    try:
        return pd.array(values, dtype="Int64")  # osmnx node ids and keys are integers
    except (TypeError, ValueError):
        return pd.array(values, dtype=object)
