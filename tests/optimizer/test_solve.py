"""The table of solvers: every name works where the table says it applies and is refused elsewhere,
seed and time_limit_s are checked alike on every branch, and the CLI and job files read the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from optimizer import solve, solver_names
from optimizer.errors import InvalidOptionError, UnknownSolverError
from optimizer.solve import (
    DEFAULT_SOLVERS,
    PROBLEM_KINDS,
    SOLVERS,
    applies,
    check_request,
    folder_label,
    solver_entry,
)

#: Options that keep each solver under a second on the instances below.
FAST: dict[str, dict[str, Any]] = {
    "qaoa": {"depth": 1, "shots": 64, "maxiter": 3},
    "anneal": {"sweeps": 50, "reads": 4},
    "decompose": {"inner": "exact"},
}


@pytest.fixture(scope="module")
def problems(helsinki: Any) -> dict[str, Any]:
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.problems.fleet.problem import Fleet
    from optimizer.problems.traffic import Traffic

    cost = np.array([[0, 4, 6, 5], [4, 0, 3, 7], [6, 3, 0, 2], [5, 7, 2, 0]], dtype=float)  # 3 stops: 9 qubits
    return {"traffic": Traffic.from_city(helsinki, trips=3, routes=2, seed=1),
            "fleet": Fleet(cost),
            "dispatch": Dispatch.from_grid("case9", units=3, periods=2, levels=1)}


CASES = [(name, kind) for name in sorted(SOLVERS) for kind in PROBLEM_KINDS]


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_every_solver_runs_where_the_table_says_and_is_refused_elsewhere(
        problems: dict[str, Any], name: str, kind: str) -> None:
    prob = problems[kind]
    opts = FAST.get(name, {})
    if applies(name, kind):
        sol = solve(prob, name, seed=1, time_limit_s=2, **opts)
        assert sol.bits.shape == (prob.to_qubo().num_variables,)
        assert sol.wall_time_s > 0
        return
    with pytest.raises(UnknownSolverError) as info:
        solve(prob, name, seed=1, **opts)
    text = str(info.value)
    assert f"{name!r} does not apply to {kind} problems" in text
    for other in SOLVERS[name].problems:
        assert other in text
    with pytest.raises(UnknownSolverError, match="does not apply"):
        check_request(name, {}, kind)


def test_the_table_agrees_with_the_problems(problems: dict[str, Any]) -> None:
    for kind, prob in problems.items():
        native = {n for n, e in SOLVERS.items() if e.calls.get(kind) == "native"}
        assert native == set(prob.native_solvers()), kind
        has_model = any(e.calls.get(kind) == "cpsat" for e in SOLVERS.values())
        assert has_model == (prob.native_cpsat() is not None), kind
    # fleet's decompose takes the table's options, and only those (the table is their one list)
    with pytest.raises(InvalidOptionError, match="unknown option 'bogus' for solver 'decompose' on fleet"):
        solve(problems["fleet"], "decompose", bogus=1)
    for kind, names in DEFAULT_SOLVERS.items():
        assert all(applies(n, kind) for n in names)
    assert set(solver_names("traffic")) == {n for n, e in SOLVERS.items() if "traffic" in e.problems}
    assert all(solver_names().values())


def test_unknown_solver_names_the_choices(problems: dict[str, Any]) -> None:
    with pytest.raises(UnknownSolverError, match="unknown solver 'magic'; choose one of: anneal, cpsat"):
        solve(problems["traffic"], "magic")


@pytest.mark.parametrize("kind", PROBLEM_KINDS)
@pytest.mark.parametrize(("seed", "limit", "needle"), [
    (-1, None, "seed"), (1.5, None, "seed"), (True, None, "seed"),
    (None, 0, "time_limit_s"), (None, -2.0, "time_limit_s"), (None, "5", "time_limit_s"),
])
def test_bad_seed_or_time_limit_is_refused_on_every_branch(problems: dict[str, Any], kind: str, seed: Any,
                                                          limit: Any, needle: str) -> None:
    for name in solver_names(kind):  # native, CP-SAT native model and QUBO solvers alike
        with pytest.raises(InvalidOptionError, match=needle):
            solve(problems[kind], name, seed=seed, time_limit_s=limit)


def test_options_are_checked_once_before_the_call(problems: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError, match="solver 'shortest' takes no options"):
        solve(problems["traffic"], "shortest", depth=2)
    with pytest.raises(InvalidOptionError, match="unknown option 'depth' for solver 'milp'; valid options are: max_ac_iterations"):
        solve(problems["dispatch"], "milp", depth=2)
    with pytest.raises(InvalidOptionError, match="unknown option 'depth' for solver 'routing'"):
        solve(problems["fleet"], "routing", depth=2)
    with pytest.raises(InvalidOptionError, match="has no native CP-SAT model"):
        solve(problems["fleet"], "cpsat", on="native")
    with pytest.raises(InvalidOptionError, match="option 'on'"):
        check_request("cpsat", {"on": "both"}, "traffic")
    # decompose: the QUBO solver's options on traffic, the fleet solver's own on fleet
    check_request("decompose", {"cluster_size": 3}, "fleet")
    with pytest.raises(InvalidOptionError, match="cluster_size"):
        check_request("decompose", {"cluster_size": 3}, "traffic")
    check_request("decompose", {"cluster_size": 3})  # no problem given: one that takes it is enough
    check_request("routing", {"first_solution": "PATH_CHEAPEST_ARC"}, "fleet")


def test_folder_labels() -> None:
    assert folder_label("cpsat", {"on": "qubo"}) == "cpsat-qubo"
    assert folder_label("cpsat", {"on": "native"}) == folder_label("cpsat", {}) == "cpsat"
    assert folder_label("qaoa", {"on": "qubo"}) == "qaoa"
    assert solver_entry("routing").problems == ("fleet",)


def test_job_file_with_a_solver_that_does_not_apply_is_refused_at_load(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from optimizer.runs import jobs

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing may run")

    monkeypatch.setattr(jobs, "execute_run", never)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({
        "output": "out", "solvers": [{"name": "cpsat"}],
        "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2},
                      {"problem": "traffic", "trips": 4, "routes": 2, "solvers": [{"name": "routing"}]}]}))
    with pytest.raises(jobs.JobError) as info:
        jobs.load_job(path)
    text = str(info.value)
    assert "scenarios[1].solvers[0].name: solver 'routing' does not apply to traffic problems (scenarios[1])" in text
    assert "it applies to fleet problems" in text
    assert not (tmp_path / "out").exists()


def test_cli_help_lists_the_table() -> None:
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "run", "--help"], capture_output=True, text=True,
                       timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    for name, e in SOLVERS.items():
        assert name in text
        if len(e.problems) == 1:
            assert f"{name} ({e.problems[0]})" in text
    for kind, names in DEFAULT_SOLVERS.items():
        assert f"{' '.join(names)} ({kind})" in text


def test_cli_refuses_a_solver_that_does_not_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from optimizer.cli import main

    out = tmp_path / "out"
    rc = main(["-q", "run", "--problem", "traffic", "--trips", "3", "--solver", "shortest", "routing",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "--solver routing does not apply to traffic problems" in err and "fleet" in err and "choose from: anneal, cpsat" in err
    assert not out.exists()


def test_verdict_measures_against_the_tables_baseline(problems: dict[str, Any]) -> None:
    from optimizer.runs.runner import SolverRequest, run_problem, verdict
    from optimizer.solve import baseline_solver

    assert baseline_solver("traffic") == "shortest"
    assert baseline_solver("fleet") is None and baseline_solver("dispatch") is None
    recs = run_problem(problems["traffic"], [SolverRequest("shortest"), SolverRequest("exact")], out=None, seed=1)
    v = verdict(recs)
    base, best = (r.summary["objective"] for r in recs)
    assert v["best_objective"] == best
    assert v["reduction_vs_baseline"] == pytest.approx((base - best) / base)
    d = verdict(run_problem(problems["dispatch"], [SolverRequest("milp")], out=None, seed=1))
    assert "reduction_vs_baseline" not in d
