"""The fault suite: `cityopt batch` and `cityopt report` under real faults, no mocks.

Each fault is made for real (a signal to the batch's process group, a killed worker
process, two batches at once, a full or read-only tmpfs in a private mount
namespace, a corrupt database file), and each test ends with the same checks
(:mod:`tests.faults.harness`): nothing lost (every run has its row after a re-run),
nothing redone (each run solved at most once over all batches, and a folder written
before the fault keeps its ``run.json``), database rows equal to their folders, and
no half-written staged folder left.

The default run has the fast ones (Ctrl-C, a corrupt database); the others start
several batches (a local Dask cluster each) and are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.faults import harness
from tests.faults.harness import folders, one_error_line, rows, rows_equal_folders, snapshot, solves

#: A job still running well after its first rows: 2 quick dispatch runs, then 4 traffic runs, 2 of them anneal
#: with many sweeps (a second or more each on one worker).
SLOWER: dict[str, Any] = {
    "name": "slower",
    "output": "out",
    "retries": 0,
    "scenarios": [
        {"problem": "dispatch", "grid": "case9", "units": 3, "periods": 4, "seeds": [1, 2],
         "solvers": [{"name": "milp"}]},
        {"problem": "traffic", "city": "helsinki", "trips": 3, "routes": 2, "seeds": [1, 2],
         "solvers": [{"name": "shortest"}, {"name": "anneal", "options": {"sweeps": 5000, "reads": 32}}]},
    ],
}


def _finish(job: Path, solve_log: Path, before: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Re-run the job to its end and check: nothing lost, nothing redone, rows equal their folders."""
    from optimizer.runs.jobs import load_job

    r = subprocess.run(harness.batch_argv(job), cwd=job.parent, env=harness.env(solve_log), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    loaded = load_job(job)
    ids = {s.run_id for s in loaded.runs}
    assert set(rows(loaded.database)) == ids  # nothing lost
    counts = solves(solve_log)
    assert set(counts) <= ids and max(counts.values()) == 1, counts  # nothing solved twice
    after = folders(loaded.output)
    for rid, meta in before.items():  # a folder written before the fault is the same folder
        assert after[rid]["finished_utc"] == meta["finished_utc"], rid
    assert rows_equal_folders(loaded.output, loaded.database) == []
    return out


# ---------------------------------------------------------------------------- Ctrl-C
def test_sigint_stops_the_batch_cleanly_and_a_rerun_finishes_the_rest(tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group) once the first row is in."""
    job = harness.write_job(tmp_path, harness.job_with(3))  # 6 runs: the worker loads the city after run 3
    db, out, log = tmp_path / "out" / "results.duckdb", tmp_path / "out", tmp_path / "solves.log"
    err = tmp_path / "stderr.txt"
    proc = harness.start_batch(job, solve_log=log, stderr=err)
    try:
        harness.wait_until(lambda: db.exists() and len(rows(db)) >= 1, proc, what="a first row")
        harness.kill_group(proc, signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        harness.kill_group(proc, signal.SIGKILL)
    text = err.read_text()
    assert rc == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    # the job's own findings (INFO, and a WARNING such as a scenario with no discrete plan) may precede it;
    # the interrupt itself is one line
    said = [ln for ln in text.splitlines() if not ln.startswith(("INFO ", "WARNING optimizer."))]
    assert said == ["cityopt: interrupted"], text[-3000:]
    assert harness.group_gone(proc.pid), "a process of the batch outlived it"
    assert harness.leftovers(out) == []  # the run it interrupted left no staged folder
    assert rows_equal_folders(out, db) == []
    before = folders(out)
    assert set(rows(db)) <= set(before) and len(before) < 6, "interrupt the batch part-way"
    result = _finish(job, log, before)
    assert result["skipped"] + result["recovered"] + result["ran"] == 6
    assert result["ran"] == 6 - len(before)


# ---------------------------------------------------------------------------- a corrupt database
def _corrupt(kind: str, path: Path, good: Path | None) -> None:
    import duckdb

    if kind == "random":
        path.write_bytes(np.random.default_rng(1).bytes(64_000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        assert good is not None
        path.write_bytes(good.read_bytes()[:4096])
    elif kind == "foreign":
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE runs (id INTEGER, payload VARCHAR)")
        con.execute("INSERT INTO runs VALUES (1, 'theirs')")
        con.close()


@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real results database (two rows), to truncate."""
    from optimizer.runs.results import ResultsDB, make_row

    db = ResultsDB(tmp_path_factory.mktemp("gooddb") / "results.duckdb")
    db.check_writable()
    db.add([make_row({"problem": "traffic", "instance": {"name": f"x-s{i}"}, "solver": "exact", "label": "exact",
                      "objective": float(i)}, run_id=f"r{i}") for i in (1, 2)])
    return db.path


@pytest.mark.parametrize("kind", ["random", "empty", "truncated", "foreign"])
@pytest.mark.parametrize("command", ["batch", "report"])
def test_a_corrupt_database_is_one_exit_2_line_and_left_as_it_was(tmp_path: Path, good_db: Path, kind: str,
                                                                  command: str) -> None:
    db = tmp_path / "given.duckdb"
    _corrupt(kind, db, good_db)
    before = db.read_bytes()
    job = harness.write_job(tmp_path, harness.job_with(1))
    argv = (["batch", str(job), "--db", str(db), "--workers", "1"] if command == "batch"
            else ["report", str(db), "--out", str(tmp_path / "report.html")])
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", *argv], cwd=tmp_path, env=harness.env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-3000:]
    line = one_error_line(r.stderr)
    assert str(db) in line, line
    fix = "is not a readable DuckDB database" if kind != "foreign" else "is a DuckDB database but not cityopt's results"
    assert fix in line and "name another database file" in line, line
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given.duckdb", "job.yaml"]  # nothing written


# ---------------------------------------------------------------------------- a worker killed mid-batch
@pytest.mark.slow
def test_a_worker_killed_mid_batch_recomputes_nothing(tmp_path: Path) -> None:
    """SIGKILL the worker process once it has solved two runs: Dask must not solve a finished run again."""
    job = harness.write_job(tmp_path, SLOWER)
    log, err = tmp_path / "solves.log", tmp_path / "stderr.txt"
    proc = harness.start_batch(job, solve_log=log, stderr=err)
    try:
        harness.wait_until(lambda: sum(solves(log).values()) >= 2, proc, what="two solves")
        worker = int(log.read_text().splitlines()[-1].split()[1])
        assert worker != proc.pid
        before = folders(tmp_path / "out")
        os.kill(worker, signal.SIGKILL)  # a worker process of the batch we started, by its pid
        stdout, _ = proc.communicate(timeout=300)
    finally:
        harness.kill_group(proc, signal.SIGKILL)
    assert proc.returncode == 0, err.read_text()[-3000:]
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["ran"] == 6 and result["failed"] == {}
    counts = solves(log)
    assert len(counts) == 6 and set(counts.values()) == {1}, counts  # each run solved once, none again
    after = folders(tmp_path / "out")
    assert all(after[rid]["finished_utc"] == m["finished_utc"] for rid, m in before.items())
    assert rows_equal_folders(tmp_path / "out", tmp_path / "out" / "results.duckdb") == []


# ---------------------------------------------------------------------------- the batch killed
@pytest.mark.slow
def test_the_batch_killed_with_sigkill_then_rerun_finishes_without_redoing(tmp_path: Path) -> None:
    job = harness.write_job(tmp_path, SLOWER)
    db, out, log = tmp_path / "out" / "results.duckdb", tmp_path / "out", tmp_path / "solves.log"
    proc = harness.start_batch(job, solve_log=log, stderr=tmp_path / "stderr.txt")
    try:
        harness.wait_until(lambda: db.exists() and len(rows(db)) >= 2, proc, what="two rows")
    finally:
        harness.kill_group(proc, signal.SIGKILL)  # the client, its scheduler and its workers, at once
        proc.wait(timeout=30)
    assert harness.group_gone(proc.pid)
    before = folders(out)
    assert set(rows(db)) <= set(before) and len(before) < 6
    result = _finish(job, log, before)
    assert result["ran"] == 6 - len(before) and result["recovered"] == len(before) - result["skipped"]
    assert harness.leftovers(out) == []


# ---------------------------------------------------------------------------- two batches at once
@pytest.mark.slow
def test_two_batches_of_one_job_at_once_solve_each_run_once(tmp_path: Path) -> None:
    job = harness.write_job(tmp_path, harness.job_with(2))
    log = tmp_path / "solves.log"
    procs = [harness.start_batch(job, solve_log=log, stderr=tmp_path / f"stderr{i}.txt") for i in (0, 1)]
    try:
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            harness.kill_group(p, signal.SIGKILL)
    errs = [(tmp_path / f"stderr{i}.txt").read_text() for i in (0, 1)]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert not any("Traceback" in e for e in errs), errs
    results = [json.loads(o.decode().strip().splitlines()[-1]) for o in outs]
    assert sorted(r["ran"] for r in results) == [0, 4]  # one ran everything, the other waited and found it done
    assert sorted(r["skipped"] for r in results) == [0, 4]
    assert sum("waiting for the batch that holds" in e for e in errs) == 1, errs
    counts = solves(log)
    assert len(counts) == 4 and set(counts.values()) == {1}, counts
    assert rows_equal_folders(tmp_path / "out", tmp_path / "out" / "results.duckdb") == []


@pytest.mark.slow
def test_two_jobs_sharing_one_database_both_finish(tmp_path: Path) -> None:
    """Different outputs and runs (a run's id does not depend on its job), one database: each write waits for
    DuckDB's one-writer lock, briefly."""
    db = tmp_path / "shared.duckdb"
    jobs = [harness.write_job(tmp_path / f"j{i}", harness.job_with(2, first=1 + 2 * i, name=f"j{i}",
                                                                    database=str(db))) for i in (0, 1)]
    log = tmp_path / "solves.log"
    procs = [harness.start_batch(j, solve_log=log, stderr=j.parent / "stderr.txt") for j in jobs]
    try:
        for p in procs:
            p.communicate(timeout=300)
    finally:
        for p in procs:
            harness.kill_group(p, signal.SIGKILL)
    assert [p.returncode for p in procs] == [0, 0], [(j.parent / "stderr.txt").read_text()[-2000:] for j in jobs]
    table = rows(db)
    assert len(table) == 8 and {r["job"] for r in table.values()} == {"j0", "j1"}
    assert rows_equal_folders([j.parent / "out" for j in jobs], db) == []
    counts = solves(log)
    assert len(counts) == 8 and set(counts.values()) == {1}, counts


# ---------------------------------------------------------------------------- full and read-only disks
def _namespace(tmp_path: Path, scenario: str) -> dict[str, Any]:
    """Run :mod:`tests.faults.in_namespace` in a private mount namespace; fail, saying why, where it cannot be
    (a disk fault not tested is not a pass: these tests are slow-marked, run by ``make test-all``)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("disk faults need util-linux's unshare(1), which is not installed here: install util-linux")
    probe = subprocess.run([unshare, "-m", "--propagation", "private", "--", "sh", "-c",
                            f"mount -t tmpfs -o size=1m tmpfs {tmp_path}"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"disk faults need a private mount namespace and a tmpfs mount (root, or CAP_SYS_ADMIN), "
                    f"refused here: {probe.stderr.strip()}")
    work, result = tmp_path / "work", tmp_path / "result.json"
    work.mkdir()
    r = subprocess.run([unshare, "-m", "--propagation", "private", "--", sys.executable, "-m",
                        "tests.faults.in_namespace", scenario, str(work), str(result)],
                       cwd=harness.REPO, env=harness.env(), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(result.read_text())


def _ok(step: dict[str, Any]) -> dict[str, Any]:
    assert step["rc"] == 0, step["stderr"][-3000:]
    assert "Traceback" not in step["stderr"], step["stderr"][-3000:]
    return json.loads(step["stdout"].strip().splitlines()[-1])


def _solved_once(snap: dict[str, Any], n: int) -> None:
    assert len(snap["rows"]) == n and snap["mismatches"] == [] and snap["leftovers"] == []
    assert sorted(snap["solves"]) == sorted(snap["rows"]) and set(snap["solves"].values()) == {1}


@pytest.mark.slow
def test_a_full_output_disk_stops_the_batch_in_one_line_and_a_rerun_finishes(tmp_path: Path) -> None:
    got = _namespace(tmp_path, "full-output")
    first, full, again = got["steps"]
    s_full, s_during, s_after = got["snapshots"]
    _ok(first)
    assert full["rc"] == 2
    line = one_error_line(full["stderr"])
    assert "output folder" in line and "No space left on device" in line and "free space there" in line, line
    assert s_during["folders"] == s_full["folders"] and s_during["rows"] == s_full["rows"]  # nothing half-made
    assert s_during["leftovers"] == [] and s_during["mismatches"] == []
    assert _ok(again)["ran"] == 2
    _solved_once(s_after, 4)
    assert all(s_after["folders"][k] == v for k, v in s_full["folders"].items())


@pytest.mark.slow
def test_a_full_database_disk_fails_the_commit_in_one_line_and_a_rerun_adds_the_rows(tmp_path: Path) -> None:
    got = _namespace(tmp_path, "full-database")
    first, full, again = got["steps"]
    s_full, s_during, s_after = got["snapshots"]
    _ok(first)
    assert full["rc"] == 2
    line = one_error_line(full["stderr"])  # the commit's error; the ROLLBACK after it raises nothing
    assert "could not be written" in line and "No space left on device" in line, line
    assert s_during["rows"] == s_full["rows"] and s_during["mismatches"] == []
    written = set(s_during["folders"]) - set(s_full["folders"])  # solved, folder kept, row not written
    assert written
    result = _ok(again)
    assert result["recovered"] == len(written) and result["ran"] == 2 - len(written)
    _solved_once(s_after, 4)


@pytest.mark.slow
def test_a_read_only_disk_is_refused_before_any_work_and_a_rerun_finishes(tmp_path: Path) -> None:
    got = _namespace(tmp_path, "read-only")
    first, ro_out, ro_out_db_elsewhere, ro_db, ro_report, report_elsewhere, again = got["steps"]
    s_ro, s_during, s_after = got["snapshots"]
    _ok(first)
    for step, expected in ((ro_out, "output folder"), (ro_out_db_elsewhere, "output folder"),
                           (ro_db, "database path"), (ro_report, "--out")):
        assert step["rc"] == 2, step["stderr"][-3000:]
        line = one_error_line(step["stderr"])
        assert expected in line and "Read-only file system" in line, line
    assert got["created"] == []  # a refused batch creates neither its database nor its output
    assert report_elsewhere["rc"] == 0  # a read-only database can still be reported
    assert s_during == s_ro
    assert _ok(again)["ran"] == 2
    _solved_once(s_after, 4)


def test_snapshot_of_an_empty_output(tmp_path: Path) -> None:
    """The harness itself: no output, no database, nothing to compare."""
    assert snapshot(tmp_path / "out", tmp_path / "none.duckdb") == {
        "rows": [], "folders": {}, "leftovers": [], "mismatches": [], "solves": {}}
