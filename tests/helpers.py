"""Small road graphs that tests build themselves (no files, no network).

:func:`grid_graph` makes a street grid already in osmnx's conventions, the way
:class:`optimizer.City` holds a road graph, so problem and solver tests can run
on a few nodes whose shortest paths are easy to reason about.
"""

from __future__ import annotations

import math

import networkx as nx

__all__ = ["grid_graph", "haversine_m"]

_EARTH_RADIUS_M = 6_371_009.0


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2.0 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


def grid_graph(
    rows: int = 4,
    cols: int = 4,
    *,
    spacing_m: float = 150.0,
    lon0: float = 24.94,
    lat0: float = 60.17,
    speed_kph: float = 30.0,
    arterial_speed_kph: float = 50.0,
) -> nx.MultiDiGraph:
    """A ``rows`` x ``cols`` grid of two-way streets near central Helsinki.

    Node ``r * cols + c`` sits at row ``r`` (northwards from ``lat0``) and
    column ``c`` (eastwards from ``lon0``), ``spacing_m`` apart.  Every street
    is two-way (one edge each way, key 0): ``highway="residential"`` at
    ``speed_kph``, except the middle row (``rows // 2``), a faster
    ``"secondary"`` arterial at ``arterial_speed_kph``.  Edges carry ``osmid``,
    ``highway``, ``oneway``, ``reversed``, ``length`` (metres, great-circle),
    ``geometry`` (a straight LineString from u to v), ``speed_kph`` and
    ``travel_time`` (seconds); the graph carries ``crs="EPSG:4326"``, ``name``
    and ``simplified=True``.

    Examples
    --------
    >>> g = grid_graph()
    >>> g.number_of_nodes(), g.number_of_edges()
    (16, 48)
    >>> round(g.edges[0, 1, 0]["length"])
    150
    """
    from shapely.geometry import LineString

    if rows < 1 or cols < 1 or rows * cols < 2:
        msg = f"a grid needs at least 2 nodes, got rows={rows}, cols={cols}"
        raise ValueError(msg)
    dlat = math.degrees(spacing_m / _EARTH_RADIUS_M)
    dlon = dlat / math.cos(math.radians(lat0))
    g = nx.MultiDiGraph(
        crs="EPSG:4326", name=f"grid{rows}x{cols}", simplified=True, source="synthetic:grid"
    )
    for r in range(rows):
        for c in range(cols):
            g.add_node(r * cols + c, x=lon0 + c * dlon, y=lat0 + r * dlat, street_count=0)

    streets: list[tuple[int, int, str, float]] = []
    for r in range(rows):
        arterial = r == rows // 2
        for c in range(cols - 1):
            streets.append(
                (
                    r * cols + c,
                    r * cols + c + 1,
                    "secondary" if arterial else "residential",
                    arterial_speed_kph if arterial else speed_kph,
                )
            )
    for c in range(cols):
        for r in range(rows - 1):
            streets.append((r * cols + c, (r + 1) * cols + c, "residential", speed_kph))

    for way_id, (a, b, highway, speed) in enumerate(streets, start=1000):
        for u, v, rev in ((a, b, False), (b, a, True)):
            xu, yu, xv, yv = g.nodes[u]["x"], g.nodes[u]["y"], g.nodes[v]["x"], g.nodes[v]["y"]
            length = haversine_m(xu, yu, xv, yv)
            g.add_edge(
                u,
                v,
                key=0,
                osmid=way_id,
                highway=highway,
                name=f"{highway} {way_id}",
                oneway=False,
                reversed=rev,
                length=length,
                geometry=LineString([(xu, yu), (xv, yv)]),
                speed_kph=float(speed),
                travel_time=length / (speed / 3.6),
            )
    for node in g.nodes:
        g.nodes[node]["street_count"] = len(set(g.successors(node)) | set(g.predecessors(node)))
    return g
