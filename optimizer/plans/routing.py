"""Plans: what a planner acts on, re-validated from scratch and written to files.

A :class:`RoutingPlan` is a GeoDataFrame with one LineString per trip (WGS84,
following the road geometry) and the node ids it passes.  ``validate()`` trusts
nothing the solver said: it re-walks every route on the road graph and
recomputes the congestion from the routes alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import PlanValidationError
from optimizer.inputs.peak import TrafficModel, clock
from optimizer.inputs.roads import (
    WGS84,
    edge_line,
    fastest_edge,
    graph_to_wgs84,
    round_time_s,
    route_line,
)
from optimizer.io import atomic_write_text, json_default

if TYPE_CHECKING:  # pragma: no cover
    import folium
    import geopandas as gpd
    import networkx as nx
    import pandas as pd

    from optimizer.plans.simulation import SimulationResult

__all__ = ["RoutingPlan"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class RoutingPlan:
    """One route per trip on the road graph, in the peak.

    Attributes
    ----------
    routes : geopandas.GeoDataFrame
        Indexed by ``trip_id``; columns ``trip_id``, ``origin``, ``destination``,
        ``route_index`` (which candidate), ``nodes`` (node ids in order),
        ``depart_s``, ``vehicles``, ``travel_time_s`` (free flow),
        ``bpr_travel_time_s`` (each vehicle's time under BPR in its slices),
        ``length_m`` and ``geometry`` (LineString, WGS84).
    graph : networkx.MultiDiGraph
        The road graph the routes run on.
    trips : pandas.DataFrame
        The trips the plan must serve (``trip_id``, ``origin``, ``destination``,
        ``depart_s``, ``vehicles``).
    objective : float
        The objective reported by the solver side (re-checked by :meth:`validate`).
    model : TrafficModel
        How the plan is scored: objective, BPR parameters, peak and slices.
    """

    routes: gpd.GeoDataFrame
    graph: nx.MultiDiGraph
    trips: pd.DataFrame
    objective: float
    model: TrafficModel = field(default_factory=TrafficModel)

    @property
    def objective_units(self) -> str:
        return self.model.units

    @classmethod
    def from_routes(cls, graph: nx.MultiDiGraph, trips: pd.DataFrame, node_lists: list[list[Any]], *,
                    route_index: list[int] | None = None, objective: float | None = None,
                    model: TrafficModel | None = None) -> RoutingPlan:
        """Build a plan from one node list per trip (in ``trips`` order).

        ``trips`` without ``depart_s`` depart at the peak's start; without
        ``vehicles``, one vehicle each.
        """
        import geopandas as gpd

        model = TrafficModel() if model is None else model
        trips = trips.copy()
        if "depart_s" not in trips.columns:
            trips["depart_s"] = model.peak.start_s
        if "vehicles" not in trips.columns:
            trips["vehicles"] = 1
        tr = graph_to_wgs84(graph)
        rows = []
        for i, (trip, nodes) in enumerate(zip(trips.itertuples(index=False), node_lists)):
            keys = [fastest_edge(graph, u, v)[2] for u, v in zip(nodes[:-1], nodes[1:])]
            rows.append({
                "trip_id": trip.trip_id,
                "origin": trip.origin,
                "destination": trip.destination,
                "route_index": None if route_index is None else int(route_index[i]),
                "nodes": list(nodes),
                "depart_s": float(trip.depart_s),
                "vehicles": int(trip.vehicles),
                "travel_time_s": float(sum(graph.edges[u, v, k]["travel_time"]
                                           for (u, v), k in zip(zip(nodes[:-1], nodes[1:]), keys))),
                "length_m": float(sum(graph.edges[u, v, k]["length"]
                                      for (u, v), k in zip(zip(nodes[:-1], nodes[1:]), keys))),
                "geometry": route_line(graph, nodes, tr),
            })
        gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)
        gdf.index = gdf["trip_id"].to_numpy()
        gdf.index.name = "trip"
        cols = ["trip_id", "origin", "destination", "depart_s", "vehicles"]
        plan = cls(gdf, graph, trips[cols].copy(), float("nan"), model)
        steps = plan._steps()
        gdf["bpr_travel_time_s"] = [float(sum(t for *_, t in trip)) for trip in steps]
        obj = plan.recompute_objective() if objective is None else float(objective)
        object.__setattr__(plan, "objective", obj)
        return plan

    # ---------------------------------------------------------------- scoring
    def _cells(self) -> dict[tuple[tuple[Any, Any, Any], int], int]:
        """Vehicles per cell (segment, slice), from the routes and departure times alone."""
        peak = self.model.peak
        loads: dict[tuple[tuple[Any, Any, Any], int], int] = {}
        for nodes, depart, veh in zip(self.routes["nodes"], self.routes["depart_s"], self.routes["vehicles"]):
            segs = [fastest_edge(self.graph, u, v) for u, v in zip(nodes[:-1], nodes[1:])]
            t0 = [round_time_s(self.graph.edges[s]["travel_time"]) for s in segs]
            for s, sl in zip(segs, peak.entry_slices(float(depart), t0)):
                loads[(s, int(sl))] = loads.get((s, int(sl)), 0) + int(veh)
        return loads

    def _steps(self) -> list[list[tuple[tuple[Any, Any, Any], int, float]]]:
        """Per trip, per step: the segment, its slice and each vehicle's BPR time on it (s)."""
        from optimizer.inputs.capacity import segment_capacity

        loads = self._cells()
        peak = self.model.peak
        out = []
        for nodes, depart in zip(self.routes["nodes"], self.routes["depart_s"]):
            segs = [fastest_edge(self.graph, u, v) for u, v in zip(nodes[:-1], nodes[1:])]
            t0 = [round_time_s(self.graph.edges[s]["travel_time"]) for s in segs]
            steps = []
            for s, sl, t in zip(segs, peak.entry_slices(float(depart), t0), t0):
                n = loads[(s, int(sl))]
                steps.append((s, int(sl), float(self.model.travel_time_s(n, t, segment_capacity(self.graph.edges[s])))))
            out.append(steps)
        return out

    def recompute_objective(self) -> float:
        """The objective from the routes alone: BPR vehicle-hours, or the congestion proxy (vehicle-seconds)."""
        from optimizer.inputs.capacity import segment_capacity

        cells = self._cells()
        if not cells:
            return 0.0
        n = np.array(list(cells.values()), dtype=np.float64)
        t0 = np.array([round_time_s(self.graph.edges[s]["travel_time"]) for s, _ in cells], dtype=np.float64)
        if self.model.objective == "congestion":
            return round(float(np.sum(self.model.proxy_cost(n, t0))), 6)
        cap = np.array([segment_capacity(self.graph.edges[s]) for s, _ in cells], dtype=np.float64)
        return float(np.sum(self.model.cell_cost(n, t0, cap))) / 3600.0

    def segment_loads(self) -> gpd.GeoDataFrame:
        """Per used segment: ``u, v, key, name, highway, length_m``, ``load`` (vehicles over the period),
        ``weight_s`` (free flow), ``capacity_vph``, ``volume_capacity`` and ``bpr_time_s`` in its busiest
        slice (``peak_slice``), ``contribution`` (the objective's seconds over all slices), one
        ``vc HH:MM`` column per slice with traffic (volume/capacity in that slice; 0 where the
        segment is empty), and geometry (WGS84)."""
        import geopandas as gpd
        from shapely.ops import transform

        from optimizer.inputs.capacity import segment_capacity

        peak = self.model.peak
        cells = self._cells()
        slices = sorted({sl for _, sl in cells})
        by_seg: dict[tuple[Any, Any, Any], dict[int, int]] = {}
        for (s, sl), n in cells.items():
            by_seg.setdefault(s, {})[sl] = n
        tr = graph_to_wgs84(self.graph)
        rows = []
        for (u, v, k), per in by_seg.items():
            d = self.graph.edges[u, v, k]
            w = round_time_s(d["travel_time"])
            cap = segment_capacity(d)
            busiest = max(per, key=lambda sl: (per[sl], -sl))
            n_arr = np.array(list(per.values()), dtype=np.float64)
            contribution = float(np.sum(self.model.cost(n_arr, w, cap)))
            line = edge_line(self.graph, u, v, k)
            row = {"u": u, "v": v, "key": k, "name": _as_text(d.get("name")),
                   "highway": _as_text(d.get("highway")), "length_m": float(d["length"]),
                   "load": int(n_arr.sum()), "weight_s": w, "contribution": contribution,
                   "capacity_vph": cap, "peak_slice": peak.label(busiest),
                   "volume_capacity": per[busiest] / peak.slice_h / cap,
                   "bpr_time_s": float(self.model.travel_time_s(per[busiest], w, cap))}
            for sl in slices:
                row[f"vc {clock(peak.start_s + sl * peak.slice_s)}"] = per.get(sl, 0) / peak.slice_h / cap
            row["geometry"] = transform(tr.transform, line) if tr else line
            rows.append(row)
        gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)
        if len(gdf):
            gdf = gdf.sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)
        return gdf

    def itinerary(self) -> pd.DataFrame:
        """One row per trip and node: ``trip_id, step, node, lon, lat, time, elapsed_s, distance_m``.

        ``elapsed_s`` is the BPR travel time so far (each segment's time in the
        slice the trip enters it); ``time`` the clock time it reaches the node.
        """
        import pandas as pd

        tr = graph_to_wgs84(self.graph)
        rows = []
        steps = self._steps()
        for (trip_id, nodes, depart), trip_steps in zip(
                zip(self.routes["trip_id"], self.routes["nodes"], self.routes["depart_s"]), steps):
            t = dist = 0.0
            for step, node in enumerate(nodes):
                if step:
                    seg, _, bpr = trip_steps[step - 1]
                    t += bpr
                    dist += float(self.graph.edges[seg]["length"])
                x, y = self.graph.nodes[node]["x"], self.graph.nodes[node]["y"]
                lon, lat = tr.transform(x, y) if tr else (x, y)
                rows.append({"trip_id": trip_id, "step": step, "node": node, "lon": lon, "lat": lat,
                             "time": clock(float(depart) + t), "elapsed_s": round(t, 3),
                             "distance_m": round(dist, 3)})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------- validation
    def validate(self, *, rtol: float = 1e-9) -> RoutingPlan:
        """Re-check the plan from scratch; raise :class:`PlanValidationError` on any fault.

        Checks: every trip has exactly one route and no route serves an unknown
        trip; each route starts at its trip's origin, ends at its destination,
        and every step is a segment of the road graph; the reported travel
        times add up; the congestion recomputed from the routes equals
        ``objective``.  Returns the plan so calls chain.
        """
        problems: list[str] = []
        want = list(self.trips["trip_id"])
        have = list(self.routes["trip_id"])
        for t in want:
            c = have.count(t)
            if c != 1:
                problems.append(f"trip {t} has {c} routes, needs exactly 1")
        extra = set(have) - set(want)
        if extra:
            problems.append(f"routes for unknown trips {sorted(extra)[:5]}")
        trips = self.trips.set_index("trip_id")
        for col in ("depart_s", "vehicles"):
            if not np.array_equal(self.routes[col].to_numpy(), self.trips[col].to_numpy()):
                problems.append(f"routes' {col} differ from the trips'")
        for row in self.routes.itertuples(index=False):
            nodes = list(row.nodes)
            if row.trip_id not in trips.index:
                continue
            o, d = trips.loc[row.trip_id, "origin"], trips.loc[row.trip_id, "destination"]
            if len(nodes) < 2 or nodes[0] != o or nodes[-1] != d:
                problems.append(f"trip {row.trip_id}: route runs {nodes[:1]}..{nodes[-1:]}, not {o}..{d}")
            missing = [(u, v) for u, v in zip(nodes[:-1], nodes[1:]) if not self.graph.has_edge(u, v)]
            if missing:
                problems.append(f"trip {row.trip_id}: no road segment {missing[0][0]} -> {missing[0][1]}")
                continue
            tt = sum(float(self.graph.edges[u, v, fastest_edge(self.graph, u, v)[2]]["travel_time"])
                     for u, v in zip(nodes[:-1], nodes[1:]))
            if not np.isclose(tt, row.travel_time_s, rtol=1e-9, atol=1e-6):
                problems.append(f"trip {row.trip_id}: travel_time_s {row.travel_time_s} != {tt} recomputed")
        if not problems:
            recomputed = self.recompute_objective()
            if not np.isclose(recomputed, self.objective, rtol=rtol, atol=1e-6):
                problems.append(f"objective {self.objective} != {recomputed} recomputed from the routes")
        if problems:
            msg = "routing plan is invalid: " + "; ".join(problems)
            raise PlanValidationError(msg)
        return self

    # ---------------------------------------------------------------- outputs
    def to_geojson(self) -> str:
        """The routes as a GeoJSON FeatureCollection (WGS84), properties included."""
        feats = []
        for row in self.routes.itertuples(index=False):
            props = {c: getattr(row, c) for c in self.routes.columns if c != "geometry"}
            feats.append({"type": "Feature", "properties": props,
                          "geometry": json.loads(_shape_json(row.geometry))})
        return json.dumps({"type": "FeatureCollection", "features": feats}, default=json_default)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``plan.geojson``, ``itinerary.csv`` and ``segment_loads.geojson`` atomically."""
        out = Path(out_dir)
        seg = self.segment_loads()
        return {
            "plan": atomic_write_text(out / "plan.geojson", self.to_geojson()),
            "itinerary": atomic_write_text(out / "itinerary.csv", self.itinerary().to_csv(index=False)),
            "segment_loads": atomic_write_text(out / "segment_loads.geojson", seg.to_json(default=json_default)),
        }

    # ------------------------------------------------------------- simulation
    def simulate(self, *, seed: int = 1, workdir: str | Path | None = None, **kw: Any) -> SimulationResult:
        """Replay the plan in Eclipse SUMO: each trip's vehicles drive its route (:mod:`~optimizer.plans.simulation`).

        Trips depart at ``trips["depart_s"]`` (seconds since midnight) and are
        ``trips["vehicles"]`` vehicles each.  ``workdir`` keeps SUMO's files
        (None: a temporary folder, removed).  Other keywords go to
        :func:`~optimizer.plans.simulation.simulate_routes` (``time_to_teleport_s``,
        ``end_s``, ``network``).
        """
        from optimizer.plans.simulation import simulate_routes, work_folder

        trips = self.trips
        departs = trips["depart_s"].astype(float).tolist()
        vehicles = trips["vehicles"].astype(int).tolist()
        by_trip = dict(zip(self.routes["trip_id"], self.routes["nodes"]))
        lost = [t for t in trips["trip_id"] if t not in by_trip]
        if lost:
            msg = f"the plan has no route for trips {lost[:5]}; it cannot be simulated (see validate())"
            raise PlanValidationError(msg)
        routes = [list(by_trip[t]) for t in trips["trip_id"]]
        with work_folder(workdir) as work:
            return simulate_routes(self.graph, routes, departs, vehicles=vehicles, seed=seed,
                                   workdir=Path(work), **kw)

    def explore(self, *, tiles: str | None = "OpenStreetMap", offline: bool = False) -> folium.Map:
        """A folium map: segment loads coloured, routes on top, one layer per trip.

        With ``offline=True`` the map needs no network (Leaflet inlined, no tiles, no
        CDN: :mod:`optimizer.maps`): segment loads coloured and widened by load,
        routes on top, the load shown on hover.
        """
        import folium

        if offline:
            from optimizer.maps import map_of_layers
            from optimizer.maps import offline as make_offline

            seg_features = json.loads(self.segment_loads().to_json(default=json_default))["features"]
            m = map_of_layers([("plan", seg_features, json.loads(self.to_geojson())["features"])])
            return make_offline(m if m is not None else folium.Map(tiles=None))
        seg = self.segment_loads()
        m = seg.explore(column="load", cmap="YlOrRd", tiles=tiles, style_kwds={"weight": 6},
                        name="segment load", legend=True) if len(seg) else folium.Map(tiles=tiles)
        self.routes.drop(columns=["nodes"]).explore(m=m, column="trip_id", categorical=True,
                                                    style_kwds={"weight": 2}, name="routes", legend=False)
        folium.LayerControl().add_to(m)
        return m

    def __repr__(self) -> str:
        return (f"RoutingPlan(trips={len(self.routes)}, objective={self.objective:.6g} "
                f"{self.objective_units})")


def _as_text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (list, tuple)):
        return ";".join(map(str, v))
    return str(v)


def _shape_json(geom: Any) -> str:
    import shapely

    return shapely.to_geojson(geom)
