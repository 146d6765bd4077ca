"""Travel demand on a road graph: trips as origin-destination pairs of graph nodes.

A trips table is a ``pandas.DataFrame`` with one row per trip and the columns of
:data:`TRIP_COLUMNS`:

========== ==========================================================
trip_id    0 .. n-1 (or the ids a CSV gave)
origin     graph node id where the trip starts
destination graph node id where it ends
origin_lon, origin_lat, dest_lon, dest_lat   the nodes' WGS84 coordinates
straight_m great-circle distance from origin to destination, metres
========== ==========================================================

:func:`sample_trips` draws trips at random (reproducibly, from a seed), uniform
over nodes or weighted by the points of interest or buildings near each node;
:func:`trips_from_csv` reads them from coordinates in a file.  Both take a
:class:`~optimizer.inputs.city.City` or a bare ``networkx.MultiDiGraph`` in osmnx's
conventions (nodes with ``x`` = lon and ``y`` = lat, WGS84).

Sampling: the ordered node pairs far enough apart to be trips are enumerated
for small graphs (:func:`_eligible_pairs`) or counted with a ball tree for large
ones (:func:`_count_pairs_balltree`); weighted pairs are drawn by rejection
(:func:`_rejection_sample`).

Examples
--------
>>> from optimizer.inputs.city import City
>>> from optimizer.inputs.demand import sample_trips
>>> trips = sample_trips(City.load("helsinki"), 5, seed=1)
>>> list(trips.columns) == list(TRIP_COLUMNS)
True
>>> bool((trips["straight_m"] >= 300).all())
True
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError
from optimizer.inputs.checks import check_lonlat_columns, check_near_roads, one_line, rows_text
from optimizer.inputs.roads import graph_of, haversine_m

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

    from optimizer.inputs.city import City

__all__ = [
    "CSV_COLUMNS",
    "TRIP_COLUMNS",
    "WEIGHTS",
    "max_trips",
    "node_weights",
    "sample_trips",
    "trips_from_csv",
]

logger = logging.getLogger(__name__)

#: Columns of every trips table, in order.
TRIP_COLUMNS: tuple[str, ...] = (
    "trip_id",
    "origin",
    "destination",
    "origin_lon",
    "origin_lat",
    "dest_lon",
    "dest_lat",
    "straight_m",
)
#: Columns a trips CSV must have (``trip_id`` is optional).
CSV_COLUMNS: tuple[str, ...] = ("origin_lon", "origin_lat", "dest_lon", "dest_lat")
#: Node weightings :func:`sample_trips` knows.
WEIGHTS: tuple[str | None, ...] = (None, "pois", "buildings")

# Up to this many nodes, every node pair is enumerated (N^2 distances, 32 MB at 2000).
_DENSE_MAX_NODES = 2000
# Features (POIs, buildings) farther than this from every node are outside the graph's
# area and do not weigh on any node.
_MAX_FEATURE_SNAP_M = 250.0
# CSV coordinates farther than this from their nearest node earn a warning (beyond
# checks.MAX_SNAP_M they are refused).
_FAR_SNAP_M = 1000.0
#: Most rows a trips CSV may hold (as ``--trips`` at most; larger assignments are a batch of smaller ones).
MAX_CSV_TRIPS = 10_000
_CSV_PAIRS = (("origin_lon", "origin_lat"), ("dest_lon", "dest_lat"))


# ---------------------------------------------------------------- public API
def sample_trips(
    city_or_graph: City | nx.MultiDiGraph,
    n: int,
    *,
    seed: int | np.random.SeedSequence,
    weight: str | None = None,
    min_distance_m: float = 300.0,
    pois: Any = None,
) -> pd.DataFrame:
    """Draw ``n`` distinct origin-destination trips between graph nodes, reproducibly.

    Pairs are drawn without replacement, each ordered pair ``(o, d)`` with
    ``o != d`` and a great-circle distance of at least ``min_distance_m`` with
    probability proportional to ``w[o] * w[d]`` (successive sampling), where
    ``w`` is :func:`node_weights` (all ones when ``weight`` is None).  The same
    graph, ``n``, ``seed`` and options give the same trips, in the same order.

    Parameters
    ----------
    city_or_graph : City or networkx.MultiDiGraph
        Nodes with ``x`` (lon) and ``y`` (lat).
    n : int
        Number of trips, at least 1 and at most :func:`max_trips`.
    seed : int or numpy.random.SeedSequence
        Seed of ``numpy.random.default_rng``.
    weight : {None, "pois", "buildings"}
        Weigh nodes by the POIs or building centroids nearest to them (plus 1).
    min_distance_m : float
        Least straight-line distance from origin to destination, metres.
    pois : GeoDataFrame, GeoSeries or array of (lon, lat), optional
        Features to weigh nodes by instead of the city's own POIs (or buildings,
        with ``weight="buildings"``); needed for a weight on a bare graph.  Given
        with ``weight=None``, it implies ``weight="pois"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TRIP_COLUMNS`; ``attrs`` records ``seed``, ``weight`` and
        ``min_distance_m``.

    Raises
    ------
    DemandError
        ``n`` is not a whole number >= 1 or exceeds the distinct pairs the graph
        hosts; ``weight`` is unknown; a weight is asked of a bare graph without ``pois``.

    Examples
    --------
    >>> from optimizer.inputs.city import City
    >>> city = City.load("helsinki")
    >>> a = sample_trips(city, 10, seed=7, weight="pois")
    >>> b = sample_trips(city, 10, seed=7, weight="pois")
    >>> a.equals(b)
    True
    >>> bool((a["origin"] != a["destination"]).all())
    True
    """
    graph, _ = graph_of(city_or_graph)
    trips = _check_trips(n)
    min_d = _check_min_distance(min_distance_m)
    if weight is None and pois is not None:
        weight = "pois"
    weights = node_weights(city_or_graph, weight, pois=pois).to_numpy()
    nodes, lon, lat = _node_arrays(graph)
    rng = np.random.default_rng(seed)

    if len(nodes) <= _DENSE_MAX_NODES:
        o_idx, d_idx = _eligible_pairs(lon, lat, min_d)
        _check_capacity(trips, len(o_idx), graph, min_d)
        # Gumbel top-k: the n largest log-weight + Gumbel keys are a successive
        # weighted sample without replacement, drawn in one pass.
        keys = np.log(weights[o_idx]) + np.log(weights[d_idx]) + rng.gumbel(size=len(o_idx))
        top = np.argpartition(-keys, trips - 1)[:trips]
        top = top[np.argsort(-keys[top], kind="stable")]
        origins, dests = o_idx[top], d_idx[top]
    else:
        _check_capacity(trips, _count_pairs_balltree(lon, lat, min_d), graph, min_d)
        origins, dests = _rejection_sample(lon, lat, weights, trips, min_d, rng)

    table = _trips_table(nodes, lon, lat, origins, dests, np.arange(trips))
    table.attrs.update(
        {
            "seed": seed if isinstance(seed, int) else repr(seed),
            "weight": weight,
            "min_distance_m": min_d,
        }
    )
    logger.debug(
        "sampled %d trips (weight=%s, seed=%s) on %d nodes", trips, weight, seed, len(nodes)
    )
    return table


def trips_from_csv(
    city_or_graph: City | nx.MultiDiGraph, path: str | os.PathLike[str]
) -> pd.DataFrame:
    """Read trips from a CSV of coordinates, each end snapped to its nearest graph node.

    Parameters
    ----------
    city_or_graph : City or networkx.MultiDiGraph
    path : str or path-like
        A CSV with columns ``origin_lon, origin_lat, dest_lon, dest_lat`` (WGS84
        degrees) and optionally ``trip_id`` (unique), ``depart`` (``HH:MM``,
        ``HH:MM:SS`` or seconds since midnight; returned as ``depart_s``) and
        ``vehicles`` (a whole number from 1 to 1000).  Repeated trips are kept.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TRIP_COLUMNS`; the coordinates are those of the snapped nodes.

    Raises
    ------
    DemandError
        No such file; unreadable CSV; missing columns (named); a coordinate that is
        not a number or out of range, or a trip whose two ends snap to the same
        node (rows named); repeated ``trip_id``.

    Warns
    -----
    UserWarning
        A coordinate lies more than 1 km from the nearest node (outside the city?).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from optimizer.inputs.city import City
    >>> city = City.load("helsinki")
    >>> csv = pathlib.Path(tempfile.mkdtemp()) / "trips.csv"
    >>> _ = csv.write_text("origin_lon,origin_lat,dest_lon,dest_lat\\n24.940,60.166,24.950,60.170\\n")
    >>> trips = trips_from_csv(city, csv)
    >>> len(trips), int(trips.loc[0, "trip_id"])
    (1, 0)
    """
    import osmnx as ox

    graph, city = graph_of(city_or_graph)
    file = Path(path)
    where = f"trips CSV {str(file)!r}"
    raw = read_csv_table(file, "trips", max_rows=MAX_CSV_TRIPS)
    missing = [c for c in CSV_COLUMNS if c not in raw.columns]
    if missing:
        msg = (
            f"{where} lacks column(s) {', '.join(missing)}; it needs "
            f"{', '.join(CSV_COLUMNS)} (trip_id optional) and has {', '.join(map(repr, raw.columns)) or 'none'}"
        )
        raise DemandError(msg)
    if raw.empty:
        msg = f"{where} has a header but no trips; add one row per trip"
        raise DemandError(msg)

    coords = check_lonlat_columns(raw, _CSV_PAIRS, where=where, error=DemandError)

    if "trip_id" in raw.columns:
        trip_ids = raw["trip_id"]
        if trip_ids.isna().any() or trip_ids.duplicated().any():
            dup = trip_ids[trip_ids.isna() | trip_ids.duplicated(keep=False)]
            msg = (
                f"{where}: trip_id must be unique and filled; "
                f"{_rows(trip_ids.index.isin(dup.index))} repeat or lack it"
            )
            raise DemandError(msg)
        trip_ids = trip_ids.to_numpy()
    else:
        trip_ids = np.arange(len(raw))

    _node_arrays(graph)  # checks the nodes' coordinates
    cname = str(getattr(city, "name", None) or graph.graph.get("name") or "the graph")
    snapped = []
    for (lon_col, lat_col), what in zip(_CSV_PAIRS, ("trip origin", "trip destination"), strict=True):
        lon_v, lat_v = coords[lon_col].to_numpy(), coords[lat_col].to_numpy()
        found, dist = ox.distance.nearest_nodes(graph, lon_v, lat_v, return_dist=True)
        check_near_roads(graph, lon_v, lat_v, np.asarray(dist), where=where, what=what,
                         columns=(lon_col, lat_col), city=cname, error=DemandError)
        snapped.append((np.asarray(found), np.asarray(dist)))
    (o_nodes, o_dist), (d_nodes, d_dist) = snapped
    same = o_nodes == d_nodes
    if same.any():
        msg = (
            f"{where}: origin and destination snap to the same node in "
            f"{_rows(same)}; move those ends apart (further than the node spacing) or drop the rows"
        )
        raise DemandError(msg)
    far = np.maximum(o_dist, d_dist) > _FAR_SNAP_M
    if far.any():
        warnings.warn(
            f"{where}: {int(far.sum())} trip(s) start or end more than "
            f"{_FAR_SNAP_M:g} m from the road graph ({_rows(far)}); are they inside the city?",
            stacklevel=2,
        )

    nodes, lon, lat = _node_arrays(graph)
    position = {node: i for i, node in enumerate(nodes.tolist())}
    origins = np.fromiter(
        (position[x] for x in o_nodes.tolist()), dtype=np.int64, count=len(o_nodes)
    )
    dests = np.fromiter((position[x] for x in d_nodes.tolist()), dtype=np.int64, count=len(d_nodes))
    table = _trips_table(nodes, lon, lat, origins, dests, trip_ids)
    if "depart" in raw.columns:
        table["depart_s"] = _csv_departures(raw["depart"], where)
    if "vehicles" in raw.columns:
        table["vehicles"] = _csv_vehicles(raw["vehicles"], where)
    table.attrs.update({"source": str(file)})
    return table


def _csv_departures(col: pd.Series, where: str) -> np.ndarray:
    """Seconds since midnight of a ``depart`` column (``HH:MM``, ``HH:MM:SS`` or seconds); rows named."""
    from optimizer.errors import InvalidInputError
    from optimizer.inputs.peak import parse_clock

    out = np.empty(len(col), dtype=np.float64)
    bad = np.zeros(len(col), dtype=bool)
    for i, v in enumerate(col.tolist()):
        try:
            out[i] = parse_clock(v)
        except InvalidInputError:
            bad[i] = True
    if bad.any():
        msg = (f"{where}: depart in {_rows(bad)} is not a time of day; write HH:MM, HH:MM:SS or seconds "
               "since midnight (0 to 48:00)")
        raise DemandError(msg)
    return out


def _csv_vehicles(col: pd.Series, where: str) -> np.ndarray:
    """A ``vehicles`` column: whole numbers 1..1000 (rows named otherwise)."""
    import pandas as pd

    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(v) | (v < 1) | (v > 1000) | (np.mod(np.nan_to_num(v), 1) != 0)
    if bad.any():
        msg = f"{where}: vehicles in {_rows(bad)} must be a whole number from 1 to 1000"
        raise DemandError(msg)
    return v.astype(np.int64)


def node_weights(
    city_or_graph: City | nx.MultiDiGraph,
    weight: str | None = "pois",
    *,
    pois: Any = None,
) -> pd.Series:
    """Each node's demand weight: 1 + the number of features nearest to it.

    Features are the city's POIs (``weight="pois"``) or building centroids
    (``"buildings"``), or the ``pois`` given; each is snapped to its nearest node
    (features more than 250 m from every node are ignored).

    Parameters
    ----------
    city_or_graph : City or networkx.MultiDiGraph
    weight : {None, "pois", "buildings"}
        None gives 1.0 for every node.
    pois : GeoDataFrame, GeoSeries or array of (lon, lat), optional
        Features to use instead of the city's.

    Returns
    -------
    pandas.Series
        Float weights indexed by node id, in the graph's node order, named ``weight``.

    Examples
    --------
    >>> from optimizer.inputs.city import City
    >>> w = node_weights(City.load("helsinki"), "pois")
    >>> float(w.min()) >= 1.0
    True
    """
    import pandas as pd

    graph, city = graph_of(city_or_graph)
    if weight not in WEIGHTS:
        msg = f"weight={weight!r} is not a known node weighting; use one of {list(WEIGHTS)}"
        raise DemandError(msg)
    nodes, _, _ = _node_arrays(graph)
    ones = pd.Series(np.ones(len(nodes)), index=pd.Index(nodes, name="node"), name="weight")
    if weight is None:
        return ones
    if pois is None:
        if city is None:
            msg = (
                f"weight={weight!r} needs {weight}: pass a City (which carries them) "
                f"instead of a bare graph, or give them as pois=GeoDataFrame"
            )
            raise DemandError(msg)
        pois = city.pois if weight == "pois" else city.buildings
    xy = _feature_points(pois)
    if len(xy) == 0:
        return ones
    import osmnx as ox

    nearest, dist = ox.distance.nearest_nodes(graph, xy[:, 0], xy[:, 1], return_dist=True)
    near = np.asarray(dist) <= _MAX_FEATURE_SNAP_M
    if not near.all():
        logger.debug(
            "%d of %d features lie over %g m from the graph; ignored",
            (~near).sum(),
            len(near),
            _MAX_FEATURE_SNAP_M,
        )
    counts = pd.Series(np.asarray(nearest)[near]).value_counts()
    return ones.add(counts.reindex(ones.index, fill_value=0).astype(float), fill_value=0.0).rename(
        "weight"
    )


def max_trips(city_or_graph: City | nx.MultiDiGraph, *, min_distance_m: float = 300.0) -> int:
    """How many distinct trips :func:`sample_trips` can draw: ordered node pairs
    ``(o, d)``, ``o != d``, at least ``min_distance_m`` apart in a straight line.

    Examples
    --------
    >>> from optimizer.inputs.city import City
    >>> max_trips(City.load("helsinki")) > 10_000
    True
    """
    graph, _ = graph_of(city_or_graph)
    min_d = _check_min_distance(min_distance_m)
    _, lon, lat = _node_arrays(graph)
    if len(lon) <= _DENSE_MAX_NODES:
        return len(_eligible_pairs(lon, lat, min_d)[0])
    return _count_pairs_balltree(lon, lat, min_d)


# ------------------------------------------------------- node pair sampling
_EARTH_RADIUS_M = 6_371_009.0  # osmnx's mean Earth radius


# ---------------------------------------------------------------- geometry
def _node_arrays(graph: nx.MultiDiGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node ids, lons and lats in graph order."""
    ids, xs, ys = [], [], []
    for node, data in graph.nodes(data=True):
        x, y = data.get("x"), data.get("y")
        if x is None or y is None:
            msg = f"node {node!r} has no 'x'/'y' coordinates; trips need nodes placed in WGS84 lon/lat"
            raise DemandError(msg)
        ids.append(node)
        xs.append(x)
        ys.append(y)
    nodes = np.empty(len(ids), dtype=object)
    nodes[:] = ids
    if all(isinstance(i, numbers.Integral) for i in ids):
        nodes = nodes.astype(np.int64)
    return nodes, np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def _eligible_pairs(
    lon: np.ndarray, lat: np.ndarray, min_d: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major ``(o, d)`` index arrays of all ordered pairs, o != d, >= min_d apart."""
    dist = haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    ok = dist >= min_d
    np.fill_diagonal(ok, False)
    o_idx, d_idx = np.nonzero(ok)
    return o_idx, d_idx


def _count_pairs_balltree(lon: np.ndarray, lat: np.ndarray, min_d: float) -> int:
    """Ordered pairs o != d at least ``min_d`` apart, for graphs too large to enumerate."""
    from sklearn.neighbors import BallTree

    n = len(lon)
    if min_d <= 0.0:
        return n * (n - 1)
    points = np.radians(np.column_stack([lat, lon]))
    tree = BallTree(points, metric="haversine")
    # strictly closer than min_d: the radius is nudged down so pairs exactly min_d apart count.
    close = tree.query_radius(points, r=np.nextafter(min_d / _EARTH_RADIUS_M, 0.0), count_only=True)
    return int(n * (n - 1) - (np.asarray(close) - 1).sum())


def _rejection_sample(
    lon: np.ndarray,
    lat: np.ndarray,
    weights: np.ndarray,
    trips: int,
    min_d: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct weighted pairs by drawing ends independently and rejecting misfits."""
    p = weights / weights.sum()
    seen: set[tuple[int, int]] = set()
    origins: list[int] = []
    dests: list[int] = []
    batch = max(4 * trips, 1024)
    for _ in range(1000):
        o = rng.choice(len(p), size=batch, p=p)
        d = rng.choice(len(p), size=batch, p=p)
        ok = (o != d) & (haversine_m(lon[o], lat[o], lon[d], lat[d]) >= min_d)
        for a, b in zip(o[ok].tolist(), d[ok].tolist(), strict=True):
            if (a, b) not in seen:
                seen.add((a, b))
                origins.append(a)
                dests.append(b)
                if len(origins) == trips:
                    return np.asarray(origins), np.asarray(dests)
    msg = (
        f"found only {len(origins)} of trips={trips} distinct origin-destination pairs after "
        f"1000 rounds of drawing; ask for fewer trips"
    )
    raise DemandError(msg)


def _feature_points(features: Any) -> np.ndarray:
    """``(k, 2)`` lon/lat of the features' centroids (points stay points)."""
    import shapely

    if hasattr(features, "geometry") or type(features).__name__ == "GeoSeries":
        geoms = features.geometry if hasattr(features, "geometry") else features
        crs = getattr(geoms, "crs", None)
        if crs is not None and crs.to_epsg() != 4326:
            geoms = geoms.to_crs("EPSG:4326")
        arr = np.asarray(geoms.values, dtype=object)
        arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
        return shapely.get_coordinates(shapely.centroid(arr))
    xy = np.asarray(features, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        msg = (
            f"pois must be a GeoDataFrame, a GeoSeries or an array of (lon, lat) rows, "
            f"got shape {xy.shape}"
        )
        raise DemandError(msg)
    return xy


# ---------------------------------------------------------------- checks
def read_csv_table(path: str | Path, what: str, *, max_rows: int | None = None) -> pd.DataFrame:
    """A CSV file as a table with stripped, unique column names; :class:`DemandError` naming ``what`` and the fix.

    The one reader behind the trips CSV (:func:`trips_from_csv`) and a fleet's
    stops CSV.  At most ``max_rows`` data rows are read; a longer file is refused.
    """
    import csv

    import pandas as pd

    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        msg = f"{what} CSV: {path!r} is not a file path; give the path of a {what} CSV file"
        raise DemandError(msg)
    file = Path(path)
    if not file.is_file():
        msg = f"no {what} CSV at {str(file)!r}; check the path"
        raise DemandError(msg)
    try:
        raw = pd.read_csv(file, nrows=None if max_rows is None else max_rows + 1)
    except (ValueError, OSError, csv.Error) as exc:  # pandas' EmptyDataError/ParserError, bad UTF-8 ...
        msg = (f"cannot read {what} CSV {str(file)!r} ({one_line(exc)}); write it as UTF-8 comma-separated "
               f"text with a header row")
        raise DemandError(msg) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    repeated = sorted({c for c in raw.columns if list(raw.columns).count(c) > 1})
    if repeated:
        msg = f"{what} CSV {str(file)!r} names column(s) {', '.join(map(repr, repeated))} twice; keep one of each"
        raise DemandError(msg)
    if max_rows is not None and len(raw) > max_rows:
        msg = (f"{what} CSV {str(file)!r} has more than {max_rows:,} rows, the most cityopt reads; "
               f"split it into smaller files")
        raise DemandError(msg)
    return raw


def _check_trips(n: Any) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        msg = f"trips must be a whole number of trips, got {n!r} ({type(n).__name__}); pass e.g. 12"
        raise DemandError(msg)
    if n < 1:
        msg = f"trips must be at least 1, got {int(n)}; ask for 1 or more trips"
        raise DemandError(msg)
    return int(n)


def _check_min_distance(min_distance_m: Any) -> float:
    try:
        value = float(min_distance_m)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < 0.0:
        msg = f"min_distance_m must be a finite number >= 0 (metres), got {min_distance_m!r}"
        raise DemandError(msg)
    return value


def _check_capacity(trips: int, capacity: int, graph: nx.MultiDiGraph, min_d: float) -> None:
    if trips > capacity:
        name = graph.graph.get("name", "graph")
        msg = (
            f"cannot sample trips={trips}: road graph {name!r} ({graph.number_of_nodes()} nodes) "
            f"hosts at most {capacity} distinct origin-destination pairs at least {min_d:g} m apart; "
            f"ask for at most {capacity} trips, or lower min_distance_m"
        )
        raise DemandError(msg)


# ---------------------------------------------------------------- output
def _trips_table(
    nodes: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    origins: np.ndarray,
    dests: np.ndarray,
    trip_ids: np.ndarray,
) -> pd.DataFrame:
    import pandas as pd

    table = pd.DataFrame(
        {
            "trip_id": trip_ids,
            "origin": nodes[origins],
            "destination": nodes[dests],
            "origin_lon": lon[origins],
            "origin_lat": lat[origins],
            "dest_lon": lon[dests],
            "dest_lat": lat[dests],
            "straight_m": haversine_m(lon[origins], lat[origins], lon[dests], lat[dests]),
        },
        columns=list(TRIP_COLUMNS),
    )
    return table


_rows = rows_text
