"""The plan of a fleet problem: one route per vehicle, leg by leg along the road graph.

A :class:`FleetPlan` holds one row per vehicle (its stops in order, the node
path of the whole route, load, time and distance, a WGS84 LineString following
the road geometry) and is re-validated from scratch by :meth:`FleetPlan.validate`.
For literature instances (no road graph) legs are straight lines in the
instance's own coordinates, and validation re-checks the instance costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import PlanValidationError
from optimizer.inputs.roads import TIME_DECIMALS, graph_to_wgs84, path_totals, route_line
from optimizer.io import atomic_write_json, atomic_write_text, json_default

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd


__all__ = ["FleetPlan", "FleetSites"]


@dataclass(frozen=True, eq=False)
class FleetSites:
    """What a fleet plan is re-checked against: the locations (depot first), their costs, the vehicles.

    Attributes
    ----------
    names : tuple of str
        One per location, the depot first.
    cost : ndarray
        Cost between locations (``objective_units``; seconds on a road graph).
    demands : ndarray
        Demand of each stop (the depot excluded).
    capacities : ndarray or None
        One per vehicle; None for an uncapacitated fleet.
    num_vehicles : int
    objective_units : str
    graph : networkx.MultiDiGraph or None
        The road graph (None for a literature instance).
    nodes : list or None
        Graph node of each location.
    paths : list or None
        ``paths[a][b]``: the node path from location a to b on the graph.
    dist_m : ndarray or None
        Lengths of those paths, metres.
    coords : ndarray or None
        ``(lon, lat)`` (or the instance's own x, y) of each location.
    """

    names: tuple[str, ...]
    cost: np.ndarray
    demands: np.ndarray
    capacities: np.ndarray | None
    num_vehicles: int
    objective_units: str
    graph: Any = None
    nodes: list[Any] | None = None
    paths: list[list[list[Any]]] | None = None
    dist_m: np.ndarray | None = None
    coords: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of stops (the depot excluded)."""
        return len(self.names) - 1


@dataclass(frozen=True, eq=False)
class FleetPlan:
    """One route per vehicle.

    Attributes
    ----------
    routes : geopandas.GeoDataFrame
        Indexed by ``vehicle``; columns ``vehicle``, ``stops`` (location
        indices in visiting order, 0 a return to the depot), ``legs`` (one node
        path per leg, road graph only), ``load``, ``capacity``, ``time_s``
        (seconds, road graph) / ``cost`` (objective units), ``dist_m`` and
        ``geometry`` (LineString, WGS84 on a road graph).
    sites : FleetSites
        The locations, costs and vehicles the plan serves.
    objective : float
        Total cost reported by the solver side (re-checked by :meth:`validate`).
    """

    routes: gpd.GeoDataFrame
    sites: FleetSites
    objective: float

    @classmethod
    def from_routes(cls, sites: FleetSites, routes: list[list[int]], *, objective: float | None = None) -> FleetPlan:
        import geopandas as gpd
        from shapely.geometry import LineString

        G = sites.graph
        tr = graph_to_wgs84(G) if G is not None else None
        rows = []
        for v, r in enumerate(routes):
            seq = [0, *r, 0] if r else []
            legs = [sites.paths[a][b] for a, b in zip(seq[:-1], seq[1:])] if G is not None else []
            nodes: list[Any] = []
            for leg in legs:
                nodes.extend(leg if not nodes else leg[1:])
            cost = sum(sites.cost[a, b] for a, b in zip(seq[:-1], seq[1:]))
            dist = (sum(sites.dist_m[a, b] for a, b in zip(seq[:-1], seq[1:]))
                    if sites.dist_m is not None else None)
            if G is not None and len(nodes) > 1:
                geom = route_line(G, nodes, tr)
            elif sites.coords is not None and len(seq) > 1:
                geom = LineString([tuple(sites.coords[i]) for i in seq])
            else:
                geom = None
            rows.append({"vehicle": v, "stops": list(r), "legs": legs, "nodes": nodes,
                         "load": float(sum(sites.demands[s - 1] for s in r if s)),
                         "capacity": None if sites.capacities is None else float(sites.capacities[v]),
                         "cost": round(float(cost), 6), "dist_m": None if dist is None else float(dist),
                         "geometry": geom})
        crs = "EPSG:4326" if G is not None else None
        gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
        gdf.index = gdf["vehicle"].to_numpy()
        gdf.index.name = "vehicle_index"
        plan = cls(gdf, sites, float("nan"))
        obj = plan.recompute_objective() if objective is None else float(objective)
        object.__setattr__(plan, "objective", obj)
        return plan

    # ------------------------------------------------------------- scoring
    @property
    def objective_units(self) -> str:
        return self.sites.objective_units

    def recompute_objective(self) -> float:
        """Total cost from the plan alone: road legs re-walked on the graph, else the instance costs."""
        p = self.sites
        total = 0.0
        for row in self.routes.itertuples(index=False):
            seq = [0, *row.stops, 0] if row.stops else []
            if p.graph is not None:
                total += sum(round(path_totals(p.graph, leg)[0], TIME_DECIMALS) for leg in row.legs)
            else:
                total += sum(p.cost[a, b] for a, b in zip(seq[:-1], seq[1:]))
        return round(float(total), 6)

    def validate(self, *, atol: float = 1e-6) -> FleetPlan:
        """Re-check the plan from scratch; raise :class:`PlanValidationError` listing every fault.

        Checks: every stop visited exactly once and nothing else visited; each
        vehicle's load (recomputed from the demands) within its capacity; on a
        road graph, each leg a real path of the graph from one location's node
        to the next, and every route's time and distance recomputed from the
        graph's edges; the total equals ``objective``.  Returns the plan.
        """
        p = self.sites
        faults: list[str] = []
        visits = [s for r in self.routes["stops"] for s in r if s != 0]
        for s in range(1, p.n + 1):
            c = visits.count(s)
            if c != 1:
                faults.append(f"{p.names[s]} is visited {c} times, needs exactly 1")
        extra = sorted({s for s in visits if not 1 <= s <= p.n})
        if extra:
            faults.append(f"unknown stops {extra[:5]}")
        if len(self.routes) != p.num_vehicles:
            faults.append(f"{len(self.routes)} routes for {p.num_vehicles} vehicles")
        for row in self.routes.itertuples(index=False):
            if extra:
                break
            load = float(sum(p.demands[s - 1] for s in row.stops if s))
            if p.capacities is not None and load > p.capacities[row.vehicle] + 1e-9:
                faults.append(f"vehicle {row.vehicle} carries {load:g}, above its capacity "
                              f"{p.capacities[row.vehicle]:g}")
            if not np.isclose(load, row.load):
                faults.append(f"vehicle {row.vehicle}: load {row.load} != {load} recomputed")
            seq = [0, *row.stops, 0] if row.stops else []
            if p.graph is not None:
                if len(row.legs) != max(0, len(seq) - 1):
                    faults.append(f"vehicle {row.vehicle}: {len(row.legs)} legs for {len(seq) - 1} hops")
                    continue
                t = d = 0.0
                for (a, b), leg in zip(zip(seq[:-1], seq[1:]), row.legs):
                    if not leg or leg[0] != p.nodes[a] or leg[-1] != p.nodes[b]:
                        faults.append(f"vehicle {row.vehicle}: leg {a}->{b} runs {leg[:1]}..{leg[-1:]}, "
                                      f"not {p.nodes[a]}..{p.nodes[b]}")
                        continue
                    try:
                        lt, ld = path_totals(p.graph, leg)
                    except KeyError as exc:
                        faults.append(f"vehicle {row.vehicle}: leg {a}->{b} uses no road segment {exc.args[0]}")
                        continue
                    t += round(lt, TIME_DECIMALS)
                    d += ld
                if not np.isclose(t, row.cost, atol=atol):
                    faults.append(f"vehicle {row.vehicle}: time {row.cost} s != {t} recomputed")
                if row.dist_m is not None and not np.isclose(d, row.dist_m, rtol=1e-9, atol=1e-3):
                    faults.append(f"vehicle {row.vehicle}: distance {row.dist_m} m != {d} recomputed")
            else:
                c = sum(p.cost[a, b] for a, b in zip(seq[:-1], seq[1:]))
                if not np.isclose(c, row.cost, atol=atol):
                    faults.append(f"vehicle {row.vehicle}: cost {row.cost} != {c} recomputed")
        if not faults:
            total = self.recompute_objective()
            if not np.isclose(total, self.objective, atol=atol):
                faults.append(f"objective {self.objective} != {total} recomputed from the routes")
        if faults:
            msg = "fleet plan is invalid: " + "; ".join(faults)
            raise PlanValidationError(msg)
        return self

    # ------------------------------------------------------------- outputs
    def totals(self) -> dict[str, Any]:
        """Summary-friendly totals."""
        r = self.routes
        return {"objective": self.objective, "objective_units": self.objective_units,
                "vehicles": int(len(r)), "vehicles_used": int(sum(1 for s in r["stops"] if s)),
                "stops": int(self.sites.n),
                "time_s": float(r["cost"].sum()) if self.sites.graph is not None else None,
                "dist_m": float(r["dist_m"].sum()) if r["dist_m"].notna().all() else None,
                "load": float(r["load"].sum())}

    def itinerary(self):
        """One row per vehicle and visit: ``vehicle, seq, location, name, node, lon, lat, arrival_s, distance_m, load``."""
        import pandas as pd

        p = self.sites
        rows = []
        for row in self.routes.itertuples(index=False):
            seq = [0, *row.stops, 0] if row.stops else []
            t = dist = load = 0.0
            for k, loc in enumerate(seq):
                if k:
                    a = seq[k - 1]
                    t += float(p.cost[a, loc])
                    dist += float(p.dist_m[a, loc]) if p.dist_m is not None else 0.0
                    load += float(p.demands[loc - 1]) if loc else 0.0
                xy = p.coords[loc] if p.coords is not None else (None, None)
                rows.append({"vehicle": row.vehicle, "seq": k, "location": loc, "name": p.names[loc],
                             "node": p.nodes[loc] if p.nodes is not None else None,
                             "lon": xy[0], "lat": xy[1], "arrival_s": round(t, 3),
                             "distance_m": round(dist, 3) if p.dist_m is not None else None,
                             "load": load})
        return pd.DataFrame(rows)

    def to_geojson(self) -> str:
        import shapely

        feats = []
        for row in self.routes.itertuples(index=False):
            if row.geometry is None:
                continue
            props = {"vehicle": row.vehicle, "stops": row.stops, "load": row.load, "capacity": row.capacity,
                     "time_s" if self.sites.graph is not None else "cost": row.cost, "dist_m": row.dist_m}
            feats.append({"type": "Feature", "properties": props,
                          "geometry": json.loads(shapely.to_geojson(row.geometry))})
        return json.dumps({"type": "FeatureCollection", "features": feats}, default=json_default)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``plan.geojson`` (one LineString per vehicle), ``itinerary.csv`` and ``fleet_totals.json``."""
        out = Path(out_dir)
        return {"plan": atomic_write_text(out / "plan.geojson", self.to_geojson()),
                "itinerary": atomic_write_text(out / "itinerary.csv", self.itinerary().to_csv(index=False)),
                "totals": atomic_write_json(out / "fleet_totals.json", self.totals())}

    def explore(self, *, tiles: str | None = "OpenStreetMap") -> folium.Map:
        """A folium map: one coloured route per vehicle, stops and depot as markers."""
        import folium

        if self.sites.graph is None:
            msg = "explore() needs a road graph; a literature instance has no map"
            raise PlanValidationError(msg)
        gdf = self.routes[self.routes.geometry.notna()].drop(columns=["legs", "nodes", "stops"])
        m = gdf.explore(column="vehicle", categorical=True, tiles=tiles, style_kwds={"weight": 4},
                        name="routes") if len(gdf) else folium.Map(tiles=tiles)
        it = self.itinerary()
        for r in it.drop_duplicates("location").itertuples(index=False):
            folium.CircleMarker((r.lat, r.lon), radius=7 if r.location == 0 else 4,
                                color="black" if r.location == 0 else "blue", fill=True,
                                tooltip=f"{r.name} (vehicle {r.vehicle}, #{r.seq})").add_to(m)
        return m

    def __repr__(self) -> str:
        return f"FleetPlan(vehicles={len(self.routes)}, objective={self.objective:.6g} {self.objective_units})"
