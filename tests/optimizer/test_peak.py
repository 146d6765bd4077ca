"""Time in the traffic model: departures, slices, the BPR cost of a cell and the QUBO's surrogate, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.errors import InvalidInputError
from optimizer.inputs.peak import Peak, TrafficModel, bpr_surrogate, departure_times, parse_clock


def test_a_cells_bpr_cost_by_hand():
    m = TrafficModel()  # 15-minute slices
    # 300 vehicles in a quarter-hour on 600 veh/h: 1200 veh/h, v/c = 2, 1 + 0.15 * 16 = 3.4
    assert m.cell_cost(300, 60.0, 600.0) == pytest.approx(300 * 60 * 3.4)
    assert m.travel_time_s(300, 60.0, 600.0) == pytest.approx(60 * 3.4)
    assert m.cell_cost(0, 60.0, 600.0) == 0.0
    m2 = TrafficModel(alpha=1.0, beta=2.0, peak=Peak(slice_s=3600.0))
    assert m2.cell_cost(300, 10.0, 600.0) == pytest.approx(300 * 10 * 1.25)
    assert TrafficModel(objective="congestion").cost(3, 10.0, 600.0) == pytest.approx(90.0)  # w n^2


def test_the_surrogate_by_hand_on_the_boundary():
    """Loads 1..2 of f(n) = 10 n (1 + 0.15 n^4): the free fit has a < 0, so the fit is b n^2 alone."""
    m = TrafficModel()
    cap = 4.0  # 4 veh/h in a quarter-hour: n vehicles are 4n veh/h, v/c = n
    f1, f2 = 10 * 1.15, 2 * 10 * (1 + 0.15 * 16)
    assert (m.cell_cost(1, 10.0, cap), m.cell_cost(2, 10.0, cap)) == pytest.approx((f1, f2))
    assert f1 - (f2 - 2 * f1) / 2 < 0  # the unconstrained a
    a, b = bpr_surrogate(m, 10.0, cap, 2)
    assert a == 0.0 and b == pytest.approx((f1 + 4 * f2) / 17)  # least squares of b n^2: sum f n^2 / sum n^4


def test_the_surrogate_inside_is_the_least_squares_fit():
    """Where a, b > 0 the residual is orthogonal to n and n^2 (the normal equations), checked directly."""
    m = TrafficModel()
    a, b = bpr_surrogate(m, 10.0, 100.0, 30)
    n = np.arange(1, 31, dtype=float)
    r = a * n + b * n * n - m.cell_cost(n, 10.0, 100.0)
    assert a > 0 and b > 0
    assert abs(r @ n) < 1e-6 * np.abs(r).sum() * 30 and abs(r @ (n * n)) < 1e-6 * np.abs(r).sum() * 900
    # one vehicle possible: exact and linear
    assert bpr_surrogate(m, 10.0, 40.0, 1) == pytest.approx((float(m.cell_cost(1, 10.0, 40.0)), 0.0))


def test_entry_slices_from_free_flow_times():
    peak = Peak()  # 07:00 + 15-minute slices
    # leaves at 07:14:50; enters its segments at 07:14:50, 07:14:55, 07:15:05
    assert peak.entry_slices(7 * 3600 + 890, [5.0, 10.0, 900.0]).tolist() == [0, 0, 1]
    assert peak.slice_of([7 * 3600 - 1]).tolist() == [-1]
    assert peak.label(1) == "07:15-07:30"


def test_departures_fill_the_peak_busiest_in_the_middle():
    t = departure_times(20_000, Peak(), seed=3)
    counts = np.bincount(Peak().slice_of(t), minlength=8)
    assert counts.sum() == 20_000 and len(counts) == 8
    assert counts[3] + counts[4] > 2.5 * (counts[0] + counts[7])  # triangular: 7/32 each vs 1/32 each
    assert np.array_equal(t, departure_times(20_000, Peak(), seed=3))


@pytest.mark.parametrize("bad", ["24:60", "-1", "99:00", "soon", float("nan"), None, True])
def test_a_bad_time_of_day_is_refused(bad):
    with pytest.raises(InvalidInputError, match="time of day"):
        parse_clock(bad)


@pytest.mark.parametrize("kw", [{"start_s": 9 * 3600.0, "end_s": 7 * 3600.0}, {"slice_s": 30.0},
                                {"end_s": float("inf")}])
def test_a_bad_peak_is_refused(kw):
    with pytest.raises(InvalidInputError):
        Peak(**kw)


@pytest.mark.parametrize("kw", [{"objective": "speed"}, {"alpha": -1.0}, {"beta": 0.5}, {"alpha": float("nan")}])
def test_a_bad_model_is_refused(kw):
    with pytest.raises(InvalidInputError):
        TrafficModel(**kw)
