"""The ``cityopt`` command.

Exit codes: 0 ok, 2 bad input (with one line naming the field and the fix),
1 a failure that is not the input's fault, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["main"]

log = logging.getLogger(__name__)

EPILOG_RUN = """examples:
  cityopt run --problem traffic --trips 6 --routes 3 --solver qaoa cpsat exact --depth 2
  cityopt run --problem traffic --trips 3 --routes 2 --solver qaoa --backend qvm:rainbow --shots 1000
  cityopt run --problem traffic --trips 6 --solver qaoa --backend fast --backend-option precision=complex128
  cityopt run --problem traffic --city helsinki --trips 200 --solver cpsat anneal shortest
  cityopt run --problem traffic --city map.osm.pbf --trips-csv trips.csv --solver cpsat --on qubo
  cityopt run --problem fleet --stops 4 --vehicles 1 --solver qaoa routing exact --backend fast
  cityopt run --problem fleet --stops 8 --vehicles 2 --capacity 4 --solver routing decompose
  cityopt run --problem fleet --instance benchmarks/data/A-n32-k5.vrp --solver routing --time-limit 10
  cityopt run --problem dispatch --grid case9 --units 3 --periods 4 --levels 1 --solver qaoa cpsat milp exact
  cityopt run --problem dispatch --grid case118 --periods 24 --levels 3 --solver milp cpsat --time-limit 30
  cityopt run --problem dispatch --grid case30 --network --evs 200 --batteries 20 --solver milp cpsat
  cityopt run --problem dispatch --grid case9 --devices examples/devices_case9.csv --solver milp --ac
"""

EPILOG_DEMO = """example:
  cityopt demo --out outputs     # what `make run` runs
"""

def _add_solver_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solver options (passed to the solvers that take them)")
    g.add_argument("--time-limit", type=float, metavar="S", help="wall-time limit per solver, seconds")
    g.add_argument("--depth", type=int, help="QAOA depth p (>= 1)")
    g.add_argument("--backend", help="QAOA backend: qsim, fast, qvm:<processor> (rainbow, weber, willow_pink), "
                                     "engine:<processor>")
    g.add_argument("--mixer", choices=["auto", "x", "xy-ring", "xy-complete"],
                   help="QAOA mixer (auto: XY ring on one-hot groups)")
    g.add_argument("--init", choices=["ramp", "interp", "table"], help="QAOA initial angles")
    g.add_argument("--qaoa-objective", choices=["expectation", "cvar"],
                   help="QAOA's objective over its samples (the option 'objective')")
    g.add_argument("--cvar-alpha", type=float, help="QAOA CVaR fraction in (0, 1]")
    g.add_argument("--restarts", type=int, help="QAOA multistart runs")
    g.add_argument("--shots-per-eval", type=int, help="QAOA samples per evaluation on shot-based backends")
    g.add_argument("--device-optimise", choices=["noiseless", "device"],
                   help="qvm/engine backends: optimise the QAOA angles on the noiseless simulator and run the "
                        "device once for the answer (noiseless, default), or every evaluation on the device")
    g.add_argument("--device-refine", type=int, metavar="N",
                   help="qvm/engine backends with --device-optimise noiseless: then up to N evaluations on the "
                        "device around the noiseless optimum (a noise-aware refinement; default 0)")
    g.add_argument("--warm-start", action="store_true", default=None,
                   help="warm-start QAOA (fast, qsim): initial state and mixer from the QUBO's continuous relaxation")
    g.add_argument("--warm-relaxation", choices=["box", "convex"],
                   help="warm start's relaxation: the box QP from several starts (default) or the convexified QP")
    g.add_argument("--warm-epsilon", type=float, help="warm start: clip the relaxed values into [eps, 1-eps] "
                                                      "(default 0.25)")
    g.add_argument("--recursive", type=int, metavar="N_C",
                   help="recursive QAOA (fast, qsim): eliminate one variable per QAOA round until N_C remain, "
                        "enumerate those (0: off)")
    g.add_argument("--project-id", help="engine backends: Google Cloud project (else $GOOGLE_CLOUD_PROJECT)")
    g.add_argument("--backend-option", action="append", metavar="KEY=VALUE", default=None,
                   help="QAOA backend option, repeatable, e.g. precision=complex128, kernels=blas, "
                        "threads=2 (fast); values are read as JSON where they parse, else as text")
    g.add_argument("--threads", type=int, help="QAOA simulator threads (default: the backend's)")
    g.add_argument("--max-ac-iterations", type=int, help="milp with --ac: commitment <-> AC rounds (default 10)")
    g.add_argument("--shots", type=int, help="QAOA samples drawn after optimising the angles")
    g.add_argument("--maxiter", type=int, help="QAOA optimiser iterations")
    g.add_argument("--optimizer", help="QAOA classical optimiser: auto (default: L-BFGS-B with the adjoint "
                                       "gradient on fast, else COBYLA), COBYLA, Nelder-Mead, L-BFGS-B")
    g.add_argument("--sweeps", type=int, help="anneal: sweeps per read")
    g.add_argument("--reads", type=int, help="anneal: independent reads")
    g.add_argument("--on", choices=["native", "qubo"], help="cpsat: native model (default) or the QUBO")
    g.add_argument("--workers", type=int, help="cpsat: parallel workers")


def _solver_help() -> str:
    """``--solver``'s help, from the table of solvers: each name, where it applies, and the defaults."""
    from optimizer.solve import DEFAULT_SOLVERS, PROBLEM_KINDS, SOLVERS

    every = [n for n, e in SOLVERS.items() if len(e.problems) == len(PROBLEM_KINDS)]
    own = [f"{n} ({', '.join(e.problems)})" for n, e in SOLVERS.items() if len(e.problems) < len(PROBLEM_KINDS)]
    defaults = ", ".join(f"{' '.join(DEFAULT_SOLVERS[k])} ({k})" for k in PROBLEM_KINDS)
    return f"solvers: {' '.join(every)}, {', '.join(own)}; default: {defaults}"


def build_parser() -> argparse.ArgumentParser:
    from optimizer.solve import PROBLEM_KINDS

    parser = argparse.ArgumentParser(
        prog="cityopt",
        description="City traffic and power-grid planning with QAOA beside Google OR-Tools.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors and the result")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="solve one scenario with each named solver and write its outputs",
                         description="Solve one scenario with each named solver; write plans, "
                                     "summary.json per solver and a comparison under --out.",
                         epilog=EPILOG_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--problem", required=True, choices=list(PROBLEM_KINDS),
                     help="planning problem: traffic route assignment, fleet routing (TSP/CVRP), "
                          "dispatch (unit commitment)")
    run.add_argument("--city", default="helsinki",
                     help="bundled city name, an .osm/.osm.bz2/.osm.pbf file, or 'Place, Country' (online)")
    run.add_argument("--trips", type=int, default=12, help="traffic: number of trips (default 12)")
    run.add_argument("--routes", type=int, default=3, help="traffic: candidate routes per trip, k (default 3)")
    run.add_argument("--trips-csv", metavar="FILE",
                     help="traffic: trips from a CSV of origin_lon,origin_lat,dest_lon,dest_lat")
    run.add_argument("--weight", choices=["pois", "buildings"], help="traffic: weight trip ends by POIs or buildings")
    run.add_argument("--min-distance-m", type=float, default=300.0,
                     help="traffic: least straight-line trip length in metres (default 300)")
    run.add_argument("--vehicles-per-trip", type=int, default=1,
                     help="traffic: vehicles in each sampled trip, a group with one route (default 1)")
    run.add_argument("--objective", choices=["bpr", "congestion"], default="bpr",
                     help="traffic: system travel time under BPR (vehicle-hours, default) or the congestion "
                          "proxy sum w*load^2 (vehicle-seconds)")
    run.add_argument("--peak", default="07:00-09:00", metavar="HH:MM-HH:MM",
                     help="traffic: the period trips depart in, from a triangular peak profile unless the "
                          "trips CSV has a depart column (default 07:00-09:00)")
    run.add_argument("--slice-min", type=float, default=15.0,
                     help="traffic: time-slice length in minutes; trips interact on a segment in the same "
                          "slice (default 15)")
    run.add_argument("--bpr-alpha", type=float, default=0.15, help="traffic: BPR alpha (default 0.15)")
    run.add_argument("--bpr-beta", type=float, default=4.0, help="traffic: BPR beta (default 4)")
    run.add_argument("--simulate", action="store_true",
                     help="traffic: replay every plan in Eclipse SUMO (travel time, time loss, arrivals, teleports)")
    run.add_argument("--references", action="store_true",
                     help="traffic: AequilibraE's continuous user equilibrium and system optimum, and the SO "
                          "lower bound, beside the plans")
    f = run.add_argument_group("fleet")
    f.add_argument("--stops", type=int, default=8, help="fleet: service stops (default 8)")
    f.add_argument("--vehicles", type=int, default=1, help="fleet: vehicles, 1 is a TSP (default 1)")
    f.add_argument("--capacity", type=int, help="fleet: stops (demand units) each vehicle can serve")
    f.add_argument("--poi", help="fleet: stops from POIs of this kind, e.g. amenity=pharmacy")
    f.add_argument("--stops-csv", metavar="FILE", help="fleet: stops from a CSV (lon, lat[, demand]); row 1 the depot")
    f.add_argument("--instance", metavar="FILE", help="fleet: a TSPLIB / CVRPLIB instance file (.tsp, .vrp)")
    f.add_argument("--inner", choices=["qaoa", "exact", "anneal"], help="decompose: inner solver")
    f.add_argument("--sub-size", type=int, help="decompose: variables per sub-problem")
    f.add_argument("--cluster-size", type=int, help="decompose (fleet): stops per cluster")
    d = run.add_argument_group("dispatch")
    d.add_argument("--grid", default="case9",
                   help="dispatch: bundled grid name (case9, case30, case118, mv_oberrhein, cigre_mv_der, "
                        "simbench_mv_rural, or a SimBench code) or a pandapower JSON / MATPOWER file")
    d.add_argument("--units", type=int, help="dispatch: keep this many units (external grid first, then largest)")
    d.add_argument("--periods", type=int, default=24, help="dispatch: periods in the day (divides 96; default 24)")
    d.add_argument("--levels", type=int, default=1, help="dispatch: output levels per unit besides off (default 1)")
    d.add_argument("--quantum-mw", type=float, help="dispatch: power quantum of the discrete levels")
    d.add_argument("--balancing", choices=["auto", "ext_grid", "spill"], default="auto",
                   help="dispatch: who balances each period (default auto)")
    d.add_argument("--encoding", choices=["auto", "levels", "onehot"], default="auto",
                   help="dispatch: the QUBO's variables: a bit per unit, period and level (levels), or one-hot per "
                        "period over the commitments its balance admits (onehot: QAOA's XY mixer keeps every "
                        "sample balanced); auto: onehot where it needs no more variables (default)")
    d.add_argument("--day", type=int, help="dispatch: SimBench day of the year")
    d.add_argument("--load-scale", type=float, default=1.0, help="dispatch: scale every load (default 1)")
    d.add_argument("--network", action="store_true",
                   help="dispatch: keep every line and transformer within its rating in the DC power flow "
                        "(pandapower's PTDF; milp and the continuous bound)")
    d.add_argument("--ac", action="store_true",
                   help="dispatch: every solver's commitment re-dispatched per period by pandapower's AC OPF "
                        "(voltages, loadings, losses); milp cuts commitments with none and solves again")
    d.add_argument("--devices", metavar="FILE.csv",
                   help="dispatch: flexible devices (EV sessions, batteries, demand response) from a device CSV "
                        "(format: optimizer.inputs.devices); milp schedules them, the QUBO solvers run them "
                        "uncontrolled")
    d.add_argument("--evs", type=int, help="dispatch: generate this many EV charging sessions (seeded by --seed)")
    d.add_argument("--batteries", type=int, help="dispatch: generate this many home and community batteries")
    d.add_argument("--dr", type=int, help="dispatch: generate this many demand-response loads")
    run.add_argument("--solver", nargs="+", default=None, help=_solver_help())
    run.add_argument("--seed", type=int, default=1, help="seed of the scenario and the solvers (default 1)")
    run.add_argument("--out", default="outputs", help="output folder (default outputs)")
    run.add_argument("--json", action="store_true", help="print the summaries as JSON lines")
    _add_solver_options(run)

    demo = sub.add_parser("demo", help="the main job: the bundled city, QAOA and OR-Tools side by side",
                          description="Run the demo on central Helsinki: a QAOA-sized traffic instance "
                                      "(qaoa, cpsat, exact, anneal) and a 200-trip one (cpsat, anneal), "
                                      "each beside the shortest-path baseline.",
                          epilog=EPILOG_DEMO, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", default="outputs", help="output folder (default outputs)")
    demo.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    demo.add_argument("--json", action="store_true", help="also print the summaries as JSON lines")

    add_batch_parser(sub)
    add_report_parser(sub)
    add_sensors_parser(sub)
    add_forecast_parser(sub)
    add_live_parser(sub)

    bench = sub.add_parser("bench", help="run the benchmark suite (speed as ratios) into a results database",
                           description="Run the project's benchmarks (benchmarks/ in the source checkout): "
                                       "ratios measured in one process, printed, written as JSON, and appended "
                                       "to table 'benchmarks' of the results database.",
                           epilog="examples:\n  cityopt bench --only core qaoa --db outputs/results.duckdb\n"
                                  "  cityopt bench            # everything: several minutes on 2 cores\n",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--only", nargs="+", choices=["core", "qaoa", "qvm", "dispatch", "dispatch-qaoa", "grid", "crosscheck",
                                                     "fleet", "batch", "traffic", "variants"],
                       help="benchmark groups to run (default: all)")
    bench.add_argument("--db", default="outputs/results.duckdb", help="results database (default outputs/results.duckdb)")
    bench.add_argument("--out", default="outputs/bench.json", help="figures as JSON (default outputs/bench.json)")
    bench.add_argument("--skip-demo", action="store_true", help="do not time the whole demo")
    return parser


def _backend_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["precision=complex128", "threads=2"]`` -> ``{"precision": "complex128", "threads": 2}``.

    >>> _backend_options(["threads=2", "kernels=blas", "flag=true"])
    {'threads': 2, 'kernels': 'blas', 'flag': True}
    """
    from optimizer.errors import InvalidOptionError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            msg = f"--backend-option takes KEY=VALUE, got {pair!r}; e.g. --backend-option precision=complex128"
            raise InvalidOptionError(msg)
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


#: ``cityopt run``'s scenario flags (their ``dest``) by the problem they describe.
PROBLEM_FLAGS: dict[str, tuple[str, ...]] = {
    "traffic": ("city", "trips", "routes", "trips_csv", "weight", "min_distance_m", "vehicles_per_trip",
                "objective", "peak", "slice_min", "bpr_alpha", "bpr_beta", "simulate", "references"),
    "fleet": ("city", "stops", "vehicles", "capacity", "poi", "stops_csv", "instance"),
    "dispatch": ("grid", "units", "periods", "levels", "quantum_mw", "balancing", "day", "load_scale", "network",
                 "ac", "devices", "evs", "batteries", "dr", "encoding"),
}
#: Flags a scenario source replaces: ``--instance`` brings its own stops, ``--trips-csv`` its trips.
SOURCE_EXCLUDES: dict[str, tuple[str, ...]] = {
    "instance": ("city", "stops", "capacity", "poi", "stops_csv"),
    "stops_csv": ("stops", "poi"),
    "trips_csv": ("trips", "weight", "min_distance_m", "vehicles_per_trip"),
    "devices": ("evs", "batteries", "dr"),
}
#: Solver flags whose option has another name (``--objective`` is the traffic problem's).
_OPTION_OF_FLAG = {"qaoa_objective": "objective"}
#: Solver flags that are not options of one solver's table entry.
_SOLVER_FLAG_OWNERS: dict[str, tuple[str, ...]] = {"backend_option": ("qaoa",), "project_id": ("qaoa",)}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _given_flags(argv: list[str] | None) -> set[str]:
    """The ``dest`` of every ``cityopt run`` flag on the command line (abbreviations resolved as argparse does)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = sub.choices["run"]._option_string_actions
    given = set()
    for token in argv if argv is not None else sys.argv[1:]:
        if not token.startswith("--") or token == "--":
            continue
        name = token.split("=", 1)[0]
        hits = [name] if name in options else [o for o in options if o.startswith(name)]
        if len({options[h].dest for h in hits}) == 1:
            given.add(options[hits[0]].dest)
    return given


def check_run_args(args: argparse.Namespace) -> None:
    """Everything about ``cityopt run``'s flags that can be checked before any work or write.

    * ``--out`` names a folder that is, or can be made, writable (not ``''``, not a file);
    * every scenario flag given applies to ``--problem``, and none is replaced by
      another (``--instance`` with ``--stops-csv``, ``--trips-csv`` with ``--weight``);
    * every solver flag given is taken by one of the solvers asked for;
    * the scenario's numbers are within :data:`optimizer.runs.scenarios.LIMITS`.

    Raises InvalidInputError naming the flag and the fix.
    """
    from optimizer.errors import InvalidInputError
    from optimizer.runs.scenarios import check_scenario
    from optimizer.solve import DEFAULT_SOLVERS, SOLVERS

    check_out_folder(args.out, flag="--out")
    given = _given_flags(getattr(args, "argv", None)) - {"help", "problem", "solver", "out", "seed", "json"}
    mine = set(PROBLEM_FLAGS[args.problem])
    for dest in sorted(given & (set().union(*PROBLEM_FLAGS.values()) - mine)):
        owners = [k for k, v in PROBLEM_FLAGS.items() if dest in v]
        msg = (f"{_flag(dest)} applies to {' and '.join(owners)} problems, not {args.problem}; drop it "
               f"(see cityopt run --help)")
        raise InvalidInputError(msg)
    for source, excluded in SOURCE_EXCLUDES.items():
        if source in given:
            clash = sorted(given & set(excluded))
            if clash:
                msg = (f"{_flag(clash[0])} cannot be used with {_flag(source)}, which brings its own; "
                       f"drop one of them")
                raise InvalidInputError(msg)
    solvers = list(dict.fromkeys(args.solver or DEFAULT_SOLVERS[args.problem]))
    flags_of = {n: set(SOLVERS[n].flags) for n in solvers if n in SOLVERS}
    for dest in sorted(given - set().union(*PROBLEM_FLAGS.values()) - {"time_limit", "quiet", "verbose"}):
        takers = _SOLVER_FLAG_OWNERS.get(dest) or tuple(n for n, e in SOLVERS.items() if dest in e.flags)
        if takers and not any(n in flags_of and (dest in flags_of[n] or n in _SOLVER_FLAG_OWNERS.get(dest, ()))
                              for n in takers):
            msg = (f"{_flag(dest)} is an option of {' and '.join(takers)}, which is not among the solvers "
                   f"({' '.join(solvers)}); add it to --solver or drop the flag")
            raise InvalidInputError(msg)
    check_scenario(args.problem, {**_scenario(args), "seed": args.seed}, field=_flag)
    if getattr(args, "simulate", False):  # SUMO installed, before any work
        from optimizer.plans.simulation import check_sumo

        check_sumo()
    if args.time_limit is not None:
        from solvers.options import MAX_TIME_LIMIT_S

        if not 0 < args.time_limit <= MAX_TIME_LIMIT_S:  # NaN fails too
            msg = (f"--time-limit must be a positive number of seconds, at most {MAX_TIME_LIMIT_S:.0f} (a week), "
                   f"got {args.time_limit}")
            raise InvalidInputError(msg)


def check_out_folder(out: str, *, flag: str) -> None:
    """``out`` is a folder that exists and is writable, or can be made in a writable folder.

    Creates nothing: a refused run leaves no trace.
    """
    from optimizer.errors import InvalidInputError
    from optimizer.io import probe_writable

    if not out or not str(out).strip():
        msg = f"{flag} is empty; name the output folder, e.g. {flag} outputs"
        raise InvalidInputError(msg)
    path = Path(out).expanduser().absolute()
    if path.exists() and not path.is_dir():
        msg = f"{flag} {out!r} is a file, not a folder; choose a folder"
        raise InvalidInputError(msg)
    try:
        probe_writable(path)
    except OSError as exc:
        msg = f"{flag} {out!r} is not writable ({exc.strerror or exc}); choose a writable folder"
        raise InvalidInputError(msg) from None


def _requests(args: argparse.Namespace) -> list[Any]:
    from optimizer.errors import InvalidOptionError, UnknownSolverError
    from optimizer.runs.runner import SolverRequest
    from optimizer.solve import DEFAULT_SOLVERS, check_request, solver_entry, solver_names

    names = solver_names()
    reqs = []
    seen = set()
    for name in args.solver or DEFAULT_SOLVERS[args.problem]:
        if name not in names:
            close = difflib.get_close_matches(str(name), list(names), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = (f"unknown solver {name!r} for --solver; {hint}for {args.problem} choose from: "
                   f"{', '.join(solver_names(args.problem))}")
            raise UnknownSolverError(msg)
        if name not in solver_names(args.problem):
            msg = (f"--solver {name} does not apply to {args.problem} problems (it applies to "
                   f"{' and '.join(solver_entry(name).problems)}); for {args.problem} choose from: "
                   f"{', '.join(solver_names(args.problem))}")
            raise UnknownSolverError(msg)
        if name in seen:
            continue
        seen.add(name)
        flags = solver_entry(name).flags
        opts = {_OPTION_OF_FLAG.get(k, k): getattr(args, k) for k in flags if getattr(args, k, None) is not None}
        if name == "qaoa":
            backend_options = _backend_options(getattr(args, "backend_option", None))
            if getattr(args, "project_id", None):
                backend_options["project_id"] = args.project_id
            if backend_options:
                opts["backend_options"] = backend_options
        try:
            check_request(name, opts, args.problem, seed=args.seed, time_limit_s=args.time_limit)
        except InvalidOptionError as exc:  # name the flag the user typed, not the option it became
            bad = next((k for k in opts if f"option {k!r}" in str(exc)), None)
            bad = {v: k for k, v in _OPTION_OF_FLAG.items()}.get(bad, bad)
            if bad is None and "backend" in str(exc):
                flag = "--backend-option" if getattr(args, "backend_option", None) else "--backend"
                raise InvalidOptionError(f"{flag}: {exc}") from None
            if bad is None or bad == "backend_options":
                raise
            msg = f"{_flag(bad)}: {exc}" if "unknown option" not in str(exc) else (
                f"{_flag(bad)} does not apply to solver {name!r} on {args.problem} problems; drop it")
            raise InvalidOptionError(msg) from None
        reqs.append(SolverRequest(name, opts, time_limit_s=args.time_limit))
    return reqs


def _scenario(args: argparse.Namespace) -> dict[str, Any]:
    """The scenario's parameters from ``cityopt run``'s flags (see :mod:`optimizer.runs.scenarios`)."""
    if args.problem == "dispatch":
        return {"grid": args.grid, "units": args.units, "periods": args.periods, "levels": args.levels,
                "seed": args.seed, "day": args.day, "quantum_mw": args.quantum_mw, "balancing": args.balancing,
                "load_scale": args.load_scale, "network": args.network, "ac": args.ac, "devices": args.devices,
                "evs": args.evs, "batteries": args.batteries, "dr": args.dr, "encoding": args.encoding}
    if args.problem == "fleet":
        if args.instance:  # --vehicles left at its default: the file's
            return {"instance": args.instance, "vehicles": args.vehicles if args.vehicles != 1 else None}
        return {"city": args.city, "stops": args.stops, "vehicles": args.vehicles, "capacity": args.capacity,
                "poi": args.poi, "seed": args.seed, "stops_csv": args.stops_csv}
    return {"city": args.city, "trips": args.trips, "routes": args.routes, "seed": args.seed,
            "weight": args.weight, "min_distance_m": args.min_distance_m, "trips_csv": args.trips_csv,
            "vehicles_per_trip": args.vehicles_per_trip, "objective": args.objective, "peak": args.peak,
            "slice_min": args.slice_min, "bpr_alpha": args.bpr_alpha, "bpr_beta": args.bpr_beta}


@contextlib.contextmanager
def _naming_the_flag(args: argparse.Namespace) -> Iterator[None]:
    """Put the flag a failed input came from in front of its message (``--city: ...``), where it is missing."""
    from optimizer.errors import CityError, DemandError, DeviceError, GridError, InvalidInputError
    from optimizer.inputs.instances import InstanceFileError

    try:
        yield
    except InvalidInputError as exc:
        text = str(exc)
        flag = None
        first = re.match(r"[a-z_]+", text)
        if first and first.group(0) in PROBLEM_FLAGS[args.problem]:  # "quantum_mw=1e-09 cuts ...", "day applies ..."
            flag = _flag(first.group(0))
        elif isinstance(exc, CityError):
            flag = "--city"
        elif isinstance(exc, DeviceError):
            flag = "--devices" if getattr(args, "devices", None) else None
        elif isinstance(exc, GridError):
            flag = "--grid"
        elif isinstance(exc, InstanceFileError):
            flag = "--instance"
        elif isinstance(exc, DemandError):
            flag = next((_flag(d) for d in ("trips_csv", "stops_csv", "poi") if getattr(args, d, None)), None)
        if flag is None or text.startswith("--") or f"{flag} " in text:
            raise
        text = text.removeprefix(f"{flag.lstrip('-')}: ")
        raise type(exc)(f"{flag}: {text}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from optimizer.runs.runner import run_problem
    from optimizer.runs.scenarios import build_problem
    from optimizer.solve import check_fits

    check_run_args(args)  # every flag, before any work or write
    requests = _requests(args)
    with _naming_the_flag(args):
        prob = build_problem(args.problem, **_scenario(args))
        log.info("%r", prob)
        for req in requests:  # what needs the instance (size limits, QAOA's backend), before any solver runs
            check_fits(prob, req.name, req.options)
    records = run_problem(prob, requests, out=args.out, seed=args.seed, progress=not args.quiet,
                          simulate=getattr(args, "simulate", False), references=getattr(args, "references", False))
    _print_results(records, args)
    return 0


def _print_results(records: list[Any], args: argparse.Namespace) -> None:
    from optimizer.runs.runner import comparison_rows, format_table, verdict

    if getattr(args, "json", False):
        for r in records:
            print(json.dumps(r.summary, default=str))
        return
    print(format_table(comparison_rows(records)))
    print("verdict:", verdict(records)["text"])
    if records and records[0].out_dir is not None:
        print("outputs:", records[0].out_dir.parent)


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib
    import sys as _sys

    from optimizer.errors import InvalidInputError
    from optimizer.runs.results import ResultsDB, record_benchmarks

    ResultsDB(args.db).check_writable()  # a bad database path fails before minutes of benchmarks
    root = Path(__file__).resolve().parent.parent
    if not (root / "benchmarks" / "__main__.py").exists():
        msg = "cityopt bench needs the source checkout (its benchmarks/ folder); run it from a clone of cityopt"
        raise InvalidInputError(msg)
    if str(root) not in _sys.path:
        _sys.path.insert(0, str(root))
    bench_main = importlib.import_module("benchmarks.__main__")
    argv = ["--out", args.out] + (["--only", *args.only] if args.only else []) + (
        ["--skip-demo"] if args.skip_demo else [])
    results = bench_main.main(argv)
    n = record_benchmarks(args.db, results or {})
    print(f"{n} figures appended to table 'benchmarks' of {args.db}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from optimizer.demo import run_demo
    from optimizer.runs.scenarios import check_scenario

    check_out_folder(args.out, flag="--out")
    check_scenario("traffic", {"seed": args.seed}, field=_flag)
    run_demo(Path(args.out), seed=args.seed, quiet=args.quiet, as_json=args.json)
    return 0


# ------------------------------------------------------------ batch and report
EPILOG_BATCH = """examples:
  cityopt batch examples/city_day.yaml                       # a local Dask cluster, one worker per core
  cityopt batch examples/city_day.yaml --db results.duckdb   # another results database
  cityopt batch job.yaml --scheduler tcp://10.0.0.5:8786     # an existing Dask scheduler
re-running a job skips every run already in its database; after Ctrl-C or a crash it finishes the rest.
a second batch of the same output waits for the first, then runs only what is left.
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
                   help="seconds to wait for --scheduler to answer, > 0 (default 10)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local cluster workers, one thread each, 1 to 64 (default: one per core, at most 8)")
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
    p.add_argument("--outputs", metavar="DIR", help="the folder holding live/ and forecast/ for their sections "
                                                     "(default: the database's folder)")
    return p


EPILOG_SENSORS = """\
examples:
  cityopt sensors simulate --city helsinki --days 3 --seed 1 --out outputs/sensors
  cityopt sensors simulate --city map.osm.pbf --sensors loops.csv --days 5 --format parquet --out stream
  cityopt sensors read stream/readings.csv stream/sensors.csv --city helsinki --out checked
  cityopt sensors read d_2026_03_02.csv stations.json --format lam --constants sensor-constants.json --out lam
  cityopt sensors fit-od --sensors replay:helsinki --city helsinki --trips 1500 --out od_fit

readings: time, sensor_id, flow_vph, speed_kph, occupancy_pct, quality (CSV or Parquet)
sensors:  sensor_id, lon, lat, and bearing_deg or osm_way_id
"""


def add_sensors_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sensors`` (``simulate``, ``read``) to ``cityopt``'s subparsers."""
    p = subparsers.add_parser(
        "sensors", help="street sensors: simulate a detector stream in SUMO, or read and check one",
        description="Detector readings in one long table (time, sensor_id, flow_vph, speed_kph, occupancy_pct, "
                    "quality) beside a sensors table. 'simulate' runs SUMO with induction loops over several "
                    "mornings; 'read' checks, flags and snaps a stream in cityopt's format or a public one.",
        epilog=EPILOG_SENSORS, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="sensors_command", metavar="ACTION", required=True)
    sim = sub.add_parser("simulate", help="a sensor stream from a SUMO digital twin of the city",
                         epilog=EPILOG_SENSORS, formatter_class=argparse.RawDescriptionHelpFormatter)
    sim.add_argument("--city", default="helsinki",
                     help="bundled city name, an .osm/.osm.bz2/.osm.pbf file, or 'Place, Country' (online)")
    sim.add_argument("--sensors", metavar="SENSORS.csv",
                     help="where the loops are (sensor_id and u,v,key, or osm_way_id, or lon,lat[,bearing_deg]); "
                          "default: the --busiest segments")
    sim.add_argument("--busiest", type=int, default=20, metavar="N", help="loops on the N busiest segments (default 20)")
    sim.add_argument("--days", type=int, default=3, help="mornings to simulate, one SUMO run each (default 3)")
    sim.add_argument("--seed", type=int, default=1, help="seed of the demand, SUMO and the noise (default 1)")
    sim.add_argument("--vehicles-per-day", type=int, default=8000, help="vehicles on an average Monday (default 8000)")
    sim.add_argument("--interval-min", type=int, default=5, help="aggregation interval in minutes (default 5)")
    sim.add_argument("--window", default="06:00-10:00", help="local clock window each day (default 06:00-10:00)")
    sim.add_argument("--start-date", default="2026-03-02", help="first day, ISO date (default a Monday, 2026-03-02)")
    sim.add_argument("--tz", help="IANA zone of the local clock, e.g. Europe/Helsinki (default: from the longitude)")
    sim.add_argument("--no-noise", action="store_true", help="exact loop values: no noise, no dropouts")
    sim.add_argument("--format", choices=["csv", "csv.gz", "parquet"], default="csv", help="readings file format")
    sim.add_argument("--out", required=True, help="output folder: readings.<format>, sensors.csv, twin.json")
    rd = sub.add_parser("read", help="read, check, flag and snap a sensor stream (cityopt, Digitraffic LAM, PeMS)",
                        epilog=EPILOG_SENSORS, formatter_class=argparse.RawDescriptionHelpFormatter)
    rd.add_argument("readings", nargs="+", metavar="READINGS",
                    help="the readings file (cityopt), LAM raw file(s) (lam) or PeMS 5-minute file(s) (pems); "
                         "the last path given is the sensors file")
    rd.add_argument("--format", choices=["cityopt", "lam", "pems"], default="cityopt", help="input format")
    rd.add_argument("--city", help="snap the sensors onto this city's road graph (default: no snapping)")
    rd.add_argument("--tz", help="zone of times without an offset (cityopt), or of the files' clock (lam/pems)")
    rd.add_argument("--constants", metavar="JSON", help="lam: Digitraffic sensor-constants JSON (road directions)")
    rd.add_argument("--unknown-sensors", choices=["flag", "error"], default="flag",
                    help="readings of sensors not in the sensors table: flag them (default) or refuse")
    rd.add_argument("--out", required=True, help="output folder: readings.csv, sensors.csv, sensors_summary.json")
    od = sub.add_parser("fit-od", help="origin-destination demand fitted to the counts, judged by GEH",
                        epilog=EPILOG_SENSORS, formatter_class=argparse.RawDescriptionHelpFormatter)
    od.add_argument("--sensors", required=True, metavar="DIR", help="a sensor stream folder, or replay:NAME")
    od.add_argument("--city", default="helsinki", help="the road graph the sensors sit on (default helsinki)")
    od.add_argument("--trips", type=int, default=2000, help="origin-destination pairs sampled as the prior (default 2000)")
    od.add_argument("--prior-vehicles", type=float, help="scale the prior to this many vehicles (default: as sampled)")
    od.add_argument("--assignment", choices=["shortest", "split"], default="shortest",
                    help="route flows to counts: all-or-nothing shortest paths, or a logit over k routes")
    od.add_argument("--tz", help="zone of the local hours (default: the stream's twin.json, else UTC)")
    od.add_argument("--seed", type=int, default=1, help="seed of the prior's sample (default 1)")
    od.add_argument("--out", required=True, help="output folder: od/trips.csv, od/geh.csv, od/summary.json")
    return p


def _check_out_dir(out: str, flag: str = "--out") -> Path:
    """An output folder that can be one: not empty, not a file (nothing is written here)."""
    from optimizer.errors import InvalidInputError

    if not out or not out.strip():
        msg = f"{flag} must name a folder, got {out!r}"
        raise InvalidInputError(msg)
    path = Path(out)
    if path.exists() and not path.is_dir():
        msg = f"{flag} {out!r} is a file; give a folder"
        raise InvalidInputError(msg)
    return path


def cmd_sensors(args: argparse.Namespace) -> int:
    from optimizer.errors import InvalidInputError
    from optimizer.io import atomic_write_json

    out = _check_out_dir(args.out)
    if args.sensors_command == "simulate":
        from optimizer.sensing.twin import SensorNoise, simulate_sensors, write_sensor_stream

        start, sep, end = args.window.partition("-")
        if not sep:
            msg = f"--window takes HH:MM-HH:MM, got {args.window!r}"
            raise InvalidInputError(msg)
        for flag, value, low in (("--days", args.days, 1), ("--busiest", args.busiest, 1),
                                 ("--vehicles-per-day", args.vehicles_per_day, 1), ("--interval-min", args.interval_min, 1)):
            if value < low:
                msg = f"{flag} must be >= {low}, got {value}"
                raise InvalidInputError(msg)
        readings, sensors = simulate_sensors(
            args.city, sensors=args.sensors, n_busiest=args.busiest, days=args.days, seed=args.seed,
            interval_min=args.interval_min, start=start, end=end, vehicles_per_day=args.vehicles_per_day,
            start_date=args.start_date, tz=args.tz, noise=None if args.no_noise else SensorNoise())
        files = write_sensor_stream(out, readings, sensors, fmt=args.format)
        print(f"{len(readings)} readings of {len(sensors)} sensors over {args.days} days: "
              + ", ".join(str(f) for f in files.values()))
        return 0
    if args.sensors_command == "fit-od":
        from optimizer.sensing.odfit import fit_demand
        from optimizer.sensing.readings import Sensors

        if args.trips < 1 or (args.prior_vehicles is not None and not args.prior_vehicles > 0):
            msg = "--trips must be >= 1 and --prior-vehicles > 0"
            raise InvalidInputError(msg)
        readings, sensors, tz = load_stream(args.sensors)
        stream = Sensors.from_frames(readings, sensors)
        fit = fit_demand(stream, args.city, trips=args.trips,
                         prior=args.prior_vehicles if args.prior_vehicles is not None else "trips",
                         tz=args.tz or tz, assignment=args.assignment, seed=args.seed)
        fit.write(out)
        sm = fit.summary()
        print(json.dumps({k: v for k, v in sm.items() if not isinstance(v, (dict, list))}, default=str))
        print(f"outputs: {out / 'od'}")
        return 0
    from optimizer.sensing.formats import read_sensors

    if len(args.readings) < 2:
        msg = "sensors read takes the readings file(s) and then the sensors file"
        raise InvalidInputError(msg)
    *paths, sensors_path = args.readings
    stream = read_sensors(paths if args.format != "cityopt" else paths[0], sensors_path, format=args.format,
                          city=args.city, tz=args.tz, constants_path=args.constants,
                          unknown_sensors=args.unknown_sensors)
    if args.format == "cityopt" and len(paths) > 1:
        msg = "--format cityopt reads one readings file; give the readings file and then the sensors file"
        raise InvalidInputError(msg)
    summary = stream.summary()
    stream.write(out / "readings.csv", out / "sensors.csv")
    atomic_write_json(out / "sensors_summary.json", summary)
    print(repr(stream))
    print(f"outputs: {out}")
    return 0


EPILOG_FORECAST = """\
examples:
  cityopt forecast --sensors replay:helsinki --out outputs/forecast_helsinki
  cityopt forecast --sensors outputs/sensors --horizons 15,30,60 --models persistence historical gbt --out f

--sensors is a folder with readings.csv (or .csv.gz, .parquet) and sensors.csv, as `cityopt sensors simulate`
or `cityopt sensors read` write them, or replay:NAME for a shipped replay (replay:helsinki).
"""


def add_forecast_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``forecast`` to ``cityopt``'s subparsers."""
    from optimizer.sensing.forecast import MODELS

    p = subparsers.add_parser(
        "forecast", help="forecast each sensor's flow and speed 15/30/60 min ahead; four models on held-out days",
        description="Train persistence, the historical average, gradient-boosted trees and quantum-kernel ridge "
                    "regression on the first days of a sensor stream, score them on the held-out days (MAE, RMSE, "
                    "MAPE per horizon) and name the winner, also when the quantum model loses.",
        epilog=EPILOG_FORECAST, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensors", required=True, metavar="DIR", help="a sensor stream folder, or replay:NAME")
    p.add_argument("--horizons", default="15,30,60", help="minutes ahead, comma-separated (default 15,30,60)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="models (default all)")
    p.add_argument("--test-days", type=int, help="held-out days at the end (default: a third, at least one)")
    p.add_argument("--tz", help="zone of the local days (default: the stream's twin.json, else UTC)")
    p.add_argument("--seed", type=int, default=0, help="seed of the models' subsamples (default 0)")
    p.add_argument("--out", required=True, help="output folder: forecast/metrics.csv, forecast/verdict.json")
    return p


def load_stream(spec: str, flag: str = "--sensors") -> tuple[Any, Any, str | None]:
    """``(readings, sensors, tz)`` of a stream folder or ``replay:NAME`` (one clear error otherwise)."""
    from optimizer.errors import SensorDataError
    from optimizer.sensing.readings import Sensors
    from optimizer.sensing.twin import load_replay

    if spec.startswith("replay:"):
        import city_data

        name = spec.split(":", 1)[1]
        readings, sensors = load_replay(name)  # an unknown name is its own clear error
        meta = Path(city_data.find_replay(name).path()) / "twin.json"
        tz = json.loads(meta.read_text()).get("tz") if meta.exists() else None
        return readings, sensors, tz
    folder = Path(spec)
    if not folder.is_dir():
        msg = f"{flag} {spec!r} is not a folder; give the folder `cityopt sensors simulate` wrote, or replay:helsinki"
        raise SensorDataError(msg)
    found = [folder / f"readings.{x}" for x in ("csv", "csv.gz", "parquet") if (folder / f"readings.{x}").exists()]
    if not found or not (folder / "sensors.csv").exists():
        msg = (f"{flag} {spec!r} holds no readings.csv (.csv.gz, .parquet) and sensors.csv; write them with "
               f"`cityopt sensors simulate` or `cityopt sensors read`")
        raise SensorDataError(msg)
    stream = Sensors.read(found[0], folder / "sensors.csv")
    meta = folder / "twin.json"
    tz = json.loads(meta.read_text()).get("tz") if meta.exists() else None
    return stream.readings, stream.sensors, tz


def _horizons(text: str) -> tuple[float, ...]:
    from optimizer.errors import InvalidInputError

    try:
        out = tuple(float(h) for h in text.split(",") if h.strip())
    except ValueError:
        out = ()
    if not out or any(not math.isfinite(h) or h <= 0 for h in out):
        msg = f"--horizons takes positive minutes separated by commas, e.g. 15,30,60; got {text!r}"
        raise InvalidInputError(msg)
    return out


def cmd_forecast(args: argparse.Namespace) -> int:
    from optimizer.sensing.forecast import evaluate, write_forecast

    out = _check_out_dir(args.out)
    horizons = _horizons(args.horizons)
    readings, _, tz = load_stream(args.sensors)
    metrics, verdict, predictions = evaluate(readings, horizons, models=args.models, test_days=args.test_days,
                                             tz=args.tz or tz or "UTC", seed=args.seed, return_predictions=True)
    folder = write_forecast(out, metrics, verdict, predictions)
    cols = [c for c in ("target", "horizon_min", "model", "mae", "rmse", "mape") if c in metrics.columns]
    print(metrics[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("verdict:", verdict.get("statement", verdict.get("winner")))
    print(f"outputs: {folder}")
    return 0


EPILOG_LIVE = """\
examples:
  cityopt live --city helsinki --hours 0.5 --solver cpsat --out outputs/live
  cityopt live --city helsinki --sensors replay:helsinki --trips 750 --solver cpsat anneal decompose --out live
  cityopt live --city map.osm.pbf --step-min 5 --horizon-min 15 --solver cpsat --out live

every strategy gets the same vehicles, departures and SUMO seed: none (everyone keeps the free-flow shortest
path), sumo-rerouting (SUMO's own rerouting device, every vehicle, period = the step) and cityopt-<solver>.
Each solver spends a fixed work per step (not a share of the clock), so a run gives the same plans on a busy
machine as on an idle one; live/timeline.csv gives each step's solver_work and what ended the search.
"""


#: ``cityopt live``'s defaults for the forecast and the staggering (see benchmarks/bench_live.py).
LIVE_FORECAST = "persistence"
LIVE_MIN_GAIN_S = 0.0
LIVE_REROUTE_SHARE = 0.5


def add_live_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``live`` to ``cityopt``'s subparsers."""
    p = subparsers.add_parser(
        "live", help="the closed loop in SUMO: read detectors, forecast, re-route every few minutes",
        description="Run a morning in SUMO (libsumo) and, every step, read the detectors, forecast the next "
                    "horizon and re-optimise the routes of the vehicles still on the road with each solver; "
                    "compare with no re-routing and with SUMO's own rerouting device.",
        epilog=EPILOG_LIVE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--city", default="helsinki",
                   help="bundled city name, an .osm/.osm.bz2/.osm.pbf file, or 'Place, Country' (online)")
    p.add_argument("--sensors", metavar="DIR", help="detectors where a stream's sensors sit (a folder or "
                                                    "replay:NAME); default: the --detectors busiest segments")
    p.add_argument("--detectors", type=int, default=20, help="loops on the N busiest segments (default 20)")
    p.add_argument("--trips", type=int, default=300, help="origin-destination pairs sampled (default 300)")
    p.add_argument("--vehicles-per-trip", type=int, default=4, help="vehicles on each pair (default 4)")
    p.add_argument("--peak", default="07:00", help="start of the departures' peak, HH:MM (default 07:00)")
    p.add_argument("--hours", type=float, default=1.0, help="simulated hours of departures (default 1)")
    p.add_argument("--step-min", type=float, default=5.0, help="control step, simulated minutes (default 5)")
    p.add_argument("--horizon-min", type=float, default=15.0, help="forecast horizon, minutes (default 15)")
    p.add_argument("--solver", nargs="+", default=["cpsat"], help="one cityopt strategy per solver (default cpsat)")
    p.add_argument("--routes", type=int, default=3, help="alternative routes per vehicle (default 3)")
    p.add_argument("--time-limit", type=float,
                   help="wall-clock guard per solve at each step, seconds (default: a third of the step); the "
                        "solvers spend a fixed work per step, so the plans do not depend on the machine's load")
    p.add_argument("--work-scale", type=float, default=1.0, metavar="F",
                   help="each solver's work per step (CP-SAT deterministic seconds, annealing sweeps, decompose's "
                        "inner solves) times F (default 1: about 10 s a step on 2 cores)")
    p.add_argument("--seed", type=int, default=1, help="seed of the demand, SUMO and the solvers (default 1)")
    p.add_argument("--forecast", default=LIVE_FORECAST, metavar="{persistence,historical,gbt}",
                   help="the speed forecast the optimiser sees per segment and slice: persistence, or a model "
                        "fitted on the --sensors stream's readings (default: the city's shipped replay) "
                        f"(default {LIVE_FORECAST})")
    p.add_argument("--min-gain", type=float, default=LIVE_MIN_GAIN_S, metavar="S",
                   help=f"move a vehicle only when its new route saves it S seconds (default {LIVE_MIN_GAIN_S:g})")
    p.add_argument("--reroute-share", type=float, default=LIVE_REROUTE_SHARE, metavar="F",
                   help=f"move at most this share of the vehicles the solver would move each step, the largest "
                        f"savings first (default {LIVE_REROUTE_SHARE:g})")
    p.add_argument("--out", required=True, help="output folder: live/timeline.csv, live/summary.json, "
                                                "segments.csv, segment_loads.geojson, sensors.csv")
    return p


def cmd_live(args: argparse.Namespace) -> int:
    from optimizer.runs.live import live

    out = _check_out_dir(args.out)
    sensors = None
    if args.sensors:
        readings, table, tz = load_stream(args.sensors)
        sensors = table
        if args.forecast != "persistence":
            from types import SimpleNamespace

            sensors = SimpleNamespace(readings=readings, sensors=table, tz=tz or "UTC")
    res = live(args.city, trips=args.trips, vehicles_per_trip=args.vehicles_per_trip, peak=args.peak,
               hours=args.hours, step_min=args.step_min, horizon_min=args.horizon_min, solvers=tuple(args.solver),
               seed=args.seed, sensors=sensors, detectors=args.detectors, routes=args.routes,
               time_limit_s=args.time_limit, out=out, forecast=args.forecast, min_gain_s=args.min_gain,
               reroute_share=args.reroute_share, work_scale=args.work_scale)
    print("\n".join(res.lines()))
    v = res.verdict
    words = f"best: {v['best']}"
    if "cityopt_beats_sumo_rerouting" in v:
        words += (f"; {v['best_cityopt']} {'beats' if v['cityopt_beats_sumo_rerouting'] else 'does not beat'} "
                  "SUMO's own rerouting")
    print("verdict:", words)
    print(f"outputs: {out / 'live'}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    """``cityopt batch``: check the flags and the job, run it, optionally write the report."""
    from optimizer.runs.jobs import check_batch_options, load_job, run_job

    check_batch_options(args.workers, args.scheduler_timeout, scheduler=args.scheduler,
                        names=("--workers", "--scheduler-timeout", "--scheduler"))
    if not getattr(args, "verbose", False):  # Dask logs every cluster start and stop at INFO
        import distributed  # noqa: F401  (its import sets its loggers' levels: set ours after)

        for name in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.WARNING)
    job = load_job(args.job, database=args.db)
    if args.report is not None:
        from optimizer.report.html import check_report_path

        check_report_path(args.report, field="--report")  # before the batch, not after it
    result = run_job(job, scheduler=args.scheduler, scheduler_timeout_s=args.scheduler_timeout,
                     n_workers=args.workers, progress=False if args.no_progress else None)
    if args.report:
        from optimizer.report.html import write_report

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
    """``cityopt report``: the HTML report of a results database (the database and --out checked first)."""
    from optimizer.report.html import check_report_path, write_report
    from optimizer.runs.results import ResultsDatabaseError

    db = Path(args.db)
    if not db.is_file():
        what = "is a folder, not" if db.is_dir() else "does not exist; it is not"
        msg = f"{args.db!r} {what} a results database; give the .duckdb file a batch wrote (cityopt batch JOB.yaml)"
        raise ResultsDatabaseError(msg)
    check_report_path(args.out, field="--out")
    out = write_report(db, Path(args.out), title=args.title, outputs=args.outputs)
    print(f"report: {out}")  # the result: printed with --quiet too
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cityopt`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.version:
        from optimizer import __version__

        print(f"cityopt {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from optimizer.demo import quiet_libraries

    quiet_libraries(level)
    from optimizer.errors import BackendUnavailableError, CityoptError, InvalidInputError

    try:
        return {"run": cmd_run, "demo": cmd_demo, "batch": cmd_batch, "report": cmd_report,
                "bench": cmd_bench, "sensors": cmd_sensors,
                "forecast": cmd_forecast, "live": cmd_live}[args.command](args)
    except (InvalidInputError, BackendUnavailableError) as e:  # the user can fix both
        print(f"cityopt: error: {e}", file=sys.stderr)
        return 2
    except CityoptError as e:
        print(f"cityopt: failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cityopt: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # the machine's fault (a full disk, a lost mount), not the input's: one line, exit 1
        where = f" ({e.filename})" if e.filename else ""
        print(f"cityopt: failed: {e.strerror or e}{where}; free space or choose another output folder, "
              f"then run again (finished runs are kept)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
