"""optimizer.inputs.demand: sampled and CSV trips, their guarantees, and their errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from optimizer.errors import DemandError
from optimizer.inputs.city import City
from optimizer.inputs.demand import (
    TRIP_COLUMNS,
    max_trips,
    node_weights,
    sample_trips,
    trips_from_csv,
)
from tests.helpers import haversine_m


def _brute_force_pairs(graph: nx.MultiDiGraph, min_d: float) -> int:
    """Ordered node pairs at least min_d apart, counted one by one."""
    xy = {n: (d["x"], d["y"]) for n, d in graph.nodes(data=True)}
    return sum(
        1
        for a, b in itertools.permutations(xy, 2)
        if haversine_m(xy[a][0], xy[a][1], xy[b][0], xy[b][1]) >= min_d
    )


def _assert_valid_trips(trips: pd.DataFrame, graph: nx.MultiDiGraph, n: int, min_d: float) -> None:
    assert list(trips.columns) == list(TRIP_COLUMNS)
    assert len(trips) == n
    assert trips["trip_id"].tolist() == list(range(n))
    assert (trips["origin"] != trips["destination"]).all()
    assert not trips.duplicated(["origin", "destination"]).any()
    assert (trips["straight_m"] >= min_d).all()
    for row in trips.itertuples():
        o, d = graph.nodes[row.origin], graph.nodes[row.destination]
        assert (row.origin_lon, row.origin_lat) == (o["x"], o["y"])
        assert (row.dest_lon, row.dest_lat) == (d["x"], d["y"])
        assert row.straight_m == pytest.approx(
            haversine_m(o["x"], o["y"], d["x"], d["y"]), rel=1e-9
        )


# ------------------------------------------------------------------ sampling
def test_same_seed_same_trips_other_seed_other_trips(helsinki: City) -> None:
    a = sample_trips(helsinki, 25, seed=11)
    b = sample_trips(helsinki, 25, seed=11)
    c = sample_trips(helsinki, 25, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["origin", "destination"]].equals(c[["origin", "destination"]])


def test_sampled_trips_are_distinct_far_enough_and_on_the_graph(helsinki: City) -> None:
    trips = sample_trips(helsinki, 200, seed=3, min_distance_m=500.0)
    _assert_valid_trips(trips, helsinki.graph, 200, 500.0)
    assert trips["origin"].dtype == np.int64
    assert trips.attrs["seed"] == 3 and trips.attrs["min_distance_m"] == 500.0


def test_fewer_trips_are_a_prefix_free_sample_of_the_graph(grid_graph: nx.MultiDiGraph) -> None:
    trips = sample_trips(grid_graph, 30, seed=0, min_distance_m=0.0)
    _assert_valid_trips(trips, grid_graph, 30, 0.0)


def test_max_trips_matches_brute_force_and_bounds_sampling(grid_graph: nx.MultiDiGraph) -> None:
    min_d = 320.0  # the grid spacing is 150 m: no pair sits on the boundary
    capacity = max_trips(grid_graph, min_distance_m=min_d)
    assert capacity == _brute_force_pairs(grid_graph, min_d)
    assert 0 < capacity < 16 * 15
    trips = sample_trips(grid_graph, capacity, seed=5, min_distance_m=min_d)
    _assert_valid_trips(trips, grid_graph, capacity, min_d)
    with pytest.raises(DemandError, match=rf"trips={capacity + 1}.*at most {capacity}"):
        sample_trips(grid_graph, capacity + 1, seed=5, min_distance_m=min_d)


def test_large_graphs_sample_without_enumerating_pairs(make_grid_graph) -> None:
    graph = make_grid_graph(50, 50, spacing_m=50.0)  # 2500 nodes: above the dense limit
    trips = sample_trips(graph, 40, seed=2, min_distance_m=310.0)
    _assert_valid_trips(trips, graph, 40, 310.0)
    xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)])
    from optimizer.inputs.demand import _eligible_pairs

    assert max_trips(graph, min_distance_m=310.0) == len(
        _eligible_pairs(xy[:, 0], xy[:, 1], 310.0)[0]
    )


def test_poi_weight_biases_origins_toward_poi_dense_nodes(helsinki: City) -> None:
    weights = node_weights(helsinki, "pois")
    assert len(weights) == helsinki.graph.number_of_nodes()
    assert (weights >= 1.0).all() and weights.max() > 5.0
    weighted = sample_trips(helsinki, 300, seed=2024, weight="pois")
    uniform = sample_trips(helsinki, 300, seed=2024)
    weighted_mean = weights.loc[weighted["origin"]].mean()
    uniform_mean = weights.loc[uniform["origin"]].mean()
    assert weighted_mean > weights.mean()
    assert weighted_mean > 1.2 * uniform_mean


def test_building_weight_runs_and_differs_from_uniform(helsinki: City) -> None:
    weights = node_weights(helsinki, "buildings")
    assert weights.sum() > len(weights)  # some buildings snapped
    trips = sample_trips(helsinki, 50, seed=1, weight="buildings")
    _assert_valid_trips(trips, helsinki.graph, 50, 300.0)
    assert not trips.equals(sample_trips(helsinki, 50, seed=1))


def test_given_pois_weigh_a_bare_graph(grid_graph: nx.MultiDiGraph) -> None:
    hot = grid_graph.nodes[5]
    pois = np.array([(hot["x"] + 1e-5, hot["y"])] * 60)
    weights = node_weights(grid_graph, "pois", pois=pois)
    assert weights[5] == 61.0 and weights.drop(5).eq(1.0).all()
    trips = sample_trips(grid_graph, 20, seed=9, pois=pois, min_distance_m=0.0)
    touching = ((trips["origin"] == 5) | (trips["destination"] == 5)).sum()
    assert touching >= 10  # 30 of 240 pairs touch node 5; they carry most of the weight
    assert trips.attrs["weight"] == "pois"


# ------------------------------------------------------------------ sampling errors
@pytest.mark.parametrize("bad", [0, -3])
def test_too_few_trips(helsinki: City, bad: int) -> None:
    with pytest.raises(DemandError, match=rf"trips must be at least 1, got {bad}"):
        sample_trips(helsinki, bad, seed=0)


@pytest.mark.parametrize("bad", [2.5, "12", True, None])
def test_trips_must_be_a_whole_number(grid_graph: nx.MultiDiGraph, bad: object) -> None:
    with pytest.raises(DemandError, match="trips must be a whole number"):
        sample_trips(grid_graph, bad, seed=0)  # type: ignore[arg-type]


def test_numpy_integers_are_whole_numbers(grid_graph: nx.MultiDiGraph) -> None:
    assert len(sample_trips(grid_graph, np.int64(3), seed=0)) == 3


def test_too_many_trips_names_the_maximum(helsinki: City) -> None:
    capacity = max_trips(helsinki)
    assert capacity > 10_000
    with pytest.raises(DemandError, match=rf"trips=1000000000.*at most {capacity} "):
        sample_trips(helsinki, 10**9, seed=0)


def test_unknown_weight(helsinki: City) -> None:
    with pytest.raises(DemandError, match=r"weight='bogus'.*'pois'"):
        sample_trips(helsinki, 5, seed=0, weight="bogus")


def test_weight_on_a_bare_graph_needs_pois(grid_graph: nx.MultiDiGraph) -> None:
    with pytest.raises(DemandError, match="pois=GeoDataFrame"):
        sample_trips(grid_graph, 5, seed=0, weight="pois")


def test_bad_min_distance_and_bad_input_type(grid_graph: nx.MultiDiGraph) -> None:
    with pytest.raises(DemandError, match="min_distance_m"):
        sample_trips(grid_graph, 5, seed=0, min_distance_m=-1.0)
    with pytest.raises(TypeError, match="MultiDiGraph"):
        sample_trips(nx.Graph(), 5, seed=0)  # type: ignore[arg-type]


# ------------------------------------------------------------------ CSV
def test_csv_round_trip_snaps_back_to_the_same_nodes(helsinki: City, tmp_path: Path) -> None:
    trips = sample_trips(helsinki, 15, seed=4)
    path = tmp_path / "trips.csv"
    trips[["origin_lon", "origin_lat", "dest_lon", "dest_lat"]].to_csv(path, index=False)
    back = trips_from_csv(helsinki, path)
    pd.testing.assert_frame_equal(back, trips, check_dtype=False)


def test_csv_keeps_trip_ids_and_works_on_a_bare_graph(
    grid_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    n0, n15 = grid_graph.nodes[0], grid_graph.nodes[15]
    path = tmp_path / "trips.csv"
    path.write_text(
        "trip_id,origin_lon,origin_lat,dest_lon,dest_lat\n"
        f"101,{n0['x'] + 1e-5},{n0['y'] - 1e-5},{n15['x']},{n15['y']}\n"
        f"7,{n15['x']},{n15['y']},{n0['x']},{n0['y']}\n"
    )
    trips = trips_from_csv(grid_graph, path)
    assert trips["trip_id"].tolist() == [101, 7]
    assert trips["origin"].tolist() == [0, 15]
    assert trips["destination"].tolist() == [15, 0]


def test_csv_missing_columns_are_named(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "half.csv"
    path.write_text("origin_lon,origin_lat\n24.94,60.17\n")
    with pytest.raises(DemandError, match=r"lacks column\(s\) dest_lon, dest_lat"):
        trips_from_csv(grid_graph, path)


def test_csv_missing_file(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    with pytest.raises(DemandError, match="nowhere.csv"):
        trips_from_csv(grid_graph, tmp_path / "nowhere.csv")


def test_csv_empty_file_and_header_only(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DemandError, match="cannot read trips CSV"):
        trips_from_csv(grid_graph, empty)
    header = tmp_path / "header.csv"
    header.write_text("origin_lon,origin_lat,dest_lon,dest_lat\n")
    with pytest.raises(DemandError, match="no trips"):
        trips_from_csv(grid_graph, header)


def test_csv_non_numeric_coordinate_names_the_row(
    grid_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    path = tmp_path / "text.csv"
    path.write_text(
        "origin_lon,origin_lat,dest_lon,dest_lat\n"
        "24.940,60.170,24.944,60.172\n"
        "24.940,north,24.944,60.172\n"
    )
    with pytest.raises(DemandError, match=r"row 1 \(file line 3\): coordinates are not finite numbers "
                       r"\(first: row 1, origin_lat = 'north'\)"):
        trips_from_csv(grid_graph, path)


def test_csv_out_of_range_coordinate_names_the_row(
    grid_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    path = tmp_path / "swapped.csv"
    path.write_text(
        "origin_lon,origin_lat,dest_lon,dest_lat\n200.0,60.17,24.944,60.172\n24.94,60.17,24.944,95.0\n"
    )
    with pytest.raises(DemandError, match=r"rows 0, 1 .*out of range .*origin_lon = 200, outside \[-180, 180\]"
                       ) as info:
        trips_from_csv(grid_graph, path)
    assert "swapped.csv" in str(info.value)
    assert "swapped:" not in str(info.value)  # (60.17, 200) is no position either


def test_csv_trip_snapping_to_one_node_names_the_row(
    grid_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    n5 = grid_graph.nodes[5]
    path = tmp_path / "short.csv"
    path.write_text(
        "origin_lon,origin_lat,dest_lon,dest_lat\n"
        f"{grid_graph.nodes[0]['x']},{grid_graph.nodes[0]['y']},{n5['x']},{n5['y']}\n"
        f"{n5['x']},{n5['y']},{n5['x'] + 1e-5},{n5['y'] + 1e-5}\n"
    )
    with pytest.raises(DemandError, match=r"same node in row 1 \(file line 3\)"):
        trips_from_csv(grid_graph, path)


def test_csv_far_coordinates_warn(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    n0 = grid_graph.nodes[0]
    path = tmp_path / "far.csv"
    path.write_text(f"origin_lon,origin_lat,dest_lon,dest_lat\n{n0['x']},{n0['y']},24.96,60.19\n")
    with pytest.warns(UserWarning, match="more than 1000 m"):
        trips = trips_from_csv(grid_graph, path)
    assert trips["destination"].tolist() == [15]


def test_csv_repeated_trip_ids(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    a, b = grid_graph.nodes[0], grid_graph.nodes[15]
    path = tmp_path / "dup.csv"
    line = f"{a['x']},{a['y']},{b['x']},{b['y']}"
    path.write_text(f"trip_id,origin_lon,origin_lat,dest_lon,dest_lat\n1,{line}\n1,{line}\n")
    with pytest.raises(DemandError, match="trip_id must be unique"):
        trips_from_csv(grid_graph, path)


# ------------------------------------------------------------------ CSV: impossible and far coordinates
def _trips_csv(tmp_path: Path, rows: list[str], name: str = "trips.csv") -> Path:
    path = tmp_path / name
    path.write_text("origin_lon,origin_lat,dest_lon,dest_lat\n" + "".join(r + "\n" for r in rows))
    return path


def test_csv_trip_end_thousands_of_km_away_is_refused(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    n0 = grid_graph.nodes[0]
    path = _trips_csv(tmp_path, [f"{n0['x']},{n0['y']},24.946,60.172", f"{n0['x']},{n0['y']},0,0"])
    with pytest.raises(DemandError) as info:
        trips_from_csv(grid_graph, path)
    message = str(info.value)
    assert "trips.csv" in message and "row 1 (file line 3)" in message
    assert "(dest_lon, dest_lat) = (0, 0)" in message
    assert "grid4x4's roads" in message and "more than 5 km" in message
    nearest = min(haversine_m(0.0, 0.0, d["x"], d["y"]) for _, d in grid_graph.nodes(data=True))
    assert f"is {nearest / 1000:,.0f} km from the nearest road node" in message
    assert message.endswith("check the coordinates or load the right city")
    assert "\n" not in message


def test_csv_swapped_lon_lat_is_named(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    n0, n15 = grid_graph.nodes[0], grid_graph.nodes[15]
    path = _trips_csv(tmp_path, [f"{n0['y']},{n0['x']},{n15['x']},{n15['y']}"])
    with pytest.raises(DemandError, match=r"row 0 .*trip origin .*lon and lat look swapped.*origin_lon"):
        trips_from_csv(grid_graph, path)
    # out of range, and in range once swapped: lat 150 is a longitude
    path = _trips_csv(tmp_path, [f"{n0['x']},{n0['y']},45.0,150.0"], name="range.csv")
    with pytest.raises(DemandError, match=r"dest_lat = 150, outside \[-90, 90\]\); lon and lat look swapped"):
        trips_from_csv(grid_graph, path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", ""])
def test_csv_non_finite_or_huge_coordinates_are_refused(
    grid_graph: nx.MultiDiGraph, tmp_path: Path, value: str
) -> None:
    path = _trips_csv(tmp_path, [f"24.94,60.17,{value},60.172"])
    with pytest.raises(DemandError, match=r"trips\.csv': row 0 \(file line 2\): coordinates ") as info:
        trips_from_csv(grid_graph, path)
    assert "dest_lon" in str(info.value)


def test_csv_with_too_many_rows_is_refused_before_snapping(
    grid_graph: nx.MultiDiGraph, tmp_path: Path
) -> None:
    from optimizer.inputs.demand import MAX_CSV_TRIPS

    path = _trips_csv(tmp_path, ["24.940,60.170,24.944,60.172"] * (MAX_CSV_TRIPS + 1))
    with pytest.raises(DemandError, match=r"more than 10,000 rows.*split it"):
        trips_from_csv(grid_graph, path)


def test_csv_repeated_column_names_are_refused(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("origin_lon,origin_lat,dest_lon,dest_lat, dest_lat\n24.94,60.17,24.944,60.172,1\n")
    with pytest.raises(DemandError, match="names column.*'dest_lat' twice"):
        trips_from_csv(grid_graph, path)


def test_csv_binary_garbage_is_one_line(grid_graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "noise.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DemandError, match="cannot read trips CSV .*UTF-8 comma-separated") as info:
        trips_from_csv(grid_graph, path)
    assert "\n" not in str(info.value)


def test_traffic_from_csv_checks_routes_before_reading_the_file(tmp_path: Path) -> None:
    from optimizer.errors import InvalidInputError
    from optimizer.problems.traffic import Traffic

    with pytest.raises(InvalidInputError, match="routes must be an integer >= 1.*got 0"):
        Traffic.from_csv(nx.MultiDiGraph(), str(tmp_path / "never-read.csv"), routes=0)
