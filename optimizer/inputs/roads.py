"""Road-graph arithmetic in one place: segment times, parallel edges, paths, lines, distances.

Every part of cityopt that walks a road graph (the traffic problem, the fleet
problem's distance matrices, the plans that re-check routes, the maps) uses
these functions, so they agree to the millisecond on what a route costs.

* :func:`fastest_edge`: of the parallel edges from ``u`` to ``v``, the fastest
  (as osmnx's routing picks it);
* :func:`round_time_s`: travel times rounded to :data:`TIME_DECIMALS` decimals
  (milliseconds), so every solver scores the same numbers exactly;
* :func:`path_totals`, :func:`distance_matrices`: a path's time and length, and
  the fastest paths between a set of nodes;
* :func:`edge_line`, :func:`route_line`, :func:`graph_to_wgs84`: geometry
  following the roads, in WGS84;
* :func:`haversine_m`: great-circle distance (osmnx's formula and radius).

Examples
--------
>>> import networkx as nx
>>> G = nx.MultiDiGraph(crs="EPSG:4326")
>>> G.add_node(1, x=24.94, y=60.17); G.add_node(2, x=24.95, y=60.17)
>>> _ = G.add_edge(1, 2, travel_time=10.0004, length=550.0)
>>> _ = G.add_edge(1, 2, travel_time=7.5, length=600.0)
>>> fastest_edge(G, 1, 2), round_time_s(10.0004)
((1, 2, 1), 10.0)
>>> path_totals(G, [1, 2])
(7.5, 600.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = [
    "TIME_DECIMALS",
    "WGS84",
    "distance_matrices",
    "edge_line",
    "fastest_edge",
    "graph_of",
    "graph_to_wgs84",
    "haversine_m",
    "path_totals",
    "round_time_s",
    "route_line",
]

#: Travel times (segment weights, leg costs) are rounded to this many decimals: milliseconds.
TIME_DECIMALS = 3

WGS84 = "EPSG:4326"


def round_time_s(travel_time_s: float) -> float:
    """A travel time in seconds rounded to the millisecond (:data:`TIME_DECIMALS`)."""
    return round(float(travel_time_s), TIME_DECIMALS)


def fastest_edge(G: nx.MultiDiGraph, u: Any, v: Any) -> tuple[Any, Any, Any]:
    """The parallel edge ``(u, v, key)`` with the least travel time (ties: smallest key).

    Raises ``KeyError`` when the graph has no segment from ``u`` to ``v``.
    """
    data = G.get_edge_data(u, v)
    if not data:
        msg = f"no road segment from node {u} to node {v}"
        raise KeyError(msg)
    key = min(data, key=lambda k: (float(data[k]["travel_time"]), str(k)))
    return (u, v, key)


def path_totals(G: nx.MultiDiGraph, nodes: Sequence[Any]) -> tuple[float, float]:
    """Travel time (s) and length (m) of a node path, fastest parallel edge per step (raises KeyError)."""
    t = d = 0.0
    for u, v in zip(nodes[:-1], nodes[1:]):
        edge = G.edges[fastest_edge(G, u, v)]
        t += float(edge["travel_time"])
        d += float(edge["length"])
    return t, d


def graph_of(city_or_graph: Any) -> tuple[nx.MultiDiGraph, Any]:
    """``(graph, city)`` of a :class:`~optimizer.inputs.city.City` or a bare graph (``city`` None)."""
    import networkx as nx

    if isinstance(city_or_graph, nx.MultiDiGraph):
        return city_or_graph, None
    graph = getattr(city_or_graph, "graph", None)
    if isinstance(graph, nx.MultiDiGraph):
        return graph, city_or_graph
    msg = (
        f"expected an optimizer.City or a networkx.MultiDiGraph, not {type(city_or_graph).__name__}; "
        f"load one with City.load('helsinki')"
    )
    raise TypeError(msg)


# ------------------------------------------------------------------ distances
def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres (broadcasting over arrays; osmnx's formula and radius)."""
    import osmnx as ox

    d = ox.distance.great_circle(lat1, lon1, lat2, lon2)
    return float(d) if np.ndim(d) == 0 else np.asarray(d)


def _fastest_digraph(G: nx.MultiDiGraph) -> nx.DiGraph:
    """A DiGraph keeping, per node pair, the fastest parallel edge's travel time and length."""
    import networkx as nx

    D = nx.DiGraph()
    D.add_nodes_from(G.nodes)
    for u, v, d in G.edges(data=True):
        tt = float(d["travel_time"])
        if not D.has_edge(u, v) or tt < D[u][v]["travel_time"]:
            D.add_edge(u, v, travel_time=tt, length=float(d["length"]))
    return D


def distance_matrices(G: nx.MultiDiGraph, nodes: Sequence[Any], *, labels: Sequence[str] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, list[list[list[Any]]]]:
    """Travel times (s), lengths (m) and node paths between ``nodes`` along the road graph.

    One single-source Dijkstra (networkx) per location, by travel time; the
    length is that of the fastest path.  Raises :class:`DemandError` naming the
    location when some other location cannot be reached from it.
    """
    import networkx as nx

    D = _fastest_digraph(G)
    m = len(nodes)
    labels = list(labels) if labels is not None else [f"location {i}" for i in range(m)]
    T = np.zeros((m, m))
    L = np.zeros((m, m))
    paths: list[list[list[Any]]] = [[[] for _ in range(m)] for _ in range(m)]
    for i, src in enumerate(nodes):
        if src not in D:
            msg = f"{labels[i]}: node {src!r} is not in the road graph"
            raise DemandError(msg)
        dist, path = nx.single_source_dijkstra(D, src, weight="travel_time")
        for j, dst in enumerate(nodes):
            if dst not in dist:
                msg = (f"{labels[j]} (node {dst}) cannot be reached from {labels[i]} (node {src}) on the "
                       f"road graph; drop that stop or use a city whose roads connect them")
                raise DemandError(msg)
            p = path[dst]
            T[i, j] = dist[dst]
            L[i, j] = sum(D[u][v]["length"] for u, v in zip(p[:-1], p[1:]))
            paths[i][j] = list(p)
    return T, L, paths


# ------------------------------------------------------------------- geometry
def graph_to_wgs84(G: nx.MultiDiGraph):
    """A transformer from the graph's CRS to WGS84 (None when the graph is already WGS84)."""
    from pyproj import CRS, Transformer

    crs = CRS.from_user_input(G.graph.get("crs", WGS84))
    if crs.equals(CRS.from_epsg(4326)):
        return None
    return Transformer.from_crs(crs, WGS84, always_xy=True)


def edge_line(G: nx.MultiDiGraph, u: Any, v: Any, key: Any):
    """The segment's geometry from u to v, in the graph's CRS (straight if the graph has none)."""
    from shapely.geometry import LineString

    data = G.edges[u, v, key]
    geom = data.get("geometry")
    pu = (G.nodes[u]["x"], G.nodes[u]["y"])
    pv = (G.nodes[v]["x"], G.nodes[v]["y"])
    if geom is None:
        return LineString([pu, pv])
    coords = list(geom.coords)
    # the end nearer to u first (plain distances: no shapely objects per check, ~10x faster on long plans)
    if math.dist(coords[0][:2], pu) > math.dist(coords[-1][:2], pu):
        coords.reverse()
    return LineString(coords)


def route_line(G: nx.MultiDiGraph, nodes: Sequence[Any], transformer: Any = None):
    """A node path as one LineString following the roads (transformed when ``transformer`` is given)."""
    from shapely.geometry import LineString
    from shapely.ops import transform

    coords: list[tuple[float, float]] = []
    for u, v in zip(nodes[:-1], nodes[1:]):
        seg = list(edge_line(G, u, v, fastest_edge(G, u, v)[2]).coords)
        coords.extend(seg if not coords else seg[1:])
    line = LineString(coords)
    if transformer is not None:
        line = transform(transformer.transform, line)
    return line
