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
>>> from optimizer.inputs.city import City
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
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from optimizer.errors import CityError, CityNotFoundError, InvalidCityFileError
from optimizer.inputs.normalize import (
    DEFAULT_SPEEDS_KPH,  # noqa: F401  (re-exported: optimizer.inputs.city.DEFAULT_SPEEDS_KPH)
    FALLBACK_SPEED_KPH,  # noqa: F401  (re-exported)
    normalize_graph,
)
from optimizer.inputs.osm import (
    NETWORK_TYPES,
    OSM_SUFFIXES,
    _fetch_place,
    _http_cache_dir,
    _looks_like_path,
    _network_kind,
    _NetworkKind,
    _osmnx_settings,
    _read_pbf,
    _read_xml,
    _reader_for,
    _stem,
)

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    import networkx as nx

__all__ = [
    "NETWORK_TYPES",
    "OSM_SUFFIXES",
    "City",
    "CitySource",
    "is_place_query",
    "normalize_graph",
    "place_cache_path",
]

logger = logging.getLogger(__name__)

# The OSM tags of points of interest: pyrosm's ``get_pois()`` default, used for XML too.
_POI_TAGS: dict[str, bool] = {"amenity": True, "shop": True, "tourism": True}


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
                elif is_place_query(text):
                    city = cls._load_place(text, kind)
                else:
                    near = _did_you_mean(text)
                    hint = f"did you mean {near!r}? Otherwise use" if near else "use"
                    msg = (
                        f"no city named {spec!r}: {hint} a bundled name "
                        f"({', '.join(city_data.available_cities())}), a path to an "
                        f"{'/'.join(OSM_SUFFIXES)} file, or a place query with a comma "
                        f"and a name on each side, such as 'Piedmont, California, USA' (fetched online)"
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


def _key(text: str) -> str:
    """``text`` without case, accents, blanks or punctuation: how bundled names are compared."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower())


def _did_you_mean(text: str) -> str | None:
    """The bundled city ``text`` nearly names (up to case and punctuation, or a typo), if any."""
    import difflib

    import city_data

    keys = {_key(n): n for n in city_data.available_cities()}
    key = _key(text)
    if not key:
        return None
    if key in keys:
        return keys[key]
    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.75)
    return keys[close[0]] if close else None


def is_place_query(text: str) -> bool:
    """Whether ``text`` clearly names an online place: ``"Place, Country"``.

    At least two comma-separated parts, each with a letter or digit (any script), and not a
    bundled city's name up to case and punctuation.  Only such a query makes
    :meth:`City.load` go online; a stray comma (``"helsinki,"``) does not.

    Examples
    --------
    >>> is_place_query("Piedmont, California, USA"), is_place_query("helsinki,")
    (True, False)
    >>> is_place_query(", Finland"), is_place_query("Helsinki, ")
    (False, False)
    """
    import city_data

    parts = text.split(",")
    if len(parts) < 2 or not all(any(ch.isalnum() for ch in p) for p in parts):
        return False
    return _key(text) not in {_key(n) for n in city_data.available_cities()}


def _normalize_loaded(graph: nx.MultiDiGraph, *, name: str, source: CitySource) -> nx.MultiDiGraph:
    """:func:`normalize_graph` for a freshly read graph, its errors naming the file."""
    try:
        return normalize_graph(graph, name=name, source=str(source), copy=False)
    except CityError as exc:
        msg = f"{source.kind} source {source.location!r} gives no usable road network: {exc}"
        raise InvalidCityFileError(msg) from exc


# ---------------------------------------------------------------- helpers
def _flat_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
