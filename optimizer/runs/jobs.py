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

It is checked whole at load (:func:`load_job`), before anything runs or is
written: a typo'd key, a wrong type, an unknown solver, option, city or grid, a
parameter out of its range, a seed outside ``[0, 2**31-1]``, a label that is not
one plain folder name, two runs that would share a folder, or more than 5,000
runs each give one :class:`JobError` naming the field (``scenarios[0].solverz``)
and the fix.

Each run (one scenario, one seed, one solver) has a stable id: a hash of the
scenario's parameters, the seed, the solver, its options and time limit, and
the cityopt version (:func:`run_id`).  :func:`run_job` runs every run whose id
is not yet in the results database, each as one Dask task (a ``LocalCluster``
sized to the machine by default, or an existing scheduler by address).  A task
(:func:`execute_run`) writes its run folder ``OUT/<problem>/<instance>/<label>/``
(:func:`optimizer.io.run_folder`: every part one safe name inside ``OUT``) whole
or not at all (``summary.json``, the plan files, and ``run.json`` with the run's
id and times); the client alone writes the database, one transaction per
finished run, as the futures complete, and releases each future once its row is
written.  So:

- re-running a job skips every run in the database;
- a batch killed part-way and re-run finishes the rest: a run whose folder was
  written but whose row was not is taken from its folder, not run again;
- a worker that dies mid-task has its task run again elsewhere (Dask retries
  it), and the row is written once, when the task is done.  Results already in
  the database are released, so Dask does not compute them again; and a task
  whose folder already holds ``run.json`` with its own run id and a
  ``summary.json`` returns that content without solving again (a result lost
  with its worker before the client read it);
- a task never replaces a folder that holds another run's ``run.json``: that run
  fails with a JobError (two runs of a job mapping to one folder are refused at
  load where the job file shows it; the check and the rename into place happen
  under a lock, ``OUT/.cityopt-folders.lock``, so two tasks cannot both pass it).

One batch at a time per output folder: :func:`run_job` holds an exclusive
``fcntl.flock`` on ``OUT/.cityopt-batch.lock`` (which names the holder's pid,
host, job and start time) from before it reads the database until it is done.
A second batch of the same output **waits** for the first (logging whom it
waits for), then reads the database and runs only what the first did not
finish.  Two batches of different outputs may share one database: each write
opens it briefly, waiting up to 30 s for DuckDB's one-writer lock, after which
the batch stops with one clear error (a run finished but not yet in the
database is taken from its folder by the next batch).

Holding the lock, a batch first removes what an interrupted writer left in the
output: hidden staged folders ``OUT/*/*/.<label>.XXXX.tmp``, ``.<label>.old-PID``
folders and ``.<file>.XXXX.tmp`` files.  (A ``cityopt run --out`` writing into
the same output at that moment is not covered by the lock.)

Ctrl-C (SIGINT) stops the batch: the local cluster's workers ignore SIGINT (so
a terminal's Ctrl-C, sent to the whole process group, reaches only the client),
the client cancels what is left, kills the local workers (a run mid-solve is
lost, to be run again, never half-written), closes the cluster, removes the
staged folders of the runs it interrupted and raises KeyboardInterrupt
(``cityopt`` exits 130).  A full or read-only disk under the output stops the
batch the same way with one :class:`OutputWriteError` (exit 2: free space or
choose another output), and so does a database that cannot be written
(:class:`~optimizer.runs.results.ResultsDatabaseError`, its ROLLBACK quiet).
A run that fails for any other reason is reported and the others go on.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
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
    "MAX_WORKERS",
    "BatchResult",
    "Job",
    "JobError",
    "OutputWriteError",
    "RunSpec",
    "SchedulerUnreachableError",
    "check_batch_options",
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
#: Environment variable read by :func:`execute_run` for tests that count solves:
#: a path; each task that solves (not one that finds its folder done) appends
#: ``run_id pid`` to it once its folder is written.  Never set it otherwise.
SOLVE_LOG_ENV_VAR = "CITYOPT_TEST_SOLVE_LOG"

#: The most LocalCluster workers :func:`run_job` starts (``--workers``).
MAX_WORKERS = 64
#: The lock file a batch holds in its output folder, and the one tasks hold to put a folder in place.
BATCH_LOCK = ".cityopt-batch.lock"
FOLDER_LOCK = ".cityopt-folders.lock"

#: errno values that say the output's disk cannot take more: the user frees space or picks another output.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: ... and those that do when they name a path under the output.
_PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM})


class SchedulerUnreachableError(InvalidInputError):
    """No Dask scheduler answered at the address given."""


class OutputWriteError(InvalidInputError):
    """The output folder cannot take a run (disk full, read-only): free space or choose another output."""


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


def dask_setup(worker: Any) -> None:
    """Run by distributed in each LocalCluster worker process (its ``preload``): ignore SIGINT.

    A terminal's Ctrl-C goes to the whole process group; the batch's client
    decides what stops and closes its workers itself.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[Callable[[], None]]:
    """Open ``path`` (created if needed); yield ``acquire``, which takes its exclusive lock; released on exit."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield lambda: fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _done_in(final: Path, rid: str, where: str) -> dict[str, Any] | None:
    """The run's ``run.json`` and summary if ``final`` holds this run whole; JobError if it holds another run."""
    meta_path = final / "run.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        summary = json.loads((final / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta, summary = {}, None
    other = meta.get("run_id") if isinstance(meta, dict) else None
    if other is not None and other != rid:
        msg = (f"run folder {final} holds run {other}, not {rid} ({where}); it is left as it is: two runs map to one "
               f"folder (of this job, or of another job or cityopt version writing to this output): give them "
               f"distinct solver labels or outputs")
        raise JobError(msg)
    if other == rid and isinstance(summary, dict):
        return {**meta, "out_dir": str(final.resolve()), "summary": summary}
    return None


def execute_run(spec: Mapping[str, Any], output: str, job: str = "") -> dict[str, Any]:
    """Run one :class:`RunSpec` (as a dict) and write its folder whole; the Dask task of a batch.

    Idempotent: if the run's folder already holds its ``run.json`` (same run id)
    and ``summary.json``, their content is returned and nothing is solved.

    Returns
    -------
    dict
        ``run_id``, ``out_dir``, ``summary``, ``started_utc``, ``finished_utc``, ``host``, ``versions``
        (the content of the folder's ``run.json``, with the summary).

    Raises
    ------
    JobError
        The run's folder holds another run.
    """
    import platform

    from optimizer.io import atomic_write_json, run_folder, staged_dir
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
    final = run_folder(output, prob.kind, prob.instance_name, spec["label"])
    done = _done_in(final, spec["run_id"], spec["where"])
    if done is not None:
        return done
    req = SolverRequest(spec["solver"], dict(spec["options"]), label=spec["label"],
                        time_limit_s=spec["time_limit_s"])
    judges = spec.get("judges") or {}
    record = run_problem(prob, [req], out=None, seed=spec["seed"], simulate=bool(judges.get("simulate")),
                         references=bool(judges.get("references")))[0]
    meta = {"run_id": spec["run_id"], "job": job, "spec": dict(spec), "started_utc": started,
            "host": platform.node(), "versions": package_versions()}
    Path(output).mkdir(parents=True, exist_ok=True)
    with _flock(Path(output) / FOLDER_LOCK) as lock:
        with staged_dir(final) as d:
            record.write(d)
            meta["finished_utc"] = _now()
            atomic_write_json(d / "run.json", meta)
            lock()  # no other task checks or renames a folder of this output until ours is in place
            _done_in(final, spec["run_id"], spec["where"])  # still nobody else's
    solve_log = os.environ.get(SOLVE_LOG_ENV_VAR)
    if solve_log:
        with open(solve_log, "a", encoding="utf-8") as f:
            f.write(f"{spec['run_id']} {os.getpid()}\n")
    # the summary as written (NaN written as null): the row is made from it, so it equals its folder
    summary = json.loads((final / "summary.json").read_text(encoding="utf-8"))
    return {**meta, "out_dir": str(final.resolve()), "summary": summary}


# ---------------------------------------------------------------------------- the client side
def _check_output(output: Path, *, create: bool = True) -> None:
    """Refuse an output that cannot be written; ``create=False``: probe the nearest existing folder of its path
    and create nothing."""
    from optimizer.io import probe_writable

    try:
        if create:
            output.mkdir(parents=True, exist_ok=True)
        probe_writable(output)
    except OSError as exc:
        msg = (f"output folder {str(output)!r} is not writable ({exc.strerror or exc}); set 'output' in the job "
               f"file to a writable folder")
        raise OutputWriteError(msg) from None


def _is_staging_leftover(name: str) -> bool:
    """A name :func:`optimizer.io.staged_dir` or an atomic write gives a temp entry (never a run's: labels
    cannot start with a dot)."""
    return name.startswith(".") and (name.endswith(".tmp") or ".old-" in name)


def _clean_staged(output: Path) -> int:
    """Remove staged folders and temp files that an interrupted writer left under ``OUT/*/*/``."""
    n = 0
    for entry in output.glob("*/*/.*"):
        if not _is_staging_leftover(entry.name) or entry.parent.name.startswith("."):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            n += 1
        except FileNotFoundError:
            continue
        except OSError as exc:  # a read-only disk: left for a later batch, never an error of its own
            log.warning("could not remove %s (%s)", entry, exc.strerror or exc)
    if n:
        log.info("removed %d half-written staged folder(s) or temp file(s) an interrupted run left in %s", n, output)
    return n


@contextlib.contextmanager
def _batch_lock(output: Path, job: str) -> Iterator[None]:
    """Hold ``OUT/.cityopt-batch.lock`` exclusively: one batch per output at a time; a second one waits."""
    import fcntl
    import platform

    path = output / BATCH_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        msg = (f"cannot create the batch lock {str(path)!r} ({exc.strerror or exc}); set 'output' in the job file to "
               f"a writable folder")
        raise OutputWriteError(msg) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
            log.warning("waiting for the batch that holds %s to finish (%s); it runs in the same output folder",
                        path, holder)
            t0 = time.monotonic()
            while True:  # polled, so Ctrl-C stops the wait at once
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.2)
            log.warning("the other batch is done (waited %.1f s); running what it left", time.monotonic() - t0)
        with contextlib.suppress(OSError):  # who holds it, for the message of a batch that waits
            text = f"pid {os.getpid()} on {platform.node()}, job {job!r}, since {_now()}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, text, 0)
        yield
    finally:
        os.close(fd)


def _scan_finished(output: Path) -> dict[str, dict[str, Any]]:
    """Run folders already written (``run.json`` beside ``summary.json``), by run id."""
    found: dict[str, dict[str, Any]] = {}
    for meta_path in output.glob("*/*/*/run.json"):
        if any(part.startswith(".") for part in meta_path.parts[-4:-1]):
            continue  # a staged or replaced folder, not a run's
        summary_path = meta_path.with_name("summary.json")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta["summary"] = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
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
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while the block runs (threads and processes started meanwhile inherit it).

    A Ctrl-C meanwhile is delivered when the block ends.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence Dask's and tornado's shutdown noise while the block runs."""
    if not enabled:
        yield
        return
    names = ("distributed", "tornado", "asyncio")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


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
    cluster = client = None
    interrupted = False
    try:
        # the cluster's threads and worker processes start with SIGINT blocked (inherited), and the workers
        # ignore it (dask_setup): Ctrl-C reaches only this thread, which closes the cluster
        with _sigint_blocked():
            # loopback only; the scheduler's HTTP server on a free port (its default, 8787, may be taken).
            # Dask's own logs only when debugging: a failed run is reported by the client, in one line
            quiet = logging.CRITICAL if not log.isEnabledFor(logging.DEBUG) else False
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0", silence_logs=quiet, preload=[__name__])
            client = Client(cluster, set_as_default=False)
        yield client
    except BaseException:
        interrupted = True
        raise
    finally:  # quiet: a worker slow to stop is killed with a warning, after Ctrl-C with tracebacks
        with _quiet(interrupted or not log.isEnabledFor(logging.DEBUG)):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(**({"timeout": 5} if interrupted else {}))
            if cluster is not None:
                if interrupted:
                    _kill_workers(cluster)
                cluster.close(timeout=10 if interrupted else None)


def _kill_workers(cluster: Any) -> None:
    """Stop a LocalCluster's worker processes now (SIGKILL), their nannies told not to restart them.

    After Ctrl-C a worker mid-solve would otherwise hold the close for seconds;
    what it was writing is a staged folder, removed after.
    """
    from distributed.core import Status

    for nanny in list(getattr(cluster, "workers", {}).values()):
        with contextlib.suppress(Exception):
            pid = nanny.pid
            nanny.status = Status.closing_gracefully  # its worker's exit closes it, no restart
            if pid:
                os.kill(pid, signal.SIGKILL)


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


def _disk_error(exc: BaseException, output: Path) -> OSError | None:
    """``exc`` if it says the output cannot take more (full, read-only, not permitted there), else None."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno in _DISK_ERRNOS:
        return exc
    if exc.errno in _PATH_ERRNOS and exc.filename:
        with contextlib.suppress(OSError, ValueError):
            if Path(os.fsdecode(exc.filename)).resolve().is_relative_to(output.resolve()):
                return exc
    return None


def _output_error(exc: OSError, output: Path, where: str, done: int) -> OutputWriteError:
    msg = (f"output folder {str(output)!r}: {exc.strerror or exc} while writing {where}; free space there or set "
           f"another 'output' in the job file; the {done} run(s) finished so far are kept: re-run the job to finish "
           f"the rest")
    return OutputWriteError(msg)


def check_batch_options(n_workers: int | None = None, scheduler_timeout_s: float = 10.0, *,
                        scheduler: str | None = None,
                        names: tuple[str, ...] = ("n_workers", "scheduler_timeout_s", "scheduler")) -> None:
    """Refuse a worker count outside ``1..MAX_WORKERS`` or a scheduler timeout that is not finite and > 0.

    ``names`` are how the caller calls them (``--workers``, ``--scheduler-timeout`` on the command line).

    >>> check_batch_options(0, names=("--workers", "--scheduler-timeout"))
    Traceback (most recent call last):
    ...
    solvers.errors.InvalidInputError: --workers must be an integer from 1 to 64, got 0
    """
    import math

    if scheduler is not None and not re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?/?|"
                                                  r"[A-Za-z0-9.\-\[\]]+:\d{1,5}", scheduler):
        msg = (f"{names[2]} {scheduler!r} is not a scheduler address; give tcp://HOST:PORT (e.g. "
               f"tcp://10.0.0.5:8786), or leave it out to use a local cluster")
        raise InvalidInputError(msg)
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)
                                  or not 1 <= n_workers <= MAX_WORKERS):
        msg = f"{names[0]} must be an integer from 1 to {MAX_WORKERS}, got {n_workers!r}"
        raise InvalidInputError(msg)
    if isinstance(scheduler_timeout_s, bool) or not isinstance(scheduler_timeout_s, (int, float)) \
            or not math.isfinite(scheduler_timeout_s) or scheduler_timeout_s <= 0:
        msg = f"{names[1]} must be a finite number of seconds > 0, got {scheduler_timeout_s!r}"
        raise InvalidInputError(msg)


def check_instances(job: Job) -> None:
    """What a job's runs need their instances for, checked at the client before anything is created.

    Builds each scenario at each seed once (cities are loaded once per process)
    and raises one JobError naming the run's place in the job file when:

    * the scenario cannot be built (``quantum_mw`` too fine, ``day`` on a grid
      without a year of profiles, ``units`` above the grid's, a city file's errors);
    * a solver does not suit the instance (``exact``'s or ``qaoa``'s size limit);
    * the run's folder is taken by something cityopt did not write (a user's folder).
    """
    from optimizer.io import RUN_MARKER, run_folder
    from optimizer.solve import check_fits

    if job.runs:
        log.info("job %s: checking %d scenario instance(s)", job.name,
                 len({(r.problem, json.dumps(r.params, sort_keys=True), r.seed) for r in job.runs}))
    for spec in job.runs:
        try:
            prob = _problem(spec.problem, json.dumps(spec.params, sort_keys=True), spec.seed)
            check_fits(prob, spec.solver, dict(spec.options))
            folder = run_folder(job.output, prob.kind, prob.instance_name, spec.label)
        except InvalidInputError as exc:
            msg = f"{spec.where}: {exc}"
            raise JobError(msg) from None
        if folder.is_symlink() or (folder.exists() and not (folder / RUN_MARKER).is_file()):
            msg = (f"{spec.where}: the run's folder {str(folder)!r} exists and is not a run folder cityopt wrote; "
                   f"move it away, or give the solver another label or the job another output")
            raise JobError(msg)


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
        How long to wait for the scheduler to answer (finite, > 0).
    n_workers : int, optional
        LocalCluster workers, 1 to :data:`MAX_WORKERS` (default: the machine's cores, at most 8), one thread each.
    progress : bool, optional
        A progress bar (default: when stderr is a terminal; log lines otherwise).

    Returns
    -------
    BatchResult

    Raises
    ------
    ResultsDatabaseError
        The database cannot be created, opened, read or written (checked before any run starts).
    OutputWriteError
        The output folder is not writable (checked before any run starts), or its disk fills up.
    SchedulerUnreachableError
        No scheduler answered at ``scheduler``.
    InvalidInputError
        ``n_workers`` or ``scheduler_timeout_s`` out of range.
    KeyboardInterrupt
        Ctrl-C: the cluster is closed, and the interrupted runs leave no staged folder (local cluster).
    """
    from optimizer.runs.results import ResultsDB

    check_batch_options(n_workers, scheduler_timeout_s, scheduler=scheduler)
    t0 = time.perf_counter()
    check_instances(job)
    db = ResultsDB(job.database)
    _check_output(job.output, create=False)  # both places checked before either is created
    db.check_writable()
    _check_output(job.output)
    with _batch_lock(job.output, job.name):
        _clean_staged(job.output)
        result = _run_locked(job, db, scheduler=scheduler, scheduler_timeout_s=scheduler_timeout_s,
                             n_workers=n_workers, progress=progress)
    result.wall_time_s = time.perf_counter() - t0
    return result


def _run_locked(job: Job, db: Any, *, scheduler: str | None, scheduler_timeout_s: float, n_workers: int | None,
                progress: bool | None) -> BatchResult:
    from distributed import as_completed

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
        return result
    tick = _progress(len(todo), progress)
    by_key: dict[str, RunSpec] = {}
    output = str(job.output.resolve())
    try:
        with _client(scheduler, timeout_s=scheduler_timeout_s, n_workers=n_workers) as client:
            pending = {}
            for spec in todo:
                key = f"cityopt-run-{spec.run_id}"
                by_key[key] = spec
                pending[key] = client.submit(execute_run, spec.to_dict(), output, job.name, key=key,
                                             retries=job.retries, pure=False)
            try:
                for fut in as_completed(list(pending.values()), loop=client.loop):
                    spec = by_key[fut.key]
                    try:
                        res = fut.result()
                    except Exception as exc:  # the task failed on every try: report it, keep the rest going
                        disk = _disk_error(exc, job.output)
                        if disk is not None:  # every other run would fail alike: stop, one clear error
                            raise _output_error(disk, job.output, spec.where, len(result.ran)) from None
                        result.failed[spec.run_id] = f"{spec.where}: {type(exc).__name__}: {exc}"
                        log.error("run %s (%s) failed: %s", spec.run_id, spec.where, exc)
                        tick(f"{spec.label} FAILED")
                        pending.pop(fut.key).release()
                        continue
                    db.add([_row(res, job.name)])
                    # in the database: Dask may forget it (a worker lost now does not make it compute the run again)
                    pending.pop(fut.key).release()
                    result.ran.append(spec.run_id)
                    s = res["summary"]
                    tick(f"{s['problem']} {s['instance']['name']} {spec.label}: {s['status']} "
                         f"objective={s['objective']}")
            except BaseException:
                with contextlib.suppress(Exception):
                    client.cancel(list(pending.values()))
                raise
    except BaseException:  # Ctrl-C, a full disk, the database: the batch stops here
        if scheduler is None:  # the local workers were killed: what they were writing is half-written
            _clean_staged(job.output)
        raise
    try:
        _write_comparisons(job)
    except OSError as exc:
        raise _output_error(exc, job.output, "the comparison files", len(result.ran)) from None
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
