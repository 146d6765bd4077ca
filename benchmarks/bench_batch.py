"""Batch benchmark: what Dask costs per run against the same runs in a plain loop, and batch
throughput with 1 and 2 local workers.

The runs: traffic in central Helsinki, 4 trips x 2 routes, seeds 1..S, each solved by
``shortest``, ``cpsat``, ``exact`` and ``anneal`` (small runs, so the overhead shows).

* loop: :func:`optimizer.runs.jobs.execute_run` called in this process, one run after the other
  (writing the same run folders; the city loaded once, as a worker does), rows added to a
  database one transaction per run, as the batch's client does;
* Dask: :func:`optimizer.runs.jobs.run_job` on a LocalCluster of 1 and of 2 worker processes
  (one thread each), from an empty database; the cluster's start and stop are timed apart.

Overhead per run = (Dask wall, 1 worker, less the cluster's start and stop - loop wall) / runs.

Run: ``python -m benchmarks.bench_batch [--seeds 6] [--out outputs/bench_batch.json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

SOLVERS = [{"name": "shortest"}, {"name": "cpsat"}, {"name": "exact"},
           {"name": "anneal", "options": {"sweeps": 1000, "reads": 16}}]


def _job(folder: Path, seeds: int) -> Any:
    from optimizer.runs.jobs import load_job

    return load_job({"name": "bench", "output": str(folder / "runs"), "database": str(folder / "results.duckdb"),
                     "solvers": SOLVERS,
                     "scenarios": [{"problem": "traffic", "city": "helsinki", "trips": 4, "routes": 2,
                                    "seeds": list(range(1, seeds + 1))}]})


def bench_loop(seeds: int) -> dict[str, Any]:
    from optimizer.runs import jobs
    from optimizer.runs.results import ResultsDB
    from optimizer.runs.scenarios import load_city

    load_city.cache_clear()
    jobs._problem.cache_clear()
    with tempfile.TemporaryDirectory() as d:
        job = _job(Path(d), seeds)
        db = ResultsDB(job.database)
        t0 = time.perf_counter()
        db.check_writable()
        for spec in job.runs:
            res = jobs.execute_run(spec.to_dict(), str(job.output), job.name)
            db.add([jobs._row(res, job.name)])
        wall = time.perf_counter() - t0
    return {"runs": len(job.runs), "wall_s": wall, "per_run_s": wall / len(job.runs)}


def bench_cluster_start(workers: int) -> float:
    from optimizer.runs.jobs import _client

    t0 = time.perf_counter()
    with _client(None, timeout_s=30, n_workers=workers) as client:
        client.wait_for_workers(workers)
    return time.perf_counter() - t0


def bench_dask(seeds: int, workers: int) -> dict[str, Any]:
    from optimizer.runs.jobs import run_job

    with tempfile.TemporaryDirectory() as d:
        job = _job(Path(d), seeds)
        t0 = time.perf_counter()
        result = run_job(job, n_workers=workers, progress=False)
        wall = time.perf_counter() - t0
    if not result.ok:
        msg = f"benchmark batch failed: {result.failed}"
        raise RuntimeError(msg)
    start = bench_cluster_start(workers)
    n = len(job.runs)
    return {"workers": workers, "runs": n, "wall_s": wall, "cluster_start_stop_s": start,
            "throughput_runs_per_s": n / wall, "throughput_runs_per_s_excluding_start": n / max(wall - start, 1e-9)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_batch", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6, help="seeds of the scenario (runs = 4 x seeds; default 6)")
    ap.add_argument("--out", default="outputs/bench_batch.json", help="where to write the figures as JSON")
    args = ap.parse_args(argv)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    out["loop"] = loop = bench_loop(args.seeds)
    print(f"plain loop: {loop['runs']} runs in {loop['wall_s']:.2f} s ({1000 * loop['per_run_s']:.0f} ms/run)")
    for w in (1, 2):
        out[f"dask_{w}"] = r = bench_dask(args.seeds, w)
        print(f"Dask, {w} worker(s): {r['runs']} runs in {r['wall_s']:.2f} s (cluster start+stop "
              f"{r['cluster_start_stop_s']:.2f} s): {r['throughput_runs_per_s']:.2f} runs/s, "
              f"{r['throughput_runs_per_s_excluding_start']:.2f} runs/s past the start")
    d1 = out["dask_1"]
    out["dask_overhead_per_run_s"] = (d1["wall_s"] - d1["cluster_start_stop_s"] - loop["wall_s"]) / loop["runs"]
    out["speedup_2_over_1_workers"] = out["dask_1"]["wall_s"] / out["dask_2"]["wall_s"]
    print(f"Dask overhead per run (1 worker, start excluded): {1000 * out['dask_overhead_per_run_s']:.0f} ms; "
          f"2 workers / 1 worker: {out['speedup_2_over_1_workers']:.2f}x")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"figures written to {path}")
    return out


if __name__ == "__main__":
    main()
