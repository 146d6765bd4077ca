"""``cityopt batch`` and ``cityopt report``: their argparse wiring and commands.

``optimizer/cli.py`` calls :func:`add_batch_parser` and :func:`add_report_parser`
on its subparsers and dispatches ``batch`` / ``report`` to :func:`cmd_batch` and
:func:`cmd_report` (its error handling and exit codes serve every command).

Exit codes: 0 ok, 2 bad input (an :class:`optimizer.errors.InvalidInputError`,
printed as one line naming the field and the fix), 1 a failure (some run failed
on every try, or an error that is not the input's fault).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_batch_parser", "add_report_parser", "cmd_batch", "cmd_report"]

log = logging.getLogger("cityopt")

EPILOG_BATCH = """examples:
  cityopt batch examples/city_day.yaml                       # a local Dask cluster, one worker per core
  cityopt batch examples/city_day.yaml --db results.duckdb   # another results database
  cityopt batch job.yaml --scheduler tcp://10.0.0.5:8786     # an existing Dask scheduler
re-running a job skips every run already in its database.
"""

EPILOG_REPORT = """example:
  cityopt report outputs/city_day/results.duckdb --out outputs/city_day/report.html
"""


def add_batch_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``batch`` to ``cityopt``'s subparsers."""
    p = subparsers.add_parser(
        "batch", help="run a YAML job (scenarios x solvers x seeds) on Dask; re-running resumes",
        description="Run every scenario x solver x seed of a YAML job file on Dask (a local cluster by default), "
                    "writing each run's folder and one row per finished run to a DuckDB results database. "
                    "Runs already in the database are skipped, so a re-run resumes.",
        epilog=EPILOG_BATCH, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", metavar="JOB.yaml", help="the job file")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler, tcp://HOST:PORT (default: a local cluster)")
    p.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for --scheduler to answer (default 10)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local cluster workers, one thread each (default: one per core)")
    p.add_argument("--db", metavar="PATH", help="results database (default: the job's `database`)")
    p.add_argument("--report", metavar="HTML", help="also write the HTML report of the database here")
    p.add_argument("--json", action="store_true", help="print the batch's outcome as one JSON line")
    p.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    return p


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to ``cityopt``'s subparsers."""
    p = subparsers.add_parser(
        "report", help="write the HTML solver-comparison report of a results database",
        description="Write one self-contained HTML file from a results database: objective by solver over seeds, "
                    "gap to the best bound, wall time, QAOA quality by depth and backend, route maps, dispatch "
                    "charts and a verdict per instance.",
        epilog=EPILOG_REPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("db", metavar="DB", help="the results database (.duckdb)")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--title", help="the report's title")
    return p


def cmd_batch(args: argparse.Namespace) -> int:
    """``cityopt batch``: load and check the job, run it, optionally write the report."""
    from optimizer.jobs import load_job, run_job

    if not getattr(args, "verbose", False):  # Dask logs every cluster start and stop at INFO
        import distributed  # noqa: F401  (its import sets its loggers' levels: set ours after)

        for name in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.WARNING)
    job = load_job(args.job, database=args.db)
    result = run_job(job, scheduler=args.scheduler, scheduler_timeout_s=args.scheduler_timeout,
                     n_workers=args.workers, progress=False if args.no_progress else None)
    if args.report:
        from optimizer.report import write_report

        write_report(job.database, args.report)
    if getattr(args, "json", False):
        print(json.dumps(result.to_dict()))
    else:  # the result line: printed with --quiet too (quiet silences the logs)
        print(f"job {result.job}: {result.total} runs: {len(result.ran)} ran, {result.skipped} already done, "
              f"{result.recovered} taken from their folders, {len(result.failed)} failed "
              f"({result.wall_time_s:.1f} s); results in {result.database}")
    for rid, why in result.failed.items():
        print(f"cityopt: run {rid} failed: {why}", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    """``cityopt report``: the HTML report of a results database."""
    from optimizer.report import write_report

    out = write_report(Path(args.db), Path(args.out), title=args.title)
    print(f"report: {out}")  # the result: printed with --quiet too
    return 0
