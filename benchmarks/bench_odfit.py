"""OD estimation benchmark: demand fitted to the shipped Helsinki sensor replay, judged by GEH.

The replay (``city_data/replays/helsinki``: 18 loops, 5 mornings 06:00-10:00,
made by the SUMO twin from 8000 one-vehicle trips a day, weighted by points of
interest) is fitted from several priors, some near the twin's own demand and
some far from it (too few pairs, the wrong peak, half the vehicles, no
weights).  For each: the share of detector-hours with GEH < 5 before (the prior)
and after the fit, RMSE, OD pairs seen, wall time.  Then the fit is judged on
counts it never saw: six of the 18 sensors held out, and Thursday-Friday held
out of a fit on Monday-Wednesday.

Run: ``python -m benchmarks.bench_odfit [--out outputs/bench_odfit.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

TZ = "Europe/Helsinki"


def _priors() -> list[tuple[str, dict[str, Any]]]:
    from optimizer.inputs.peak import Peak

    window = Peak(6 * 3600, 10 * 3600)
    return [
        ("8000 trips (pois), 06-10: the twin's own recipe", {"trips": 8000, "peak": window}),
        ("1500 pairs (pois) scaled to 8000, 06-10", {"trips": 1500, "prior": 8000, "peak": window}),
        ("300 pairs (pois) scaled to 8000, 06-10", {"trips": 300, "prior": 8000, "peak": window}),
        ("8000 trips, the default 07-09 peak", {"trips": 8000}),
        ("8000 trips with no weights, 06-10", {"trips": 8000, "weight": None, "peak": window}),
        ("4000 trips (half the demand), 06-10", {"trips": 4000, "peak": window}),
        ("2000 pairs scaled to 8000, split over 3 routes", {"trips": 2000, "prior": 8000, "peak": window,
                                                            "assignment": "split"}),
    ]


def _share(g: Any) -> float:
    return float((g["geh"] < 5).mean())


def _rmse(g: Any) -> float:
    return float(np.sqrt(((g["model_vph"] - g["count_vph"]) ** 2).mean()))


def bench_odfit(*, held_sensors: int = 6, seed: int = 0) -> dict[str, Any]:
    from optimizer.inputs.city import City
    from optimizer.sensing.odfit import fit_demand, geh_table
    from optimizer.sensing.readings import Sensors
    from optimizer.sensing.twin import load_replay

    city = City.load("helsinki")
    r, s = load_replay("helsinki")
    full = Sensors.from_frames(r, s, city=city)
    fits = []
    for name, kw in _priors():
        t = time.perf_counter()
        f = fit_demand(full, city, tz=TZ, **kw)
        out = f.summary()
        out.update({"prior_name": name, "wall_s": time.perf_counter() - t})
        fits.append(out)
    rng = np.random.default_rng(seed)
    held = {str(x) for x in rng.choice(sorted(s["sensor_id"]), held_sensors, replace=False)}
    days = r["time"].dt.tz_convert(TZ).dt.date.astype(str)
    first = days.isin(sorted(set(days))[:3])
    splits = {
        f"{held_sensors} of {len(s)} sensors held out": (
            Sensors.from_frames(r[~r.sensor_id.isin(held)], s[~s.sensor_id.isin(held)], city=city),
            Sensors.from_frames(r[r.sensor_id.isin(held)], s[s.sensor_id.isin(held)], city=city)),
        "last 2 days held out (fit on the first 3)": (
            Sensors.from_frames(r[first], s, city=city), Sensors.from_frames(r[~first], s, city=city)),
    }
    held_out = []
    for name, kw in _priors()[1:5]:
        for label, (fit_on, judge_on) in splits.items():
            f = fit_demand(fit_on, city, tz=TZ, **kw)
            prior = f.flows.assign(depart_s=f.flows["hour"] * 3600.0, vehicles=f.flows["prior_vph"])
            g0 = geh_table(judge_on, city, prior[prior["vehicles"] > 0], tz=TZ)
            g1 = geh_table(judge_on, city, f.trips, tz=TZ)
            held_out.append({"prior_name": name, "held_out": label, "share_geh_below_5_prior": _share(g0),
                             "share_geh_below_5_fitted": _share(g1), "rmse_vph_prior": _rmse(g0),
                             "rmse_vph_fitted": _rmse(g1)})
    return {"replay": "helsinki", "held_sensors": sorted(held), "fits": fits, "held_out": held_out}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_odfit", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/bench_odfit.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    res = bench_odfit()
    print("prior | OD pairs (seen) | GEH<5 before -> after | RMSE veh/h before -> after | wall s")
    for f in res["fits"]:
        print(f"{f['prior_name']} | {f['od_pairs']} ({f['od_pairs_observed']}) | "
              f"{f['share_geh_below_5_before']:.3f} -> {f['share_geh_below_5_after']:.3f} | "
              f"{f['rmse_vph_before']:.1f} -> {f['rmse_vph_after']:.1f} | {f['wall_s']:.1f}")
    print("\nprior | held out | GEH<5 prior -> fitted | RMSE veh/h prior -> fitted")
    for h in res["held_out"]:
        print(f"{h['prior_name']} | {h['held_out']} | {h['share_geh_below_5_prior']:.3f} -> "
              f"{h['share_geh_below_5_fitted']:.3f} | {h['rmse_vph_prior']:.1f} -> {h['rmse_vph_fitted']:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str))
    return res


if __name__ == "__main__":
    main()
