"""Fleet routing: vehicles leave one depot, visit every service stop once, and return.

One vehicle is a TSP; several with capacities a capacitated VRP (CVRP).  The
objective is the time driven in seconds along the road graph (metres are
reported beside it); for a literature instance (TSPLIB / CVRPLIB) it is the
instance's own distance, as the file defines it.

Locations are indexed ``0`` (the depot) and ``1..n`` (the stops).  The cost
``C[i, j]`` is the shortest travel time from location i to location j on the
road graph, rounded to the millisecond so every solver scores the same numbers
exactly; one single-source Dijkstra per location builds the whole matrix (never
all pairs of the city).

QUBO (position encoding)
------------------------
Vehicle ``v`` has ``K_v`` slots: the most stops it can carry (``n`` when
uncapacitated; with capacity ``Q_v``, the largest number of the smallest
demands that fit).  With ``S = sum_v K_v`` slots and ``n`` stops, ``S - n``
*idle* items (copies of the depot, demand 0) fill the slots a vehicle leaves
empty.  One binary ``x[i, v, p]`` says item ``i`` (a stop or an idle copy) sits
in slot ``p`` of vehicle ``v``.  A vehicle drives depot -> slot 0 -> ... ->
slot ``K_v - 1`` -> depot; an idle item is the depot, and depot -> depot costs 0,
so idle slots cost nothing (an idle item between two stops is a return to the
depot: a second trip of the same vehicle, its load still counted once).

    T(x) = sum_v [ sum_i C[0, i] x[i,v,0]
                   + sum_p sum_{i != j} C[i, j] x[i,v,p] x[j,v,p+1]
                   + sum_i C[i, 0] x[i,v,K_v-1] ]

Constraints, each as a penalty with one weight ``P``:

* rows: each item sits in exactly one slot, ``P (1 - sum_{v,p} x[i,v,p])**2``
  (these are the QUBO's ``onehot`` groups; they are disjoint);
* columns: each slot holds exactly one item, ``P (1 - sum_i x[i,v,p])**2``;
* capacity, only for a vehicle whose ``K_v`` largest demands exceed ``Q_v``:
  ``P (sum_{s,p} q_s x[s,v,p] + sum_k a_k y[v,k] - Q_v)**2`` with slack bits
  ``y`` whose weights ``a_k`` (1, 2, 4, ..., then the remainder) reach every
  integer slack in ``[0, Q_v]``.

``P = UB + 0.001`` with ``UB`` the cost of a feasible plan (first-fit
decreasing into the vehicles, nearest-neighbour order), or ``2 n C_max`` when
that construction fails.  Proof that it is large enough: every coefficient of
``T`` is a non-negative cost times a product of binaries, so ``T(x) >= 0``; an
assignment that breaks any constraint has some penalty residual that is a
non-zero integer, so it costs at least ``P > UB >= OPT``, while the optimal
plan with its exact slack costs ``OPT``.  Hence the QUBO minimum is the optimal
plan (tests enumerate every assignment of small TSPs to check it).  Only the
row groups are declared ``onehot``, and each of them carries exactly
``P (1 - sum)**2``, so ``metadata["onehot_penalty"] = P`` lets QAOA's XY mixer
drop exactly those terms; the column and capacity penalties stay in the cost.

Examples
--------
>>> import numpy as np
>>> C = np.array([[0, 2, 9, 10], [1, 0, 6, 4], [15, 7, 0, 8], [6, 3, 12, 0]], dtype=float)
>>> prob = Fleet(C)
>>> prob.to_qubo().num_variables     # 3 stops x 3 positions
9
>>> sol = prob.native_solvers()["routing"](time_limit_s=1)
>>> prob.routes(sol.bits), prob.objective(sol.bits)
([[2, 3, 1]], 21.0)
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import DemandError, InfeasibleSolutionError, InvalidInputError
from optimizer.inputs.checks import bad_lonlat, check_lonlat_columns, check_near_roads, rows_text
from optimizer.inputs.demand import read_csv_table
from optimizer.inputs.instances import read_instance
from optimizer.inputs.roads import TIME_DECIMALS, distance_matrices, graph_of
from optimizer.problems.base import Problem
from optimizer.problems.fleet.qubo import build_qubo, greedy_routes
from optimizer.problems.fleet.qubo import penalty as _penalty

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from optimizer.inputs.city import City
    from optimizer.plans.fleet import FleetPlan
    from solvers.qubo import QUBO
    from solvers.solution import Solution

__all__ = ["Fleet", "brute_force"]

log = logging.getLogger(__name__)

#: Most stops a stops CSV may list (below its depot row), as ``--stops`` at most.
MAX_CSV_STOPS = 2_000
#: Largest demand a stops CSV may give one stop.
MAX_CSV_DEMAND = 1_000_000

#: Default time limit of the ``routing`` solver, seconds.
ROUTING_TIME_LIMIT_S = 2.0

def _check_int(name: str, value: Any, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        msg = f"{name} must be an integer >= {low}, got {value!r}"
        raise InvalidInputError(msg)
    return int(value)


# ==================================================================== problem
class Fleet(Problem):
    """Vehicles from one depot serve every stop once (TSP for one vehicle, else CVRP).

    Parameters
    ----------
    cost : array (n+1, n+1)
        Cost of driving from location i to j (row/column 0 the depot), in
        :attr:`objective_units`; rounded to ``TIME_DECIMALS``.
    vehicles : int
        Number of vehicles, >= 1.
    capacity : int, sequence of int, or None
        Each vehicle's capacity (one value for all); None: uncapacitated.
    demands : sequence of int, optional
        Demand of each stop (default 1 each); integers when a capacity is set.
    dist_m : array, optional
        Metres between locations (reported beside the objective).
    graph, nodes, paths
        The road graph, each location's node, and ``paths[i][j]`` the node path
        of each leg (None for literature instances).
    names : sequence of str, optional
        A label per location (for plans and messages).
    coords : array (n+1, 2), optional
        lon/lat (road graph) or the instance's coordinates.

    Use :meth:`from_city`, :meth:`from_csv` or :meth:`from_instance`.
    """

    kind = "fleet"

    def __init__(self, cost: np.ndarray, *, vehicles: int = 1, capacity: int | Sequence[int] | None = None,
                 demands: Sequence[float] | None = None, dist_m: np.ndarray | None = None,
                 graph: nx.MultiDiGraph | None = None, nodes: Sequence[Any] | None = None,
                 paths: list[list[list[Any]]] | None = None, names: Sequence[str] | None = None,
                 coords: np.ndarray | None = None, objective_units: str = "seconds",
                 name: str = "fleet", source: dict[str, Any] | None = None) -> None:
        C = np.asarray(cost, dtype=float)
        if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] < 2:
            msg = f"cost must be a square matrix over the depot and at least one stop, got shape {C.shape}"
            raise InvalidInputError(msg)
        if not np.all(np.isfinite(C)) or (C < 0).any():
            msg = "cost must hold finite, non-negative numbers (an unreachable stop?)"
            raise DemandError(msg)
        self.cost = np.round(C, TIME_DECIMALS)
        np.fill_diagonal(self.cost, 0.0)
        self.n = C.shape[0] - 1
        self.num_vehicles = _check_int("vehicles", vehicles, 1)
        dem = np.ones(self.n) if demands is None else np.asarray(demands, dtype=float).reshape(-1)
        if dem.shape[0] != self.n:
            msg = f"demands has {dem.shape[0]} values for {self.n} stops"
            raise DemandError(msg)
        if (dem < 0).any() or not np.all(np.isfinite(dem)):
            msg = f"demand must be finite and >= 0; stop {int(np.argmax(~np.isfinite(dem) | (dem < 0))) + 1} is not"
            raise DemandError(msg)
        self.demands = dem
        self.capacities = self._capacities(capacity)
        self.dist_m = None if dist_m is None else np.asarray(dist_m, dtype=float)
        self.graph = graph
        self.nodes = None if nodes is None else list(nodes)
        self.paths = paths
        self.names = list(names) if names is not None else ["depot"] + [f"stop {i}" for i in range(1, self.n + 1)]
        self.coords = None if coords is None else np.asarray(coords, dtype=float)
        self.objective_units = objective_units
        self.name = name
        self.source = dict(source or {})
        self._check_demand()
        self._build_slots()

    def _capacities(self, capacity: Any) -> np.ndarray | None:
        if capacity is None:
            return None
        caps = np.asarray([capacity] * self.num_vehicles if np.isscalar(capacity) else capacity, dtype=float)
        if caps.shape != (self.num_vehicles,):
            msg = f"capacity has {caps.size} values for {self.num_vehicles} vehicles; give one or one per vehicle"
            raise InvalidInputError(msg)
        if (caps <= 0).any() or not np.all(np.isfinite(caps)):
            msg = f"capacity must be positive, got {caps.tolist()}"
            raise InvalidInputError(msg)
        if np.any(caps != np.round(caps)) or np.any(self.demands != np.round(self.demands)):
            msg = "capacity and demand must be whole numbers when a capacity is set (the QUBO uses integer slack)"
            raise InvalidInputError(msg)
        return caps

    def _check_demand(self) -> None:
        if self.capacities is None:
            return
        cmax = float(self.capacities.max())
        over = np.flatnonzero(self.demands > cmax)
        if over.size:
            s = int(over[0]) + 1
            msg = (f"demand of {self.names[s]} is {self.demands[s - 1]:g}, above every vehicle's capacity "
                   f"(largest {cmax:g}); raise capacity or split that stop's demand")
            raise DemandError(msg)
        if self.demands.sum() > self.capacities.sum():
            msg = (f"total demand {self.demands.sum():g} exceeds the fleet's total capacity "
                   f"{self.capacities.sum():g}; add vehicles or raise capacity")
            raise DemandError(msg)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_city(cls, city: City | nx.MultiDiGraph, stops: int = 8, vehicles: int = 1,
                  capacity: int | Sequence[int] | None = None, *, poi: str | None = None, seed: int = 1,
                  depot: tuple[float, float] | None = None, demand: int = 1) -> Fleet:
        """Sample ``stops`` service stops from the city's POIs (or its nodes), snapped to the graph.

        Parameters
        ----------
        city : City or networkx.MultiDiGraph
        stops : int
            Number of stops, >= 1 (distinct graph nodes).
        vehicles : int
            Number of vehicles, >= 1.
        capacity : int or sequence, optional
            Stops' demands are ``demand`` each.
        poi : str, optional
            ``"key=value"`` (e.g. ``"amenity=pharmacy"``) or ``"key"``: sample the
            POIs of that kind; None: any POI the city has, or graph nodes when
            it has none.
        seed : int
        depot : (lon, lat), optional
            Default: the graph node nearest the centre of the graph's bounding box.
        """
        import osmnx as ox

        stops = _check_int("stops", stops, 1)
        _check_int("vehicles", vehicles, 1)
        graph = graph_of(city)[0]
        cname = str(getattr(city, "name", None) or graph.graph.get("name") or "graph")
        rng = np.random.default_rng(seed)
        xs = np.array([graph.nodes[v]["x"] for v in graph.nodes])
        ys = np.array([graph.nodes[v]["y"] for v in graph.nodes])
        if depot is not None:
            try:
                lon0, lat0 = (float(v) for v in depot)
            except (TypeError, ValueError) as exc:
                msg = f"depot must be a (lon, lat) pair of numbers, got {depot!r}"
                raise InvalidInputError(msg) from exc
            if bad_lonlat(lon0, lat0):
                msg = (f"depot {depot!r} is not a WGS84 position (lon in [-180, 180], lat in [-90, 90])"
                       + ("; lon and lat look swapped" if not bad_lonlat(lat0, lon0) else ""))
                raise InvalidInputError(msg)
        else:
            lon0, lat0 = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        depot_node, depot_d = ox.distance.nearest_nodes(graph, lon0, lat0, return_dist=True)
        check_near_roads(graph, np.array([lon0]), np.array([lat0]), np.array([depot_d]), where="depot",
                         what="depot", columns=("lon", "lat"), city=cname, error=InvalidInputError,
                         in_file=False)
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

    @classmethod
    def from_csv(cls, city: City | nx.MultiDiGraph, path: str | Path, vehicles: int = 1,
                 capacity: int | Sequence[int] | None = None) -> Fleet:
        """Stops from a CSV of ``lon, lat`` (optional ``demand``, ``name``); the first row is the depot."""
        import osmnx as ox
        import pandas as pd

        _check_int("vehicles", vehicles, 1)  # before the file is read and its stops routed
        if capacity is not None:
            caps = np.asarray(capacity, dtype=object).reshape(-1)
            if caps.size == 0 or not all(isinstance(c, numbers.Real) and not isinstance(c, bool)
                                         and math.isfinite(c) and c >= 1 and float(c).is_integer() for c in caps):
                msg = f"capacity must be a whole number >= 1 (or one per vehicle), got {capacity!r}"
                raise InvalidInputError(msg)
        graph = graph_of(city)[0]
        cname = str(getattr(city, "name", None) or graph.graph.get("name") or "graph")
        file = Path(path)
        where = f"stops CSV {str(file)!r}"
        raw = read_csv_table(file, "stops", max_rows=MAX_CSV_STOPS + 1)
        missing = [c for c in ("lon", "lat") if c not in raw.columns]
        if missing:
            msg = (f"{where} lacks column(s) {', '.join(missing)}; it needs lon, lat (demand, name optional), "
                   f"one row per location, the depot first, and has {', '.join(map(repr, raw.columns)) or 'none'}")
            raise DemandError(msg)
        if len(raw) < 2:
            msg = (f"{where} has {len(raw)} row(s); it needs at least two: the depot first, then one row "
                   f"per stop")
            raise DemandError(msg)
        coords = check_lonlat_columns(raw, [("lon", "lat")], where=where, error=DemandError)
        lon, lat = coords["lon"].to_numpy(), coords["lat"].to_numpy()
        dem = None
        if "demand" in raw:
            dem_all = pd.to_numeric(raw["demand"], errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(dem_all) & (dem_all >= 0) & (dem_all <= MAX_CSV_DEMAND)
                        & (dem_all == np.round(dem_all)))
            bad[0] = False  # the depot's demand is not used
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                msg = (f"{where}: {rows_text(bad)}: demand must be a whole number from 0 to {MAX_CSV_DEMAND:,} "
                       f"(first: row {row}, demand = {str(raw['demand'].iloc[row])!r}); fix or drop those rows")
                raise DemandError(msg)
            dem = dem_all[1:]
        found, dist = ox.distance.nearest_nodes(graph, lon, lat, return_dist=True)
        check_near_roads(graph, lon, lat, np.asarray(dist), where=where, what="location", columns=("lon", "lat"),
                         city=cname, error=DemandError)
        nodes = list(np.asarray(found).tolist())
        dup = [i for i, v in enumerate(nodes) if nodes.index(v) != i]
        if dup:
            first = nodes.index(nodes[dup[0]])
            msg = (f"{where}: row {dup[0]} (file line {dup[0] + 2}) snaps to the same road node as row {first}; "
                   f"drop one of them or move it further than the node spacing")
            raise DemandError(msg)
        names = ["depot"] + [f"stop {i}" + (f": {raw['name'][i]}" if "name" in raw else "")
                             for i in range(1, len(raw))]
        T, L, paths = distance_matrices(graph, nodes, labels=names)
        coords = np.array([[graph.nodes[v]["x"], graph.nodes[v]["y"]] for v in nodes])
        slug = "".join(c if c.isalnum() else "-" for c in cname.lower()).strip("-") or "graph"
        return cls(T, vehicles=vehicles, capacity=capacity, demands=dem, dist_m=L, graph=graph, nodes=nodes,
                   paths=paths, names=names, coords=coords, name=f"{slug}-csv{len(raw) - 1}-v{vehicles}",
                   source={"city": cname, "csv": str(file), "demand": "csv"})

    @classmethod
    def from_instance(cls, path: str | Path, *, vehicles: int | None = None) -> Fleet:
        """A TSPLIB / CVRPLIB instance (depot first); ``vehicles`` defaults to the file's (or 1)."""
        d = read_instance(path)
        v = vehicles if vehicles is not None else (d["vehicles"] or 1)
        tsp = d["type"].upper().startswith("TSP") or d["capacity"] is None
        n = d["cost"].shape[0] - 1
        names = ["depot"] + [f"customer {i}" for i in range(1, n + 1)]
        try:
            return cls(d["cost"], vehicles=v, capacity=None if tsp else d["capacity"],
                       demands=None if tsp else d["demands"], coords=d["coords"], names=names,
                       objective_units="instance distance", name=d["name"],
                       source={"instance": str(path), "name": d["raw_name"], "comment": d["comment"],
                               "type": d["type"]})
        except DemandError as exc:  # name the file: its demands do not fit the fleet asked for
            raise DemandError(f"instance {str(path)!r} with {v} vehicle(s): {exc}") from exc

    # ----------------------------------------------------------------- slots
    def _build_slots(self) -> None:
        n, V = self.n, self.num_vehicles
        K = []
        for v in range(V):
            if self.capacities is None:
                K.append(n)
            else:
                q = np.sort(self.demands)
                K.append(int(np.searchsorted(np.cumsum(q), self.capacities[v] + 1e-9, side="right")))
        self.slots_per_vehicle = tuple(min(k, n) for k in K)
        S = sum(self.slots_per_vehicle)
        if S < n:
            msg = f"the {V} vehicle(s) can carry at most {S} of the {n} stops; add vehicles or raise capacity"
            raise DemandError(msg)
        # items: stops 1..n, then idle copies of the depot
        self.items: tuple[Any, ...] = tuple(range(1, n + 1)) + tuple(f"idle{k}" for k in range(S - n))
        self.slots: tuple[tuple[int, int], ...] = tuple((v, p) for v in range(V)
                                                         for p in range(self.slots_per_vehicle[v]))
        self.variables: tuple[Any, ...] = tuple(("x", i, v, p) for i in self.items for v, p in self.slots)
        # capacity slack, only where the K_v largest demands could exceed Q_v
        self.slack: dict[int, list[int]] = {}
        if self.capacities is not None:
            q = np.sort(self.demands)[::-1]
            for v in range(V):
                Q = int(self.capacities[v])
                if q[: self.slots_per_vehicle[v]].sum() > Q:
                    w, k = [], 1
                    while sum(w) + k <= Q:
                        w.append(k)
                        k *= 2
                    if sum(w) < Q:
                        w.append(Q - sum(w))
                    self.slack[v] = w
        self.variables += tuple(("y", v, k) for v, w in self.slack.items() for k in range(len(w)))
        self._var_index = {lab: i for i, lab in enumerate(self.variables)}

    def _loc(self, item: Any) -> int:
        return item if isinstance(item, int) else 0

    # --------------------------------------------------------------- identity
    @property
    def instance_name(self) -> str:
        return self.name

    @property
    def instance(self) -> dict[str, Any]:
        return {"name": self.name, "stops": self.n, "vehicles": self.num_vehicles,
                "capacity": None if self.capacities is None else self.capacities.tolist(),
                "total_demand": float(self.demands.sum()), "variables": len(self.variables),
                "slots_per_vehicle": list(self.slots_per_vehicle), "objective_units": self.objective_units,
                **self.source}

    def __repr__(self) -> str:
        return f"Fleet({self.name!r}, stops={self.n}, vehicles={self.num_vehicles}, variables={len(self.variables)})"

    @property
    def is_tsp(self) -> bool:
        return self.num_vehicles == 1

    # ----------------------------------------------------------------- scoring
    def routes(self, bits: np.ndarray) -> list[list[int]]:
        """Each vehicle's sequence of locations (stops ``1..n``; ``0`` a return to the depot mid-route).

        Raises :class:`InfeasibleSolutionError` when a stop or slot is not used
        exactly once or a capacity is exceeded.
        """
        bits = np.asarray(bits).reshape(-1)
        if bits.shape[0] != len(self.variables):
            msg = f"assignment has {bits.shape[0]} bits, the problem has {len(self.variables)} variables"
            raise InvalidInputError(msg)
        S = len(self.slots)
        X = bits[: len(self.items) * S].reshape(len(self.items), S)
        rows, cols = X.sum(axis=1), X.sum(axis=0)
        if (rows != 1).any():
            i = int(np.flatnonzero(rows != 1)[0])
            msg = f"{self._item_name(self.items[i])} sits in {int(rows[i])} slots, needs exactly 1"
            raise InfeasibleSolutionError(msg)
        if (cols != 1).any():
            s = int(np.flatnonzero(cols != 1)[0])
            msg = f"slot {self.slots[s][1]} of vehicle {self.slots[s][0]} holds {int(cols[s])} items, needs exactly 1"
            raise InfeasibleSolutionError(msg)
        item_at = np.argmax(X, axis=0)
        out: list[list[int]] = [[] for _ in range(self.num_vehicles)]
        for s, (v, _) in enumerate(self.slots):
            loc = self._loc(self.items[item_at[s]])
            if loc != 0 or (out[v] and out[v][-1] != 0):
                out[v].append(loc)
        out = [r[:-1] if r and r[-1] == 0 else r for r in out]
        if self.capacities is not None:
            for v, r in enumerate(out):
                load = float(sum(self.demands[s - 1] for s in r if s))
                if load > self.capacities[v] + 1e-9:
                    msg = f"vehicle {v} carries {load:g}, above its capacity {self.capacities[v]:g}"
                    raise InfeasibleSolutionError(msg)
        return out

    def _item_name(self, item: Any) -> str:
        return self.names[item] if isinstance(item, int) else f"idle slot filler {item}"

    def route_cost(self, route: Sequence[int]) -> float:
        """Cost of depot -> route -> depot."""
        seq = [0, *route, 0]
        return float(sum(self.cost[a, b] for a, b in zip(seq[:-1], seq[1:])))

    def is_feasible(self, bits: np.ndarray) -> bool:
        try:
            self.routes(bits)
        except InfeasibleSolutionError:
            return False
        return True

    def objective(self, bits: np.ndarray) -> float:
        return round(sum(self.route_cost(r) for r in self.routes(bits)), 6)

    def bits_for(self, routes: Sequence[Sequence[int]]) -> np.ndarray:
        """The assignment (exact slack included) of one stop sequence per vehicle."""
        if len(routes) != self.num_vehicles:
            msg = f"routes has {len(routes)} entries for {self.num_vehicles} vehicles"
            raise InvalidInputError(msg)
        seen = [s for r in routes for s in r if s != 0]
        if sorted(seen) != list(range(1, self.n + 1)):
            msg = "routes must visit every stop 1..n exactly once"
            raise InvalidInputError(msg)
        bits = np.zeros(len(self.variables), dtype=np.uint8)
        S = len(self.slots)
        idle = iter(range(self.n, len(self.items)))
        s0 = 0
        for v, r in enumerate(routes):
            K = self.slots_per_vehicle[v]
            r = list(r)
            if len(r) > K:
                msg = f"vehicle {v} has {len(r)} stops (returns included), more than its {K} slots"
                raise InvalidInputError(msg)
            for p in range(K):
                i = (r[p] - 1) if p < len(r) and r[p] != 0 else next(idle)
                bits[i * S + s0 + p] = 1
            s0 += K
            if v in self.slack:
                load = int(round(sum(self.demands[s - 1] for s in r if s)))
                rest = int(self.capacities[v]) - load
                if rest < 0:
                    msg = f"vehicle {v} carries {load}, above its capacity {int(self.capacities[v])}"
                    raise InvalidInputError(msg)
                for k, w in reversed(list(enumerate(self.slack[v]))):
                    if w <= rest:
                        bits[self._var_index[("y", v, k)]] = 1
                        rest -= w
        return bits

    # ----------------------------------------------------------------- QUBO
    def _greedy_routes(self) -> list[list[int]] | None:
        """First-fit decreasing into vehicles, then nearest-neighbour order (None if it fails)."""
        return greedy_routes(self)

    @cached_property
    def penalty(self) -> float:
        """The penalty P = (cost of a feasible plan) + 0.001 (see the module docstring)."""
        return _penalty(self)

    @cached_property
    def _qubo(self) -> QUBO:
        return build_qubo(self)

    def to_qubo(self) -> QUBO:
        return self._qubo

    # ------------------------------------------------------------- baselines
    def native_solvers(self) -> dict[str, Any]:
        return {"routing": self._solve_routing, "decompose": self._solve_cluster_route}

    def solve_routing(self, *, time_limit_s: float | None = None, seed: int | None = None,
                      first_solution: str = "PATH_CHEAPEST_ARC",
                      metaheuristic: str = "GUIDED_LOCAL_SEARCH") -> tuple[list[list[int]], dict[str, Any]]:
        """OR-Tools Routing on the native CVRP: one sequence of stops per vehicle, and facts."""
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        del seed  # the Routing library's search is deterministic for a given time limit
        limit = ROUTING_TIME_LIMIT_S if time_limit_s is None else float(time_limit_s)
        n, V = self.n, self.num_vehicles
        manager = pywrapcp.RoutingIndexManager(n + 1, V, 0)
        routing = pywrapcp.RoutingModel(manager)
        scale = 10**TIME_DECIMALS
        C = np.rint(self.cost * scale).astype(np.int64)

        def transit(i: int, j: int) -> int:
            return int(C[manager.IndexToNode(i), manager.IndexToNode(j)])

        cb = routing.RegisterTransitCallback(transit)
        routing.SetArcCostEvaluatorOfAllVehicles(cb)
        if self.capacities is not None:
            dem = [0, *np.rint(self.demands).astype(int).tolist()]
            dcb = routing.RegisterUnaryTransitCallback(lambda i: dem[manager.IndexToNode(i)])
            routing.AddDimensionWithVehicleCapacity(dcb, 0, [int(c) for c in self.capacities], True, "load")
        params = pywrapcp.DefaultRoutingSearchParameters()
        try:
            params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first_solution)
            params.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic)
        except AttributeError as exc:
            msg = f"routing: unknown first_solution {first_solution!r} or metaheuristic {metaheuristic!r}"
            raise InvalidInputError(msg) from exc
        params.time_limit.FromMilliseconds(max(1, int(limit * 1000)))
        t0 = time.perf_counter()
        sol = routing.SolveWithParameters(params)
        if sol is None:
            msg = "routing: OR-Tools found no feasible plan within the time limit; raise time_limit_s"
            raise InfeasibleSolutionError(msg)
        out = []
        for v in range(V):
            idx, r = routing.Start(v), []
            while not routing.IsEnd(idx):
                node = manager.IndexToNode(idx)
                if node:
                    r.append(node)
                idx = sol.Value(routing.NextVar(idx))
            out.append(r)
        return out, {"routing_objective": sol.ObjectiveValue() / scale, "routing_status": int(routing.status()),
                     "first_solution": first_solution, "metaheuristic": metaheuristic,
                     "time_limit_s": limit, "search_time_s": time.perf_counter() - t0}

    def _solve_routing(self, *, seed: int | None = None, time_limit_s: float | None = None,
                       **options: Any) -> Solution:
        from solvers.solution import Solution, Status

        t0 = time.perf_counter()
        routes, info = self.solve_routing(time_limit_s=time_limit_s, seed=seed, **options)
        bits = self.bits_for(routes)
        info["objective"] = self.objective(bits)
        return Solution(bits, float("nan"), Status.FEASIBLE, "routing", True,
                        time.perf_counter() - t0, None, "native",
                        {"time_limit_s": info["time_limit_s"], **options}, {}, info, decision=routes)

    def _solve_cluster_route(self, *, seed: int | None = None, time_limit_s: float | None = None,
                             **options: Any) -> Solution:
        from optimizer.problems.fleet.decompose import cluster_route_solve

        return cluster_route_solve(self, seed=seed, time_limit_s=time_limit_s, **options)

    # ---------------------------------------------------------------- decode
    def decode(self, solution: Solution | np.ndarray) -> FleetPlan:
        """The fleet plan of a feasible solution (one route per vehicle, legs on the road graph)."""
        from optimizer.plans.fleet import FleetPlan, FleetSites

        bits = np.asarray(getattr(solution, "bits", solution))
        sites = FleetSites(tuple(self.names), self.cost, self.demands, self.capacities, self.num_vehicles,
                           self.objective_units, self.graph, self.nodes, self.paths, self.dist_m, self.coords)
        return FleetPlan.from_routes(sites, self.routes(bits), objective=self.objective(bits))


def brute_force(prob: Fleet) -> tuple[float, list[list[int]]]:
    """The optimum by enumeration (every assignment of stops to vehicles, every order); tiny instances only."""
    n, V = prob.n, prob.num_vehicles
    if n > 9:
        msg = f"brute force over {n} stops is too slow; use at most 9"
        raise InvalidInputError(msg)
    best = (math.inf, [])
    for perm in itertools.permutations(range(1, n + 1)):
        for cuts in itertools.combinations_with_replacement(range(n + 1), V - 1):
            bounds = [0, *cuts, n]
            routes = [list(perm[bounds[k]:bounds[k + 1]]) for k in range(V)]
            if prob.capacities is not None and any(
                    sum(prob.demands[s - 1] for s in r) > prob.capacities[v] + 1e-9 for v, r in enumerate(routes)):
                continue
            c = round(sum(prob.route_cost(r) for r in routes), 6)
            if c < best[0] - 1e-9:
                best = (c, routes)
    return best


def check_routing_options(options: Mapping[str, Any]) -> None:
    """Check ``routing``'s option values against OR-Tools' own enums (InvalidOptionError naming the option).

    >>> check_routing_options({"metaheuristic": "TABU_SEARCH"})
    >>> check_routing_options({"first_solution": "FASTEST"})
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidOptionError: option 'first_solution' of solver 'routing' must be one of: ALL_UNPERFORMED, AUTOMATIC, BEST_INSERTION, CHRISTOFIDES, EVALUATOR_STRATEGY, FIRST_UNBOUND_MIN_VALUE, GLOBAL_CHEAPEST_ARC, LOCAL_CHEAPEST_ARC, LOCAL_CHEAPEST_COST_INSERTION, LOCAL_CHEAPEST_INSERTION, PARALLEL_CHEAPEST_INSERTION, PARALLEL_SAVINGS, PATH_CHEAPEST_ARC, PATH_MOST_CONSTRAINED_ARC, SAVINGS, SEQUENTIAL_CHEAPEST_INSERTION, SWEEP, UNSET; got 'FASTEST'
    """
    from ortools.constraint_solver import routing_enums_pb2

    from solvers.errors import InvalidOptionError

    for name, enum in (("first_solution", routing_enums_pb2.FirstSolutionStrategy),
                       ("metaheuristic", routing_enums_pb2.LocalSearchMetaheuristic)):
        value = options.get(name)
        allowed = sorted(enum.DESCRIPTOR.enum_types_by_name["Value"].values_by_name)
        if value is not None and value not in allowed:
            msg = f"option {name!r} of solver 'routing' must be one of: {', '.join(allowed)}; got {value!r}"
            raise InvalidOptionError(msg)
