"""The QAOA speed benchmark runs, and its figures are what they say (tiny sizes; speed itself is
measured by ``make bench``, never asserted here)."""

from __future__ import annotations

import pytest

from benchmarks.bench_qaoa import bench_loop, largest_n


@pytest.mark.parametrize("mixer", ["x", "xy-ring"])
def test_bench_loop_reports_consistent_rates(mixer: str) -> None:
    r = bench_loop(n=6, depth=2, rounds=1, mixer=mixer)
    assert r["mixer"] == mixer and r["n"] == 6 and r["depth"] == 2
    for key in ("qsim_evals_per_s", "fast_evals_per_s", "fast_blas_evals_per_s"):
        assert r[key] > 0
    assert r["speedup"] == pytest.approx(r["fast_evals_per_s"] / r["qsim_evals_per_s"])
    assert r["jit_over_blas"] == pytest.approx(r["fast_evals_per_s"] / r["fast_blas_evals_per_s"])


def test_largest_n_fits_the_budget() -> None:
    out = largest_n(budget_bytes=1 << 30)
    for figures in out.values():
        n, per = figures["largest_n"], figures["bytes_per_amplitude"]
        assert per << n < 1 << 30 <= per << (n + 1)


def test_stream_bandwidth_reports_each_figure() -> None:
    from benchmarks.bench_qaoa import stream_bandwidth

    bw = stream_bandwidth(nbytes=8 << 20, repeats=1)
    assert set(bw) == {"copy", "triad_1", "triad_2", "best"}
    assert all(v > 0 for v in bw.values()) and bw["best"] == max(bw["copy"], bw["triad_1"], bw["triad_2"])


def test_qokit_rows_say_why_when_not_measured() -> None:
    from benchmarks.bench_qaoa import bench_qokit, qokit_status

    out = bench_qokit(ns=(6,), depth=2, rounds=1)
    if qokit_status() != "available":
        assert out == {"measured": False, "reason": qokit_status(), "rows": []}
        assert "pip install" in out["reason"] or "libcsim" in out["reason"]
        return
    (row,) = out["rows"]  # pragma: no cover - only where the benchmark extra is installed
    assert row["energy_difference_complex128"] < 1e-6 and row["energy_difference_complex64"] < 1e-3
