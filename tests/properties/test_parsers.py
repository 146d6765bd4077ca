"""Property tests of every input parser, on files drawn by hypothesis.

Two kinds of property, for the trips CSV, the stops CSV, TSPLIB / CVRPLIB
instances, pandapower JSON / MATPOWER grids and OSM XML cities:

a) round trips: a random *valid* file, written the way a user would, reads back
   to the same values (nodes, ids, demands, costs, coordinates, names);
b) garbage: random bytes, random text, and valid files with random damage
   (bad values, cut short, lines replaced) either read fine or raise the
   parser's own clear error (an :class:`~optimizer.errors.InvalidInputError`
   subclass, one line, naming the file), never another exception.

No test touches the network: the files are local, and ``tests/conftest.py``
refuses connections.  Settings come from the ``ci`` profile (see
``tests/properties/conftest.py``; registered here too when that file is absent):
run more examples with ``CITYOPT_HYPOTHESIS_PROFILE=thorough``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import osmnx  # noqa: F401 - imported here, not inside a strategy: its import draws from `random`
import pandapower as pp
import pandapower.networks as pn
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from optimizer.errors import (
    CityError,
    DemandError,
    GridError,
    InvalidCityFileError,
    InvalidGridFileError,
    InvalidInputError,
)
from optimizer.inputs.city import City
from optimizer.inputs.demand import trips_from_csv
from optimizer.inputs.grid import Grid
from optimizer.inputs.instances import InstanceFileError, read_instance
from optimizer.io import NAME_PATTERN
from optimizer.problems.fleet.problem import Fleet
from tests.helpers import grid_graph
from tests.optimizer.test_grid import CASE5_M


def _profile() -> settings:
    name = os.environ.get("CITYOPT_HYPOTHESIS_PROFILE", "ci")
    try:
        return settings.get_profile(name)
    except InvalidArgument:  # tests/properties/conftest.py not present: the same profiles
        common = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
        settings.register_profile("ci", max_examples=30, derandomize=True, database=None, **common)
        settings.register_profile("thorough", max_examples=500, **common)
        return settings.get_profile(name)


PROFILE = _profile()
#: For the slower parsers (a pandapower net, an OSM file per example): half the examples.
SLOW = settings(PROFILE, max_examples=max(10, PROFILE.max_examples // 2))

GRAPH = grid_graph(4, 4)  # 16 nodes near Helsinki, 150 m apart; never changed by the parsers
NODES = sorted(GRAPH.nodes)


@contextlib.contextmanager
def _file(name: str, data: str | bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
        yield path


def _clear(call: Callable[[], object], path: Path, *errors: type[InvalidInputError]) -> None:
    """``call()`` succeeds or raises one of ``errors``: one line that names the file; nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except errors as exc:
            event(f"refused: {type(exc).__name__}")
            message = str(exc)
            assert "\n" not in message, message
            assert path.name in message, message
            assert "Traceback" not in message
        else:
            event("read")


def _xy(node: int) -> tuple[float, float]:
    return GRAPH.nodes[node]["x"], GRAPH.nodes[node]["y"]


# ====================================================================== trips CSV
trip_pairs = st.lists(
    st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)).filter(lambda p: p[0] != p[1]),
    min_size=1, max_size=8,
)


@SLOW
@given(pairs=trip_pairs, with_ids=st.booleans(), ids=st.lists(st.integers(-10**9, 10**9), min_size=8,
                                                               max_size=8, unique=True),
       jitter=st.floats(-2e-6, 2e-6))
def test_trips_csv_round_trip(pairs: list[tuple[int, int]], with_ids: bool, ids: list[int], jitter: float) -> None:
    head = ("trip_id," if with_ids else "") + "origin_lon,origin_lat,dest_lon,dest_lat\n"
    lines = []
    for i, (o, d) in enumerate(pairs):
        (ox_, oy), (dx, dy) = _xy(o), _xy(d)
        lines.append((f"{ids[i]}," if with_ids else "") + f"{ox_ + jitter!r},{oy - jitter!r},{dx!r},{dy!r}")
    with _file("trips.csv", head + "\n".join(lines) + "\n") as path:
        trips = trips_from_csv(GRAPH, path)
    assert trips["origin"].tolist() == [o for o, _ in pairs]
    assert trips["destination"].tolist() == [d for _, d in pairs]
    assert trips["trip_id"].tolist() == (ids[: len(pairs)] if with_ids else list(range(len(pairs))))
    assert trips["origin_lon"].tolist() == [_xy(o)[0] for o, _ in pairs]


# cell values a careless or hostile file may hold
cells = st.one_of(
    st.floats(24.93, 24.95).map(repr), st.floats(60.16, 60.18).map(repr),        # plausible
    st.floats(allow_nan=True, allow_infinity=True).map(repr),                    # anything, nan, inf
    st.sampled_from(["", "nan", "inf", "-inf", "1e308", "-1e308", "NaN", "null", "0x1F", "1,5", '"'
                     , "24.94.1", "60°10'", " 24.94 ", "∞", "\x00", "9" * 400]),
    st.text(max_size=12),
)


@SLOW
@given(rows=st.lists(st.lists(cells, min_size=3, max_size=5), min_size=0, max_size=6),
       header=st.sampled_from(["origin_lon,origin_lat,dest_lon,dest_lat", "trip_id,origin_lon,origin_lat,dest_lon,dest_lat",
                               "origin_lon,origin_lat,dest_lon", "a,b,c,d", "origin_lon,origin_lat,dest_lon,dest_lat,dest_lat"]))
def test_trips_csv_with_bad_values_gives_a_demand_error(rows: list[list[str]], header: str) -> None:
    text = header + "\n" + "".join(",".join(r) + "\n" for r in rows)
    with _file("trips.csv", text) as path:
        _clear(lambda: trips_from_csv(GRAPH, path), path, DemandError)


@PROFILE
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_trips_and_stops_csv_garbage_gives_a_demand_error(data: bytes) -> None:
    with _file("garbage.csv", data) as path:
        _clear(lambda: trips_from_csv(GRAPH, path), path, DemandError)
        _clear(lambda: Fleet.from_csv(GRAPH, path), path, DemandError)


# ====================================================================== stops CSV
@SLOW
@given(stops=st.lists(st.sampled_from(NODES), min_size=2, max_size=6, unique=True),
       demands=st.lists(st.integers(0, 50), min_size=6, max_size=6), with_demand=st.booleans())
def test_stops_csv_round_trip(stops: list[int], demands: list[int], with_demand: bool) -> None:
    head = "lon,lat" + (",demand" if with_demand else "") + ",name\n"
    body = "".join(f"{_xy(v)[0]!r},{_xy(v)[1]!r}" + (f",{demands[i]}" if with_demand else "") + f",place {i}\n"
                   for i, v in enumerate(stops))
    with _file("stops.csv", head + body) as path:
        fleet = Fleet.from_csv(GRAPH, path)
    assert fleet.nodes == stops
    assert fleet.n == len(stops) - 1
    expected = [float(d) for d in demands[1 : len(stops)]] if with_demand else [1.0] * fleet.n
    assert fleet.demands.tolist() == expected
    assert fleet.names[1] == "stop 1: place 1"


@SLOW
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=4), min_size=0, max_size=6),
       header=st.sampled_from(["lon,lat", "lon,lat,demand", "lat,lon,demand,name", "lon", "x,y"]))
def test_stops_csv_with_bad_values_gives_a_demand_error(rows: list[list[str]], header: str) -> None:
    text = header + "\n" + "".join(",".join(r) + "\n" for r in rows)
    with _file("stops.csv", text) as path:
        _clear(lambda: Fleet.from_csv(GRAPH, path), path, DemandError)


# ====================================================================== TSPLIB / CVRPLIB
names = st.text(st.sampled_from("abcXYZ019-_./ :\\~"), min_size=1, max_size=30).map(str.strip).filter(
    lambda s: bool(s) and s[0].isalpha())
coords = st.integers(-10_000, 10_000)


@st.composite
def instances(draw: st.DrawFn) -> dict:
    dim = draw(st.integers(2, 12))
    xy = draw(st.lists(st.tuples(coords, coords), min_size=dim, max_size=dim))
    cvrp = draw(st.booleans())
    depot = draw(st.integers(0, dim - 1))
    demand = [0 if i == depot else draw(st.integers(0, 20)) for i in range(dim)]
    capacity = max(max(demand), 1) + draw(st.integers(0, 40))
    return {"name": draw(names), "dim": dim, "xy": xy, "cvrp": cvrp, "depot": depot, "demand": demand,
            "capacity": capacity}


def _tsplib(inst: dict) -> str:
    kind = "CVRP" if inst["cvrp"] else "TSP"
    lines = [f"NAME : {inst['name']}", "COMMENT : drawn by hypothesis", f"TYPE : {kind}",
             f"DIMENSION : {inst['dim']}", "EDGE_WEIGHT_TYPE : EUC_2D"]
    if inst["cvrp"]:
        lines.append(f"CAPACITY : {inst['capacity']}")
    lines.append("NODE_COORD_SECTION")
    lines += [f"{i + 1} {x} {y}" for i, (x, y) in enumerate(inst["xy"])]
    if inst["cvrp"]:
        lines.append("DEMAND_SECTION")
        lines += [f"{i + 1} {d}" for i, d in enumerate(inst["demand"])]
        lines += ["DEPOT_SECTION", str(inst["depot"] + 1), "-1"]
    return "\n".join([*lines, "EOF"]) + "\n"


@PROFILE
@given(inst=instances())
def test_tsplib_and_cvrplib_round_trip(inst: dict) -> None:
    with _file("inst.vrp", _tsplib(inst)) as path:
        d = read_instance(path)
    depot = inst["depot"] if inst["cvrp"] else 0
    order = [depot] + [i for i in range(inst["dim"]) if i != depot]
    xy = np.array(inst["xy"], dtype=float)[order]
    nint = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + 0.5)  # TSPLIB's nint(euclid)
    assert np.array_equal(d["cost"], nint)
    assert np.array_equal(d["coords"], xy)
    assert d["raw_name"] == inst["name"]
    assert NAME_PATTERN.fullmatch(d["name"]) and d["name"] not in (".", "..")
    if inst["cvrp"]:
        assert d["capacity"] == inst["capacity"]
        assert d["demands"].tolist() == [float(inst["demand"][i]) for i in order[1:]]


@PROFILE
@given(matrix=st.integers(2, 7).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 10**6), min_size=n, max_size=n), min_size=n, max_size=n)))
def test_explicit_full_matrix_round_trip(matrix: list[list[int]]) -> None:
    n = len(matrix)
    text = (f"NAME : m{n}\nTYPE : ATSP\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : EXPLICIT\n"
            f"EDGE_WEIGHT_FORMAT : FULL_MATRIX\nEDGE_WEIGHT_SECTION\n"
            + "".join(" ".join(map(str, row)) + "\n" for row in matrix) + "EOF\n")
    with _file("m.atsp", text) as path:
        d = read_instance(path)
    assert d["cost"].tolist() == [[float(v) for v in row] for row in matrix]


damage = st.one_of(
    st.text(max_size=20), st.sampled_from(["nan", "inf", "1e400", "-1", "0", "99999999", "EOF", "X_SECTION",
                                           ":", "DIMENSION : 3", "-1e308", "1.5", ""]),
)


@PROFILE
@given(inst=instances(), where=st.integers(0, 10**6), bad=damage, how=st.sampled_from(["line", "token", "cut"]))
def test_damaged_instance_gives_an_instance_error(inst: dict, where: int, bad: str, how: str) -> None:
    lines = _tsplib(inst).splitlines()
    i = where % len(lines)
    if how == "line":
        lines[i] = bad
    elif how == "token":
        tokens = lines[i].split() or [""]
        tokens[where % len(tokens)] = bad
        lines[i] = " ".join(tokens)
    else:
        lines = lines[:i]
    with _file("damaged.vrp", "\n".join(lines) + "\n") as path:
        _clear(lambda: Fleet.from_instance(path, vehicles=3), path, InstanceFileError, DemandError)


@PROFILE
@given(data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_instance_garbage_gives_an_instance_error(data: bytes) -> None:
    with _file("garbage.tsp", data) as path:
        _clear(lambda: read_instance(path), path, InstanceFileError)


# ====================================================================== grids
CASE9_JSON = pp.to_json(pn.case9())


def _grid(path: Path) -> None:
    Grid.load(path).units()


@SLOW
@given(where=st.integers(0, len(CASE9_JSON)), bad=st.text(max_size=6), cut=st.booleans())
def test_damaged_pandapower_json_gives_a_grid_error(where: int, bad: str, cut: bool) -> None:
    text = CASE9_JSON[:where] if cut else CASE9_JSON[:where] + bad + CASE9_JSON[where + len(bad):]
    with _file("net.json", text) as path:
        _clear(lambda: _grid(path), path, InvalidGridFileError, GridError)


@SLOW
@given(where=st.integers(0, len(CASE5_M)), bad=st.text(max_size=6), cut=st.booleans())
def test_damaged_matpower_case_gives_a_grid_error(where: int, bad: str, cut: bool) -> None:
    text = CASE5_M[:where] if cut else CASE5_M[:where] + bad + CASE5_M[where + len(bad):]
    with _file("case5.m", text) as path:
        _clear(lambda: _grid(path), path, InvalidGridFileError, GridError)


@SLOW
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
       suffix=st.sampled_from([".json", ".m", ".mat"]))
def test_grid_garbage_gives_a_grid_error(data: bytes, suffix: str) -> None:
    with _file("grid" + suffix, data) as path:
        _clear(lambda: _grid(path), path, InvalidGridFileError, GridError)


@PROFILE
@given(module=st.from_regex(r"[a-z_][a-z0-9_]{0,12}(\.[a-z_][a-z0-9_]{0,8}){0,2}", fullmatch=True),
       cls=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))
def test_only_pandapower_own_modules_reach_pandapower(module: str, cls: str) -> None:
    allowed = module.split(".")[0] in ("pandapower", "pandas", "numpy", "builtins", "networkx", "shapely",
                                       "geopandas")
    assume(not allowed)
    top = json.loads(CASE9_JSON)
    top["_object"]["extra"] = {"_module": module, "_class": cls, "_object": "{}"}
    with _file("net.json", json.dumps(top)) as path, pytest.raises(InvalidGridFileError, match=f"'{module}'"):
        Grid.load(path)


# ====================================================================== OSM XML
TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="cityopt-tests">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1700" lon="{lon}"/>
  <node id="3" lat="{lat}" lon="24.9418"/>
  <node id="4" lat="60.1709" lon="24.9400"/>
  <way id="101"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/></way>
  <way id="102"><nd ref="2"/><nd ref="4"/><tag k="highway" v="{kind}"/></way>
</osm>
"""


@SLOW
@given(lat=cells, lon=cells, kind=st.sampled_from(["residential", "footway", "primary", "", "<"]))
def test_osm_with_bad_values_gives_a_city_error(lat: str, lon: str, kind: str) -> None:
    text = TINY_OSM.format(lat=lat.replace('"', "&quot;"), lon=lon.replace('"', "&quot;"), kind=kind)
    with _file("city.osm", text) as path:
        _clear(lambda: City.load(path), path, CityError)


@SLOW
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
       suffix=st.sampled_from([".osm", ".osm.pbf", ".osm.bz2", ".osm.gz"]))
def test_osm_garbage_gives_an_invalid_city_file_error(data: bytes, suffix: str) -> None:
    with _file("city" + suffix, data) as path:
        _clear(lambda: City.load(path), path, InvalidCityFileError)

