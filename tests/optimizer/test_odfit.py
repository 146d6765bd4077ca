"""Demand from counts (optimizer.sensing.odfit): GEH, a synthetic ground truth on Helsinki, the refusals."""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest

from optimizer.errors import SensorDataError
from optimizer.inputs.demand import sample_trips, trips_from_csv
from optimizer.inputs.roads import edge_line, fastest_edge
from optimizer.sensing.odfit import GEH_COLUMNS, fit_demand, geh, hourly_counts, segment_flows
from optimizer.sensing.readings import Sensors

TZ = "Europe/Helsinki"          # UTC+2 in March
HOURS = (7, 8)
DAYS = ("2026-03-02", "2026-03-03")


@pytest.fixture(scope="module")
def helsinki():
    from optimizer.inputs.city import City

    return City.load("helsinki")


# ------------------------------------------------------------------ GEH
def test_geh_against_hand_values() -> None:
    assert float(geh(100.0, 80.0)) == pytest.approx(math.sqrt(2 * 20**2 / 180), abs=1e-12)
    assert float(geh(100.0, 80.0)) == pytest.approx(2.1081851, abs=1e-7)
    assert float(geh(1000.0, 1100.0)) == pytest.approx(3.0860670, abs=1e-7)
    assert float(geh(5.0, 0.0)) == pytest.approx(math.sqrt(10.0))
    assert float(geh(0.0, 0.0)) == 0.0
    assert geh([300.0, 80.0], [400.0, 100.0]).tolist() == pytest.approx([5.3452248, 2.1081851], abs=1e-7)
    with pytest.raises(SensorDataError, match="non-negative"):
        geh(-1.0, 10.0)


# ------------------------------------------------------------------ a synthetic ground truth
def _sensor_at(G, edge, sensor_id):
    """A sensor at a segment's midpoint, facing its direction of travel there."""
    line = edge_line(G, *edge)
    mid = line.interpolate(0.5, normalized=True)
    a, b = line.interpolate(0.45, normalized=True), line.interpolate(0.55, normalized=True)
    dx = (b.x - a.x) * math.cos(math.radians(mid.y))
    bearing = math.degrees(math.atan2(dx, b.y - a.y)) % 360.0
    return {"sensor_id": sensor_id, "lon": mid.x, "lat": mid.y, "bearing_deg": bearing}


def _readings(counts: pd.DataFrame, ids: dict, *, flow=None, quality="ok") -> pd.DataFrame:
    """5-minute readings repeating each segment-hour's count on every day (times in UTC)."""
    rows = []
    for day in DAYS:
        for rec in counts.itertuples(index=False):
            start = pd.Timestamp(f"{day} {rec.hour:02d}:00", tz=TZ).tz_convert("UTC")
            for i in range(12):
                rows.append({"time": start + pd.Timedelta(minutes=5 * i), "sensor_id": ids[(rec.u, rec.v, rec.key)],
                             "flow_vph": rec.model_vph if flow is None else flow, "speed_kph": 30.0,
                             "quality": quality})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def truth(helsinki):
    """40 OD pairs with known flows in 07-09; sensors on the routes of the first 30 only."""
    G = helsinki.graph
    rng = np.random.default_rng(7)
    pairs = sample_trips(helsinki, 40, seed=5)[["origin", "destination"]]
    true = pd.DataFrame([(o, d, h, float(rng.integers(10, 150)))
                         for o, d in zip(pairs["origin"], pairs["destination"]) for h in HOURS],
                        columns=["origin", "destination", "hour", "vph"])
    trips = true.assign(depart_s=true["hour"] * 3600.0, vehicles=true["vph"])
    # the segments of each pair's free-flow shortest path (the fastest parallel edge per step)
    D = ox.convert.to_digraph(G, weight="travel_time")
    per_pair = {}
    for i, (o, d) in enumerate(zip(pairs["origin"], pairs["destination"])):
        path = nx.shortest_path(D, o, d, weight="travel_time")
        per_pair[i] = {fastest_edge(G, u, v) for u, v in zip(path[:-1], path[1:])}
    hidden = set().union(*(per_pair[i] for i in range(30, 40)))
    seen = sorted(set().union(*(per_pair[i] for i in range(30))) - hidden)
    edges = [seen[i] for i in sorted(rng.choice(len(seen), size=min(25, len(seen)), replace=False))]
    counts = segment_flows(helsinki, trips, edges, HOURS)
    ids = {e: f"s{i:02d}" for i, e in enumerate(edges)}
    sensors = pd.DataFrame([_sensor_at(G, e, ids[e]) for e in edges])
    s = Sensors.from_frames(_readings(counts, ids), sensors, city=helsinki)
    assert list(zip(s.sensors["u"], s.sensors["v"], s.sensors["key"])) == edges   # each on its segment
    # the prior: the truth perturbed by a factor 0.4-2.5 per pair-hour
    prior = trips.assign(vehicles=trips["vehicles"] * np.exp(rng.normal(0.0, 0.6, len(trips))))
    prior = prior.assign(depart_s=prior["depart_s"] + 1800.0)
    return {"city": helsinki, "true": true, "prior": prior, "sensors": s, "counts": counts, "edges": edges,
            "sensors_table": sensors, "ids": ids}


@pytest.fixture(scope="module")
def fitted(truth):
    return fit_demand(truth["sensors"], truth["city"], trips=truth["prior"], tz=TZ, seed=3)


def test_fit_recovers_the_counts_and_beats_the_prior(truth, fitted) -> None:
    out = fitted.summary()
    assert out["detector_hours"] == 2 * len(truth["edges"]) and out["hours"] == [7, 8]
    assert out["share_geh_below_5_after"] >= 0.85
    assert out["share_geh_below_5_after"] > out["share_geh_below_5_before"]
    assert out["share_geh_below_5_before"] < 0.85          # the perturbed prior fails acceptance
    assert out["rmse_vph_after"] < 0.25 * out["rmse_vph_before"]
    assert out["accepted_after"] and not out["accepted_before"]
    assert out["solver"]["converged"]
    # the GEH table is what it says: its own model and counts, the counts those the sensors read
    g = fitted.geh
    assert list(g.columns) == list(GEH_COLUMNS)
    np.testing.assert_allclose(g["geh"], geh(g["model_vph"], g["count_vph"]))
    want = truth["counts"].assign(sensor_id=[truth["ids"][(u, v, k)] for u, v, k in
                                             zip(truth["counts"].u, truth["counts"].v, truth["counts"].key)])
    merged = g.merge(want, on=["sensor_id", "hour"])
    assert len(merged) == len(g)
    np.testing.assert_allclose(merged["count_vph"], merged["model_vph_y"], rtol=1e-9)


def test_observed_flows_move_towards_the_truth_and_unobserved_stay(truth, fitted) -> None:
    fl = fitted.flows.merge(truth["true"], on=["origin", "destination", "hour"], how="left")
    obs, hid = fl[fl["observed"]], fl[~fl["observed"]]
    assert len(obs) > 20 and len(hid) >= 20                 # pairs 30..39 pass no sensor
    before = np.abs(obs["prior_vph"] - obs["vph"]).sum()
    after = np.abs(obs["fitted_vph"] - obs["vph"]).sum()
    assert after < 0.8 * before
    np.testing.assert_array_equal(hid["fitted_vph"].to_numpy(), hid["prior_vph"].to_numpy())
    out = fitted.summary()
    assert out["od_pairs"] == 40 and out["od_pairs_unobserved"] >= 10
    assert out["od_pairs_observed"] + out["od_pairs_unobserved"] == 40


def test_flows_stay_non_negative_when_the_bound_binds(truth) -> None:
    """Counts of zero: least squares without the bound would send flows below zero; the fit stops at 0."""
    from optimizer.sensing.odfit import _Assignment  # the same matrix the fit builds

    s = Sensors.from_frames(_readings(truth["counts"], truth["ids"], flow=0.0), truth["sensors_table"],
                            city=truth["city"])
    fit = fit_demand(s, truth["city"], trips=truth["prior"], tz=TZ, lam=0.01)
    fl = fit.flows
    assert (fl["fitted_vph"] >= 0).all() and (fit.trips["vehicles"] >= 1).all()
    obs = fl[fl["observed"]]
    assert (obs["fitted_vph"] == 0.0).sum() >= 5                 # the bound binds: flows held at zero
    assert obs["fitted_vph"].sum() < 0.05 * obs["prior_vph"].sum()
    # the unconstrained solution of the same problem goes negative
    pairs = fl[["origin", "destination"]].drop_duplicates()
    asg = _Assignment(truth["city"].graph, pairs["origin"].to_numpy(), pairs["destination"].to_numpy(),
                      assignment="shortest", k=1, theta=1.0)
    cols = [(p, h) for p in range(len(pairs)) for h in sorted(fl["hour"].unique())]
    rows = [(e, h) for e in truth["edges"] for h in HOURS]
    A = asg.matrix(rows, cols).toarray()
    x0 = fl["prior_vph"].to_numpy()
    free = x0 - A.T @ np.linalg.solve(A @ A.T + 0.01 * np.eye(len(rows)), A @ x0)
    assert free.min() < -1.0
    # the fit meets the bounded problem's optimality conditions: zero gradient where x > 0, >= 0 where x = 0
    x = fl["fitted_vph"].to_numpy()
    grad = A.T @ (A @ x) + 0.01 * (x - x0)
    assert np.abs(grad[x > 0]).max() < 1e-6 and grad[x == 0].min() > -1e-6


def test_dual_solver_agrees_with_lsq_linear(truth, fitted) -> None:
    ref = fit_demand(truth["sensors"], truth["city"], trips=truth["prior"], tz=TZ, seed=3, method="lsq_linear")
    np.testing.assert_allclose(fitted.flows["fitted_vph"], ref.flows["fitted_vph"], atol=0.05, rtol=1e-3)


def test_trips_and_files_are_a_trips_csv(truth, fitted, tmp_path) -> None:
    written = fitted.write(tmp_path)
    assert sorted(p.name for p in (tmp_path / "od").iterdir()) == ["geh.csv", "summary.json", "trips.csv"]
    summary = json.loads(written["summary.json"].read_text())
    assert summary["share_geh_below_5_after"] == fitted.summary()["share_geh_below_5_after"]
    assert list(pd.read_csv(written["geh.csv"]).columns) == list(GEH_COLUMNS)
    back = trips_from_csv(truth["city"], written["trips.csv"])     # what --trips-csv reads
    assert int(back["vehicles"].sum()) == int(fitted.flows["vehicles"].sum()) == int(fitted.trips["vehicles"].sum())
    assert back["origin"].tolist() == fitted.trips["origin"].tolist()
    np.testing.assert_array_equal(back["depart_s"].to_numpy(), fitted.trips["depart_s"].to_numpy())
    # whole vehicles: each pair-hour floor or ceil of its fitted flow
    fl = fitted.flows
    assert ((fl["vehicles"] >= np.floor(fl["fitted_vph"])) & (fl["vehicles"] <= np.ceil(fl["fitted_vph"]))).all()


# ------------------------------------------------------------------ bad input
def test_no_snapped_sensor_is_one_clear_error(truth) -> None:
    far = truth["sensors_table"].assign(lon=25.3, lat=60.4)
    s = Sensors.from_frames(_readings(truth["counts"], truth["ids"]), far, city=truth["city"])
    with pytest.raises(SensorDataError, match="none of the 25 sensors is snapped"):
        fit_demand(s, truth["city"], trips=truth["prior"], tz=TZ)


def test_no_overlap_in_time_is_one_clear_error(truth) -> None:
    late = truth["prior"].assign(depart_s=15 * 3600.0)
    with pytest.raises(SensorDataError, match="no overlap in time.*15:00-16:00.*07:00-09:00"):
        fit_demand(truth["sensors"], truth["city"], trips=late, tz=TZ)
    with pytest.raises(SensorDataError, match="hours 12:00-13:00 hold no usable counts"):
        fit_demand(truth["sensors"], truth["city"], trips=truth["prior"], tz=TZ, hours=[12])


def test_all_counts_flagged_is_one_clear_error(truth) -> None:
    s = Sensors.from_frames(_readings(truth["counts"], truth["ids"], flow=-5.0), truth["sensors_table"],
                            city=truth["city"])
    with pytest.raises(SensorDataError, match="all 1200 readings of the snapped sensors are flagged.*negative_flow"):
        hourly_counts(s, truth["city"], tz=TZ)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lam": -1.0}, "lam must be a number"),
    ({"assignment": "equilibrium"}, "assignment must be one of shortest, split"),
    ({"prior": "guess"}, "prior must be 'trips', 'scaled' or a positive number"),
    ({"hours": [25]}, "hours must be local clock hours"),
    ({"tz": "Mars/Olympus"}, "not a time zone"),
])
def test_bad_parameters_are_refused(truth, kwargs, match) -> None:
    with pytest.raises(SensorDataError, match=match):
        fit_demand(truth["sensors"], truth["city"], trips=truth["prior"], **{"tz": TZ, **kwargs})


def test_not_sensors_is_refused(truth) -> None:
    with pytest.raises(SensorDataError, match="must be an optimizer.sensing.readings.Sensors"):
        fit_demand(truth["counts"], truth["city"], trips=truth["prior"], tz=TZ)


def test_geh_table_judges_any_trips_as_the_fit_does(truth, fitted) -> None:
    """The fitted trips judged afresh by geh_table give the fit's own GEH table."""
    from optimizer.sensing.odfit import geh_table

    again = geh_table(truth["sensors"], truth["city"], fitted.trips, tz=TZ)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), fitted.geh.reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, atol=1e-9)


def test_demand_no_sensor_sees_is_one_clear_error(truth, fitted) -> None:
    """A prior of only the pairs whose routes pass no sensor: nothing to fit, said so."""
    hidden = fitted.flows.loc[~fitted.flows["observed"], ["origin", "destination"]].drop_duplicates()
    prior = truth["prior"].merge(hidden, on=["origin", "destination"])
    assert len(prior) >= 10
    with pytest.raises(SensorDataError, match="no detector lies on a route of the demand"):
        fit_demand(truth["sensors"], truth["city"], trips=prior, tz=TZ)


def test_dual_newton_by_conjugate_gradients_matches_the_dense_solve(truth, fitted) -> None:
    """Above dense_max detector-hours the Newton system is solved by CG: the same answer."""
    from optimizer.sensing.odfit import _Assignment, _solve_dual

    fl = fitted.flows
    pairs = fl[["origin", "destination"]].drop_duplicates()
    asg = _Assignment(truth["city"].graph, pairs["origin"].to_numpy(), pairs["destination"].to_numpy(),
                      assignment="shortest", k=1, theta=1.0)
    cols = [(p, h) for p in range(len(pairs)) for h in sorted(fl["hour"].unique())]
    A = asg.matrix([(e, h) for e in truth["edges"] for h in HOURS], cols)
    c = np.random.default_rng(1).uniform(0.0, 300.0, A.shape[0])
    x0 = fl["prior_vph"].to_numpy()
    dense, r1 = _solve_dual(A, c, x0, 0.01)
    iterative, r2 = _solve_dual(A, c, x0, 0.01, dense_max=0)
    assert r1["converged"] and r2["converged"]
    np.testing.assert_allclose(iterative, dense, atol=1e-6)


def test_write_replaces_its_own_folder_only(fitted, tmp_path) -> None:
    from optimizer.io import UnsafePathError

    fitted.write(tmp_path)
    fitted.write(tmp_path)                                    # its own od/ folder: replaced whole
    assert sorted(p.name for p in (tmp_path / "od").iterdir()) == ["geh.csv", "summary.json", "trips.csv"]
    mine = tmp_path / "mine"
    (mine / "od").mkdir(parents=True)
    (mine / "od" / "notes.txt").write_text("keep")
    with pytest.raises(UnsafePathError, match="not a run folder"):
        fitted.write(mine)
    assert [p.name for p in (mine / "od").iterdir()] == ["notes.txt"]


def test_split_assignment_shares_a_pair_over_its_k_routes(helsinki) -> None:
    """theta=0: each of the k shortest paths carries a third; theta=1/min: logit shares on their times."""
    import itertools

    G = helsinki.graph
    D = ox.convert.to_digraph(G, weight="travel_time")
    trip = sample_trips(helsinki, 1, seed=11).assign(depart_s=7 * 3600.0, vehicles=90)
    o, d = trip["origin"].iloc[0], trip["destination"].iloc[0]
    paths = list(itertools.islice(nx.shortest_simple_paths(D, o, d, weight="travel_time"), 3))
    assert len(paths) == 3
    uses: dict = {}
    for p in paths:
        for e in {fastest_edge(G, u, v) for u, v in zip(p[:-1], p[1:])}:
            uses[e] = uses.get(e, 0) + 1
    edges = sorted(uses)
    even = segment_flows(helsinki, trip, edges, [7, 8], assignment="split", k=3, theta=0.0)
    total = even.groupby(["u", "v", "key"])["model_vph"].sum()          # both hours: the spill-over too
    np.testing.assert_allclose([total[e] for e in edges], [30.0 * uses[e] for e in edges], rtol=1e-12)
    # theta=1 per minute: logit shares on the routes' times (free flow: 90 veh/h barely loads a road)
    t = np.array([sum(G.edges[fastest_edge(G, u, v)]["travel_time"] for u, v in zip(p[:-1], p[1:]))
                  for p in paths])
    share = np.exp(-(t - t.min()) / 60.0)
    share /= share.sum()
    logit = segment_flows(helsinki, trip, edges, [7, 8], assignment="split", k=3, theta=1.0)
    total = logit.groupby(["u", "v", "key"])["model_vph"].sum()
    want = [90.0 * sum(share[r] for r, p in enumerate(paths)
                       if e in {fastest_edge(G, u, v) for u, v in zip(p[:-1], p[1:])}) for e in edges]
    np.testing.assert_allclose([total[e] for e in edges], want, rtol=1e-3)
    assert share.max() - share.min() > 0.01                   # the times differ enough to tell
