"""Disk faults for real, in a private mount namespace: ``unshare -m --propagation private -- python -m
tests.faults.in_namespace SCENARIO WORK RESULT.json``.

The process mounts a small tmpfs on ``WORK/mnt`` (seen by it and its children only),
runs ``cityopt`` against it as the scenario says (fills the disk, or remounts it
read-only, between batches), and writes what happened to ``RESULT.json`` (outside the
tmpfs) for the test to check: each step's exit code and stderr, and snapshots of the
output and the database (:func:`tests.faults.harness.snapshot`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.faults import harness


def _mount(mnt: Path, size: str) -> None:
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=True)


def _remount(mnt: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mnt)], check=True)


def _fill(mnt: Path) -> Path:
    """Fill the tmpfs to the last byte with one file; returns it (remove it to free the space)."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * chunk):
                    pass
    finally:
        os.close(fd)
    return filler


def _cli(args: list[str], *, cwd: Path, solve_log: Path) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", *args], cwd=cwd, env=harness.env(solve_log),
                       capture_output=True, text=True, timeout=600)
    return {"args": args, "rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr}


def _batch(job: Path, *extra: str, solve_log: Path) -> dict[str, Any]:
    return _cli(["batch", str(job), "--workers", "1", "--no-progress", "--json", *extra], cwd=job.parent,
                solve_log=solve_log)


def full_output(work: Path) -> dict[str, Any]:
    """The output's disk fills up between two batches; then space is freed and the job re-run."""
    mnt, log, db = work / "mnt", work / "solves.log", work / "db" / "results.duckdb"
    _mount(mnt, "32m")
    small = harness.write_job(work, harness.job_with(1, output=str(mnt / "out"), database=str(db)), "small.yaml")
    big = harness.write_job(work, harness.job_with(2, output=str(mnt / "out"), database=str(db)), "big.yaml")
    steps = [_batch(small, solve_log=log)]
    filler = _fill(mnt)
    snaps = [harness.snapshot(mnt / "out", db, log)]
    steps.append(_batch(big, solve_log=log))
    snaps.append(harness.snapshot(mnt / "out", db, log))
    filler.unlink()
    steps.append(_batch(big, solve_log=log))
    snaps.append(harness.snapshot(mnt / "out", db, log))
    return {"steps": steps, "snapshots": snaps}


def full_database(work: Path) -> dict[str, Any]:
    """The database's disk fills up between two batches (its commit fails); then space is freed."""
    mnt, log, db = work / "mnt", work / "solves.log", work / "mnt" / "results.duckdb"
    _mount(mnt, "24m")
    small = harness.write_job(work, harness.job_with(1, output=str(work / "out"), database=str(db)), "small.yaml")
    big = harness.write_job(work, harness.job_with(2, output=str(work / "out"), database=str(db)), "big.yaml")
    steps = [_batch(small, solve_log=log)]
    filler = _fill(mnt)
    snaps = [harness.snapshot(work / "out", db, log)]
    steps.append(_batch(big, solve_log=log))
    snaps.append(harness.snapshot(work / "out", db, log))
    filler.unlink()
    steps.append(_batch(big, solve_log=log))
    snaps.append(harness.snapshot(work / "out", db, log))
    return {"steps": steps, "snapshots": snaps}


def read_only(work: Path) -> dict[str, Any]:
    """Output and database on a disk remounted read-only between two batches; then writable again."""
    mnt, log = work / "mnt", work / "solves.log"
    out, db = mnt / "out", mnt / "out" / "results.duckdb"
    _mount(mnt, "32m")
    small = harness.write_job(work, harness.job_with(1, output=str(out)), "small.yaml")
    big = harness.write_job(work, harness.job_with(2, output=str(out)), "big.yaml")
    ro_db = harness.write_job(work, harness.job_with(2, output=str(work / "out2"), database=str(db)), "ro_db.yaml")
    steps = [_batch(small, solve_log=log)]
    _remount(mnt, "ro")
    snaps = [harness.snapshot(out, db, log)]
    steps.append(_batch(big, solve_log=log))  # its output and its database are on the read-only disk
    steps.append(_batch(big, "--db", str(work / "elsewhere.duckdb"), solve_log=log))  # its output is
    steps.append(_batch(ro_db, solve_log=log))  # its database is
    steps.append(_cli(["report", str(db), "--out", str(mnt / "report.html")], cwd=work, solve_log=log))
    steps.append(_cli(["report", str(db), "--out", str(work / "report.html")], cwd=work, solve_log=log))
    snaps.append(harness.snapshot(out, db, log))
    _remount(mnt, "rw")
    steps.append(_batch(big, solve_log=log))
    snaps.append(harness.snapshot(out, db, log))
    created = [p.name for p in (work / "elsewhere.duckdb", work / "out2") if p.exists()]
    return {"steps": steps, "snapshots": snaps, "created": created}


SCENARIOS = {"full-output": full_output, "full-database": full_database, "read-only": read_only}

if __name__ == "__main__":
    name, work_dir, result = sys.argv[1:4]
    Path(result).write_text(json.dumps(SCENARIOS[name](Path(work_dir))), encoding="utf-8")
