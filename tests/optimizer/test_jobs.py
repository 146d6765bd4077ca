"""Batch jobs on Dask and the results database: rows equal their summaries, resume after a
real kill, worker loss, an external scheduler, and one clear error per bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from optimizer.runs.jobs import (
    FAULT_ENV_VAR,
    JobError,
    SchedulerUnreachableError,
    load_job,
    run_job,
)
from optimizer.runs.results import ResultsDatabaseError, ResultsDB

REPO = Path(__file__).resolve().parents[2]

#: 3 scenarios x 3 solvers x 2 seeds = 18 tiny runs (well under a second each).
JOB18: dict[str, Any] = {
    "name": "t18",
    "output": "out",
    "solvers": [{"name": "shortest"}, {"name": "cpsat"}, {"name": "exact"}],
    "scenarios": [
        {"problem": "traffic", "city": "helsinki", "trips": 3, "routes": 2, "seeds": [1, 2]},
        {"problem": "traffic", "city": "helsinki", "trips": 4, "routes": 2, "seeds": [1, 2]},
        {"problem": "dispatch", "grid": "case9", "units": 3, "periods": 4, "levels": 1, "seeds": [1, 2],
         "solvers": [{"name": "milp"}, {"name": "cpsat"}, {"name": "exact"}]},
    ],
}

#: Compared column by column with summary.json.
FIELDS = ("problem", "solver", "label", "seed", "status", "objective", "objective_units", "qubo_energy", "feasible",
          "best_bound", "gap", "wall_time_s", "host", "cityopt_version")


def write_job(folder: Path, data: dict[str, Any], name: str = "job.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def db_rows(path: Path) -> dict[str, dict[str, Any]]:
    df = ResultsDB(path).frame()
    return {r["run_id"]: r for r in df.to_dict("records")}


def same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and a != a):
        return b is None
    if isinstance(b, bool) or isinstance(a, bool):
        return bool(a) == bool(b)
    if isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


@pytest.fixture(scope="module")
def batch18(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    folder = tmp_path_factory.mktemp("batch18")
    job = load_job(write_job(folder, JOB18))
    result = run_job(job, n_workers=2, progress=False)
    return job, result


def test_batch_fills_the_database_with_rows_equal_to_their_summaries(batch18: tuple[Any, Any]) -> None:
    job, result = batch18
    assert result.ok, result.failed
    assert len(job.runs) == 18 and len(result.ran) == 18 and result.skipped == 0
    rows = db_rows(job.database)
    assert set(rows) == {r.run_id for r in job.runs}
    for rid, row in rows.items():
        out = Path(row["out_dir"])
        summary = json.loads((out / "summary.json").read_text())
        meta = json.loads((out / "run.json").read_text())
        assert meta["run_id"] == rid
        for f in FIELDS:
            assert same(row[f], summary[f]), (rid, f, row[f], summary[f])
        assert row["instance_name"] == summary["instance"]["name"]
        assert json.loads(row["summary"]) == summary
        assert row["job"] == "t18" and row["finished_utc"] >= row["started_utc"]
        assert json.loads(row["versions"])["cityopt"] == summary["cityopt_version"]
        assert out.parts[-3:] == (summary["problem"], summary["instance"]["name"], summary["label"])
        if summary["problem"] == "traffic" and summary["feasible"]:
            assert (out / "segment_loads.geojson").is_file() and (out / "plan.geojson").is_file()
        if summary["problem"] == "dispatch" and summary["feasible"]:
            assert (out / "dispatch.csv").is_file() and (out / "powerflow.json").is_file()
    # flattened instance columns
    df = ResultsDB(job.database).frame()
    assert set(df.loc[df["problem"] == "traffic", "instance_trips"]) == {3.0, 4.0}
    # each instance's comparison over all of its solvers
    comparisons = sorted(job.output.glob("*/*/comparison.csv"))
    assert len(comparisons) == 6
    assert all(len(p.read_text().strip().splitlines()) == 4 for p in comparisons)


def test_rerun_skips_every_finished_run(batch18: tuple[Any, Any]) -> None:
    job, _ = batch18
    before = db_rows(job.database)
    again = run_job(job, progress=False)  # no cluster is started: nothing to do
    assert again.skipped == 18 and again.ran == [] and again.recovered == 0
    after = db_rows(job.database)
    assert {k: (v["finished_utc"], v["objective"]) for k, v in before.items()} == \
           {k: (v["finished_utc"], v["objective"]) for k, v in after.items()}


def test_run_ids_are_stable_and_distinct(batch18: tuple[Any, Any]) -> None:
    job, _ = batch18
    again = load_job(job.path)
    assert [r.run_id for r in again.runs] == [r.run_id for r in job.runs]
    assert len({r.run_id for r in job.runs}) == 18


def test_fleet_job_runs_through_the_batch(tmp_path: Path) -> None:
    data = {"name": "fleet", "output": "out",
            "scenarios": [{"problem": "fleet", "city": "helsinki", "stops": 3, "vehicles": 1, "seeds": [1],
                           "solvers": [{"name": "routing", "time_limit_s": 1}, {"name": "exact"}]}]}
    job = load_job(write_job(tmp_path, data))
    assert [(r.problem, r.solver) for r in job.runs] == [("fleet", "routing"), ("fleet", "exact")]
    result = run_job(job, n_workers=1, progress=False)
    assert result.ok, result.failed
    assert len(result.ran) == 2
    rows = db_rows(job.database)
    assert set(rows) == {r.run_id for r in job.runs}
    objectives = set()
    for row in rows.values():
        out = Path(row["out_dir"])
        summary = json.loads((out / "summary.json").read_text())
        assert out.parts[-3:] == ("fleet", "helsinki-n3-v1-s1", row["label"])
        for f in FIELDS:
            assert same(row[f], summary[f]), (f, row[f], summary[f])
        assert summary["problem"] == "fleet" and summary["feasible"] and summary["instance"]["stops"] == 3
        assert (out / "plan.geojson").is_file() and (out / "itinerary.csv").is_file()
        objectives.add(round(summary["objective"], 6))
    assert len(objectives) == 1  # Routing finds the 3-stop optimum that exact proves
    assert (job.output / "fleet" / "helsinki-n3-v1-s1" / "comparison.csv").is_file()


def test_fleet_scenario_from_an_instance_file(tmp_path: Path) -> None:
    data = {"output": "out", "solvers": [{"name": "routing"}],
            "scenarios": [{"problem": "fleet", "instance": str(REPO / "tests" / "data" / "tiny6.tsp")}]}
    job = load_job(write_job(tmp_path, data))
    (run,) = job.runs
    assert run.params["instance"] == str((REPO / "tests" / "data" / "tiny6.tsp").resolve())
    assert run.params["vehicles"] is None  # the file's


def _finished_folders(out: Path) -> dict[str, str]:
    found = {}
    for meta in out.glob("*/*/*/run.json"):
        m = json.loads(meta.read_text())
        found[m["run_id"]] = m["finished_utc"]
    return found


def test_batch_killed_part_way_resumes_without_redoing_any_run(tmp_path: Path) -> None:
    data = {"name": "killme", "output": "out",
            "solvers": [{"name": "shortest"}, {"name": "exact"},
                        {"name": "anneal", "options": {"sweeps": 4000, "reads": 32}}],
            "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2, "seeds": [1, 2, 3, 4]},
                          {"problem": "traffic", "trips": 4, "routes": 2, "seeds": [1, 2]}]}
    path = write_job(tmp_path, data)
    job = load_job(path)
    total = len(job.runs)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "optimizer.cli", "batch", str(path), "--workers", "1",
                             "--no-progress"], cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while len(_finished_folders(job.output)) < 4:
            assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read()!r}"
            assert time.monotonic() < deadline, "no run finished in 120 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and its worker processes
        proc.wait(timeout=30)
    for _ in range(200):  # every process of the group gone (the DB lock goes with them)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    folders = _finished_folders(job.output)
    in_db = db_rows(job.database) if job.database.exists() else {}
    assert 4 <= len(folders) < total, "kill the batch part-way"
    assert set(in_db) <= set(folders)

    result = run_job(job, n_workers=1, progress=False)
    assert result.ok, result.failed
    after = db_rows(job.database)
    assert set(after) == {r.run_id for r in job.runs} and len(after) == total
    for rid, row in in_db.items():  # rows written before the kill are untouched
        assert after[rid]["finished_utc"] == row["finished_utc"]
        assert after[rid]["started_utc"] == row["started_utc"]
    # no finished run was done again: their folders keep their times, and they were not re-run
    assert len(result.ran) == total - len(folders)
    assert result.recovered == len(folders) - len(in_db)
    assert result.skipped == len(in_db)
    again = _finished_folders(job.output)
    assert all(again[rid] == t for rid, t in folders.items())


def test_worker_killed_mid_task_gets_the_task_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(FAULT_ENV_VAR, str(marker))  # the first task to start kills its worker process
    data = {"output": "out", "solvers": [{"name": "shortest"}, {"name": "cpsat"}],
            "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2, "seeds": [1, 2]}]}
    job = load_job(write_job(tmp_path, data))
    result = run_job(job, n_workers=2, progress=False)
    assert marker.is_file(), "no worker was killed"
    killed = marker.read_text().split()[0]
    assert result.ok, result.failed
    rows = db_rows(job.database)
    assert set(rows) == {r.run_id for r in job.runs} and killed in rows
    assert sorted(result.ran) == sorted(rows)  # each once


def test_failed_run_leaves_the_database_whole_and_the_rest_done(tmp_path: Path, monkeypatch) -> None:
    first = load_job(write_job(tmp_path, {"output": "out", "solvers": [{"name": "shortest"}],
                                          "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2}]}, "a.yaml"))
    assert run_job(first, n_workers=1, progress=False).ok
    before = db_rows(first.database)
    # with no retries, the run whose worker dies fails; the other is done and the first job's row untouched
    bad = load_job(write_job(tmp_path, {"output": "out", "retries": 0,
                                        "solvers": [{"name": "cpsat"}, {"name": "anneal"}],
                                        "scenarios": [{"problem": "traffic", "trips": 4, "routes": 2}]}, "b.yaml"))
    monkeypatch.setenv(FAULT_ENV_VAR, str(tmp_path / "killed-once"))
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # a dead worker fails its task
        result = run_job(bad, n_workers=1, progress=False)
    assert result.failed and len(result.failed) + len(result.ran) == 2
    after = db_rows(first.database)
    assert len(after) == 1 + len(result.ran)
    for rid, row in before.items():
        assert after[rid]["finished_utc"] == row["finished_utc"]
    monkeypatch.delenv(FAULT_ENV_VAR)
    again = run_job(bad, n_workers=1, progress=False)  # the re-run does the failed runs only
    assert again.ok and sorted(again.ran) == sorted(result.failed) and again.skipped == len(result.ran)
    assert len(db_rows(first.database)) == 3


def test_a_solver_too_small_for_an_instance_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    # exact cannot take 20 trips x 3 routes = 60 variables: known from the instance, refused before the batch
    bad = load_job(write_job(tmp_path, {"output": "out", "solvers": [{"name": "cpsat"}, {"name": "exact"}],
                                        "scenarios": [{"problem": "traffic", "trips": 20, "routes": 3}]}, "b.yaml"))
    with pytest.raises(JobError, match=r"scenarios\[0\] x solvers\[1\] seed 1: exact search over 60 variables"):
        run_job(bad, n_workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "distributed.cli.dask_scheduler"]


def test_job_on_an_external_scheduler_runs_and_shuts_down_clean(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = subprocess.Popen([*_dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=(tmp_path / "scheduler.log").open("w"))
    worker = None
    try:
        worker = subprocess.Popen([*_dask_cli(), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("w"))
        data = {"output": "out", "solvers": [{"name": "shortest"}, {"name": "cpsat"}],
                "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2, "seeds": [1]}]}
        job = load_job(write_job(tmp_path, data))
        result = run_job(job, scheduler=address, scheduler_timeout_s=30, progress=False)
        assert result.ok and len(result.ran) == 2
        assert len(db_rows(job.database)) == 2
        assert sched.poll() is None and worker.poll() is None  # the batch leaves the cluster running
    finally:
        codes = []
        for p in (worker, sched):  # the worker first, then its scheduler: the order of a clean stop
            if p is None:
                continue
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            codes.append(p.wait(timeout=30))
    assert codes == [0, 0], (tmp_path / "scheduler.log").read_text()[-2000:]
    for log_name in ("scheduler.log", "worker.log"):
        text = (tmp_path / log_name).read_text()
        assert "Traceback" not in text, text[-3000:]


# ---------------------------------------------------------------------------- bad input
BASE: dict[str, Any] = {"output": "out", "solvers": [{"name": "cpsat"}],
                        "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2}]}


def _with(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        target = data
        *head, last = path.split("__")
        for part in head:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(("data", "expected"), [
    (_with(scenarios__0__solverz=[{"name": "cpsat"}]),
     "unknown key 'solverz' at scenarios[0]; did you mean 'solvers'?"),
    (_with(solverz=[]), "unknown key 'solverz' at the job file; did you mean 'solvers'?"),
    (_with(solvers__0__optoins={}), "unknown key 'optoins' at solvers[0]; did you mean 'options'?"),
    (_with(scenarios__0__trips="three"), "scenarios[0].trips: Input should be a valid integer"),
    (_with(scenarios__0__seeds=1), "scenarios[0].seeds: Input should be a valid list"),
    (_with(scenarios__0__routes=0), "scenarios[0].routes: Input should be greater than 0"),
    (_with(scenarios__0__problem="trafic"), "scenarios[0].problem: unknown problem 'trafic'"),
    (_with(solvers__0__name="cpsta"), "solvers[0].name: unknown solver 'cpsta'; did you mean 'cpsat'?"),
    (_with(solvers__0__options={"depth": 2}), "solvers[0].options:"),
    (_with(solvers__0__name="milp"), "solvers[0].name: solver 'milp' does not apply to traffic problems"),
    (_with(scenarios__0__city="helsinkki"), "scenarios[0].city: unknown city 'helsinkki'; did you mean 'helsinki'?"),
    ({**BASE, "scenarios": [{"problem": "dispatch", "grid": "case99"}]}, "scenarios[0].grid: unknown grid 'case99'"),
    ({**BASE, "solvers": [{"name": "cpsat"}, {"name": "cpsat"}]}, "solvers[1]: label 'cpsat' is used by solvers[0]"),
    (_with(scenarios__0__problem="flet"), "scenarios[0].problem: unknown problem 'flet'; use 'traffic', 'fleet' or "
                                          "'dispatch'; did you mean 'fleet'?"),
    ({**BASE, "scenarios": [{"problem": "fleet", "stops": 0}]}, "scenarios[0].stops: Input should be greater than 0"),
    ({**BASE, "scenarios": [{"problem": "fleet", "instance": "nope.vrp"}]}, "scenarios[0].instance: no instance file"),
    ({**BASE, "scenarios": [{"problem": "fleet", "instance": "nope.vrp", "stops": 4}]},
     "scenarios[0].stops: the instance file sets the stops"),
    ({**BASE, "scenarios": [{"problem": "fleet", "city": "helsinkki"}]}, "scenarios[0].city: unknown city 'helsinkki'"),
    ({**BASE, "solvers": [{"name": "routing", "options": {"depth": 2}}],
      "scenarios": [{"problem": "fleet", "stops": 3}]}, "solvers[0].options: unknown option 'depth' for solver 'routing'"),
])
def test_bad_job_gives_one_clear_error_naming_the_field(tmp_path: Path, data: dict[str, Any], expected: str) -> None:
    path = write_job(tmp_path, data)
    with pytest.raises(JobError) as info:
        load_job(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)  # one error, one line


def test_bad_job_through_the_cli_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from optimizer.cli import main

    path = write_job(tmp_path, _with(scenarios__0__solverz=[]))
    assert main(["batch", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'solverz' at scenarios[0]; did you mean 'solvers'?" in err[0]


def test_unwritable_database_fails_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    job = load_job(write_job(tmp_path, {**BASE, "database": "afile/results.duckdb"}))
    with pytest.raises(ResultsDatabaseError, match="database path .*afile/results.duckdb.* is not writable"):
        run_job(job, progress=False)
    assert not job.output.exists()


def test_corrupt_database_file_is_refused_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "results.duckdb"
    db.write_bytes(b"this is not a duckdb file" * 100)
    job = load_job(write_job(tmp_path, BASE), database=db)
    with pytest.raises(ResultsDatabaseError, match="is not a readable DuckDB database"):
        run_job(job, progress=False)
    assert db.read_bytes() == b"this is not a duckdb file" * 100


def test_scheduler_that_does_not_answer_gives_one_clear_error(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path, BASE))
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachableError, match=r"--scheduler 'tcp://127\.0\.0\.1:\d+': no Dask scheduler "
                                                        r"answered within 2 s"):
        run_job(job, scheduler=address, scheduler_timeout_s=2, progress=False)
    assert time.monotonic() - t0 < 30
    assert ResultsDB(job.database).run_ids() == set()  # the database exists (checked first) and is empty


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="no job file at"):
        load_job(tmp_path / "nope.yaml")


def test_example_job_loads() -> None:
    job = load_job(REPO / "examples" / "city_day.yaml")
    assert len(job.runs) >= 12
    assert {r.problem for r in job.runs} == {"traffic", "dispatch"}



# ---------------------------------------------------------------------------- refused at load, before any write
@pytest.mark.parametrize(("data", "expected"), [
    # path traversal: a label is one plain folder name
    (_with(solvers__0__label="../../../../x"), "solvers[0].label: '../../../../x' cannot be a folder name"),
    (_with(solvers__0__label="/tmp/elsewhere"), "solvers[0].label: '/tmp/elsewhere' cannot be a folder name"),
    ({**BASE, "solvers": [{"name": "cpsat"}, {"name": "shortest", "label": "."}]},
     "solvers[1].label: '.' cannot be a folder name"),
    (_with(solvers__0__label=".."), "solvers[0].label: '..' cannot be a folder name"),
    (_with(solvers__0__label=".hidden"), "solvers[0].label: '.hidden' cannot be a folder name"),
    ({**BASE, "solvers": [], "scenarios": [{"problem": "traffic", "solvers": [{"name": "cpsat"},
                                                                          {"name": "shortest", "label": "a/b"}]}]},
     "scenarios[0].solvers[1].label: 'a/b' cannot be a folder name"),
    # two runs, one folder
    ({**BASE, "solvers": [{"name": "cpsat", "label": "x"}],
      "scenarios": [{"problem": "traffic", "min_distance_m": 100}, {"problem": "traffic", "min_distance_m": 200}]},
     "scenarios[1] x solvers[0] seed 1 and scenarios[0] x solvers[0] seed 1 would write one run folder (label 'x'"),
    # parameters in range, checked by check_scenario with the job's field names
    (_with(scenarios__0__routes=100_000_000), "scenarios[0].routes must be an integer >= 1 and <= 20, got 100000000"),
    ({**BASE, "solvers": [{"name": "milp"}], "scenarios": [{"problem": "dispatch", "periods": 7}]},
     "scenarios[0].periods must divide the day's 96 quarter-hours"),
    ({**BASE, "solvers": [{"name": "milp"}], "scenarios": [{"problem": "dispatch", "load_scale": float("inf")}]},
     "scenarios[0].load_scale must be a finite number >= 0 and <= 100, got inf"),
    ({**BASE, "solvers": [{"name": "milp"}], "scenarios": [{"problem": "dispatch", "levels": 100_000}]},
     "scenarios[0].levels must be an integer >= 1 and <= 20"),
    ({**BASE, "solvers": [{"name": "routing"}], "scenarios": [{"problem": "fleet", "stops": 100_000}]},
     "scenarios[0].stops must be an integer >= 1 and <= 2000"),
    # seeds
    (_with(scenarios__0__seeds=[1, -1]), "scenarios[0].seeds[1]: a seed must be an integer from 0 to 2147483647, "
                                         "got -1"),
    (_with(scenarios__0__seeds=[2**70]), "scenarios[0].seeds[0]: a seed must be an integer from 0 to 2147483647"),
    # time limits finite
    ({**BASE, "time_limit_s": float("nan")}, "time_limit_s: Input should be a finite number, got nan"),
    (_with(solvers__0__time_limit_s=float("inf")), "solvers[0].time_limit_s: Input should be a finite number"),
    # solver options checked at load
    (_with(solvers__0__options={"workers": -3}), "solvers[0].options:"),
    # too many runs
    (_with(scenarios__0__seeds=list(range(20_000))), "20000 runs (scenarios x seeds x solvers), more than the 5000"),
    ({**BASE, "output": ""}, "'output' is empty"),
])
def test_bad_job_is_refused_at_load_naming_the_field(tmp_path: Path, data: dict[str, Any], expected: str) -> None:
    path = write_job(tmp_path, data)
    t0 = time.process_time()  # CPU time: a loaded machine must not fail it, a runaway check must
    with pytest.raises(JobError) as info:
        load_job(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
    assert time.process_time() - t0 < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]  # nothing written


def _bomb(levels: int) -> str:
    text = 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n"
    return text + "output: out\nsolvers: [{name: cpsat}]\nscenarios: [{problem: traffic}]\n"


@pytest.mark.parametrize(("text", "expected"), [
    (_bomb(9), "more than 100000 values once its aliases are expanded"),  # 9**10 strings: a billion laughs
    ("a: &a [x]\n" + "".join(f"b{i}: *a\n" for i in range(300)), "more than 200 YAML aliases"),
    ("a: &a [*a]\n", "an alias contains itself"),
    ("x: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("#" * 1_100_000, "larger than 1 MB"),
    ("output: out\nsolvers: [{name: cpsat}\nscenarios: []\n", "job.yaml:3:1: while parsing a flow sequence; "
                                                            "expected ',' or ']'"),
    ("output: out\n\tsolvers: []\n", "job.yaml:2:1: while scanning for the next token; found character '\\t'"),
    ("output: [unclosed\n", "job.yaml:2:1:"),
])
def test_hostile_or_broken_yaml_is_refused_fast_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    t0 = time.process_time()  # CPU time: an expanded bomb would spend it whatever the machine's load
    with pytest.raises(JobError) as info:
        load_job(path)
    assert time.process_time() - t0 < 3
    assert expected in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(JobError, match="not UTF-8 text"):
        load_job(path)


def test_anchors_within_bounds_still_work(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("output: out\nsolvers: &s [{name: shortest}, {name: cpsat}]\n"
                    "scenarios:\n  - {problem: traffic, trips: 3, routes: 2, solvers: *s}\n"
                    "  - {problem: traffic, trips: 4, routes: 2}\n")
    assert [r.label for r in load_job(path).runs] == ["shortest", "cpsat", "shortest", "cpsat"]


@pytest.mark.parametrize(("flags", "expected"), [
    (["--workers", "-1"], "--workers must be an integer from 1 to 64, got -1"),
    (["--workers", "0"], "--workers must be an integer from 1 to 64, got 0"),
    (["--workers", "1000"], "--workers must be an integer from 1 to 64, got 1000"),
    (["--scheduler-timeout", "nan"], "--scheduler-timeout must be a finite number of seconds > 0, got nan"),
    (["--scheduler-timeout", "inf"], "--scheduler-timeout must be a finite number of seconds > 0, got inf"),
    (["--scheduler-timeout", "0"], "--scheduler-timeout must be a finite number of seconds > 0, got 0.0"),
    (["--report", "."], "--report '.' is a folder"),
    (["--db", ""], "--db is empty"),
])
def test_bad_batch_flags_exit_2_in_one_line_before_any_write(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch, flags: list[str],
                                                             expected: str) -> None:
    from optimizer.cli import main

    path = write_job(tmp_path, BASE)
    monkeypatch.chdir(tmp_path)
    assert main(["batch", str(path), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cityopt: error: ") and expected in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]


# ---------------------------------------------------------------------------- faults, in process
def test_execute_run_is_idempotent_and_never_replaces_another_runs_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optimizer.io import UnsafePathError
    from optimizer.runs.jobs import SOLVE_LOG_ENV_VAR, execute_run

    log = tmp_path / "solves.log"
    monkeypatch.setenv(SOLVE_LOG_ENV_VAR, str(log))
    job = load_job(write_job(tmp_path, {"output": "out", "solvers": [{"name": "shortest"}],
                                        "scenarios": [{"problem": "traffic", "trips": 3, "routes": 2,
                                                       "seeds": [1, 2]}]}))
    first, second = (r.to_dict() for r in job.runs)
    out = str(job.output)
    a = execute_run(first, out, "j")
    again = execute_run(first, out, "j")  # its folder is whole: returned as it is, nothing solved
    assert again["finished_utc"] == a["finished_utc"] and again["summary"] == a["summary"]
    assert log.read_text().split()[0::2] == [first["run_id"]]
    meta = Path(a["out_dir"]) / "run.json"
    before = meta.read_bytes()
    # another run mapping to that folder (as a second job writing to this output would) is refused
    other = {**second, "seed": 1, "params": first["params"]}
    with pytest.raises(JobError, match=f"holds run {first['run_id']}, not {second['run_id']}"):
        execute_run(other, out, "j")
    assert meta.read_bytes() == before
    # a folder the user made where a run's folder goes is never replaced
    mine = Path(a["out_dir"]).parent.with_name("helsinki-t3-k2-s2") / "shortest"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(UnsafePathError, match="is not a run folder cityopt wrote"):
        execute_run(second, out, "j")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "mine"
    assert not [p for p in mine.parent.iterdir() if p.name.startswith(".")]  # no staged folder left


def test_rerun_removes_staged_leftovers_and_waits_for_a_batch_holding_the_lock(
        batch18: tuple[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    import fcntl
    import threading

    from optimizer.runs.jobs import BATCH_LOCK

    job, _ = batch18
    inst = next(job.output.glob("dispatch/*"))
    staged = inst / ".milp.k2j4x.tmp"
    staged.mkdir()
    (staged / "summary.json").write_text("{")
    old = inst / ".cpsat.old-123"
    old.mkdir()
    temp = inst / ".comparison.csv.abc.tmp"
    temp.write_text("half")
    keep = inst / ".notes"  # not a name cityopt stages under: left alone
    keep.write_text("mine")
    fd = os.open(job.output / BATCH_LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b"pid 4242 on elsewhere, job 'other'\n", 0)
    done: list[Any] = []
    runner = threading.Thread(target=lambda: done.append(run_job(job, progress=False)))
    with caplog.at_level("WARNING", logger="optimizer.runs.jobs"):
        runner.start()
        time.sleep(1.0)
        assert not done, "the second batch did not wait for the lock"
        assert staged.exists()  # nothing touched while the other batch holds the output
        os.close(fd)  # the other batch ends
        runner.join(30)
    assert done and done[0].skipped == 18 and done[0].ran == []
    assert "waiting for the batch that holds" in caplog.text and "pid 4242 on elsewhere" in caplog.text
    assert not staged.exists() and not old.exists() and not temp.exists()
    assert keep.read_text() == "mine"
    assert "pid" in (job.output / BATCH_LOCK).read_text()  # the holder is named for the next one


def test_a_database_held_by_another_process_is_one_clear_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from optimizer.runs import results
    from optimizer.runs.results import make_row

    db = ResultsDB(tmp_path / "r.duckdb")
    db.check_writable()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                               f"c = duckdb.connect({str(db.path)!r})\nprint('held', flush=True)\ntime.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(results, "_LOCK_RETRY_S", 0.5)
        row = make_row({"problem": "traffic", "instance": {"name": "x-s1"}, "solver": "exact", "label": "exact"},
                       run_id="r1")
        with pytest.raises(ResultsDatabaseError, match=r"is in use by another process for 0\.5 s .*wait for it"):
            db.add([row])
    finally:
        holder.kill()
        holder.wait()
    assert db.add([row]) == 1  # once it is let go


def test_a_traffic_job_can_ask_for_sumo_and_aequilibrae(tmp_path: Path) -> None:
    """``simulate`` and ``references`` in a job: each run replayed in SUMO, the references in its summary."""
    scenario = {"problem": "traffic", "city": "helsinki", "trips": 20, "routes": 2, "vehicles_per_trip": 5,
                "peak": "07:00-07:20", "slice_min": 5, "seeds": [1], "solvers": [{"name": "shortest"}, {"name": "ue"}]}
    plain = load_job(write_job(tmp_path / "a", {"name": "plain", "output": "out", "scenarios": [scenario]}))
    judged = load_job(write_job(tmp_path / "b", {"name": "judged", "output": "out",
                                                 "scenarios": [{**scenario, "simulate": True, "references": True}]}))
    assert {r.run_id for r in plain.runs}.isdisjoint(r.run_id for r in judged.runs)  # they write different things
    assert all(r.judges == {"simulate": True, "references": True} for r in judged.runs)
    result = run_job(judged, n_workers=1, progress=False)
    assert result.ok, result.failed
    for row in db_rows(judged.database).values():
        out = Path(row["out_dir"])
        summary = json.loads((out / "summary.json").read_text())
        assert summary["simulation"]["vehicles"] == 100 and summary["simulation"]["route_mismatches"] == 0
        assert summary["references"]["so_bound_veh_h"] <= summary["objective"] * (1 + 1e-9)
        assert len(pd.read_csv(out / "simulation.csv")) == 20
