"""What the derived-data cache gives back equals what is computed without it; a tampered file is not believed."""

from __future__ import annotations

import json
import warnings

import pytest

import optimizer.inputs.grid as grid_module
from optimizer.inputs.cache import NO_CACHE_ENV_VAR, graph_fingerprint
from optimizer.inputs.grid import Grid
from optimizer.problems.traffic import Traffic
from optimizer.runs.scenarios import load_city


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    return tmp_path / "derived"


def test_candidate_routes_from_the_cache_equal_a_fresh_search(cache, monkeypatch):
    city = load_city("helsinki")
    first = Traffic.from_city(city, trips=40, routes=3, seed=11)
    (filed,) = (cache / "candidate-routes").glob("*.json")
    again = Traffic.from_city(city, trips=40, routes=3, seed=11)
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    fresh = Traffic.from_city(city, trips=40, routes=3, seed=11)
    assert first.candidates == again.candidates == fresh.candidates
    # a tampered file (a route through a road that is not there) is recomputed, not used
    paths = json.loads(filed.read_text())
    paths[0][0] = [paths[0][0][0], "nowhere", paths[0][0][-1]]
    filed.write_text(json.dumps(paths))
    monkeypatch.delenv(NO_CACHE_ENV_VAR)
    assert Traffic.from_city(city, trips=40, routes=3, seed=11).candidates == fresh.candidates
    assert json.loads(filed.read_text())[0][0][1] != "nowhere"  # and filed again


def test_a_changed_graph_is_a_new_key():
    city = load_city("helsinki")
    g = city.graph.copy()
    before = graph_fingerprint(g, "travel_time")
    u, v, k = next(iter(g.edges(keys=True)))
    g.edges[u, v, k]["travel_time"] += 1.0
    assert graph_fingerprint(g, "travel_time") != before


def test_city_grid_from_the_cache_equals_a_fresh_build(cache, monkeypatch):
    from pandapower.toolbox import nets_equal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setattr(grid_module, "_CITY_NETS", {})
        built = Grid.load("city:helsinki")  # built and filed
        assert len(list((cache / "city-grid").glob("*.json"))) == 1
        monkeypatch.setattr(grid_module, "_CITY_NETS", {})
        read = Grid.load("city:helsinki")  # read back from the file
    assert read.name == built.name == "city:helsinki" and read.description == built.description
    assert nets_equal(read.net, built.net, check_only_results=False)


def test_sumo_network_from_the_cache_is_the_same_network(cache, helsinki, tmp_path):
    from optimizer.plans.simulation import sumo_network

    first = sumo_network(helsinki.graph, tmp_path / "a")  # netconvert runs, its output is filed
    filed = sorted((cache / "sumo-net").glob("*.bin"))
    assert filed and first.net_file.read_bytes() in {f.read_bytes() for f in filed}
    again = sumo_network(helsinki.graph, tmp_path / "b")  # read back, checked against the graph as ever
    assert sorted((cache / "sumo-net").glob("*.bin")) == filed  # nothing new filed
    assert again.net_file.read_bytes() == first.net_file.read_bytes()
    assert again.edge_ids == first.edge_ids and again._successors == first._successors
    assert again.turns_added == first.turns_added and again.lanes == first.lanes
