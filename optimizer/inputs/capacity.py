"""Road capacity from OpenStreetMap tags, and the BPR volume-delay function.

A segment's capacity, in vehicles per hour in its direction of travel, is its
lanes in that direction times a per-lane capacity of its ``highway`` class:

* lanes: OSM ``lanes:forward`` / ``lanes:backward`` where the edge has them;
  else ``lanes`` (all directions of the way: halved, rounded up, on a two-way
  road); else the class default below.  Messy values are parsed: ``"2;3"`` and
  the lists that osmnx's simplification leaves (``['2', None, '3']``) take the
  smallest count (the bottleneck of the merged ways), ``"none"``, ``"-1"`` or
  text fall back to the default.
* per-lane capacity and default lanes per direction by class: the highway
  defaults of MATSim's OSM network reader (``OsmNetworkReader``; capacity in
  veh/h per lane), the values macroscopic models built from OSM commonly use.

The free-flow time stays osmnx's (``travel_time``, from its speeds).  BPR, the
Bureau of Public Roads function (1964), gives the loaded travel time::

    t(v) = t0 * (1 + alpha * (v / c) ** beta),  alpha = 0.15, beta = 4 by default

Examples
--------
>>> bpr_time_s(60.0, 1000.0, 1000.0)   # at capacity: 15 % slower
69.0
>>> parse_lanes("2;3"), parse_lanes(["2", None, "3"]), parse_lanes("none"), parse_lanes(None)
(2, 2, None, None)
>>> segment_capacity({"highway": "primary", "lanes": "4", "oneway": False})
3000.0
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.errors import InvalidInputError

__all__ = [
    "BPR_ALPHA",
    "BPR_BETA",
    "HIGHWAY_DEFAULTS",
    "CapacityReport",
    "HighwayClass",
    "bpr_time_s",
    "parse_lanes",
    "segment_capacities",
    "segment_capacity",
    "segment_lanes",
]

log = logging.getLogger(__name__)

#: BPR's default parameters (Bureau of Public Roads, Traffic Assignment Manual, 1964).
BPR_ALPHA = 0.15
BPR_BETA = 4.0


@dataclass(frozen=True)
class HighwayClass:
    """Per-lane capacity (veh/h) and default lanes per direction of one OSM ``highway`` class."""

    lane_capacity_vph: float
    lanes: int


#: MATSim ``OsmNetworkReader`` highway defaults: veh/h per lane, default lanes per direction.
HIGHWAY_DEFAULTS: dict[str, HighwayClass] = {
    "motorway": HighwayClass(2000.0, 2),
    "motorway_link": HighwayClass(1500.0, 1),
    "trunk": HighwayClass(2000.0, 1),
    "trunk_link": HighwayClass(1500.0, 1),
    "primary": HighwayClass(1500.0, 1),
    "primary_link": HighwayClass(1500.0, 1),
    "secondary": HighwayClass(1000.0, 1),
    "secondary_link": HighwayClass(1000.0, 1),
    "tertiary": HighwayClass(600.0, 1),
    "tertiary_link": HighwayClass(600.0, 1),
    "unclassified": HighwayClass(600.0, 1),
    "residential": HighwayClass(600.0, 1),
    "living_street": HighwayClass(300.0, 1),
}
#: A class OSM has but the table does not (``service``, ``road``, a typo): a minor road.
_FALLBACK = HighwayClass(600.0, 1)
#: More lanes than this in one direction is a tagging error, not a road.
_MAX_LANES = 12


def parse_lanes(value: Any) -> int | None:
    """A lane count from an OSM ``lanes`` value as osmnx leaves it, or None when it gives none.

    Several values (``"2;3"``, a list from merged ways) give the smallest: the
    bottleneck.  Counts outside 1..12 and text give None.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        counts = [c for c in (parse_lanes(v) for v in value) if c is not None]
        return min(counts) if counts else None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) if 1 <= value <= _MAX_LANES else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and 1 <= value <= _MAX_LANES else None
    counts = [int(m) for m in re.findall(r"(?<![\d.\-])\d+(?![\d.])", str(value))]
    counts = [c for c in counts if 1 <= c <= _MAX_LANES]
    return min(counts) if counts else None


def _highway(value: Any) -> str:
    """The class of an edge: the first known of a list (merged ways), else the value as text."""
    values = value if isinstance(value, (list, tuple)) else [value]
    known = [str(v) for v in values if str(v) in HIGHWAY_DEFAULTS]
    return known[0] if known else str(values[0] if values else "")


def _is_true(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_is_true(v) for v in value)
    return value is True or str(value).lower() in ("yes", "true", "1", "-1")


def _highway_class(data: Mapping[str, Any], why: Counter[str] | None) -> HighwayClass:
    cls_name = _highway(data.get("highway"))
    cls = HIGHWAY_DEFAULTS.get(cls_name)
    if cls is None:
        if why is not None:
            why[f"class {cls_name!r} not in the table"] += 1
        return _FALLBACK
    return cls


def _lanes(data: Mapping[str, Any], cls: HighwayClass, why: Counter[str] | None) -> int:
    reversed_ = _is_true(data.get("reversed"))
    directional = parse_lanes(data.get("lanes:backward" if reversed_ else "lanes:forward"))
    lanes = None
    if directional is not None:
        lanes, source = directional, "lanes:forward/backward"
    else:
        total = parse_lanes(data.get("lanes"))
        if total is not None:
            lanes = total if _is_true(data.get("oneway")) else max(1, math.ceil(total / 2))
            source = "lanes"
        if lanes is None and data.get("lanes") is not None and why is not None:
            why["unreadable lanes value"] += 1
    if lanes is None:
        lanes, source = cls.lanes, "default"
    if why is not None:
        why[source] += 1
    return lanes


def segment_lanes(data: Mapping[str, Any], *, why: Counter[str] | None = None) -> int:
    """Lanes in the direction of travel of one directed edge from its osmnx attributes.

    ``lanes:forward`` (``lanes:backward`` on an edge osmnx ``reversed``), else
    ``lanes`` (halved, rounded up, on a two-way road), else the class default.
    ``why`` counts the sources as :func:`segment_capacity` does.

    >>> segment_lanes({"highway": "primary", "lanes": "3", "oneway": False}), segment_lanes({"highway": "motorway"})
    (2, 2)
    """
    return _lanes(data, _highway_class(data, why), why)


def segment_capacity(data: Mapping[str, Any], *, why: Counter[str] | None = None) -> float:
    """Capacity in veh/h of one directed edge from its osmnx attributes (``highway``, ``lanes``, ``oneway``).

    Its lanes (:func:`segment_lanes`) times its class's per-lane capacity.  ``why``,
    if given, counts where the lanes came from (``lanes:forward``, ``lanes``,
    ``default``) and the classes not in :data:`HIGHWAY_DEFAULTS`.
    """
    cls = _highway_class(data, why)
    return float(_lanes(data, cls, why) * cls.lane_capacity_vph)


@dataclass(frozen=True)
class CapacityReport:
    """Capacities of a set of segments (veh/h, in the order asked) and where their lanes came from."""

    capacity_vph: np.ndarray
    sources: dict[str, int]


def segment_capacities(graph: Any, segments: Iterable[tuple[Any, Any, Any]]) -> CapacityReport:
    """The capacity of each directed segment ``(u, v, key)`` of an osmnx graph; logs where the lanes came from."""
    why: Counter[str] = Counter()
    caps = []
    for u, v, k in segments:
        try:
            data = graph.edges[u, v, k]
        except KeyError:
            msg = f"segment ({u}, {v}, {k}) is not an edge of the road graph; it cannot have a capacity"
            raise InvalidInputError(msg) from None
        caps.append(segment_capacity(data, why=why))
    if why:
        log.info("segment capacities: lanes from %s", ", ".join(f"{k} {n}" for k, n in sorted(why.items())))
    return CapacityReport(np.asarray(caps, dtype=np.float64), dict(why))


def bpr_time_s(t0_s: Any, volume_vph: Any, capacity_vph: Any, *, alpha: float = BPR_ALPHA,
               beta: float = BPR_BETA) -> Any:
    """BPR loaded travel time ``t0 (1 + alpha (v/c)^beta)``, elementwise (seconds in, seconds out).

    >>> bpr_time_s([10.0, 10.0], [0.0, 1200.0], [600.0, 600.0]).tolist()
    [10.0, 34.0]
    """
    if not (math.isfinite(alpha) and alpha >= 0 and math.isfinite(beta) and beta >= 1):
        msg = f"BPR needs alpha >= 0 and beta >= 1, finite; got alpha={alpha!r}, beta={beta!r}"
        raise InvalidInputError(msg)
    t0 = np.asarray(t0_s, dtype=np.float64)
    c = np.asarray(capacity_vph, dtype=np.float64)
    if np.any(~(c > 0)):
        msg = "every capacity must be a positive number of vehicles per hour"
        raise InvalidInputError(msg)
    out = t0 * (1.0 + alpha * (np.asarray(volume_vph, dtype=np.float64) / c) ** beta)
    return float(out) if out.ndim == 0 else out
