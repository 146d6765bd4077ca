"""What the fault tests share: tiny jobs, `cityopt batch` as a subprocess, and the checks every fault ends with.

After each fault the tests check three things, with the helpers here:

- nothing lost: every run of the job has a row (:func:`rows`) once the job is re-run;
- nothing redone: each run was solved at most once over all the batches (:func:`solves`,
  from the log :data:`optimizer.runs.jobs.SOLVE_LOG_ENV_VAR` names), and a run folder
  written before the fault keeps its ``run.json`` (:func:`folders`, ``finished_utc``);
- database rows equal their folders (:func:`rows_equal_folders`): each row's ``out_dir``
  holds a ``run.json`` with the row's run id and times and a ``summary.json`` equal to
  the row's, and no half-written staged folder is left (:func:`leftovers`).

Run as a module (``python -m tests.faults.harness snapshot OUT DB``) it prints the same
facts as JSON: the namespace tests (full and read-only disks) check a tmpfs that
only a child process can see.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]

#: 2 dispatch runs (case9, 3 units, 4 periods, milp) and 2 traffic runs (3 trips, 2 routes, shortest): each
#: solves in well under a second once the worker has loaded its city and grid.
TINY: dict[str, Any] = {
    "name": "tiny",
    "output": "out",
    "retries": 0,
    "scenarios": [
        {"problem": "dispatch", "grid": "case9", "units": 3, "periods": 4, "seeds": [1, 2],
         "solvers": [{"name": "milp"}]},
        {"problem": "traffic", "city": "helsinki", "trips": 3, "routes": 2, "seeds": [1, 2],
         "solvers": [{"name": "shortest"}]},
    ],
}


def job_with(seeds: int, *, first: int = 1, name: str = "tiny", **top: Any) -> dict[str, Any]:
    """:data:`TINY` with ``seeds`` seeds per scenario from ``first`` (``2 * seeds`` runs)."""
    data = json.loads(json.dumps(TINY))
    data["name"] = name
    for sc in data["scenarios"]:
        sc["seeds"] = list(range(first, first + seeds))
    data.update(top)
    return data


def write_job(folder: Path, data: Mapping[str, Any], name: str = "job.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def env(solve_log: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `cityopt` subprocess: this checkout first on the path, solves logged."""
    from optimizer.runs.jobs import SOLVE_LOG_ENV_VAR

    out = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    if solve_log is not None:
        out[SOLVE_LOG_ENV_VAR] = str(solve_log)
    return out


def batch_argv(job: Path, *extra: str, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "optimizer.cli", "batch", str(job), "--workers", str(workers), "--no-progress",
            "--json", *extra]


def start_batch(job: Path, *extra: str, solve_log: Path, stderr: Path, workers: int = 1,
                cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """`cityopt batch JOB --json` in a session of its own (so a signal can go to its whole group, as a
    terminal's Ctrl-C does), stderr to a file."""
    return subprocess.Popen(batch_argv(job, *extra, workers=workers), cwd=cwd or job.parent,
                            env=env(solve_log), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=stderr.open("wb"))


def wait_until(cond: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None, *, timeout: float = 180,
               what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            msg = f"the batch ended (rc {proc.returncode}) before {what}"
            raise AssertionError(msg)
        if time.monotonic() > deadline:
            msg = f"no {what} in {timeout:g} s"
            raise AssertionError(msg)
        time.sleep(0.02)


def group_gone(pgid: int, timeout: float = 30) -> bool:
    """True once no process of the group ``pgid`` is left (the batch, its scheduler, its workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the batch's process group (it was started in a session of its own)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------- facts on disk and in the database
def rows(db: Path) -> dict[str, dict[str, Any]]:
    """The database's rows by run id (empty if there is no database)."""
    from optimizer.runs.results import ResultsDB

    if not db.exists():
        return {}
    return {r["run_id"]: r for r in ResultsDB(db).frame().to_dict("records")}


def folders(output: Path | list[Path]) -> dict[str, dict[str, Any]]:
    """Every run folder's ``run.json`` by run id (staged, hidden folders left out), under one output or several."""
    found: dict[str, dict[str, Any]] = {}
    outputs = output if isinstance(output, list) else [output]
    for meta in sorted(m for o in outputs for m in o.glob("*/*/*/run.json")):
        if any(p.startswith(".") for p in meta.parts[-4:-1]):
            continue
        m = json.loads(meta.read_text(encoding="utf-8"))
        m["out_dir"] = str(meta.parent.resolve())
        assert m["run_id"] not in found, f"run {m['run_id']} has two folders: {found[m['run_id']]['out_dir']}, " \
                                         f"{m['out_dir']}"
        found[m["run_id"]] = m
    return found


def leftovers(output: Path | list[Path]) -> list[str]:
    """Hidden staged folders or temp files under the output (``.label.XXXX.tmp``, ``.label.old-PID``)."""
    outputs = output if isinstance(output, list) else [output]
    return sorted(str(p) for o in outputs for p in o.glob("*/*/.*") if p.name.endswith(".tmp") or ".old-" in p.name)


def solves(log: Path) -> collections.Counter[str]:
    """How many times each run was solved, over every batch that logged to ``log``."""
    if not log.exists():
        return collections.Counter()
    return collections.Counter(line.split()[0] for line in log.read_text().splitlines() if line.strip())


def _utc(ts: Any) -> datetime | None:
    if ts is None:
        return None
    if not isinstance(ts, datetime):
        ts = datetime.fromisoformat(str(ts))
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def rows_equal_folders(output: Path | list[Path], db: Path) -> list[str]:
    """Every way the database's rows differ from their folders (empty: they agree).

    Each row's ``out_dir`` must be a run folder under ``output`` (or one of several outputs sharing the
    database) whose ``run.json``
    has the row's run id, start and finish times, and whose ``summary.json`` is the
    row's summary; and no staged folder may be left.
    """
    problems = []
    on_disk = folders(output)
    for rid, row in rows(db).items():
        out = Path(row["out_dir"])
        meta = on_disk.get(rid)
        if meta is None:
            problems.append(f"row {rid}: no folder holds its run.json (out_dir {out})")
            continue
        if Path(meta["out_dir"]) != out.resolve():
            problems.append(f"row {rid}: out_dir {out}, but its run.json is in {meta['out_dir']}")
        for key in ("started_utc", "finished_utc"):
            if _utc(row[key]) != _utc(meta.get(key)):
                problems.append(f"row {rid}: {key} {row[key]} in the database, {meta.get(key)} in its run.json")
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        if json.loads(row["summary"]) != summary:
            problems.append(f"row {rid}: its summary differs from {out / 'summary.json'}")
    problems += [f"staged leftover {p}" for p in leftovers(output)]
    return problems


def snapshot(output: Path, db: Path, solve_log: Path | None = None) -> dict[str, Any]:
    """The facts above as JSON-able data."""
    return {"rows": sorted(rows(db)), "folders": {k: v["finished_utc"] for k, v in folders(output).items()},
            "leftovers": leftovers(output), "mismatches": rows_equal_folders(output, db),
            "solves": dict(solves(solve_log)) if solve_log else {}}


def one_error_line(stderr: str) -> str:
    """The one line a clean exit 2 prints; fails on a traceback or on more lines."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("INFO ", "WARNING "))]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith("cityopt: error: "), lines[0]
    return lines[0]


if __name__ == "__main__":  # python -m tests.faults.harness snapshot OUT DB [SOLVE_LOG]
    _, cmd, out_dir, db_path, *rest = sys.argv
    assert cmd == "snapshot"
    print(json.dumps(snapshot(Path(out_dir), Path(db_path), Path(rest[0]) if rest else None)))
