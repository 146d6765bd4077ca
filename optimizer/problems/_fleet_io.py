"""Fleet input: stops sampled from a city or read from a CSV, distance matrices on the road graph,
and TSPLIB / CVRPLIB instance files.

Private helpers of :mod:`optimizer.problems.fleet`; the public names
(:class:`InstanceFileError`, :func:`distance_matrices`, :func:`read_instance`)
are imported from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.demand import _graph_of
from optimizer.errors import DemandError, InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from optimizer.city import City
    from optimizer.problems.fleet import Fleet

__all__ = ["InstanceFileError", "distance_matrices", "fleet_from_city", "fleet_from_csv", "read_instance"]



class InstanceFileError(InvalidInputError):
    """A TSPLIB / CVRPLIB instance file is missing, unreadable or of an unsupported kind."""


# ====================================================================== data
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


def read_instance(path: str | Path) -> dict[str, Any]:
    """Read a TSPLIB / CVRPLIB file with the ``vrplib`` package; Euclidean costs as the file defines them.

    ``EUC_2D`` distances are rounded to the nearest integer (TSPLIB's ``nint``,
    which CVRPLIB's published optima use), ``CEIL_2D`` rounded up, ``EXPLICIT``
    matrices taken as they are.  Returns ``name``, ``cost`` (matrix, depot
    first), ``coords`` (or None), ``demands``, ``capacity``, ``vehicles`` (from
    a ``VEHICLES`` field or a ``-k<V>`` name, else None) and ``comment``.
    """
    import re

    import vrplib

    file = Path(path)
    if not file.is_file():
        msg = f"instance: no file at {str(file)!r}; give a TSPLIB/CVRPLIB .vrp or .tsp file"
        raise InstanceFileError(msg)
    try:
        raw = vrplib.read_instance(str(file), compute_edge_weights=False)
    except Exception as exc:  # vrplib raises bare ValueError/IndexError/... on malformed files
        msg = f"instance: cannot read {str(file)!r} as TSPLIB/CVRPLIB ({type(exc).__name__}: {exc})"
        raise InstanceFileError(msg) from exc
    dim = raw.get("dimension")
    ewt = str(raw.get("edge_weight_type", "")).upper()
    coords = raw.get("node_coord")
    if not isinstance(dim, (int, np.integer)) or dim < 2:
        msg = f"instance {str(file)!r}: DIMENSION missing or below 2 (got {dim!r})"
        raise InstanceFileError(msg)
    if ewt in ("EUC_2D", "CEIL_2D", "ATT"):
        if coords is None or len(coords) != dim:
            msg = f"instance {str(file)!r}: EDGE_WEIGHT_TYPE {ewt} needs a NODE_COORD_SECTION of {dim} rows"
            raise InstanceFileError(msg)
        xy = np.asarray(coords, dtype=float)
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
        if ewt == "EUC_2D":
            cost = np.floor(d + 0.5)
        elif ewt == "CEIL_2D":
            cost = np.ceil(d)
        else:  # ATT pseudo-Euclidean
            r = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1) / 10.0)
            t = np.floor(r + 0.5)
            cost = np.where(t < r, t + 1, t)
    elif ewt == "EXPLICIT":
        ew = raw.get("edge_weight")
        if ew is None:
            msg = f"instance {str(file)!r}: EXPLICIT weights but no EDGE_WEIGHT_SECTION"
            raise InstanceFileError(msg)
        cost = np.asarray(ew, dtype=float)
    else:
        msg = (f"instance {str(file)!r}: EDGE_WEIGHT_TYPE {ewt or 'missing'!r} is not supported; "
               "use EUC_2D, CEIL_2D, ATT or EXPLICIT")
        raise InstanceFileError(msg)
    if cost.shape != (dim, dim):
        msg = f"instance {str(file)!r}: distance matrix has shape {cost.shape}, DIMENSION is {dim}"
        raise InstanceFileError(msg)
    depots = np.atleast_1d(np.asarray(raw.get("depot", [0]), dtype=int))
    depot = int(depots[0]) if depots.size else 0
    order = [depot] + [i for i in range(dim) if i != depot]
    cost = cost[np.ix_(order, order)]
    demand = raw.get("demand")
    demands = np.asarray(demand, dtype=float)[order][1:] if demand is not None else np.ones(dim - 1)
    capacity = raw.get("capacity")
    vehicles = raw.get("vehicles")
    name = str(raw.get("name", file.stem))
    if vehicles is None:
        m = re.search(r"-k(\d+)", name)
        vehicles = int(m.group(1)) if m else None
    return {"name": name, "cost": cost, "coords": None if coords is None else np.asarray(coords, float)[order],
            "demands": demands, "capacity": None if capacity is None else float(capacity),
            "vehicles": None if vehicles is None else int(vehicles), "comment": raw.get("comment"),
            "type": str(raw.get("type", ""))}


def _check_int(name: str, value: Any, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        msg = f"{name} must be an integer >= {low}, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)


# ============================================================== construction
def fleet_from_city(cls: type[Fleet], city: City | nx.MultiDiGraph, stops: int = 8, vehicles: int = 1,
                    capacity: int | Sequence[int] | None = None, *, poi: str | None = None, seed: int = 1,
                    depot: tuple[float, float] | None = None, demand: int = 1) -> Fleet:
    """The body of :meth:`Fleet.from_city <optimizer.problems.fleet.Fleet.from_city>`."""
    import osmnx as ox

    stops = _check_int("stops", stops, 1)
    _check_int("vehicles", vehicles, 1)
    graph = _graph_of(city)[0]
    cname = str(getattr(city, "name", None) or graph.graph.get("name") or "graph")
    rng = np.random.default_rng(seed)
    xs = np.array([graph.nodes[v]["x"] for v in graph.nodes])
    ys = np.array([graph.nodes[v]["y"] for v in graph.nodes])
    lon0, lat0 = depot if depot is not None else ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
    depot_node = ox.distance.nearest_nodes(graph, lon0, lat0)
    pois = getattr(city, "pois", None) if (poi is not None or hasattr(city, "pois")) else None
    if poi is not None:
        if pois is None or len(pois) == 0:
            msg = f"poi {poi!r}: the city has no points of interest; use poi=None to sample graph nodes"
            raise DemandError(msg)
        key, _, value = poi.partition("=")
        if key not in pois.columns:
            mask = np.zeros(len(pois), dtype=bool)
        else:
            col = pois[key]
            mask = (col.notna() & (col.astype(str) == value)).to_numpy() if value else col.notna().to_numpy()
        pois = pois[mask]
        if len(pois) == 0:
            msg = (f"poi {poi!r} matches no point of interest in {cname}; "
                   f"try another kind, e.g. amenity=restaurant or shop=clothes")
            raise DemandError(msg)
    if pois is not None and len(pois) > 0:
        pts = pois.geometry.representative_point()
        snapped = ox.distance.nearest_nodes(graph, pts.x.to_numpy(), pts.y.to_numpy())
        labels = pois["name"].astype(str).tolist() if "name" in pois.columns else [None] * len(pois)
        kinds = (poi or "poi")
        pool: dict[Any, str] = {}
        for node, label in zip(np.asarray(snapped).tolist(), labels):
            if node != depot_node and node not in pool:
                pool[node] = label if label not in (None, "None", "nan") else kinds
    else:
        pool = {v: "node" for v in graph.nodes if v != depot_node}
    if len(pool) < stops:
        msg = (f"stops={stops} but only {len(pool)} distinct road-graph nodes carry "
               f"{'POIs of kind ' + repr(poi) if poi else 'candidates'}; ask for fewer stops")
        raise DemandError(msg)
    cand = list(pool)
    pick = [cand[i] for i in sorted(rng.choice(len(cand), size=stops, replace=False).tolist())]
    nodes = [depot_node, *pick]
    names = ["depot"] + [f"stop {i}: {pool[v]}" for i, v in enumerate(pick, start=1)]
    T, L, paths = distance_matrices(graph, nodes, labels=names)
    coords = np.array([[graph.nodes[v]["x"], graph.nodes[v]["y"]] for v in nodes])
    slug = "".join(c if c.isalnum() else "-" for c in cname.lower()).strip("-") or "graph"
    cap = "" if capacity is None else f"-c{capacity if np.isscalar(capacity) else max(capacity)}"
    kind = "" if poi is None else "-" + "".join(c if c.isalnum() else "-" for c in poi.lower())
    name = f"{slug}-n{stops}-v{vehicles}{cap}-s{seed}{kind}"
    return cls(T, vehicles=vehicles, capacity=capacity, demands=[demand] * stops, dist_m=L, graph=graph,
               nodes=nodes, paths=paths, names=names, coords=coords, name=name,
               source={"city": cname, "poi": poi, "seed": seed, "demand": "sampled"})


def fleet_from_csv(cls: type[Fleet], city: City | nx.MultiDiGraph, path: str | Path, vehicles: int = 1,
                   capacity: int | Sequence[int] | None = None) -> Fleet:
    """The body of :meth:`Fleet.from_csv <optimizer.problems.fleet.Fleet.from_csv>`."""
    import osmnx as ox
    import pandas as pd

    graph = _graph_of(city)[0]
    cname = str(getattr(city, "name", None) or graph.graph.get("name") or "graph")
    file = Path(path)
    if not file.is_file():
        msg = f"no stops CSV at {str(file)!r}; check the path"
        raise DemandError(msg)
    try:
        raw = pd.read_csv(file)
    except Exception as exc:
        msg = f"cannot read stops CSV {str(file)!r} ({exc})"
        raise DemandError(msg) from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in ("lon", "lat") if c not in raw.columns]
    if missing or len(raw) < 2:
        msg = (f"stops CSV {str(file)!r} needs columns lon, lat (demand, name optional) and at least two "
               f"rows (the depot, then stops); missing {missing or 'rows'}")
        raise DemandError(msg)
    lon = pd.to_numeric(raw["lon"], errors="coerce").to_numpy()
    lat = pd.to_numeric(raw["lat"], errors="coerce").to_numpy()
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        msg = f"stops CSV {str(file)!r}: lon/lat must be numbers in every row"
        raise DemandError(msg)
    dem = pd.to_numeric(raw["demand"], errors="coerce").to_numpy()[1:] if "demand" in raw else None
    if dem is not None and not np.isfinite(dem).all():
        msg = f"stops CSV {str(file)!r}: demand must be a number in every stop row"
        raise DemandError(msg)
    nodes = list(np.asarray(ox.distance.nearest_nodes(graph, lon, lat)).tolist())
    dup = [i for i, v in enumerate(nodes) if nodes.index(v) != i]
    if dup:
        msg = f"stops CSV {str(file)!r}: row {dup[0] + 1} snaps to the same road node as an earlier row"
        raise DemandError(msg)
    names = ["depot"] + [f"stop {i}" + (f": {raw['name'][i]}" if "name" in raw else "")
                         for i in range(1, len(raw))]
    T, L, paths = distance_matrices(graph, nodes, labels=names)
    coords = np.array([[graph.nodes[v]["x"], graph.nodes[v]["y"]] for v in nodes])
    slug = "".join(c if c.isalnum() else "-" for c in cname.lower()).strip("-") or "graph"
    return cls(T, vehicles=vehicles, capacity=capacity, demands=dem, dist_m=L, graph=graph, nodes=nodes,
               paths=paths, names=names, coords=coords, name=f"{slug}-csv{len(raw) - 1}-v{vehicles}",
               source={"city": cname, "csv": str(file), "demand": "csv"})
