"""Node geometry and pair sampling behind :mod:`optimizer.demand`.

Node coordinates as arrays (:func:`_node_arrays`), great-circle distances
(:func:`_haversine_m`), the ordered node pairs far enough apart to be trips,
enumerated for small graphs (:func:`_eligible_pairs`) or counted with a ball tree
for large ones (:func:`_count_pairs_balltree`), weighted rejection sampling of
distinct pairs (:func:`_rejection_sample`), and the points of features that weigh
nodes (:func:`_feature_points`).  Heavy libraries (sklearn, shapely) are imported
inside the functions that use them, so ``import optimizer`` stays light.

Examples
--------
>>> import numpy as np
>>> lon, lat = np.array([24.94, 24.95, 24.94]), np.array([60.17, 60.17, 60.171])
>>> o, d = _eligible_pairs(lon, lat, 300.0)
>>> len(o) == _count_pairs_balltree(lon, lat, 300.0)
True
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError

if TYPE_CHECKING:
    import networkx as nx

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


def _haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Great-circle distance in metres (broadcasting; osmnx's formula and radius)."""
    import osmnx as ox

    return np.asarray(ox.distance.great_circle(lat1, lon1, lat2, lon2))

def _eligible_pairs(
    lon: np.ndarray, lat: np.ndarray, min_d: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row-major ``(o, d)`` index arrays of all ordered pairs, o != d, >= min_d apart."""
    dist = _haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
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
        ok = (o != d) & (_haversine_m(lon[o], lat[o], lon[d], lat[d]) >= min_d)
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
