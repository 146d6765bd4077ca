"""Graph normalisation for :mod:`optimizer.inputs.city`: any road graph to osmnx's conventions.

:func:`normalize_graph` is what every :class:`~optimizer.inputs.city.City` graph goes
through (see the module docstring of :mod:`optimizer.inputs.city` for the result's
promises); :data:`DEFAULT_SPEEDS_KPH` and :data:`FALLBACK_SPEED_KPH` give the
speeds of untagged roads.  Heavy libraries (networkx, osmnx, shapely, pyproj) are
imported inside the functions that use them, so ``import optimizer`` stays light.
The names are re-exported by :mod:`optimizer.inputs.city`; import them from there.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import TYPE_CHECKING, Any

from optimizer.errors import CityError
from optimizer.inputs.checks import bad_lonlat
from optimizer.inputs.roads import haversine_m

if TYPE_CHECKING:
    import networkx as nx

# Logged under optimizer.inputs.city, where normalisation was born and is used.
logger = logging.getLogger(__name__)

#: Speeds (km/h) for edges whose OSM way has no usable ``maxspeed`` tag, by
#: ``highway`` type: typical European urban limits.
DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 20.0,
    "service": 20.0,
    "road": 30.0,
}
#: Speed (km/h) of a highway type that is neither tagged nor in the table above.
FALLBACK_SPEED_KPH = 30.0


# Node and edge attributes that readers leave behind and that osmnx's conventions
# do not use (pyrosm's bookkeeping, its shapely node points, its raw tag JSON).
_JUNK_NODE_ATTRS = frozenset(
    {"geometry", "lon", "lat", "id", "tags", "visible", "version", "timestamp", "changeset"}
)
_JUNK_EDGE_ATTRS = frozenset(
    {
        "u",
        "v",
        "key",
        "id",
        "tags",
        "visible",
        "version",
        "timestamp",
        "changeset",
        "osm_type",
        "oneway_tag",
    }
)


# ---------------------------------------------------------------- normalisation
def normalize_graph(
    graph: nx.MultiDiGraph,
    *,
    name: str | None = None,
    source: str | None = None,
    copy: bool = True,
) -> nx.MultiDiGraph:
    """Bring a road graph to osmnx's conventions, as every :class:`City` holds it.

    In order: reproject to WGS84 (``graph.graph["crs"]``, assumed WGS84 when
    absent); keep float node ``x``/``y`` and drop readers' leftovers (pyrosm's
    node ``geometry``, raw tags) that trouble ``osmnx.graph_to_gdfs``; drop
    self-loops; one string ``highway`` per edge (a list's first); a LineString
    ``geometry`` per edge, straight when missing, reversed when it starts nearer
    ``v`` than ``u``, its end points set to the nodes' coordinates; ``length`` in
    metres (the great-circle length of the geometry where missing or not
    positive; edges still of length 0 are dropped); ``speed_kph`` (kept where
    already set, else osmnx's ``add_edge_speeds`` from ``maxspeed`` with
    :data:`DEFAULT_SPEEDS_KPH` where untagged) and ``travel_time`` in seconds
    (osmnx's ``add_edge_travel_times``); finally the largest strongly connected
    component.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Nodes need ``x`` and ``y``.
    name, source : str, optional
        Recorded as ``graph.graph["name"]`` and ``["source"]``.
    copy : bool
        Work on a copy (default), leaving ``graph`` as it was.

    Returns
    -------
    networkx.MultiDiGraph

    Raises
    ------
    TypeError
        ``graph`` is not a ``networkx.MultiDiGraph``.
    CityError
        A node lacks ``x``/``y``, or no two nodes are connected both ways.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.MultiDiGraph()
    >>> g.add_node("a", x=24.94, y=60.17); g.add_node("b", x=24.94, y=60.171)
    >>> _ = g.add_edge("a", "b", highway=["primary", "secondary"])
    >>> _ = g.add_edge("b", "a", highway="primary", maxspeed="40")
    >>> h = normalize_graph(g)
    >>> h.edges["a", "b", 0]["highway"], round(h.edges["a", "b", 0]["length"], 1)
    ('primary', 111.2)
    >>> h.edges["b", "a", 0]["speed_kph"], h.edges["a", "b", 0]["speed_kph"]
    (40.0, 50.0)
    """
    import networkx as nx
    import osmnx as ox
    from shapely.geometry import LineString, MultiLineString
    from shapely.ops import linemerge

    if not isinstance(graph, nx.MultiDiGraph):
        msg = (
            f"a road graph must be a networkx.MultiDiGraph, not {type(graph).__name__}; "
            f"convert it with networkx.MultiDiGraph(graph)"
        )
        raise TypeError(msg)
    label = name if name is not None else str(graph.graph.get("name", "graph"))
    G = graph.copy() if copy else graph

    missing = [
        n for n, d in G.nodes(data=True) if not _finite(d.get("x")) or not _finite(d.get("y"))
    ]
    if missing:
        msg = (
            f"{len(missing)} nodes of road graph {label!r} lack numeric 'x'/'y' coordinates "
            f"(e.g. node {missing[0]!r}); give every node x (lon) and y (lat)"
        )
        raise CityError(msg)
    G.graph.setdefault("crs", "EPSG:4326")
    if not _is_wgs84(G.graph["crs"]):
        G = ox.project_graph(G, to_latlong=True)

    for _, data in G.nodes(data=True):
        for junk in _JUNK_NODE_ATTRS.intersection(data):
            del data[junk]
        data["x"] = float(data["x"])
        data["y"] = float(data["y"])
    outside = [n for n, d in G.nodes(data=True) if bad_lonlat(d["x"], d["y"])]
    if outside:
        d = G.nodes[outside[0]]
        msg = (
            f"{len(outside)} nodes of road graph {label!r} lie outside WGS84 lon [-180, 180] / lat [-90, 90] "
            f"(e.g. node {outside[0]!r} at x={d['x']!r}, y={d['y']!r}); give the graph's crs "
            f"(graph.graph['crs']) if it is projected, else fix the coordinates"
        )
        raise CityError(msg)

    loops = list(nx.selfloop_edges(G, keys=True))
    G.remove_edges_from(loops)
    zero: list[tuple[Any, Any, Any]] = []
    for u, v, k, data in G.edges(keys=True, data=True):
        for junk in _JUNK_EDGE_ATTRS.intersection(data):
            del data[junk]
        highway = data.get("highway")
        if isinstance(highway, (list, tuple)):
            highway = highway[0] if highway else None
        data["highway"] = str(highway) if highway is not None else "road"

        xu, yu, xv, yv = G.nodes[u]["x"], G.nodes[u]["y"], G.nodes[v]["x"], G.nodes[v]["y"]
        geom = data.get("geometry")
        if isinstance(geom, MultiLineString):
            geom = linemerge(geom)
        if isinstance(geom, LineString) and len(geom.coords) >= 2:
            coords = [tuple(c[:2]) for c in geom.coords]
            straight = _deg_dist(coords[0], (xu, yu)) + _deg_dist(coords[-1], (xv, yv))
            crossed = _deg_dist(coords[0], (xv, yv)) + _deg_dist(coords[-1], (xu, yu))
            if crossed < straight:
                coords.reverse()
            coords[0], coords[-1] = (xu, yu), (xv, yv)
        else:
            coords = [(xu, yu), (xv, yv)]
        data["geometry"] = LineString(coords)

        length = data.get("length")
        length = float(length) if _finite(length) else float("nan")
        if not length > 0.0:
            length = sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in zip(coords, coords[1:], strict=False))
        data["length"] = length
        if not length > 0.0:
            zero.append((u, v, k))
    G.remove_edges_from(zero)
    if loops or zero:
        logger.debug(
            "graph %r: dropped %d self-loops and %d zero-length edges", label, len(loops), len(zero)
        )
    G.remove_nodes_from([n for n in G.nodes if G.degree(n) == 0])
    if G.number_of_edges() == 0:
        msg = f"road graph {label!r} has no edges of positive length; it holds no roads to plan on"
        raise CityError(msg)

    given = {
        (u, v, k): float(s)
        for u, v, k, s in G.edges(keys=True, data="speed_kph")
        if _finite(s) and float(s) > 0
    }
    if len(given) < G.number_of_edges():
        with warnings.catch_warnings():
            # osmnx 2.1 fills an all-None maxspeed column (no edge tagged) with
            # pandas' deprecated silent downcast; the result is right.
            warnings.filterwarnings(
                "ignore", message="Downcasting object dtype", category=FutureWarning
            )
            G = ox.routing.add_edge_speeds(
                G, hwy_speeds=DEFAULT_SPEEDS_KPH, fallback=FALLBACK_SPEED_KPH
            )
    for (u, v, k), speed in given.items():
        G.edges[u, v, k]["speed_kph"] = speed
    for _, _, data in G.edges(data=True):
        data["speed_kph"] = float(data["speed_kph"])
    G = ox.routing.add_edge_travel_times(G)
    for _, _, data in G.edges(data=True):
        data["travel_time"] = float(data["travel_time"])

    n_before = G.number_of_nodes()
    G = ox.truncate.largest_component(G, strongly=True)
    if G.number_of_nodes() < 2:
        msg = (
            f"road graph {label!r} has no two places connected both ways (its {n_before} nodes "
            f"split into one-way dead ends); use a larger area or another network_type"
        )
        raise CityError(msg)
    G.graph["crs"] = "EPSG:4326"
    G.graph["name"] = label
    if source is not None:
        G.graph["source"] = source
    G.graph["normalized_by"] = "cityopt"
    return G


# ---------------------------------------------------------------- helpers
def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _is_wgs84(crs: Any) -> bool:
    if isinstance(crs, str) and crs.strip().lower() in ("epsg:4326", "wgs84", "wgs 84"):
        return True
    from pyproj import CRS

    return CRS.from_user_input(crs).to_epsg() == 4326


def _deg_dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Squared distance in degrees, longitude scaled by cos(latitude): only for comparing."""
    scale = math.cos(math.radians((a[1] + b[1]) / 2.0))
    return ((a[0] - b[0]) * scale) ** 2 + (a[1] - b[1]) ** 2
