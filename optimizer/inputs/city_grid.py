"""A city's own distribution grid, built from its OpenStreetMap data as a pandapower net.

:func:`build_city_net` turns a :class:`~optimizer.inputs.city.City` (its road graph
and building footprints) into a two-level radial distribution grid; the grid
loader reads it as ``--grid city:helsinki`` (the bundled city) or
``--grid city:PATH`` (any OSM file :meth:`City.load` reads), see
:meth:`optimizer.inputs.grid.Grid.load`.

The design (every number a module constant below)
-------------------------------------------------

1. **Building loads.**  Each building footprint (``building=*`` polygons; points
   have no footprint and are left out) gets a floor area: footprint area (in the
   local UTM projection) times its storeys (``building:levels``, else
   ``height`` / 3 m, else :data:`DEFAULT_LEVELS` by type, 1..50).  Its peak demand is
   floor area times :data:`PEAK_W_PER_M2` for its ``building=`` type, times the
   coincidence factor :data:`COINCIDENCE` (many buildings do not peak together),
   at power factor :data:`POWER_FACTOR`.  The W/m2 figures are typical planning
   values of electrical peak demand per floor area with district heating (Helsinki
   heats with district heat, so no electric space heating): dwellings 10-15 W/m2
   (an after-diversity maximum demand of 1-1.5 kW for an 80-100 m2 flat, cf. the
   Velander method of Finnish distribution planning, Energiateollisuus' *Sähkön
   käytön mitoitus* guidance); offices 25-35, retail 40-60, schools 15-20
   (CIBSE Guide F 2012, ch. 20 benchmark installed loads; ASHRAE Handbook,
   Fundamentals, ch. 18).  The coincidence factor 0.7 is the usual value for tens
   of mixed consumers (DIN 18015-1 curves; Kiank & Fruth, *Planning Guide for
   Power Distribution Plants*, Siemens 2011, ch. 3).  Buildings with no
   electrical load (``roof``, ``ruins``, ``construction``...) are left out.
   The **minimum** load case is :data:`MIN_LOAD_FACTOR` of peak (the night
   minimum of the BDEW H0/G0 standard load profiles is about 25-35% of their
   peak).

2. **Connection points.**  Each building connects to the road node nearest its
   centroid (a service cable the model does not draw); the road graph is
   :attr:`City.graph` made undirected, each street weighted by its length.

3. **MV/LV substations** (20/0.4 kV, :data:`LV_TRAFO`, 630 kVA loaded to at most
   :data:`TRAFO_LOADING` at peak).  The load nodes are clustered with
   scikit-learn's k-means, weighted by their peak load, into
   ``ceil(peak MVA / (0.63 MVA * 0.8))`` groups, and any group still above one
   transformer's share is split again by 2-means, until each group fits or is a
   single road node (a big building block then gets several transformers in
   parallel in one substation, as large buildings do).  Each substation stands at
   the load node nearest its group's weighted centroid.  Where OSM tags
   ``power=substation`` (nodes, ways or relations, read offline from the same file: pyrosm's
   ``get_data_by_custom_criteria`` for ``.osm.pbf``, osmnx's ``features_from_xml``
   for ``.osm``), a tagged substation within :data:`OSM_SUBSTATION_SNAP_M` of a
   group's site takes that group's place (the nearest group; one group each).

4. **Feeders along the streets.**  The HV/MV feed (the **ext_grid**, a 20 kV
   busbar held at :data:`FEED_VM_PU` by the primary substation's on-load tap
   changer, not modelled) stands at the load node nearest the load-weighted
   centre.  (The MV level is one radial tree from one feed, with no open rings;
   an extract big enough to need several primary substations is out of scope.)  The MV network is the shortest-path tree (Dijkstra by length) from
   the feed to every substation, one 20 kV bus per road node used, cables
   :data:`MV_LINE`.  Each substation's LV network is the shortest-path tree from
   its node to its group's load nodes, one 0.4 kV bus per road node used, cables
   :data:`LV_LINE`.  Every building's load sits on the LV bus of its road node.
   A union of one Dijkstra's paths is a tree, so the net is **radial** (branches
   = buses - 1) and **connected** (one ext_grid feeds everything).

5. **Cable sizing.**  A street section carries the peak of everything beyond it;
   its cable count (pandapower's ``parallel``: several feeders in one trench) is
   the least that keeps the current within :data:`CABLE_LOADING` of the cable's
   rating.  Then the builder runs an AC power flow at peak: while an LV bus is
   below :data:`VM_MIN_TARGET` p.u., it adds one cable to every LV section on the
   way from its substation to that bus, and one transformer to a substation whose
   own LV busbar is that low (at most :data:`MAX_REINFORCE_ROUNDS`
   rounds; a grid that still fails is refused with a :class:`GridError`).  The
   net's own limits are the usual 0.9..1.1 p.u. (``min_vm_pu``/``max_vm_pu`` on
   each bus) and 100% line loading.

No generators: the feed's import (``ext_grid``, ``max_p_mw`` the installed MV/LV
transformer capacity times the power factor, export down to minus that) supplies the city, at the default day-ahead tariff of
:mod:`optimizer.inputs.grid`; devices (EVs, batteries) are added by dispatch.

Examples
--------
>>> from optimizer.inputs.grid import Grid
>>> net = Grid.load("city:helsinki").net    # built once per process, a copy each time
>>> len(net.ext_grid), len(net.gen), len(net.trafo) > 50, len(net.load) > 400
(1, 0, True, True)
>>> len(net.line) + len(net.trafo) == len(net.bus) - 1     # radial
True
"""

from __future__ import annotations

import logging
import math
import re
import time
import warnings
from typing import TYPE_CHECKING, Any

from optimizer.errors import GridError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from optimizer.inputs.city import City

__all__ = [
    "CABLE_LOADING",
    "COINCIDENCE",
    "DEFAULT_LEVELS",
    "FEED_VM_PU",
    "LV_LINE",
    "LV_TRAFO",
    "MIN_LOAD_FACTOR",
    "MV_LINE",
    "PEAK_W_PER_M2",
    "building_loads",
    "build_city_net",
    "set_load_case",
]

log = logging.getLogger(__name__)

#: Peak electrical demand per m2 of floor area (W/m2), by OSM ``building=`` value; ``"*"`` is
#: the fallback (``yes`` and any unknown type: mixed city-centre use).  Sources: module docstring.
PEAK_W_PER_M2: dict[str, float] = {
    "apartments": 12.0, "residential": 12.0, "house": 15.0, "detached": 15.0, "semidetached_house": 15.0,
    "terrace": 15.0, "dormitory": 12.0, "hotel": 25.0,
    "office": 30.0, "commercial": 35.0, "retail": 50.0, "supermarket": 60.0, "kiosk": 50.0,
    "industrial": 30.0, "warehouse": 8.0, "service": 20.0, "utility": 20.0,
    "school": 15.0, "university": 25.0, "kindergarten": 15.0, "college": 20.0, "hospital": 40.0,
    "public": 25.0, "civic": 25.0, "government": 30.0, "museum": 20.0, "train_station": 30.0,
    "church": 8.0, "chapel": 8.0, "cathedral": 8.0, "religious": 8.0,
    "garage": 5.0, "garages": 5.0, "parking": 5.0, "shed": 5.0, "glasshouse": 20.0, "pavilion": 10.0,
    "*": 20.0,
    # no electrical load of their own
    "roof": 0.0, "ruins": 0.0, "construction": 0.0, "entrance": 0.0, "underpass_entrance": 0.0,
    "bridge": 0.0, "collapsed": 0.0, "tower": 0.0, "atrium": 0.0, "ship": 0.0, "no": 0.0,
}
#: Storeys of a building with neither ``building:levels`` nor ``height``, by type; ``"*"`` the fallback.
DEFAULT_LEVELS: dict[str, float] = {"house": 2.0, "detached": 2.0, "shed": 1.0, "garage": 1.0, "garages": 1.0,
                                    "kiosk": 1.0, "church": 2.0, "chapel": 1.0, "glasshouse": 1.0,
                                    "pavilion": 1.0, "*": 4.0}
#: Coincidence (diversity) factor applied to every building's own peak.
COINCIDENCE = 0.7
#: Power factor of the loads (inductive).
POWER_FACTOR = 0.95
#: Minimum load as a share of peak (the night minimum).
MIN_LOAD_FACTOR = 0.3
#: The MV/LV transformer type (pandapower standard type) and its largest loading at peak.
LV_TRAFO = "0.63 MVA 20/0.4 kV"
TRAFO_LOADING = 0.8
#: Cables (pandapower standard types): 20 kV and 0.4 kV, and their largest loading at peak.
MV_LINE = "NA2XS2Y 1x185 RM/25 12/20 kV"
LV_LINE = "NAYY 4x150 SE"
CABLE_LOADING = 0.8
#: The MV busbar voltage the primary substation holds (p.u.).
FEED_VM_PU = 1.02
#: Lowest LV voltage the builder accepts at peak before it reinforces cables (p.u.).
VM_MIN_TARGET = 0.93
#: Most reinforcement rounds before the builder gives up.
MAX_REINFORCE_ROUNDS = 12
#: How far (m) a tagged ``power=substation`` may stand from a computed site to replace it.
OSM_SUBSTATION_SNAP_M = 500.0
#: Shortest cable section modelled (km); zero-length street pieces become this.
MIN_LINE_KM = 0.001


def _type_of(value: Any) -> str:
    return str(value).strip().lower() if isinstance(value, str) and value.strip() else "yes"


def _number(value: Any) -> float | None:
    """The first number in an OSM tag value (``"5"``, ``"12 m"``, ``"4;5"``), else None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) and value > 0 else None
    m = re.search(r"\d+(?:[.,]\d+)?", str(value))
    if not m:
        return None
    f = float(m.group(0).replace(",", "."))
    return f if f > 0 else None


def peak_kw(area_m2: float, levels: float, building: str) -> float:
    """Peak demand (kW, after coincidence) of a building of ``area_m2`` footprint and ``levels`` storeys.

    >>> round(peak_kw(500.0, 5, "apartments"), 1)   # 2500 m2 floor * 12 W/m2 * 0.7
    21.0
    >>> peak_kw(100.0, 1, "roof")
    0.0
    """
    w = PEAK_W_PER_M2.get(building, PEAK_W_PER_M2["*"])
    return area_m2 * levels * w * COINCIDENCE / 1000.0


def building_loads(buildings: Any) -> Any:
    """One row per building with a load: ``osm_id``, ``building``, ``area_m2``, ``levels``, ``p_kw``, ``x``, ``y``.

    ``x``/``y`` are the centroid in the local UTM projection (metres); the frame's
    ``attrs["crs"]`` names it.  Buildings without a polygon or a load are left out.
    """
    import pandas as pd

    if buildings is None or len(buildings) == 0:
        return pd.DataFrame(columns=["osm_id", "building", "area_m2", "levels", "p_kw", "x", "y"])
    polys = buildings[buildings.geometry.notna() & buildings.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    crs = polys.estimate_utm_crs() if len(polys) else "EPSG:3857"
    proj = polys.to_crs(crs)
    cols = proj.columns
    rows = []
    for i, (idx, geom) in enumerate(zip(proj.index, proj.geometry)):
        typ = _type_of(proj["building"].iat[i] if "building" in cols else None)
        levels = _number(proj["building:levels"].iat[i]) if "building:levels" in cols else None
        if levels is None and "height" in cols:
            h = _number(proj["height"].iat[i])
            levels = h / 3.0 if h is not None else None
        levels = min(50.0, max(1.0, levels if levels is not None else DEFAULT_LEVELS.get(typ, DEFAULT_LEVELS["*"])))
        area = float(geom.area)
        p = peak_kw(area, levels, typ)
        if not (p > 0 and math.isfinite(p)):
            continue
        c = geom.centroid
        osm_id = proj["id"].iat[i] if "id" in cols else (idx[-1] if isinstance(idx, tuple) else idx)
        rows.append((str(osm_id), typ, area, levels, p, float(c.x), float(c.y)))
    out = pd.DataFrame(rows, columns=["osm_id", "building", "area_m2", "levels", "p_kw", "x", "y"])
    out.attrs["crs"] = crs
    return out


def _osm_substations(city: City) -> list[tuple[float, float]]:
    """``(lon, lat)`` of the ``power=substation`` features in the city's own file (offline), if any."""
    kind, location = city.source.kind, city.source.location
    found = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "pbf":
                import pyrosm

                found = pyrosm.OSM(location).get_data_by_custom_criteria(
                    custom_filter={"power": ["substation"]}, filter_type="keep",
                    keep_nodes=True, keep_ways=True, keep_relations=True)
            elif kind == "xml":
                import osmnx as ox

                found = ox.features_from_xml(location, tags={"power": "substation"})
        except Exception as exc:  # none tagged (osmnx raises), or pyrosm finds nothing to keep
            log.debug("no power=substation read from %s: %s", location, exc)
            found = None
    if found is None or len(found) == 0:
        return []
    pts = found.geometry[found.geometry.notna()].representative_point()
    return [(float(p.x), float(p.y)) for p in pts]


def _road_graph(city: City, to_xy: Any) -> tuple[nx.Graph, dict[Any, tuple[float, float]]]:
    """The road graph undirected and simple (shortest parallel street kept), and node positions in metres."""
    import networkx as nx

    g = nx.Graph()
    pos: dict[Any, tuple[float, float]] = {}
    for n, d in city.graph.nodes(data=True):
        x, y = to_xy(float(d["x"]), float(d["y"]))
        pos[n] = (float(x), float(y))
        g.add_node(n)
    for u, v, d in city.graph.edges(data=True):
        if u == v:
            continue
        w = float(d.get("length", 0.0) or 0.0)
        if not math.isfinite(w) or w < 0:
            w = math.dist(pos[u], pos[v])
        if not g.has_edge(u, v) or g[u][v]["length"] > w:
            g.add_edge(u, v, length=w)
    return g, pos


def _clusters(nodes: list[Any], xy: Any, weight: Any, k0: int, cap_kw: float, seed: int) -> list[list[int]]:
    """Groups (indices into ``nodes``) by weighted k-means, each split by 2-means until its load fits ``cap_kw``."""
    import numpy as np
    from sklearn.cluster import KMeans

    n = len(nodes)
    k0 = max(1, min(k0, n))
    if k0 == 1:
        labels = np.zeros(n, dtype=int)
    else:
        labels = KMeans(n_clusters=k0, n_init=4, random_state=seed).fit_predict(xy, sample_weight=weight)
    todo = [list(np.flatnonzero(labels == c)) for c in range(k0)]
    done: list[list[int]] = []
    while todo:
        grp = todo.pop()
        if not grp:
            continue
        if weight[grp].sum() <= cap_kw or len(grp) == 1 or len({tuple(p) for p in xy[grp]}) == 1:
            done.append(grp)
            continue
        sub = KMeans(n_clusters=2, n_init=2, random_state=seed).fit_predict(xy[grp], sample_weight=weight[grp])
        a = [grp[i] for i in range(len(grp)) if sub[i] == 0]
        b = [grp[i] for i in range(len(grp)) if sub[i] == 1]
        if not a or not b:  # k-means could not separate them: halve by load order along x
            order = sorted(grp, key=lambda i: (xy[i][0], xy[i][1]))
            a, b = order[: len(order) // 2], order[len(order) // 2:]
        todo.extend([a, b])
    return done


def _tree(g: nx.Graph, source: Any, targets: set[Any]) -> dict[Any, Any]:
    """Parent of each node on the shortest-path tree from ``source`` to ``targets`` (source -> None).

    Dijkstra by ``length`` that stops once every target is settled (networkx's
    own searches run to the whole graph or to one target), so a substation's
    tree costs its neighbourhood, not the city.

    >>> import networkx as nx
    >>> g = nx.Graph()
    >>> g.add_weighted_edges_from([(0, 1, 1.0), (1, 2, 1.0), (0, 2, 5.0), (2, 3, 1.0)], weight="length")
    >>> sorted(_tree(g, 0, {2}).items(), key=str)     # 0 -> 1 -> 2, not the 5 m street 0 - 2; 3 unused
    [(0, None), (1, 0), (2, 1)]
    """
    import heapq
    import itertools

    best: dict[Any, float] = {source: 0.0}
    pred: dict[Any, Any] = {source: None}
    done: set[Any] = set()
    left = set(targets) - {source}
    tie = itertools.count()
    heap = [(0.0, next(tie), source)]
    while heap and left:
        d, _, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        left.discard(u)
        for v, e in g[u].items():
            nd = d + e["length"]
            if v not in done and nd < best.get(v, math.inf):
                best[v], pred[v] = nd, u
                heapq.heappush(heap, (nd, next(tie), v))
    if left:
        msg = f"road nodes {sorted(map(str, left))[:3]} cannot be reached from {source!r}"
        raise GridError(msg)
    parent: dict[Any, Any] = {source: None}
    for t in targets:
        n = t
        while n != source and n not in parent:
            parent[n] = pred[n]
            n = pred[n]
    return parent


def _cables(s_mva: float, vn_kv: float, max_i_ka: float) -> int:
    """Least number of parallel cables keeping ``s_mva`` within :data:`CABLE_LOADING` of their rating."""
    i_ka = s_mva / (math.sqrt(3) * vn_kv)
    return max(1, math.ceil(i_ka / (CABLE_LOADING * max_i_ka) - 1e-9))


def set_load_case(net: Any, case: str) -> None:
    """Set every load to its ``"peak"`` or ``"min"`` value (kept in the columns ``p_peak_mw``/``q_peak_mvar``)."""
    if case not in ("peak", "min"):
        msg = f"load case must be 'peak' or 'min', got {case!r}"
        raise ValueError(msg)
    f = 1.0 if case == "peak" else MIN_LOAD_FACTOR
    net.load["p_mw"] = net.load["p_peak_mw"] * f
    net.load["q_mvar"] = net.load["q_peak_mvar"] * f


def build_city_net(city: City, *, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """The city's radial MV/LV distribution grid (see the module docstring) and a summary of it.

    Loads are at their peak (``set_load_case(net, "min")`` for the minimum).

    Raises
    ------
    GridError
        The city has no building footprints with a load, or a grid within voltage
        limits could not be built.
    """
    import numpy as np
    import pandapower as pp
    from pyproj import Transformer

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loads = building_loads(city.buildings)
    if len(loads) == 0:
        msg = (f"city {city.name!r} has no building footprints (OSM building=* polygons) with a load, so no "
               f"distribution grid can be built from it; use an OSM extract that maps buildings")
        raise GridError(msg)
    to_xy = Transformer.from_crs("EPSG:4326", loads.attrs["crs"], always_xy=True).transform
    to_ll = Transformer.from_crs(loads.attrs["crs"], "EPSG:4326", always_xy=True).transform
    g, pos = _road_graph(city, to_xy)
    if g.number_of_edges() == 0:
        msg = f"city {city.name!r} has no streets to lay cables along; use an OSM extract with roads"
        raise GridError(msg)
    from scipy.spatial import cKDTree

    road_nodes = list(g.nodes)
    kd = cKDTree(np.array([pos[n] for n in road_nodes]))
    _, near = kd.query(loads[["x", "y"]].to_numpy())
    loads["node"] = [road_nodes[i] for i in near]
    node_kw = loads.groupby("node", sort=True)["p_kw"].sum()
    lnodes = list(node_kw.index)
    lxy = np.array([pos[n] for n in lnodes])
    lw = node_kw.to_numpy(dtype=float)
    total_kw = float(lw.sum())
    s_trafo = pp.create_empty_network().std_types["trafo"][LV_TRAFO]["sn_mva"]
    cap_kw = s_trafo * TRAFO_LOADING * POWER_FACTOR * 1000.0
    groups = _clusters(lnodes, lxy, lw, math.ceil(total_kw / cap_kw), cap_kw, seed)

    # a substation per group, at the load node nearest its weighted centre
    sites = []
    for grp in groups:
        c = np.average(lxy[grp], axis=0, weights=lw[grp])
        sites.append(lnodes[grp[int(np.argmin(((lxy[grp] - c) ** 2).sum(axis=1)))]])
    osm_used = 0
    taken: set[int] = set()
    for lon, lat in _osm_substations(city):
        p = np.array(to_xy(lon, lat))
        _, ni = kd.query(p)
        dists = [math.dist(pos[s], p) if i not in taken else math.inf for i, s in enumerate(sites)]
        j = int(np.argmin(dists))
        if dists[j] <= OSM_SUBSTATION_SNAP_M:
            sites[j] = road_nodes[int(ni)]
            taken.add(j)
            osm_used += 1

    net = pp.create_empty_network(name=f"city:{city.name}", f_hz=50.0)
    mv_max_i = net.std_types["line"][MV_LINE]["max_i_ka"]
    lv_max_i = net.std_types["line"][LV_LINE]["max_i_ka"]
    tan_phi = math.tan(math.acos(POWER_FACTOR))

    def ll(n: Any) -> tuple[float, float]:
        x, y = pos[n]
        lon, lat = to_ll(x, y)
        return float(lon), float(lat)

    # the MV feed and tree
    centre = np.average(lxy, axis=0, weights=lw)
    feed = lnodes[int(np.argmin(((lxy - centre) ** 2).sum(axis=1)))]
    group_kw = [float(lw[grp].sum()) for grp in groups]
    site_kw: dict[Any, float] = {}
    for s, kw in zip(sites, group_kw):
        site_kw[s] = site_kw.get(s, 0.0) + kw
    mv_parent = _tree(g, feed, set(sites))
    mv_bus = {n: pp.create_bus(net, vn_kv=20.0, name=f"MV {n}", type="n", geodata=ll(n), zone="MV",
                               min_vm_pu=0.9, max_vm_pu=1.1) for n in mv_parent}
    downstream = _downstream(mv_parent, site_kw)
    for n, par in mv_parent.items():
        if par is None:
            continue
        s_mva = downstream[n] / 1000.0 / POWER_FACTOR
        pp.create_line(net, mv_bus[par], mv_bus[n], length_km=max(MIN_LINE_KM, g[par][n]["length"] / 1000.0),
                       std_type=MV_LINE, name=f"MV {par}-{n}", parallel=_cables(s_mva, 20.0, mv_max_i),
                       geodata=[ll(par), ll(n)], max_loading_percent=100.0)
    total_s = total_kw / 1000.0 / POWER_FACTOR
    pp.create_ext_grid(net, mv_bus[feed], vm_pu=FEED_VM_PU, name="HV/MV feed",
                       max_p_mw=0.0, min_p_mw=0.0)  # limits set below, once the transformers are known

    # substations and LV trees
    lv_paths: dict[int, list[int]] = {}  # LV bus -> LV lines from its substation
    lv_trafo: dict[int, int] = {}  # LV busbar -> its substation's transformer
    node_group = {}
    for gi, grp in enumerate(groups):
        for i in grp:
            node_group[lnodes[i]] = gi
    for gi, (grp, site) in enumerate(zip(groups, sites)):
        s_mva = group_kw[gi] / 1000.0 / POWER_FACTOR
        n_tr = max(1, math.ceil(s_mva / (s_trafo * TRAFO_LOADING) - 1e-9))
        members = {lnodes[i] for i in grp}
        parent = _tree(g, site, members)
        lv_bus = {n: pp.create_bus(net, vn_kv=0.4, name=f"LV {gi} {n}", type="n", geodata=ll(n), zone=f"LV {gi}",
                                   min_vm_pu=0.9, max_vm_pu=1.1) for n in parent}
        lv_trafo[lv_bus[site]] = pp.create_transformer(net, mv_bus[site], lv_bus[site], std_type=LV_TRAFO,
                                                       parallel=n_tr, name=f"substation {gi}",
                                                       max_loading_percent=100.0)
        kw_at = {lnodes[i]: float(lw[i]) for i in grp}
        down = _downstream(parent, kw_at)
        line_of: dict[Any, int] = {}
        for n in _topological(parent):
            par = parent[n]
            if par is None:
                lv_paths[lv_bus[n]] = []
                continue
            s = down[n] / 1000.0 / POWER_FACTOR
            li = pp.create_line(net, lv_bus[par], lv_bus[n], length_km=max(MIN_LINE_KM, g[par][n]["length"] / 1000.0),
                                std_type=LV_LINE, name=f"LV {gi} {par}-{n}", parallel=_cables(s, 0.4, lv_max_i),
                                geodata=[ll(par), ll(n)], max_loading_percent=100.0)
            line_of[n] = li
            lv_paths[lv_bus[n]] = [*lv_paths[lv_bus[par]], li]
        for row in loads[loads["node"].isin(members)].itertuples(index=False):
            p = row.p_kw / 1000.0
            pp.create_load(net, lv_bus[row.node], p_mw=p, q_mvar=p * tan_phi, name=f"building {row.osm_id}",
                           type=row.building)
    cap = float((net.trafo.sn_mva * net.trafo.parallel).sum()) * POWER_FACTOR
    net.ext_grid["max_p_mw"] = round(cap, 3)
    net.ext_grid["min_p_mw"] = -round(cap, 3)
    net.load["p_peak_mw"] = net.load["p_mw"]
    net.load["q_peak_mvar"] = net.load["q_mvar"]
    net.load["controllable"] = False

    rounds = _reinforce(net, lv_paths, lv_trafo)
    info = {
        "city": city.name, "buildings": len(net.load), "buses": len(net.bus), "lines": len(net.line),
        "trafos": len(net.trafo), "substations_osm": osm_used, "peak_mw": round(total_kw / 1000.0, 4),
        "peak_mva": round(total_s, 4), "reinforcement_rounds": rounds,
        "build_s": round(time.perf_counter() - start, 3),
    }
    log.info("city grid %s: %s", city.name, info)
    return net, info


def _downstream(parent: dict[Any, Any], kw_at: dict[Any, float]) -> dict[Any, float]:
    """Load (kW) at and beyond each node of the tree ``parent``."""
    down = {n: kw_at.get(n, 0.0) for n in parent}
    for n in reversed(_topological(parent)):
        par = parent[n]
        if par is not None:
            down[par] += down[n]
    return down


def _topological(parent: dict[Any, Any]) -> list[Any]:
    """Nodes of the tree ``parent`` with every parent before its children."""
    children: dict[Any, list[Any]] = {}
    root = None
    for n, p in parent.items():
        if p is None:
            root = n
        else:
            children.setdefault(p, []).append(n)
    order, stack = [], [root]
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(children.get(n, ()))
    return order


def _reinforce(net: Any, lv_paths: dict[int, list[int]], lv_trafo: dict[int, int]) -> int:
    """Add cables on the way to LV buses below :data:`VM_MIN_TARGET` at peak, and a transformer to a
    substation whose own LV busbar is below it; the rounds it took."""
    import pandapower as pp

    for rnd in range(MAX_REINFORCE_ROUNDS + 1):
        try:
            pp.runpp(net, max_iteration=50, numba=False)  # numba compiles for seconds; no need here
        except pp.powerflow.LoadflowNotConverged as exc:
            msg = (f"the distribution grid built for {net.name!r} has no power-flow solution at peak load; "
                   f"the city's load is too large for its street network")
            raise GridError(msg) from exc
        low = [b for b, vm in net.res_bus.vm_pu.items() if vm < VM_MIN_TARGET and b in lv_paths]
        if not low:
            return rnd
        lines = sorted({li for b in low for li in lv_paths[b]})
        trafos = sorted({lv_trafo[b] for b in low if b in lv_trafo})
        if rnd == MAX_REINFORCE_ROUNDS or not (lines or trafos):
            break
        net.line.loc[lines, "parallel"] += 1
        net.trafo.loc[trafos, "parallel"] += 1
    msg = (f"the distribution grid built for {net.name!r} keeps LV voltages below {VM_MIN_TARGET} p.u. at peak "
           f"after {MAX_REINFORCE_ROUNDS} rounds of reinforcement (lowest {net.res_bus.vm_pu.min():.3f} p.u.)")
    raise GridError(msg)
