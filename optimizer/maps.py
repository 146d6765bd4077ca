"""Interactive, offline route maps (folium with Leaflet inlined) for plans, notebooks and the report.

A folium map loads Leaflet (and jQuery, Bootstrap, Font Awesome) from CDNs and its
base map from a tile server, so in a report opened offline it is an empty box
with console errors.  :func:`traffic_map_html` builds the map with folium, drops
every CDN asset folium would link, inlines the Leaflet 1.9.3 that the
``xstatic-leaflet`` package ships (the version folium 0.20 links), and draws no
tiles: the streets themselves are the map, each segment coloured by its load.
The result is one ``<iframe srcdoc=...>``, isolated from the page's styles,
that works with no network.

One overlay per plan (e.g. the shortest-path baseline and the best plan), each
with its segment loads and routes, switched in the layer control; segments show
their load on hover.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Any

__all__ = ["MAX_MAP_ROUTES", "busiest_routes", "feature_lines", "leaflet_assets", "map_of_layers", "offline",
           "read_features", "standalone_html", "traffic_map", "traffic_map_html"]


@functools.cache
def leaflet_assets() -> tuple[str, str]:
    """``(leaflet.js, leaflet.css)`` as text, from the ``xstatic-leaflet`` package.

    >>> js, css = leaflet_assets()
    >>> "Leaflet" in js[:400] and ".leaflet-container" in css
    True
    """
    from xstatic.pkg import leaflet

    base = Path(leaflet.BASE_DIR)
    return (base / "leaflet.js").read_text(encoding="utf-8"), (base / "leaflet.css").read_text(encoding="utf-8")


def read_features(path: Path) -> list[dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("features", [])
    except (OSError, ValueError):
        return []


def feature_lines(features: list[dict[str, Any]]) -> list[tuple[list[tuple[float, float]], dict[str, Any]]]:
    out = []
    for f in features:
        g = f.get("geometry") or {}
        if g.get("type") == "LineString":
            out.append(([tuple(c[:2]) for c in g["coordinates"]], f.get("properties") or {}))
        elif g.get("type") == "MultiLineString":
            out += [([tuple(c[:2]) for c in part], f.get("properties") or {}) for part in g["coordinates"]]
    return out


def _strip_cdn_assets(element: Any) -> None:
    """Drop the CDN scripts and stylesheets of ``element`` and its children (instance attributes)."""
    if hasattr(element, "default_js"):
        element.default_js = []
    if hasattr(element, "default_css"):
        element.default_css = []
    for child in getattr(element, "_children", {}).values():
        _strip_cdn_assets(child)


def traffic_map(runs: list[tuple[str, Path]], *, show: str | None = None,
                background: list[Path] = ()) -> Any | None:
    """A folium map of each run folder's ``segment_loads.geojson`` and ``plan.geojson``.

    Parameters
    ----------
    runs : list of (label, folder)
        One overlay per run, named by its label.
    show : str, optional
        The label whose overlay is visible at first (default: the last run).
    background : list of folder
        Run folders whose segments, drawn in light grey under every overlay, show each
        street the instance's plans use.

    Returns
    -------
    folium.Map or None
        None where no run has plan files.
    """
    layers = [(lab, read_features(d / "segment_loads.geojson"), read_features(d / "plan.geojson")) for lab, d in runs]
    streets = [f for d in background for f in read_features(d / "segment_loads.geojson")]
    return map_of_layers(layers, show=show, streets=streets)


#: Most routes drawn per overlay; beyond it, those carrying the most vehicles (the segment loads, drawn in
#: full, show where all of them go).  A city-sized plan's 1,000 routes made a 2.7 MB map of overlapping lines.
MAX_MAP_ROUTES = 200
#: Route properties kept on the map (the rest, e.g. node lists, stay in ``plan.geojson``).
_ROUTE_KEYS = ("trip_id", "route_index", "vehicles", "travel_time_s", "length_m")
#: Decimal places of the coordinates drawn (1e-6 degree: about 0.1 m).
_DECIMALS = 6


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def r(c: Any) -> Any:
        return [r(x) for x in c] if isinstance(c, (list, tuple)) else round(float(c), _DECIMALS)

    return {"type": geometry.get("type"), "coordinates": r(geometry.get("coordinates", []))}


def _slim(features: list[dict[str, Any]], keys: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """Features with rounded coordinates and only the properties ``keys`` (all where None)."""
    out = []
    for f in features:
        props = f.get("properties") or {}
        out.append({"type": "Feature", "geometry": _rounded(f.get("geometry") or {}),
                    "properties": dict(props) if keys is None else {k: props[k] for k in keys if k in props}})
    return out


def busiest_routes(routes: list[dict[str, Any]], most: int = MAX_MAP_ROUTES) -> list[dict[str, Any]]:
    """The ``most`` route features carrying the most vehicles (ties: in file order).

    >>> r = [{"properties": {"vehicles": v}} for v in (1, 5, 2, 5)]
    >>> [f["properties"]["vehicles"] for f in busiest_routes(r, 3)]
    [5, 5, 2]
    """
    if len(routes) <= most:
        return list(routes)
    order = sorted(range(len(routes)), key=lambda i: -float((routes[i].get("properties") or {}).get("vehicles", 1) or 1))
    return [routes[i] for i in order[:most]]


def map_of_layers(layers: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]], *,
                  show: str | None = None, streets: list[dict[str, Any]] = (),
                  max_routes: int = MAX_MAP_ROUTES) -> Any | None:
    """A folium map (no tiles) of ``(label, segment-load features, route features)`` overlays.

    Segments are coloured and widened by their ``load`` property (YlOrRd, shared scale),
    routes drawn thin on top (at most ``max_routes`` per overlay, those with the most
    vehicles, the layer's name saying so); ``streets`` (features) in grey under
    everything.  Coordinates are drawn to 1e-6 degree.  None where every layer is empty.
    """
    import folium
    from matplotlib import colormaps
    from matplotlib.colors import Normalize, to_hex

    layers = [layer for layer in layers if layer[1] or layer[2]]
    if not layers:
        return None
    loads = [float((f.get("properties") or {}).get("load", 1) or 1) for _, seg, _ in layers for f in seg]
    norm = Normalize(vmin=0.5, vmax=max(max(loads, default=1.0), 1.5))
    cmap = colormaps["YlOrRd"]
    coords = [c for _, seg, routes in layers for line, _ in feature_lines(seg + routes) for c in line]
    lons, lats = [c[0] for c in coords], [c[1] for c in coords]
    m = folium.Map(tiles=None, control_scale=True)
    m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    show = show or layers[-1][0]
    if streets:
        folium.GeoJson({"type": "FeatureCollection", "features": _slim(streets, ())},
            name="streets of the plans", control=False,
            style_function=lambda _f: {"color": "#c8c8c8", "weight": 4, "opacity": 1.0}).add_to(m)
    for lab, seg, routes in layers:
        group = folium.FeatureGroup(name=lab, overlay=True, show=lab == show)
        if routes:
            drawn = busiest_routes(routes, max_routes)
            name = f"{lab} routes" + (f" ({len(drawn)} of {len(routes)}, most vehicles)" if len(drawn) < len(routes)
                                      else "")
            folium.GeoJson({"type": "FeatureCollection", "features": _slim(drawn, _ROUTE_KEYS)}, name=name,
                           style_function=lambda _f: {"color": "#4a6fa5", "weight": 1, "opacity": 0.5}
                           ).add_to(group)
        if seg:
            seg = _slim(seg, None)
            for f in seg:
                load = float((f.get("properties") or {}).get("load", 1) or 1)
                f.setdefault("properties", {})["_style"] = {"color": to_hex(cmap(norm(load))),
                                                            "weight": 2 + 8 * load / norm.vmax, "opacity": 0.9}
            tooltip_fields = [k for k in ("load", "name", "length") if k in (seg[0].get("properties") or {})]
            folium.GeoJson({"type": "FeatureCollection", "features": seg}, name=f"{lab} segment loads",
                           style_function=lambda f: f["properties"]["_style"],
                           tooltip=folium.GeoJsonTooltip(tooltip_fields) if tooltip_fields else None,
                           ).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def offline(m: Any) -> Any:
    """Make folium map ``m`` work with no network, in place: every CDN script and stylesheet of
    its elements dropped, Leaflet inlined at the top of its header.  Returns ``m``.

    Call it once the map is complete (an element added later links its own CDN assets), and
    only on maps that need nothing beyond Leaflet (no branca colour-map legends, which need
    d3, nor awesome-markers icons).
    """
    from branca.element import Element

    _strip_cdn_assets(m)
    root = m.get_root()
    _strip_cdn_assets(root)
    js, css = leaflet_assets()
    root.header.add_child(Element(f"<style>{css}</style>\n<script>{js}</script>\n"), name="leaflet_inline", index=0)
    return m


def standalone_html(m: Any) -> str:
    """The whole HTML document of folium map ``m`` (made :func:`offline` first)."""
    return offline(m).get_root().render()


def traffic_map_html(runs: list[tuple[str, Path]], *, height_px: int = 480, show: str | None = None,
                     background: list[Path] = ()) -> str | None:
    """:func:`traffic_map` as an ``<iframe srcdoc>`` for the report (None without plan files)."""
    m = traffic_map(runs, show=show, background=background)
    if m is None:
        return None
    doc = standalone_html(m)
    return (f'<iframe class="route-map" title="interactive map of routes and segment loads" '
            f'style="width:100%;height:{int(height_px)}px;border:1px solid #ccc" '
            f'srcdoc="{html.escape(doc, quote=True)}"></iframe>')
