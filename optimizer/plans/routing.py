"""Plans: what a planner acts on, re-validated from scratch and written to files.

A :class:`RoutingPlan` is a GeoDataFrame with one LineString per trip (WGS84,
following the road geometry) and the node ids it passes.  ``validate()`` trusts
nothing the solver said: it re-walks every route on the road graph and
recomputes the congestion from the routes alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import PlanValidationError
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

__all__ = ["RoutingPlan"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class RoutingPlan:
    """One route per trip on the road graph.

    Attributes
    ----------
    routes : geopandas.GeoDataFrame
        Indexed by ``trip_id``; columns ``trip_id``, ``origin``, ``destination``,
        ``route_index`` (which candidate), ``nodes`` (node ids in order),
        ``travel_time_s``, ``length_m`` and ``geometry`` (LineString, WGS84).
    graph : networkx.MultiDiGraph
        The road graph the routes run on.
    trips : pandas.DataFrame
        The trips the plan must serve (``trip_id``, ``origin``, ``destination``).
    objective : float
        Congestion reported by the solver side (re-checked by :meth:`validate`).
    objective_units : str
    """

    routes: gpd.GeoDataFrame
    graph: nx.MultiDiGraph
    trips: pd.DataFrame
    objective: float
    objective_units: str = "vehicle-seconds"

    @classmethod
    def from_routes(cls, graph: nx.MultiDiGraph, trips: pd.DataFrame, node_lists: list[list[Any]], *,
                    route_index: list[int] | None = None, objective: float | None = None,
                    objective_units: str = "vehicle-seconds") -> RoutingPlan:
        """Build a plan from one node list per trip (in ``trips`` order)."""
        import geopandas as gpd

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
                "travel_time_s": float(sum(graph.edges[u, v, k]["travel_time"]
                                           for (u, v), k in zip(zip(nodes[:-1], nodes[1:]), keys))),
                "length_m": float(sum(graph.edges[u, v, k]["length"]
                                      for (u, v), k in zip(zip(nodes[:-1], nodes[1:]), keys))),
                "geometry": route_line(graph, nodes, tr),
            })
        gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)
        gdf.index = gdf["trip_id"].to_numpy()
        gdf.index.name = "trip"
        plan = cls(gdf, graph, trips[["trip_id", "origin", "destination"]].copy(), float("nan"), objective_units)
        obj = plan.recompute_objective() if objective is None else float(objective)
        object.__setattr__(plan, "objective", obj)
        return plan

    # ---------------------------------------------------------------- scoring
    def _segment_table(self) -> dict[tuple[Any, Any, Any], int]:
        loads: dict[tuple[Any, Any, Any], int] = {}
        for nodes in self.routes["nodes"]:
            for u, v in zip(nodes[:-1], nodes[1:]):
                key = fastest_edge(self.graph, u, v)[2]
                loads[(u, v, key)] = loads.get((u, v, key), 0) + 1
        return loads

    def recompute_objective(self) -> float:
        """Congestion ``sum_e w_e load_e**2`` from the routes alone."""
        return round(float(sum(round_time_s(self.graph.edges[s]["travel_time"]) * n * n
                               for s, n in self._segment_table().items())), 6)

    def segment_loads(self) -> gpd.GeoDataFrame:
        """Per used segment: ``u, v, key, name, load, weight_s, contribution``, ``capacity_vph``,
        ``volume_capacity`` and ``bpr_time_s`` (every trip within one hour, as the summary's
        ``assessment``), and geometry (WGS84)."""
        import geopandas as gpd
        from shapely.ops import transform

        from optimizer.inputs.capacity import bpr_time_s, segment_capacity

        tr = graph_to_wgs84(self.graph)
        rows = []
        for (u, v, k), n in self._segment_table().items():
            d = self.graph.edges[u, v, k]
            w = round_time_s(d["travel_time"])
            line = edge_line(self.graph, u, v, k)
            rows.append({"u": u, "v": v, "key": k, "name": _as_text(d.get("name")),
                         "highway": _as_text(d.get("highway")), "length_m": float(d["length"]),
                         "load": int(n), "weight_s": w, "contribution": w * n * n,
                         "capacity_vph": (cap := segment_capacity(d)), "volume_capacity": n / cap,
                         "bpr_time_s": bpr_time_s(w, float(n), cap),
                         "geometry": transform(tr.transform, line) if tr else line})
        gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)
        if len(gdf):
            gdf = gdf.sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)
        return gdf

    def itinerary(self) -> pd.DataFrame:
        """One row per trip and node: ``trip_id, step, node, lon, lat, elapsed_s, distance_m``."""
        import pandas as pd

        tr = graph_to_wgs84(self.graph)
        rows = []
        for trip_id, nodes in zip(self.routes["trip_id"], self.routes["nodes"]):
            t = dist = 0.0
            for step, node in enumerate(nodes):
                if step:
                    u = nodes[step - 1]
                    d = self.graph.edges[u, node, fastest_edge(self.graph, u, node)[2]]
                    t += float(d["travel_time"])
                    dist += float(d["length"])
                x, y = self.graph.nodes[node]["x"], self.graph.nodes[node]["y"]
                lon, lat = tr.transform(x, y) if tr else (x, y)
                rows.append({"trip_id": trip_id, "step": step, "node": node, "lon": lon, "lat": lat,
                             "elapsed_s": round(t, 3), "distance_m": round(dist, 3)})
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
