"""OpenStreetMap sources for :mod:`optimizer.inputs.city`: network kinds and file readers.

The road networks :meth:`~optimizer.inputs.city.City.load` knows (:data:`NETWORK_TYPES`,
each with osmnx 2.1.1's Overpass way filter, applied to ``.osm`` files too), the
file endings it reads (:data:`OSM_SUFFIXES`), and the readers behind it: pyrosm
for ``.osm.pbf``, osmnx for ``.osm``/``.osm.bz2``/``.osm.gz`` and for online
place queries, with osmnx's settings changed only for the duration of a call.

Heavy libraries (osmnx, pyrosm, requests) are imported inside the functions that
use them, so ``import optimizer`` stays light.  The public names are re-exported
by :mod:`optimizer.inputs.city`; import them from there.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import CityError, CityNotFoundError, InvalidCityFileError
from optimizer.inputs.checks import LAT_RANGE, LON_RANGE, bad_lonlat, one_line

if TYPE_CHECKING:
    import networkx as nx

# Logged under optimizer.inputs.city, where these readers were born and are used.
logger = logging.getLogger(__name__)

#: File name endings :meth:`City.load` reads, and the library that reads each.
OSM_SUFFIXES: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm": "xml",
    ".osm.bz2": "xml",
    ".osm.gz": "xml",
}


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
            f"({one_line(exc)}); re-download it or convert it with osmium"
        )
        raise InvalidCityFileError(msg) from exc
    if graph is not None:
        _check_node_coordinates(graph, path, "PBF")
        _check_segment_lengths(graph, path, "PBF")
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
            try:
                graph = ox.graph_from_xml(
                    path, bidirectional=kind.bidirectional, simplify=False, retain_all=True
                )
            except ValueError as clip:
                if "missing nodes" not in str(clip):
                    raise
                with _unclipped_copy(path) as clean:  # ways cut at a bounding box
                    graph = ox.graph_from_xml(
                        clean, bidirectional=kind.bidirectional, simplify=False, retain_all=True
                    )
    except Exception as exc:
        bad = _first_bad_xml_node(path)
        if bad is not None:
            node, lon, lat = bad
            msg = (
                f"OSM XML file {str(path)!r} is corrupt: node {node} has lon={lon!r}, lat={lat!r}, "
                f"not a WGS84 position (lon in [{LON_RANGE[0]:g}, {LON_RANGE[1]:g}], lat in "
                f"[{LAT_RANGE[0]:g}, {LAT_RANGE[1]:g}], finite); re-download or re-export the extract"
            )
        else:
            msg = (
                f"cannot read OSM XML file {str(path)!r}: it is corrupt or not OSM XML "
                f"({one_line(exc)}); re-download or re-export it"
            )
        raise InvalidCityFileError(msg) from exc
    _check_node_coordinates(graph, path, "XML")
    _check_segment_lengths(graph, path, "XML")
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
            f"OpenStreetMap has no {kind.name} road network for place {query!r} ({one_line(exc)}); "
            f"check the spelling, e.g. 'Piedmont, California, USA'"
        )
        raise CityNotFoundError(msg) from exc
    except (requests.RequestException, OSError) as exc:
        msg = (
            f"could not fetch place {query!r} from OpenStreetMap ({one_line(exc)}); "
            f"check the network connection, or load a local .osm/.osm.pbf file instead"
        )
        raise CityError(msg) from exc


def _check_node_coordinates(graph: nx.MultiDiGraph, path: Path, fmt: str) -> None:
    """Refuse a file whose road nodes lie outside WGS84 (lat 95, lon 500, 1e308, NaN): it is corrupt.

    Only the nodes that make the road graph are checked; a stray node outside it
    changes no route.  Raises :class:`InvalidCityFileError` naming the file, the
    first bad node, its coordinates, the valid ranges and how many nodes are bad.
    """
    ids = list(graph.nodes)
    xs = [_float_or_nan(d.get("x")) for _, d in graph.nodes(data=True)]
    ys = [_float_or_nan(d.get("y")) for _, d in graph.nodes(data=True)]
    bad = bad_lonlat(xs, ys)
    if not bad.any():
        return
    first = int(bad.argmax())
    more = f" (and {int(bad.sum()) - 1} more node(s))" if bad.sum() > 1 else ""
    msg = (
        f"OSM {fmt} file {str(path)!r} is corrupt: node {ids[first]} has lon={xs[first]!r}, "
        f"lat={ys[first]!r}{more}, outside WGS84 (lon in [{LON_RANGE[0]:g}, {LON_RANGE[1]:g}], lat in "
        f"[{LAT_RANGE[0]:g}, {LAT_RANGE[1]:g}], finite); re-download or re-export the extract"
    )
    raise InvalidCityFileError(msg)


#: Longest straight line between two consecutive nodes of a street (metres): longer means a
#: misplaced node (a street from Helsinki to Sydney), and the file is refused as corrupt.
MAX_SEGMENT_M = 50_000.0


def _check_segment_lengths(graph: nx.MultiDiGraph, path: Path, fmt: str) -> None:
    """Refuse a file with a street segment longer than :data:`MAX_SEGMENT_M`: one of its nodes is misplaced.

    Checked on the graph as read, before simplification, so each edge joins two
    consecutive nodes of a way.
    """
    import numpy as np

    from optimizer.inputs.roads import haversine_m

    edges = list(graph.edges())
    if not edges:
        return
    x = {n: float(d["x"]) for n, d in graph.nodes(data=True)}
    y = {n: float(d["y"]) for n, d in graph.nodes(data=True)}
    u = np.array([[x[a], y[a]] for a, _ in edges])
    v = np.array([[x[b], y[b]] for _, b in edges])
    dist = np.asarray(haversine_m(u[:, 0], u[:, 1], v[:, 0], v[:, 1]), dtype=float).reshape(-1)
    long = np.flatnonzero(dist > MAX_SEGMENT_M)
    if long.size:
        i = int(long[0])
        a, b = edges[i]
        msg = (
            f"OSM {fmt} file {str(path)!r} is corrupt: the street segment from node {a} ({x[a]:g}, {y[a]:g}) "
            f"to node {b} ({x[b]:g}, {y[b]:g}) spans {dist[i] / 1000.0:,.0f} km, more than "
            f"{MAX_SEGMENT_M / 1000.0:g} km between consecutive nodes (a node is misplaced); re-download or "
            f"re-export the extract"
        )
        raise InvalidCityFileError(msg)


@contextmanager
def _unclipped_copy(path: Path) -> Iterator[Path]:
    """A temp copy of an OSM XML extract cut at a bounding box, its ways split where they leave it.

    A clipped extract keeps whole ways but only the nodes inside the box, so
    ways reference nodes absent from the file (osmnx: "edges missing nodes").
    Each way becomes its runs of consecutive present nodes (runs of one node
    dropped), so no street is joined across the part that is missing.  Logs a
    warning with the count of dangling references dropped.
    """
    import bz2
    import gzip
    import os
    import tempfile
    import xml.etree.ElementTree as ET

    lowered = path.name.lower()
    opener = bz2.open if lowered.endswith(".bz2") else gzip.open if lowered.endswith(".gz") else open
    with opener(path, "rb") as stream:
        root = ET.parse(stream).getroot()
    present = {el.get("id") for el in root.iter("node")}
    dropped = split = 0
    next_id = -1
    for way in list(root.iter("way")):
        refs = [nd.get("ref") for nd in way.findall("nd")]
        if all(r in present for r in refs):
            continue
        dropped += sum(r not in present for r in refs)
        runs, run = [], []
        for r in [*refs, None]:
            if r is not None and r in present:
                run.append(r)
                continue
            if len(run) >= 2:
                runs.append(run)
            run = []
        tags = way.findall("tag")
        root.remove(way)
        for piece in runs:
            new = ET.SubElement(root, "way", {**way.attrib, "id": str(next_id)})
            next_id -= 1
            new.extend(ET.Element("nd", {"ref": r}) for r in piece)
            new.extend(tags)
        split += max(len(runs) - 1, 0)
    logger.warning("OSM extract %s is clipped: dropped %d reference(s) to nodes outside it (%d way(s) split "
                   "where they leave the extract)", path.name, dropped, split)
    fd, tmp = tempfile.mkstemp(prefix=".cityopt-unclipped-", suffix=".osm")
    os.close(fd)
    try:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
        yield Path(tmp)
    finally:
        os.unlink(tmp)


def _first_bad_xml_node(path: Path) -> tuple[str, str, str] | None:
    """``(id, lon, lat)`` as written of the first ``<node>`` of an OSM XML file that is no WGS84
    position (NaN, text, out of range), or None; None too when the file cannot be parsed.

    Only called once osmnx has failed on the file, to name the node that broke it.
    """
    import bz2
    import gzip
    import xml.etree.ElementTree as ET

    lowered = path.name.lower()
    opener = bz2.open if lowered.endswith(".bz2") else gzip.open if lowered.endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            for _, element in ET.iterparse(stream, events=("end",)):
                if element.tag == "node":
                    lon, lat = element.get("lon", ""), element.get("lat", "")
                    if bad_lonlat(_float_or_nan(lon), _float_or_nan(lat)):
                        return element.get("id", "?"), lon, lat
                element.clear()
    except (OSError, EOFError, ET.ParseError, ValueError):
        return None
    return None


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


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
