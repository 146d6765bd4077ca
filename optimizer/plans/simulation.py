"""SUMO as the judge: a traffic routing plan replayed in Eclipse SUMO, vehicle by vehicle.

The plan's own model (BPR, the congestion proxy) is the project's; this replay
is a judge nobody here wrote.  Three steps, each checked:

1. :func:`sumo_network` writes the osmnx graph as SUMO *plain* XML (nodes and
   edges, the graph's node ids as SUMO node ids, edge ``(u, v, key)`` as SUMO
   edge ``"{u}_{v}_{key}"``) and runs ``netconvert`` so that every edge stays one
   edge: no junction joining, no geometry removal, no removal of isolated edges,
   no ramp, traffic-light or signal guessing, no edge joining.  Each SUMO edge
   gets the graph's ``length`` explicitly (so lengths match to the millimetre,
   ``--precision 3``), lanes per direction from
   :func:`optimizer.inputs.capacity.segment_lanes` (the rule capacities use),
   speed ``speed_kph / 3.6`` (else ``length / travel_time``), a priority by OSM
   class (SUMO's own ``osmNetconvert.typ.xml`` values, so the major road has the
   right of way) and the road's shape, projected to metres (UTM of the graph's
   centre).  Junctions: a node osmnx tags ``highway=traffic_signals`` is a
   traffic light (SUMO's static default programme); every other node is a
   ``priority`` junction.  Parallel edges between the same two nodes stay
   separate SUMO edges (netconvert keeps them, even with equal shapes).
   Self-loops (``u == v``) netconvert drops; no plan can use one (a route is a
   node path with distinct consecutive nodes), and each dropped loop is listed
   in :attr:`SumoNetwork.dropped`.  The net is read back with ``sumolib`` and
   must map one to one: same edge set, same lengths (1e-2 m), same lanes;
   otherwise :class:`SimulationError`.  osmnx knows no turn restrictions, so a
   plan may take any turn but straight back; netconvert leaves out some sharp
   hairpins (on Helsinki, 2 of them), and those edges are given their
   connections explicitly in a second netconvert pass
   (:attr:`SumoNetwork.turns_added`).
2. :func:`simulate_routes` maps each route (a node list) to its edges with
   :func:`optimizer.inputs.roads.fastest_edge` (as every plan does), checks that
   SUMO connects each consecutive pair, and writes ``vehicles[i]`` vehicles for
   trip ``i`` (ids ``"{i}.{j}"``), departing at ``departs_s[i] + j * HEADWAY_S``
   (seconds since midnight; a fixed 2 s headway spaces a trip's vehicles),
   ``departLane="best"``, ``departSpeed="max"`` (the highest speed that is safe
   at insertion), sorted by departure.  SUMO's default passenger car is used,
   with its default speed-factor distribution, so the seed matters.
3. ``sumo`` runs once (``--seed``, ``--no-step-log``, ``--time-to-teleport``,
   ``--end``) writing tripinfo (including vehicles still driving or never
   inserted at the end), vehroute (with exit times) and statistics; the outputs
   are parsed into a :class:`SimulationResult`.  The simulation begins at the
   first departure and ends when every vehicle has left or at ``end_s``
   (default: the last departure + 1 h + three times the longest free-flow route).

``route_mismatches`` counts vehicles whose driven edge list (vehroute) differs
from the planned one, or that arrived without an exit time for every edge.
SUMO never reroutes here (no rerouting device), so a mismatch means the
network or the route file is wrong.

Junctions keep SUMO's internal lanes, so vehicles cross a junction on its
own geometry and yield by its right-of-way rules; an edge's length is the
graph's, the crossing adds a few metres.

The binaries come from the PyPI package ``eclipse-sumo`` (the folder of its
``sumo`` module; a ``SUMO_HOME`` in the environment is not used, so a system
SUMO of another release never answers for the pinned one), run with
``subprocess``: no GUI, no network.  Without it, :func:`check_sumo` raises one
line naming the package.

Examples
--------
>>> import optimizer
>>> from optimizer.problems import Traffic
>>> prob = Traffic.from_city(optimizer.City.load("helsinki"), trips=5, routes=3, seed=1)
>>> plan = prob.decode(prob.shortest_path_bits())
>>> res = plan.simulate(seed=1)
>>> res.vehicles, res.arrived, res.route_mismatches
(5, 5, 0)
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InvalidInputError, SimulationError, SumoMissingError
from optimizer.inputs.capacity import segment_lanes
from optimizer.inputs.roads import WGS84, edge_line, fastest_edge, graph_to_wgs84

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = [
    "HEADWAY_S",
    "SUMO_VERSION",
    "SimulationError",
    "SimulationResult",
    "SumoMissingError",
    "SumoNetwork",
    "check_sumo",
    "read_vehroutes",
    "simulate_routes",
    "sumo_network",
    "work_folder",
]

log = logging.getLogger(__name__)

#: The SUMO release the project pins (pyproject.toml, constraints.txt).
SUMO_VERSION = "1.28.0"
#: What to install when SUMO is missing.
INSTALL = f"pip install eclipse-sumo=={SUMO_VERSION} sumolib=={SUMO_VERSION}"
#: Seconds between the departures of one trip's vehicles when it has more than one.
HEADWAY_S = 2.0
#: Edge priority per OSM class: SUMO's ``data/typemap/osmNetconvert.typ.xml``.
PRIORITY = {
    "motorway": 14, "trunk": 13, "primary": 12, "secondary": 11, "tertiary": 10,
    "motorway_link": 9, "trunk_link": 8, "primary_link": 7, "secondary_link": 6,
    "tertiary_link": 5, "unclassified": 4, "residential": 3, "living_street": 2, "service": 1,
}
_DEFAULT_PRIORITY = 1
#: SUMO's floor on a lane length (POSITION_EPS); a shorter graph edge is given this.
_MIN_LENGTH_M = 0.1
#: Characters SUMO refuses in an id (``SUMOXMLDefinitions::isValidNetID``).
_BAD_ID = re.compile(r"[\s|\\'\";,<>&]")
_NETCONVERT_OPTIONS = (
    "--geometry.remove", "false", "--junctions.join", "false", "--remove-edges.isolated", "false",
    "--ramps.guess", "false", "--edges.join", "false", "--tls.guess", "false",
    "--tls.guess-signals", "false",
    "--precision", "3", "--xml-validation", "never",
)


# ------------------------------------------------------------------ binaries
def _sumo_home(sumo_home: str | os.PathLike[str] | None) -> Path:
    """The SUMO installation: ``sumo_home`` when given, else the ``eclipse-sumo`` package's folder."""
    if sumo_home is not None:
        return Path(sumo_home)
    import importlib.util

    # find_spec, not import: importing ``sumo`` sets SUMO_HOME and PROJ_DATA in os.environ
    spec = importlib.util.find_spec("sumo")
    if spec is None or not spec.submodule_search_locations:
        msg = f"--simulate needs Eclipse SUMO: {INSTALL} (the Python package 'sumo' is not installed)"
        raise SumoMissingError(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def _binary(home: Path, name: str) -> Path:
    exe = home / "bin" / (name + (".exe" if os.name == "nt" else ""))
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        msg = f"--simulate needs Eclipse SUMO: {INSTALL} (no runnable {name} at {exe})"
        raise SumoMissingError(msg)
    return exe


def check_sumo(sumo_home: str | os.PathLike[str] | None = None) -> None:
    """Raise :class:`SumoMissingError` (one line naming ``eclipse-sumo``) unless SUMO can run.

    Looks for the ``sumo`` package (``eclipse-sumo`` on PyPI; ``sumo_home``
    overrides its folder), its ``bin/sumo`` and ``bin/netconvert``, and ``sumolib``.

    >>> check_sumo("/nonexistent")
    Traceback (most recent call last):
    ...
    optimizer.errors.SumoMissingError: --simulate needs Eclipse SUMO: pip install eclipse-sumo==1.28.0 sumolib==1.28.0 (no runnable sumo at /nonexistent/bin/sumo)
    """
    home = _sumo_home(sumo_home)
    _binary(home, "sumo")
    _binary(home, "netconvert")
    import importlib.util

    if importlib.util.find_spec("sumolib") is None:
        msg = f"--simulate needs Eclipse SUMO: {INSTALL} (the Python package 'sumolib' is not installed)"
        raise SumoMissingError(msg)


def _run(home: Path, name: str, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = _binary(home, name)
    env = {**os.environ, "SUMO_HOME": str(home)}
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          errors="replace", check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("Error")] or lines[-3:]
        msg = f"{name} failed (exit {proc.returncode}) in {cwd}: " + " | ".join(errors[:3])
        raise SimulationError(msg)
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("Warning")]
    if warnings:
        log.info("%s: %d warnings, first: %s", name, len(warnings), warnings[0])
    return proc


@lru_cache(maxsize=4)
def _sumo_version(home: str) -> str:
    out = _run(Path(home), "sumo", ["--version"], Path(home)).stdout
    m = re.search(r"Version (\S+)|sumo (\d+\.\d+\.\d+)", out)
    return (m.group(1) or m.group(2)) if m else out.splitlines()[0].strip()


# ------------------------------------------------------------------- network
Edge = tuple[Any, Any, Any]


@dataclass(frozen=True)
class SumoNetwork:
    """A SUMO network built from a road graph, edge for edge.

    Attributes
    ----------
    net_file : Path
        The ``.net.xml`` netconvert wrote.
    edge_ids : dict
        Graph edge ``(u, v, key)`` -> SUMO edge id, for every edge SUMO has.
    dropped : dict
        Graph edges SUMO does not have -> why (self-loops: netconvert drops them).
    lanes : dict
        SUMO edge id -> lanes.
    traffic_lights : int
        Junctions built as traffic lights (nodes osmnx tags ``highway=traffic_signals``).
    turns_added : int
        Turns the graph allows that netconvert left out (hairpins) and that were
        given to it as explicit connections.
    netconvert_s : float
        Wall time of writing the plain XML, netconvert and the read-back check.
    sumo_home : Path
    """

    net_file: Path
    edge_ids: dict[Edge, str]
    dropped: dict[Edge, str]
    lanes: dict[str, int]
    traffic_lights: int
    turns_added: int
    netconvert_s: float
    sumo_home: Path
    _successors: dict[str, frozenset[str]] = field(repr=False, default_factory=dict)

    def edge_id(self, edge: Edge) -> str:
        """The SUMO edge of graph edge ``(u, v, key)``; InvalidInputError when SUMO lacks it."""
        try:
            return self.edge_ids[edge]
        except KeyError:
            why = self.dropped.get(edge, "not an edge of the graph this network was built from")
            msg = f"road segment {edge} has no SUMO edge: {why}"
            raise InvalidInputError(msg) from None

    def connected(self, from_edge: str, to_edge: str) -> bool:
        """Whether SUMO lets a vehicle go from one edge straight onto the next."""
        return to_edge in self._successors.get(from_edge, ())

    def route_edges(self, graph: nx.MultiDiGraph, nodes: Sequence[Any]) -> list[str]:
        """The SUMO edges of a node path (the fastest parallel edge per step, as plans use)."""
        if len(nodes) < 2:
            msg = f"a route needs at least two nodes to drive, got {list(nodes)}"
            raise InvalidInputError(msg)
        edges = []
        for u, v in zip(nodes[:-1], nodes[1:]):
            try:
                edges.append(self.edge_id(fastest_edge(graph, u, v)))
            except KeyError as exc:
                raise InvalidInputError(f"route {list(nodes)[:3]}...: {exc.args[0]}") from None
        for a, b in zip(edges[:-1], edges[1:]):
            if not self.connected(a, b):
                msg = (f"the SUMO network has no connection from edge {a} to edge {b}: netconvert "
                       f"built no turn there, so SUMO cannot drive this route")
                raise SimulationError(msg)
        return edges


def _sumo_id(x: Any, what: str) -> str:
    s = str(x)
    if not s or _BAD_ID.search(s):
        msg = f"{what} {s!r} cannot be a SUMO id (no blanks or any of |\\'\";,<>&); renumber the graph's nodes"
        raise InvalidInputError(msg)
    return s


def _is_signal(value: Any) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(str(v) == "traffic_signals" for v in values)


def _priority(value: Any) -> int:
    values = value if isinstance(value, (list, tuple)) else [value]
    known = [PRIORITY[str(v)] for v in values if str(v) in PRIORITY]
    return max(known) if known else _DEFAULT_PRIORITY


def _speed_ms(data: Mapping[str, Any]) -> float:
    kph = data.get("speed_kph")
    try:
        kph = float(kph)
    except (TypeError, ValueError):
        kph = float("nan")
    if math.isfinite(kph) and kph > 0:
        return kph / 3.6
    tt, length = float(data.get("travel_time", 0.0)), float(data["length"])
    if tt > 0 and length > 0:
        return length / tt
    msg = f"edge with length {length} m and travel_time {tt} s has no usable speed"
    raise InvalidInputError(msg)


def _metres(graph: nx.MultiDiGraph):
    """A transformer from the graph's CRS to the UTM zone of its centre (metres)."""
    from pyproj import CRS, Transformer

    crs = CRS.from_user_input(graph.graph.get("crs", WGS84))
    xs = np.array([d["x"] for _, d in graph.nodes(data=True)], dtype=float)
    ys = np.array([d["y"] for _, d in graph.nodes(data=True)], dtype=float)
    to_wgs = graph_to_wgs84(graph)
    lon, lat = float(np.median(xs)), float(np.median(ys))
    if to_wgs is not None:
        lon, lat = to_wgs.transform(lon, lat)
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    utm = CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
    return Transformer.from_crs(crs, utm, always_xy=True)


def sumo_network(graph: nx.MultiDiGraph, workdir: str | os.PathLike[str], *,
                 sumo_home: str | os.PathLike[str] | None = None) -> SumoNetwork:
    """Build ``workdir/net.net.xml`` from the road graph with netconvert and check it maps one to one.

    Writes ``nodes.nod.xml`` and ``edges.edg.xml`` (SUMO plain XML) beside it.
    Raises :class:`SumoMissingError` without SUMO, :class:`SimulationError` when
    netconvert fails or its network differs from the graph (an edge missing or
    added, a length off by more than 1e-2 m, a lane count changed).
    """
    t0 = time.perf_counter()
    home = _sumo_home(sumo_home)
    check_sumo(home)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    if graph.number_of_edges() == 0:
        msg = "the road graph has no edges; SUMO has nothing to drive on"
        raise InvalidInputError(msg)
    tr = _metres(graph)

    nodes_xml = ET.Element("nodes")
    traffic_lights = 0
    for n, d in graph.nodes(data=True):
        x, y = tr.transform(float(d["x"]), float(d["y"]))
        signal = _is_signal(d.get("highway"))
        traffic_lights += signal
        ET.SubElement(nodes_xml, "node", id=_sumo_id(n, "node"), x=f"{x:.3f}", y=f"{y:.3f}",
                      type="traffic_light" if signal else "priority")

    edges_xml = ET.Element("edges")
    edge_ids: dict[Edge, str] = {}
    expected: dict[str, tuple[float, int]] = {}
    dropped: dict[Edge, str] = {}
    for u, v, k, d in graph.edges(keys=True, data=True):
        if u == v:
            dropped[(u, v, k)] = "a self-loop (netconvert drops edges that start and end at one junction)"
            continue
        eid = _sumo_id(f"{u}_{v}_{k}", "edge")
        if eid in expected:
            msg = f"two road segments would share the SUMO edge id {eid!r}; renumber the graph's nodes"
            raise InvalidInputError(msg)
        length = max(float(d["length"]), _MIN_LENGTH_M)
        lanes = segment_lanes(d)
        attrs = {"id": eid, "from": str(u), "to": str(v), "numLanes": str(lanes),
                 "speed": f"{_speed_ms(d):.4f}", "length": f"{length:.3f}",
                 "priority": str(_priority(d.get("highway")))}
        if d.get("geometry") is not None:
            coords = edge_line(graph, u, v, k).coords
            attrs["shape"] = " ".join("{:.3f},{:.3f}".format(*tr.transform(x, y)) for x, y in coords)
        name = d.get("name")
        if isinstance(name, str) and name:
            attrs["name"] = name
        ET.SubElement(edges_xml, "edge", attrs)
        edge_ids[(u, v, k)] = eid
        expected[eid] = (length, lanes)
    _write_xml(nodes_xml, work / "nodes.nod.xml")
    _write_xml(edges_xml, work / "edges.edg.xml")

    # every turn the graph allows (into any other edge but straight back where it came from)
    wanted: dict[str, set[str]] = {}
    for n in graph.nodes:
        outs = [(b, edge_ids[(n, b, k)]) for _, b, k in graph.out_edges(n, keys=True) if (n, b, k) in edge_ids]
        for a, _, k in graph.in_edges(n, keys=True):
            if (a, n, k) in edge_ids:
                wanted[edge_ids[(a, n, k)]] = {eid for b, eid in outs if b != a}
    net_file = work / "net.net.xml"
    args = ["--node-files", "nodes.nod.xml", "--edge-files", "edges.edg.xml",
            "--output-file", net_file.name, *_NETCONVERT_OPTIONS]
    _netconvert(home, args, work, net_file)
    successors = _read_net(net_file, expected)
    missing = {eid: want - successors[eid] for eid, want in wanted.items() if want - successors[eid]}
    added = sum(len(m) for m in missing.values())
    if missing:
        # netconvert leaves out some hairpin turns that the graph (and so a plan) allows; give
        # each such edge its connections explicitly (all of them: an edge with any explicit
        # connection gets no computed ones) and build again
        cons = ET.Element("connections")
        for eid in sorted(missing):
            for to in sorted(successors[eid] | wanted[eid]):
                ET.SubElement(cons, "connection", {"from": eid, "to": to})
        _write_xml(cons, work / "connections.con.xml")
        _netconvert(home, [*args, "--connection-files", "connections.con.xml"], work, net_file)
        successors = _read_net(net_file, expected)
        still = sorted((eid, to) for eid, want in wanted.items() for to in want - successors[eid])
        if still:
            msg = (f"the SUMO network in {net_file} lacks {len(still)} turns the road graph allows even with "
                   f"explicit connections (e.g. {still[:3]})")
            raise SimulationError(msg)
    wall = time.perf_counter() - t0
    log.info("SUMO network: %d edges, %d junctions (%d traffic lights), %d self-loops dropped, "
             "%d turns added, %.2f s", len(expected), graph.number_of_nodes(), traffic_lights,
             len(dropped), added, wall)
    return SumoNetwork(net_file, edge_ids, dropped, {eid: v[1] for eid, v in expected.items()},
                       int(traffic_lights), added, wall, home, successors)


def _netconvert(home: Path, args: list[str], work: Path, net_file: Path) -> None:
    """netconvert in ``work``, or its output for the same input files, options and binary from the cache
    (:mod:`optimizer.inputs.cache`); the network is checked against the graph either way."""
    from optimizer.inputs.cache import cached_bytes

    exe = _binary(home, "netconvert")
    inputs = [a for a in args if a.endswith((".nod.xml", ".edg.xml", ".con.xml"))]
    key = {"args": args, "exe": str(exe), "exe_mtime": os.stat(exe).st_mtime_ns,
           "inputs": [hashlib.sha256((work / f).read_bytes()).hexdigest() for f in inputs]}

    def build() -> bytes:
        _run(home, "netconvert", args, work)
        return net_file.read_bytes()

    data = cached_bytes("sumo-net", key, build)
    if not net_file.is_file() or net_file.read_bytes() != data:
        net_file.write_bytes(data)


def _write_xml(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def _read_net(net_file: Path, expected: Mapping[str, tuple[float, int]]) -> dict[str, frozenset[str]]:
    """Check with sumolib that the net has exactly the expected edges, lengths and lanes; its successors."""
    import sumolib

    net = sumolib.net.readNet(str(net_file), withPrograms=False, withConnections=True)
    got = {e.getID(): e for e in net.getEdges(withInternal=False)}
    problems = []
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing:
        problems.append(f"{len(missing)} graph edges missing from SUMO (e.g. {missing[:3]})")
    if extra:
        problems.append(f"{len(extra)} SUMO edges not in the graph (e.g. {extra[:3]})")
    for eid in sorted(set(expected) & set(got)):
        length, lanes = expected[eid]
        e = got[eid]
        if abs(e.getLength() - length) > 1e-2:
            problems.append(f"edge {eid}: SUMO length {e.getLength()} m, graph {length} m")
        if e.getLaneNumber() != lanes:
            problems.append(f"edge {eid}: SUMO has {e.getLaneNumber()} lanes, graph {lanes}")
    if problems:
        msg = (f"the SUMO network in {net_file} does not map one to one onto the road graph: "
               + "; ".join(problems[:5]))
        raise SimulationError(msg)
    return {eid: frozenset(o.getID() for o in e.getOutgoing()) for eid, e in got.items()}


# ----------------------------------------------------------------- simulation
@dataclass(frozen=True)
class SimulationResult:
    """What SUMO made of a plan.

    Counts are vehicles; ``vehicles`` is the planned count and equals
    ``arrived + unfinished + undeparted``.  Times are over arrived vehicles
    (tripinfo ``duration``, from its actual insertion to arrival; the wait to be
    inserted is ``mean_depart_delay_s``).  ``travel_time_s`` and
    ``time_loss_s`` hold one value per trip, the mean over its arrived vehicles
    (NaN when none arrived).  ``mean_depart_delay_s`` is over departed vehicles.
    ``wall_s`` is the call's wall time (building the network included when the
    call built it); ``netconvert_s`` is the network's build time.
    """

    vehicles: int
    departed: int
    arrived: int
    unfinished: int
    undeparted: int
    teleports: int
    teleports_jam: int
    teleports_yield: int
    teleports_wrong_lane: int
    collisions: int
    total_travel_time_veh_h: float
    total_time_loss_veh_h: float
    mean_travel_time_s: float
    mean_time_loss_s: float
    mean_depart_delay_s: float
    route_mismatches: int
    travel_time_s: np.ndarray
    time_loss_s: np.ndarray
    begin_s: float
    end_s: float
    time_to_teleport_s: float
    headway_s: float
    seed: int
    sumo_version: str
    netconvert_s: float
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe ``simulation`` block of ``summary.json`` (NaN as None, arrays as lists)."""
        out: dict[str, Any] = {"simulator": "Eclipse SUMO"}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = [None if not math.isfinite(x) else round(float(x), 3) for x in value]
                name = f"trip_{name}"
            elif isinstance(value, float):
                value = None if not math.isfinite(value) else round(value, 6)
            out[name] = value
        return out


def _check_inputs(graph: nx.MultiDiGraph, routes: Sequence[Sequence[Any]], departs_s: Sequence[float],
                  vehicles: Sequence[int] | None, seed: int, time_to_teleport_s: float,
                  end_s: float | None) -> list[int]:
    n = len(routes)
    if n == 0:
        msg = "nothing to simulate: the plan has no routes"
        raise InvalidInputError(msg)
    for i, nodes in enumerate(routes):
        if len(nodes) < 2:
            msg = f"route {i} needs at least two nodes to drive, got {list(nodes)}"
            raise InvalidInputError(msg)
        for u, v in zip(nodes[:-1], nodes[1:]):
            if not graph.has_edge(u, v):
                msg = f"route {i}: no road segment from node {u} to node {v} in the road graph"
                raise InvalidInputError(msg)
    if len(departs_s) != n:
        msg = f"departs_s has {len(departs_s)} times for {n} routes; give one departure per route"
        raise InvalidInputError(msg)
    bad = [t for t in departs_s if not (isinstance(t, (int, float, np.number)) and math.isfinite(t) and t >= 0)]
    if bad:
        msg = f"departure times must be finite seconds since midnight >= 0, got {bad[0]!r}"
        raise InvalidInputError(msg)
    counts = [1] * n if vehicles is None else list(vehicles)
    if len(counts) != n:
        msg = f"vehicles has {len(counts)} counts for {n} routes; give one count per route"
        raise InvalidInputError(msg)
    for c in counts:
        whole = isinstance(c, (int, np.integer)) or (isinstance(c, (float, np.floating)) and float(c).is_integer())
        if isinstance(c, bool) or not whole or c < 1:
            msg = f"vehicles per trip must be whole numbers >= 1, got {c!r}"
            raise InvalidInputError(msg)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**31 - 1:
        msg = f"--seed must be a whole number in 0..2147483647 for SUMO, got {seed!r}"
        raise InvalidInputError(msg)
    if not (math.isfinite(time_to_teleport_s) and time_to_teleport_s > 0):
        msg = f"time_to_teleport_s must be a positive number of seconds, got {time_to_teleport_s!r}"
        raise InvalidInputError(msg)
    last = max(float(t) + (int(c) - 1) * HEADWAY_S for t, c in zip(departs_s, counts))
    if end_s is not None and not (math.isfinite(end_s) and end_s > last):
        msg = f"end_s ({end_s!r}) must come after the last vehicle's departure ({last} s)"
        raise InvalidInputError(msg)
    return [int(c) for c in counts]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def simulate_routes(graph: nx.MultiDiGraph, routes: Sequence[Sequence[Any]], departs_s: Sequence[float], *,
                    vehicles: Sequence[int] | None = None, seed: int = 1, workdir: str | os.PathLike[str],
                    time_to_teleport_s: float = 300.0, end_s: float | None = None,
                    network: SumoNetwork | None = None, begin_s: float | None = None,
                    additional_files: Sequence[str | os.PathLike[str]] = ()) -> SimulationResult:
    """Replay node routes in SUMO: trip ``i`` is ``vehicles[i]`` vehicles (default 1) leaving at ``departs_s[i]``.

    Builds the network in ``workdir`` unless ``network`` (from :func:`sumo_network`
    on the same graph) is given; writes ``routes.rou.xml``, ``tripinfo.xml``,
    ``vehroutes.xml``, ``stats.xml`` and ``sumo.log`` there.  Deterministic for a
    given ``seed``.  The simulation begins at ``begin_s`` (default: the first
    departure, whole seconds), which must not come after the first departure;
    detectors aggregate from it, so a detector's periods are aligned to it.
    ``additional_files`` (SUMO additional files: detectors, edge data) are loaded
    with ``--additional-files``; the outputs they name land in ``workdir``.
    """
    counts = _check_inputs(graph, routes, departs_s, vehicles, seed, time_to_teleport_s, end_s)
    first = min(float(t) for t in departs_s)
    if begin_s is not None and not (math.isfinite(begin_s) and 0 <= begin_s <= first):
        msg = f"begin_s ({begin_s!r}) must be seconds since midnight >= 0, at or before the first departure ({first} s)"
        raise InvalidInputError(msg)
    t0 = time.perf_counter()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    net = network if network is not None else sumo_network(graph, work)
    planned = [net.route_edges(graph, nodes) for nodes in routes]

    fleet = sorted(((float(departs_s[i]) + j * HEADWAY_S, i, j) for i, c in enumerate(counts) for j in range(c)))
    begin = math.floor(fleet[0][0]) if begin_s is None else float(begin_s)
    if end_s is None:
        longest = max(sum(float(graph.edges[fastest_edge(graph, u, v)]["travel_time"])
                          for u, v in zip(nodes[:-1], nodes[1:])) for nodes in routes)
        end_s = math.ceil(fleet[-1][0] + 3600.0 + 3.0 * longest)
    rou = ET.Element("routes")
    for depart, i, j in fleet:
        veh = ET.SubElement(rou, "vehicle", id=f"{i}.{j}", depart=f"{depart:.2f}", departLane="best",
                            departSpeed="max")
        ET.SubElement(veh, "route", edges=" ".join(planned[i]))
    _write_xml(rou, work / "routes.rou.xml")

    args = ["--net-file", net.net_file.resolve().as_posix(), "--route-files", "routes.rou.xml",
            "--begin", str(begin), "--end", f"{end_s:.2f}", "--seed", str(int(seed)),
            "--time-to-teleport", f"{time_to_teleport_s:g}", "--no-step-log", "true",
            "--xml-validation", "never", "--error-log", "sumo.log",
            "--tripinfo-output", "tripinfo.xml", "--tripinfo-output.write-unfinished", "true",
            "--tripinfo-output.write-undeparted", "true",
            "--vehroute-output", "vehroutes.xml", "--vehroute-output.exit-times", "true",
            "--vehroute-output.write-unfinished", "true", "--statistic-output", "stats.xml"]
    if additional_files:
        args += ["--additional-files", ",".join(Path(f).resolve().as_posix() for f in additional_files)]
    _run(net.sumo_home, "sumo", args, work)

    trips = ET.parse(work / "tripinfo.xml").getroot()
    driven = read_vehroutes(work / "vehroutes.xml")
    stats = ET.parse(work / "stats.xml").getroot()

    n_trips = len(routes)
    per_tt: list[list[float]] = [[] for _ in range(n_trips)]
    per_loss: list[list[float]] = [[] for _ in range(n_trips)]
    durations, losses, delays = [], [], []
    departed = arrived = 0
    seen = set()
    for ti in trips.iter("tripinfo"):
        vid = ti.get("id")
        seen.add(vid)
        if float(ti.get("depart", "-1")) < 0:
            continue  # never inserted (write-undeparted)
        departed += 1
        delays.append(float(ti.get("departDelay", "nan")))
        if float(ti.get("arrival", "-1")) < 0:
            continue  # still driving at the end (write-unfinished)
        arrived += 1
        i = int(vid.split(".")[0])
        dur, loss = float(ti.get("duration")), float(ti.get("timeLoss"))
        durations.append(dur)
        losses.append(loss)
        per_tt[i].append(dur)
        per_loss[i].append(loss)
    total = len(fleet)
    if seen != {f"{i}.{j}" for _, i, j in fleet}:
        msg = f"SUMO's tripinfo names {len(seen)} vehicles, the plan {total}; see {work / 'sumo.log'}"
        raise SimulationError(msg)
    arrived_ids = {ti.get("id") for ti in trips.iter("tripinfo") if float(ti.get("arrival", "-1")) >= 0}
    mismatches = 0
    for _depart, i, j in fleet:
        vid = f"{i}.{j}"
        if vid not in driven:
            continue
        edges, exits = driven[vid]
        if edges != planned[i] or (vid in arrived_ids and len(exits) != len(edges)):
            mismatches += 1
    departed_ids = {ti.get("id") for ti in trips.iter("tripinfo") if float(ti.get("depart", "-1")) >= 0}
    mismatches += len(departed_ids - set(driven))  # drove but left no route record

    tel = stats.find("teleports")
    safety = stats.find("safety")
    wall = time.perf_counter() - t0
    return SimulationResult(
        vehicles=total, departed=departed, arrived=arrived, unfinished=departed - arrived,
        undeparted=total - departed,
        teleports=int(tel.get("total", 0)) if tel is not None else 0,
        teleports_jam=int(tel.get("jam", 0)) if tel is not None else 0,
        teleports_yield=int(tel.get("yield", 0)) if tel is not None else 0,
        teleports_wrong_lane=int(tel.get("wrongLane", 0)) if tel is not None else 0,
        collisions=int(safety.get("collisions", 0)) if safety is not None else 0,
        total_travel_time_veh_h=float(sum(durations)) / 3600.0,
        total_time_loss_veh_h=float(sum(losses)) / 3600.0,
        mean_travel_time_s=_mean(durations), mean_time_loss_s=_mean(losses),
        mean_depart_delay_s=_mean(delays), route_mismatches=mismatches,
        travel_time_s=np.array([_mean(x) for x in per_tt]), time_loss_s=np.array([_mean(x) for x in per_loss]),
        begin_s=float(begin), end_s=float(end_s), time_to_teleport_s=float(time_to_teleport_s),
        headway_s=HEADWAY_S, seed=int(seed), sumo_version=_sumo_version(str(net.sumo_home)),
        netconvert_s=net.netconvert_s, wall_s=wall,
    )


def read_vehroutes(path: str | os.PathLike[str]) -> dict[str, tuple[list[str], list[float]]]:
    """Vehicle id -> (edges driven, exit time per edge passed) from SUMO's ``--vehroute-output``.

    A vehicle SUMO rerouted keeps its replaced routes in a ``routeDistribution``;
    the last route there is the one it drove.
    """
    out: dict[str, tuple[list[str], list[float]]] = {}
    for veh in ET.parse(path).getroot().iter("vehicle"):
        routes = veh.findall("route") or veh.findall("routeDistribution/route")
        if not routes:
            continue
        route = routes[-1]
        exits = route.get("exitTimes", "").split()
        out[veh.get("id")] = (route.get("edges", "").split(), [float(x) for x in exits])
    return out


def work_folder(workdir: str | os.PathLike[str] | None):
    """A context giving a work folder: ``workdir`` itself, or a temporary one removed afterwards."""
    from contextlib import nullcontext

    if workdir is None:
        return tempfile.TemporaryDirectory(prefix="cityopt-sumo-")
    return nullcontext(str(workdir))
