"""Outputs are written atomically: a failure leaves the previous state untouched."""

from __future__ import annotations

import json

import pytest

from optimizer.io import atomic_write_json, atomic_write_text, staged_dir


def test_atomic_write_replaces_whole(tmp_path):
    p = tmp_path / "a" / "x.json"
    atomic_write_json(p, {"v": 1, "nan": float("nan")})
    assert json.loads(p.read_text()) == {"v": 1, "nan": None}
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_atomic_write_failure_keeps_old(tmp_path):
    p = tmp_path / "x.json"
    atomic_write_text(p, "old")
    with pytest.raises(TypeError):
        atomic_write_json(p, {"bad": object()})
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]


def test_staged_dir_rolls_back(tmp_path):
    final = tmp_path / "run"
    with staged_dir(final) as d:
        (d / "summary.json").write_text("1")
    with pytest.raises(RuntimeError), staged_dir(final) as d:
        (d / "summary.json").write_text("2")
        raise RuntimeError("solver died half way")
    assert (final / "summary.json").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failing_solver_leaves_no_run_folder(tmp_path, helsinki):
    from optimizer.problems.traffic import Traffic
    from optimizer.runs.runner import SolverRequest, run_problem
    from solvers import ProblemTooLargeError

    prob = Traffic.from_city(helsinki, trips=10, routes=3, seed=1)  # 30 variables: too many for exact
    with pytest.raises(ProblemTooLargeError, match="max_variables"):
        run_problem(prob, [SolverRequest("exact")], out=tmp_path)
    assert not any(tmp_path.rglob("summary.json"))
    assert not any(tmp_path.rglob("*.tmp"))
