"""Fleet routing: QUBO vs brute force, OR-Tools Routing vs brute force, plans, bad input."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from optimizer import solve
from optimizer.errors import DemandError, InvalidInputError, PlanValidationError
from optimizer.inputs.instances import InstanceFileError, read_instance
from optimizer.inputs.roads import distance_matrices
from optimizer.problems.fleet.problem import Fleet, brute_force
from solvers.qubo import index_bits

DATA = Path(__file__).resolve().parents[1] / "data"


def _tour_cost(C: np.ndarray, order: tuple[int, ...]) -> float:
    seq = (0, *order, 0)
    return float(sum(C[a, b] for a, b in zip(seq[:-1], seq[1:])))


def _independent_energy(C: np.ndarray, X: np.ndarray, P: float) -> np.ndarray:
    """Tour length + penalties, written out from the position-encoding formula (one vehicle)."""
    n = C.shape[0] - 1
    Y = X.reshape(-1, n, n).astype(float)  # [assignment, stop, position]
    T = Y[:, :, 0] @ C[0, 1:] + Y[:, :, n - 1] @ C[1:, 0]
    Cs = C[1:, 1:].copy()
    np.fill_diagonal(Cs, 0.0)
    for p in range(n - 1):
        T += np.einsum("ms,st,mt->m", Y[:, :, p], Cs, Y[:, :, p + 1])
    rows = ((1 - Y.sum(axis=2)) ** 2).sum(axis=1)
    cols = ((1 - Y.sum(axis=1)) ** 2).sum(axis=1)
    return T + P * (rows + cols)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tsp_qubo_every_assignment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    C = rng.integers(1, 60, size=(5, 5)).astype(float)  # asymmetric, 4 stops: 16 variables
    prob = Fleet(C)
    q = prob.to_qubo()
    assert q.num_variables == 16 and q.metadata["problem"] == "fleet"
    X = index_bits(np.arange(1 << 16), 16)
    E = q.energies(X)
    np.testing.assert_allclose(E, _independent_energy(prob.cost, X, prob.penalty), atol=1e-6)
    best = min(_tour_cost(prob.cost, perm) for perm in itertools.permutations(range(1, 5)))
    feasible = np.array([prob.is_feasible(x) for x in X])
    assert feasible.sum() == 24  # 4! permutations
    for x, e in zip(X[feasible], E[feasible]):
        assert e == pytest.approx(prob.objective(x), abs=1e-6)
    assert E[~feasible].min() > best  # penalty large enough
    assert E.min() == pytest.approx(best, abs=1e-6)
    assert prob.objective(X[int(np.argmin(E))]) == pytest.approx(brute_force(prob)[0])


def test_onehot_groups_are_rows_with_exact_penalty() -> None:
    prob = Fleet(np.random.default_rng(4).integers(1, 30, size=(4, 4)).astype(float))
    q = prob.to_qubo()
    assert len(q.onehot) == 3 and all(len(g) == 3 for g in q.onehot)
    assert q.metadata["onehot_penalty"] == prob.penalty
    # dropping the row penalties (what the XY mixer does) leaves the tour cost on row-feasible states
    from solvers.qaoa.solver import cost_qubo_for

    cq, dropped = cost_qubo_for(q, "xy-ring")
    assert dropped
    for perm in itertools.permutations(range(1, 4)):
        bits = prob.bits_for([list(perm)])
        assert cq.energy(bits) == pytest.approx(prob.objective(bits), abs=1e-6)


def test_cvrp_qubo_minimum_is_brute_force() -> None:
    rng = np.random.default_rng(7)
    C = rng.integers(1, 40, size=(4, 4)).astype(float)
    prob = Fleet(C, vehicles=2, capacity=2, demands=[1, 1, 1])
    q = prob.to_qubo()
    assert q.num_variables <= 20
    ex = solve(prob, "exact")
    opt, _ = brute_force(prob)
    assert ex.energy == pytest.approx(opt, abs=1e-6)
    assert prob.objective(ex.bits) == pytest.approx(opt)


def test_capacity_slack_penalty() -> None:
    prob = Fleet(np.random.default_rng(1).integers(1, 20, size=(4, 4)).astype(float), vehicles=2,
                 capacity=3, demands=[2, 1, 2])
    assert prob.slack  # two slots could carry 4 > 3
    opt, routes = brute_force(prob)
    bits = prob.bits_for(routes)
    assert prob.to_qubo().energy(bits) == pytest.approx(opt, abs=1e-6)
    with pytest.raises(InvalidInputError, match="capacity"):
        prob.bits_for([[1, 3], [2]])  # 4 > 3


@pytest.mark.parametrize("name", ["tiny6.tsp", "tiny-n7-k2.vrp"])
def test_routing_equals_brute_force_on_instances(name: str) -> None:
    prob = Fleet.from_instance(DATA / name)
    sol = solve(prob, "routing", time_limit_s=1)
    opt, _ = brute_force(prob)
    assert sol.info["objective"] == pytest.approx(opt)
    assert math.isnan(sol.energy)  # a native solver builds no QUBO ...
    assert prob.to_qubo().energy(sol.bits) == pytest.approx(opt, abs=1e-6)  # ... but its bits align with it
    prob.decode(sol).validate()


def test_published_optimum_of_a_literature_instance_is_reproduced() -> None:
    """A-n32-k5 (Augerat et al., optimum 784), bundled with the benchmarks: its published optimal
    routes cost exactly 784 through our reader, TSPLIB rounding and objective, and pass validate()."""
    prob = Fleet.from_instance(Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "A-n32-k5.vrp")
    assert prob.num_vehicles == 5 and prob.n == 31
    routes = [[21, 31, 19, 17, 13, 7, 26], [12, 1, 16, 30], [27, 24],
              [29, 18, 8, 9, 22, 15, 10, 25, 5, 20], [14, 28, 11, 4, 23, 3, 2, 6]]
    bits = prob.bits_for(routes)
    assert prob.objective(bits) == 784
    prob.decode(bits).validate()
    # one stop moved to another route breaks a capacity (100): the check sees it
    with pytest.raises(InvalidInputError, match="capacity"):
        prob.bits_for([routes[0] + [12], routes[1][1:], *routes[2:]])


def test_instance_reading_uses_tsplib_rounding() -> None:
    d = read_instance(DATA / "tiny6.tsp")
    xy = np.array([[0, 0], [10, 3], [14, 12], [6, 17], [-4, 11], [3, 6]], dtype=float)
    want = np.floor(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) + 0.5)
    np.testing.assert_array_equal(d["cost"], want)
    assert d["vehicles"] is None and d["capacity"] is None
    cv = read_instance(DATA / "tiny-n7-k2.vrp")
    assert cv["vehicles"] == 2 and cv["capacity"] == 12 and cv["demands"].tolist() == [4, 3, 5, 4, 3, 4]


@pytest.fixture(scope="module")
def hel_tsp(helsinki):
    return Fleet.from_city(helsinki, stops=6, vehicles=1, seed=3)


@pytest.fixture(scope="module")
def hel_cvrp(helsinki):
    return Fleet.from_city(helsinki, stops=6, vehicles=2, capacity=3, seed=2)


def test_city_matrices_are_shortest_paths(helsinki, hel_tsp) -> None:
    p = hel_tsp
    D = nx.DiGraph()
    for u, v, d in helsinki.graph.edges(data=True):
        if not D.has_edge(u, v) or d["travel_time"] < D[u][v]["w"]:
            D.add_edge(u, v, w=d["travel_time"])
    for i, j in [(0, 1), (2, 5), (4, 0)]:
        ref = nx.shortest_path_length(D, p.nodes[i], p.nodes[j], weight="w")
        assert p.cost[i, j] == pytest.approx(round(ref, 3))
    assert len(set(p.nodes)) == 7


@pytest.mark.parametrize("which", ["hel_tsp", "hel_cvrp"])
def test_routing_equals_brute_force_on_helsinki(which: str, request) -> None:
    prob = request.getfixturevalue(which)
    sol = solve(prob, "routing", time_limit_s=1)
    opt, _ = brute_force(prob)
    assert prob.objective(sol.bits) == pytest.approx(opt)
    plan = prob.decode(sol).validate()
    assert plan.objective == pytest.approx(opt)


def test_plan_write_and_explore(hel_cvrp, tmp_path) -> None:
    sol = solve(hel_cvrp, "routing", time_limit_s=0.5)
    plan = hel_cvrp.decode(sol).validate()
    files = plan.write(tmp_path / "out")
    gj = json.loads(files["plan"].read_text())
    used = [r for r in plan.routes["stops"] if r]
    assert len(gj["features"]) == len(used)
    assert all(f["geometry"]["type"] == "LineString" for f in gj["features"])
    # the line follows the road: at least as many points as graph nodes on the route
    assert all(len(f["geometry"]["coordinates"]) >= len(r) + 2 for f, r in zip(gj["features"], used))
    it = files["itinerary"].read_text().splitlines()
    assert it[0].startswith("vehicle,seq,location")
    tot = json.loads(files["totals"].read_text())
    assert tot["objective"] == pytest.approx(plan.objective) and tot["dist_m"] > 0
    assert plan.explore() is not None


def _tampered(plan, **changes):
    from dataclasses import replace

    routes = plan.routes.copy()
    for col, (v, value) in changes.items():
        routes.at[v, col] = value
    return replace(plan, routes=routes)


def test_validate_rejects_bad_plans(hel_cvrp) -> None:
    sol = solve(hel_cvrp, "routing", time_limit_s=0.5)
    plan = hel_cvrp.decode(sol).validate()
    r0 = list(plan.routes.at[0, "stops"])
    r1 = list(plan.routes.at[1, "stops"])
    with pytest.raises(PlanValidationError, match="visited 2 times"):
        _tampered(plan, stops=(1, r1 + [r0[0]])).validate()
    with pytest.raises(PlanValidationError, match="visited 0 times"):
        _tampered(plan, stops=(0, r0[1:])).validate()
    with pytest.raises(PlanValidationError, match="objective"):
        from dataclasses import replace

        replace(plan, objective=plan.objective + 5).validate()
    legs = [list(leg) for leg in plan.routes.at[0, "legs"]]
    g = hel_cvrp.graph
    bad = next(n for n in g.nodes if not g.has_edge(legs[0][0], n) and n != legs[0][0])
    legs[0] = [legs[0][0], bad, *legs[0][1:]]
    with pytest.raises(PlanValidationError, match="no road segment"):
        _tampered(plan, legs=(0, legs)).validate()
    over = Fleet(hel_cvrp.cost, vehicles=2, capacity=3, demands=[1] * 6)
    heavy = over.decode(over.bits_for([r0, r1]))
    with pytest.raises(PlanValidationError, match="above its capacity"):
        _tampered(heavy, stops=(0, r0 + r1), load=(0, 6.0)).validate()


def test_qaoa_on_a_four_stop_tsp(helsinki) -> None:
    prob = Fleet.from_city(helsinki, stops=4, seed=5)
    assert prob.to_qubo().num_variables == 16
    sol = solve(prob, "qaoa", backend="fast", depth=2, shots=512, maxiter=60, seed=1)
    assert sol.feasible and sol.info["penalty_dropped"]
    opt, _ = brute_force(prob)
    assert prob.objective(sol.bits) >= opt - 1e-9
    prob.decode(sol).validate()


def test_cluster_route_decompose(hel_cvrp) -> None:
    sol = solve(hel_cvrp, "decompose", inner="exact", cluster_size=3, seed=1)
    assert hel_cvrp.is_feasible(sol.bits)
    assert sol.info["energy_after_improve"] <= sol.info["energy_after_cluster_route"] + 1e-9
    assert max(sol.info["cluster_qubits"]) <= 9
    assert sol.energy >= brute_force(hel_cvrp)[0] - 1e-6
    hel_cvrp.decode(sol).validate()


# ------------------------------------------------------------------ bad input
def test_unreachable_stop(grid_graph, tmp_path) -> None:
    g = grid_graph
    g.add_node(99, x=g.nodes[15]["x"] + 0.01, y=g.nodes[15]["y"] + 0.01, street_count=0)
    csv = tmp_path / "stops.csv"
    csv.write_text(f"lon,lat\n{g.nodes[0]['x']},{g.nodes[0]['y']}\n{g.nodes[5]['x']},{g.nodes[5]['y']}\n"
                   f"{g.nodes[99]['x']},{g.nodes[99]['y']}\n")
    with pytest.raises(DemandError, match=r"stop 2 \(node 99\) cannot be reached"):
        Fleet.from_csv(g, csv)


def test_demand_above_every_capacity() -> None:
    with pytest.raises(DemandError, match="demand of stop 2 is 9.*capacity"):
        Fleet(np.ones((4, 4)), vehicles=2, capacity=5, demands=[1, 9, 1])


def test_zero_vehicles() -> None:
    with pytest.raises(InvalidInputError, match="vehicles must be an integer >= 1"):
        Fleet(np.ones((3, 3)), vehicles=0)


def test_unreadable_instance(tmp_path) -> None:
    with pytest.raises(InstanceFileError, match="instance: no file"):
        Fleet.from_instance(tmp_path / "missing.vrp")
    bad = tmp_path / "bad.vrp"
    bad.write_text("NAME : bad\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : GEO\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 2\nEOF\n")
    with pytest.raises(InstanceFileError, match="EDGE_WEIGHT_TYPE 'GEO'"):
        Fleet.from_instance(bad)
    junk = tmp_path / "junk.vrp"
    junk.write_bytes(b"\x00\x01garbage : : :\nNODE_COORD_SECTION\nx y z\n")
    with pytest.raises(InstanceFileError, match="instance"):
        Fleet.from_instance(junk)


def test_poi_kind_without_match(helsinki) -> None:
    with pytest.raises(DemandError, match="poi 'amenity=spaceport' matches no point of interest"):
        Fleet.from_city(helsinki, stops=3, poi="amenity=spaceport")


def test_poi_kind_sampling(helsinki) -> None:
    prob = Fleet.from_city(helsinki, stops=4, poi="amenity=restaurant", seed=2)
    assert all(": " in n for n in prob.names[1:]) and prob.n == 4
    again = Fleet.from_city(helsinki, stops=4, poi="amenity=restaurant", seed=2)
    assert again.nodes == prob.nodes


def test_distance_matrices_single_source(grid_graph) -> None:
    T, L, paths = distance_matrices(grid_graph, [0, 5, 15])
    assert T[0, 0] == 0 and paths[0][2][0] == 0 and paths[0][2][-1] == 15
    assert L[0, 2] == pytest.approx(6 * 150, rel=0.01)


# ------------------------------------------------------------------ stops CSV: the boundary checks
def _stops(tmp_path: Path, rows: list[str], header: str = "lon,lat") -> Path:
    path = tmp_path / "stops.csv"
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def _at(g, node: int) -> str:
    return f"{g.nodes[node]['x']},{g.nodes[node]['y']}"


@pytest.mark.parametrize(("row", "match"), [
    ("1000,60.17", r"row 1 \(file line 3\): coordinates out of range .*lon = 1000, outside \[-180, 180\]"),
    ("24.94,95", r"row 1 \(file line 3\): coordinates out of range .*lat = 95, outside \[-90, 90\]\); "
                 r"lon and lat look swapped"),
    ("nan,60.17", r"row 1 \(file line 3\): coordinates are not finite numbers .*lon = 'nan'"),
    ("east,60.17", r"row 1 \(file line 3\): coordinates are not finite numbers .*lon = 'east'"),
])
def test_stops_at_impossible_coordinates_are_refused(grid_graph, tmp_path, row: str, match: str) -> None:
    path = _stops(tmp_path, [_at(grid_graph, 0), row, _at(grid_graph, 15)])
    with pytest.raises(DemandError, match=match) as info:
        Fleet.from_csv(grid_graph, path)
    assert "stops.csv" in str(info.value) and "\n" not in str(info.value)


def test_stop_far_from_the_city_is_refused_and_swaps_are_named(grid_graph, tmp_path) -> None:
    path = _stops(tmp_path, [_at(grid_graph, 0), "0,0", _at(grid_graph, 15)])
    with pytest.raises(DemandError, match=r"row 1 \(file line 3\): too far from grid4x4's roads .*location "
                                          r"\(lon, lat\) = \(0, 0\) is [\d,]+ km .*more than 5 km\); check the "
                                          r"coordinates or load the right city"):
        Fleet.from_csv(grid_graph, path)
    n5 = grid_graph.nodes[5]
    path = _stops(tmp_path, [_at(grid_graph, 0), f"{n5['y']},{n5['x']}", _at(grid_graph, 15)])
    with pytest.raises(DemandError, match="lon and lat look swapped"):
        Fleet.from_csv(grid_graph, path)


def test_stops_csv_demand_and_shape_errors_name_the_row(grid_graph, tmp_path) -> None:
    rows = [_at(grid_graph, 0) + ",0", _at(grid_graph, 5) + ",2", _at(grid_graph, 15) + ",-1"]
    with pytest.raises(DemandError, match=r"row 2 \(file line 4\): demand must be a whole number from 0 to "
                                          r"1,000,000 \(first: row 2, demand = '-1'\)"):
        Fleet.from_csv(grid_graph, _stops(tmp_path, rows, header="lon,lat,demand"), capacity=5)
    for bad in ("1.5", "1180591620717411303424", "nan", "lots"):
        rows = [_at(grid_graph, 0) + ",0", _at(grid_graph, 5) + "," + bad, _at(grid_graph, 15) + ",1"]
        with pytest.raises(DemandError, match=rf"row 1 \(file line 3\): demand must be a whole number .*'{bad}'"):
            Fleet.from_csv(grid_graph, _stops(tmp_path, rows, header="lon,lat,demand"))
    with pytest.raises(DemandError, match="has 1 row.*at least two"):
        Fleet.from_csv(grid_graph, _stops(tmp_path, [_at(grid_graph, 0)]))
    with pytest.raises(DemandError, match=r"lacks column\(s\) lat"):
        Fleet.from_csv(grid_graph, _stops(tmp_path, ["24.94", "24.95"], header="lon"))
    twice = [_at(grid_graph, 0), _at(grid_graph, 5), _at(grid_graph, 5)]
    with pytest.raises(DemandError, match=r"row 2 \(file line 4\) snaps to the same road node as row 1"):
        Fleet.from_csv(grid_graph, _stops(tmp_path, twice))


# ------------------------------------------------------------------ instance files: the boundary checks
TINY_VRP = (Path(__file__).parents[1] / "data" / "tiny-n7-k2.vrp").read_text()


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "..", ".", "a/../../b"])
def test_instance_name_becomes_a_safe_folder_name(tmp_path, name: str) -> None:
    from optimizer.io import NAME_PATTERN

    path = tmp_path / "evil.vrp"
    path.write_text(TINY_VRP.replace("NAME : tiny-n7-k2", f"NAME : {name}"))
    prob = Fleet.from_instance(path, vehicles=2)
    assert NAME_PATTERN.fullmatch(prob.name) and "/" not in prob.name and prob.name not in (".", "..")
    assert (tmp_path / prob.name).resolve().parent == tmp_path.resolve()  # one folder, inside
    assert prob.source["name"] == name  # the raw name is kept as metadata


@pytest.mark.parametrize(("edit", "match"), [
    (("DIMENSION : 7", "DIMENSION : 100000000"), r"line 4: DIMENSION is 100,000,000, outside 2\.\.2,001"),
    (("DIMENSION : 7", "DIMENSION : seven"), r"line 4: DIMENSION is 'seven', not a whole number"),
    (("DIMENSION : 7\n", ""), r"no DIMENSION line"),
    (("DIMENSION : 7", "DIMENSION : 8"), r"NODE_COORD_SECTION holds 7 x 2 values where DIMENSION asks for 8 x 2"),
    (("3 30 85", "3 thirty 85"), r"line 10: 'thirty' in NODE_COORD_SECTION is not a number"),
    (("3 30 85", "3 1e308 85"), r"line 10: '1e308' in NODE_COORD_SECTION is not a finite number"),
    (("3 30 85", "3 nan 85"), r"line 10: 'nan' in NODE_COORD_SECTION is not a finite number"),
    (("DEPOT_SECTION\n1\n", "DEPOT_SECTION\n99\n"), r"DEPOT_SECTION names location 99, outside 1\.\.7"),
    (("2 4\n", "2 -4\n"), r"negative demand"),
    (("CAPACITY : 12", "CAPACITY : 1e20"), r"line 6: CAPACITY is [\d,]+, outside 1\.\.1,000,000"),
    (("CAPACITY : 12", "hello world"), r"line 6: 'hello world' is neither a 'KEY : value' line nor a section"),
    (("3 30 85", "3 30"), r"NODE_COORD_SECTION has rows of different lengths"),
    (("EDGE_WEIGHT_TYPE : EUC_2D", "EDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : UPPER_ROW"),
     r"EDGE_WEIGHT_FORMAT 'UPPER_ROW' is not supported"),
])
def test_malformed_instance_is_one_line_naming_file_and_line(tmp_path, edit, match: str) -> None:
    path = tmp_path / "bad.vrp"
    assert edit[0] in TINY_VRP
    path.write_text(TINY_VRP.replace(edit[0], edit[1]))
    with pytest.raises(InstanceFileError, match=match) as info:
        read_instance(path)
    assert str(info.value).startswith(f"instance {str(path)!r}") and "\n" not in str(info.value)


def test_binary_and_non_utf8_instances_are_refused(tmp_path) -> None:
    binary = tmp_path / "blob.vrp"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(InstanceFileError, match="NUL bytes: it is binary"):
        read_instance(binary)
    latin = tmp_path / "latin.vrp"
    latin.write_bytes(TINY_VRP.replace("written by hand", "caf\xe9").encode("latin-1"))
    with pytest.raises(InstanceFileError, match=r"line 2: byte 0xe9 is not UTF-8"):
        read_instance(latin)


def test_instance_demand_beyond_the_fleet_names_the_file(tmp_path) -> None:
    path = tmp_path / "one.vrp"
    path.write_text(TINY_VRP.replace("NAME : tiny-n7-k2", "NAME : tiny"))  # no -k2: one vehicle
    with pytest.raises(DemandError, match=r"instance '.*one\.vrp' with 1 vehicle\(s\): total demand 23"):
        Fleet.from_instance(path)


def test_stops_csv_options_are_checked_before_the_file_is_read(tmp_path) -> None:
    missing = tmp_path / "never-read.csv"  # the options are refused first: the file is not looked at
    with pytest.raises(InvalidInputError, match="vehicles must be an integer >= 1, got 0"):
        Fleet.from_csv(nx.MultiDiGraph(), missing, vehicles=0)
    with pytest.raises(InvalidInputError, match=r"capacity must be a whole number >= 1 .*got 2\.5"):
        Fleet.from_csv(nx.MultiDiGraph(), missing, capacity=2.5)


@pytest.mark.parametrize(("depot", "match"), [
    ((1000.0, 60.17), r"depot \(1000\.0, 60\.17\) is not a WGS84 position"),
    ((0.0, 0.0), r"depot: the depot \(lon, lat\) = \(0, 0\) is [\d,]+ km from grid4x4's nearest road node"),
    ((60.17, 24.94), r"lon and lat look swapped"),
    (("east", 60.17), r"depot must be a \(lon, lat\) pair of numbers"),
])
def test_sampled_fleet_depot_is_checked(grid_graph, depot, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Fleet.from_city(grid_graph, stops=3, depot=depot)
