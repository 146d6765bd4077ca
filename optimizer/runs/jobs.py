"""Batch planning jobs: a YAML file of scenarios x solvers x seeds, run on Dask.

A job file::

    name: city-day                      # optional; default: the file's stem
    output: ../outputs/city_day         # run folders go here (relative to this file)
    database: ../outputs/city_day/results.duckdb   # default: <output>/results.duckdb
    retries: 2                          # extra tries of a run whose task fails or whose worker dies
    time_limit_s: 30                    # default wall-time limit of each solver run
    solvers:                            # every scenario's solvers, unless it lists its own
      - name: shortest
      - name: cpsat
      - {name: qaoa, label: qaoa-p2, options: {depth: 2, shots: 2000}}
    scenarios:
      - {problem: traffic, city: helsinki, trips: 6, routes: 3, seeds: [1, 2]}
      - {problem: fleet, city: helsinki, stops: 4, vehicles: 1, solvers: [{name: routing}, {name: exact}]}
      - problem: dispatch
        grid: case9
        units: 3
        periods: 4
        seeds: [1]
        solvers: [{name: milp}, {name: cpsat}, {name: exact}]

It is checked whole at load (:func:`load_job`), before anything runs: a typo'd
key, a wrong type, an unknown solver, option, city or grid each give one
:class:`JobError` naming the field (``scenarios[0].solverz``) and the fix.

Each run (one scenario, one seed, one solver) has a stable id: a hash of the
scenario's parameters, the seed, the solver, its options and time limit, and
the cityopt version (:func:`run_id`).  :func:`run_job` runs every run whose id
is not yet in the results database, each as one Dask task (a ``LocalCluster``
sized to the machine by default, or an existing scheduler by address).  A task
writes its run folder ``OUT/<problem>/<instance>/<label>/`` whole or not at all
(``summary.json``, the plan files, and ``run.json`` with the run's id and
times); the client alone writes the database, one transaction per finished run,
as the futures complete.  So:

- re-running a job skips every run in the database;
- a batch killed part-way and re-run finishes the rest: a run whose folder was
  written but whose row was not is taken from its folder, not run again;
- a worker that dies mid-task has its task run again elsewhere (Dask retries
  it), and the row is written once, when the task is done.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidInputError
from optimizer.runs.job_file import Job, JobError, RunSpec, load_job, run_id

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = [
    "BatchResult",
    "Job",
    "JobError",
    "RunSpec",
    "SchedulerUnreachableError",
    "execute_run",
    "load_job",
    "run_id",
    "run_job",
]

log = logging.getLogger(__name__)

#: Environment variable read by :func:`execute_run` for tests of worker loss:
#: a path; the first task that finds no file there creates it and kills its own
#: worker process (``os._exit``), as a crash would.  Never set it otherwise.
FAULT_ENV_VAR = "CITYOPT_TEST_KILL_WORKER_ONCE"


class SchedulerUnreachableError(InvalidInputError):
    """No Dask scheduler answered at the address given."""


@dataclass
class BatchResult:
    """What :func:`run_job` did."""

    job: str
    database: Path
    total: int
    skipped: int = 0
    recovered: int = 0
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "database": str(self.database), "total": self.total, "skipped": self.skipped,
                "recovered": self.recovered, "ran": len(self.ran), "failed": self.failed,
                "wall_time_s": self.wall_time_s}


# ---------------------------------------------------------------------------- the worker side
@functools.lru_cache(maxsize=16)
def _problem(problem: str, params_json: str, seed: int) -> Any:
    from optimizer.runs.scenarios import build_problem

    return build_problem(problem, **json.loads(params_json), seed=seed)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def execute_run(spec: Mapping[str, Any], output: str, job: str = "") -> dict[str, Any]:
    """Run one :class:`RunSpec` (as a dict) and write its folder whole; the Dask task of a batch.

    Returns
    -------
    dict
        ``run_id``, ``out_dir``, ``summary``, ``started_utc``, ``finished_utc``, ``host``, ``versions``
        (the content of the folder's ``run.json``, with the summary).
    """
    import platform

    from optimizer.io import atomic_write_json, staged_dir
    from optimizer.runs.results import package_versions
    from optimizer.runs.runner import SolverRequest, run_problem

    fault = os.environ.get(FAULT_ENV_VAR)
    if fault:
        with contextlib.suppress(FileExistsError):
            with open(fault, "x") as f:
                f.write(f"{spec['run_id']} {os.getpid()}\n")
            os._exit(1)  # a worker dying mid-task, as a crash or the OOM killer would
    started = _now()
    prob = _problem(spec["problem"], json.dumps(spec["params"], sort_keys=True), spec["seed"])
    req = SolverRequest(spec["solver"], dict(spec["options"]), label=spec["label"],
                        time_limit_s=spec["time_limit_s"])
    record = run_problem(prob, [req], out=None, seed=spec["seed"])[0]
    final = Path(output) / prob.kind / prob.instance_name / req.folder
    meta_path = final / "run.json"
    if meta_path.is_file():
        other = json.loads(meta_path.read_text(encoding="utf-8")).get("run_id")
        if other != spec["run_id"]:
            msg = (f"run folder {final} holds run {other}, not {spec['run_id']} ({spec['where']}); two runs of "
                   f"the job map to one folder: give them distinct solver labels or outputs")
            raise JobError(msg)
    meta = {"run_id": spec["run_id"], "job": job, "spec": dict(spec), "started_utc": started,
            "host": platform.node(), "versions": package_versions()}
    with staged_dir(final) as d:
        atomic_write_json(d / "summary.json", record.summary)
        if record.plan is not None:
            record.plan.write(d)
        meta["finished_utc"] = _now()
        atomic_write_json(d / "run.json", meta)
    return {**meta, "out_dir": str(final.resolve()), "summary": record.summary}


# ---------------------------------------------------------------------------- the client side
def _check_output(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=output)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        msg = f"output folder {str(output)!r} is not writable ({exc.strerror or exc}); set 'output' in the job file"
        raise JobError(msg) from exc


def _scan_finished(output: Path) -> dict[str, dict[str, Any]]:
    """Run folders already written (``run.json`` beside ``summary.json``), by run id."""
    found: dict[str, dict[str, Any]] = {}
    for meta_path in output.glob("*/*/*/run.json"):
        summary_path = meta_path.with_name("summary.json")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta["summary"] = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        meta["out_dir"] = str(meta_path.parent.resolve())
        found[meta.get("run_id", "")] = meta
    return found


def _row(result: Mapping[str, Any], job: str) -> dict[str, Any]:
    from optimizer.runs.results import make_row

    return make_row(result["summary"], run_id=result["run_id"], job=job, started_utc=result.get("started_utc"),
                    finished_utc=result.get("finished_utc"), versions=result.get("versions"),
                    out_dir=result.get("out_dir"))


@contextlib.contextmanager
def _client(scheduler: str | None, *, timeout_s: float, n_workers: int | None) -> Iterator[Client]:
    """A Dask client on ``scheduler``, or on a LocalCluster of processes with one thread each."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout_s}s"}):
                client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            msg = (f"--scheduler {scheduler!r}: no Dask scheduler answered within {timeout_s:g} s ({exc}); "
                   f"check the address (tcp://HOST:PORT) and that `dask scheduler` runs there, or leave "
                   f"--scheduler out to use a local cluster")
            raise SchedulerUnreachableError(msg) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = n_workers or max(1, min(os.cpu_count() or 1, 8))
    # loopback only; the scheduler's HTTP server on a free port (its default, 8787, may be taken)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", silence_logs=logging.WARNING)
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _progress(total: int, enabled: bool | None) -> Callable[[str], None]:
    """A callback per finished run: a tqdm bar on a terminal, else a log line."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if enabled and total:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="run", desc="batch", file=sys.stderr)

        def tick(text: str) -> None:
            bar.set_postfix_str(text[:60], refresh=False)
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return tick
    count = [0]

    def line(text: str) -> None:
        count[0] += 1
        log.info("run %d/%d done: %s", count[0], total, text)

    return line


def run_job(job: Job, *, scheduler: str | None = None, scheduler_timeout_s: float = 10.0,
            n_workers: int | None = None, progress: bool | None = None) -> BatchResult:
    """Run every run of ``job`` not yet in its database, on Dask; add each row as it finishes.

    Parameters
    ----------
    job : Job
        From :func:`load_job`.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:PORT``); default a LocalCluster.
    scheduler_timeout_s : float
        How long to wait for the scheduler to answer.
    n_workers : int, optional
        LocalCluster workers (default: the machine's cores, at most 8), one thread each.
    progress : bool, optional
        A progress bar (default: when stderr is a terminal; log lines otherwise).

    Returns
    -------
    BatchResult

    Raises
    ------
    ResultsDatabaseError, JobError
        The database or the output folder cannot be written (checked before any run starts).
    SchedulerUnreachableError
        No scheduler answered at ``scheduler``.
    """
    from distributed import as_completed

    from optimizer.runs.results import ResultsDB

    t0 = time.perf_counter()
    db = ResultsDB(job.database)
    db.check_writable()
    _check_output(job.output)
    done = db.run_ids()
    result = BatchResult(job=job.name, database=job.database, total=len(job.runs))
    todo = [r for r in job.runs if r.run_id not in done]
    result.skipped = len(job.runs) - len(todo)
    if todo:  # runs whose folder was written but whose row was not (a batch killed in between)
        written = _scan_finished(job.output)
        adopt = [written[r.run_id] for r in todo if r.run_id in written]
        if adopt:
            result.recovered = db.add([_row(m, job.name) for m in adopt])
            log.info("took %d finished run(s) from their folders", len(adopt))
            ids = {m["run_id"] for m in adopt}
            todo = [r for r in todo if r.run_id not in ids]
    log.info("job %s: %d runs, %d already done, %d to run", job.name, len(job.runs),
             len(job.runs) - len(todo), len(todo))
    if not todo:
        result.wall_time_s = time.perf_counter() - t0
        return result
    tick = _progress(len(todo), progress)
    by_key: dict[str, RunSpec] = {}
    with _client(scheduler, timeout_s=scheduler_timeout_s, n_workers=n_workers) as client:
        futures = []
        for spec in todo:
            key = f"cityopt-run-{spec.run_id}"
            by_key[key] = spec
            futures.append(client.submit(execute_run, spec.to_dict(), str(job.output.resolve()), job.name,
                                         key=key, retries=job.retries, pure=False))
        try:
            for fut in as_completed(futures, loop=client.loop):
                spec = by_key[fut.key]
                try:
                    res = fut.result()
                except Exception as exc:  # the task failed on every try: report it, keep the rest going
                    result.failed[spec.run_id] = f"{spec.where}: {type(exc).__name__}: {exc}"
                    log.error("run %s (%s) failed: %s", spec.run_id, spec.where, exc)
                    tick(f"{spec.label} FAILED")
                    continue
                db.add([_row(res, job.name)])
                result.ran.append(spec.run_id)
                s = res["summary"]
                tick(f"{s['problem']} {s['instance']['name']} {spec.label}: {s['status']} "
                     f"objective={s['objective']}")
        except BaseException:
            client.cancel(futures)
            raise
    _write_comparisons(job)
    result.wall_time_s = time.perf_counter() - t0
    return result


def _write_comparisons(job: Job) -> None:
    """``comparison.csv`` and ``verdict.json`` of every instance the job touched, over all its solvers."""
    from optimizer.runs.runner import RunRecord, SolverRequest, write_comparison_in

    groups: dict[Path, list[Any]] = {}
    for meta in _scan_finished(job.output).values():
        s = meta["summary"]
        req = SolverRequest(s["solver"], s.get("options") or {}, label=s.get("label") or s["solver"])
        groups.setdefault(Path(meta["out_dir"]).parent, []).append(RunRecord(req, None, s))  # type: ignore[arg-type]
    for inst_dir, records in groups.items():
        records.sort(key=lambda r: r.request.folder)
        write_comparison_in(inst_dir, records)
