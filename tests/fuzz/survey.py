"""Run the whole fuzz catalogue, each case in its own subprocess, and count the outcomes by category.

    python -m tests.fuzz.survey [--python PATH] [--pythonpath DIR] [--only GROUP|ID-PREFIX ...]
                                [--jobs N] [--timeout S] [--json OUT]

``--pythonpath`` is the checkout whose ``optimizer`` runs (default: this one),
so the same catalogue surveys an old commit: make a worktree of it and point
``--pythonpath`` there.  Cases whose flags that commit lacks classify as
whatever it does with them.

Prints the counts (tried / clean / weak / traceback / partial / silently
accepted / valid refused) in all and by input category, with how many cases
wrote outside their working folder and how many deleted or changed a file they
did not write, and writes every case's outcome as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fuzz.cases import Case, all_cases
from tests.fuzz.classify import CATEGORIES, classify
from tests.fuzz.sandbox import run_subprocess

__all__ = ["main", "table"]

HEADERS = {"clean": "clean", "weak": "weak", "traceback": "traceback", "partial": "partial",
           "accepted": "silently accepted", "refused": "valid refused",
           "escaped": "wrote outside its folder", "damaged": "deleted/changed a file it did not write"}


def _one(case: Case, python: str, pythonpath: list[str], timeout_s: float) -> dict[str, Any]:
    out, _ = run_subprocess(case, python=python, pythonpath=pythonpath, timeout_s=timeout_s)
    verdict = classify(case, out)
    return {
        "id": case.id, "group": case.group, "argv": list(case.argv), "files": sorted(case.files),
        "expect": [list(e) if not isinstance(e, str) else e for e in case.expect], "succeed": case.succeed,
        "contained": case.contained, "category": verdict.category, "reason": verdict.reason,
        "message": verdict.message, "rc": out.rc, "timed_out": out.timed_out, "seconds": round(out.seconds, 2),
        "written": out.written[:20], "outside_out": out.outside_out[:20], "escaped": out.escaped[:20],
        "network": out.network[:5], "stdout_tail": out.stdout[-1500:], "stderr_tail": out.stderr[-3000:],
    }


def table(results: list[dict[str, Any]]) -> str:
    """The counts as a Markdown table: all, then each input category."""
    groups = sorted({r["group"] for r in results})
    cols = ["tried", *CATEGORIES, "escaped", "damaged"]
    head = "| category | " + " | ".join(HEADERS.get(c, c) for c in cols) + " |"
    sep = "|" + "---|" * (len(cols) + 1)
    rows = [head, sep]
    for name, rs in [("**all**", results)] + [(g, [r for r in results if r["group"] == g]) for g in groups]:
        n = Counter(r["category"] for r in rs)
        esc = sum(1 for r in rs if r.get("escaped"))
        dmg = sum(1 for r in rs if any(p.endswith((" (deleted)", " (changed)")) for p in r.get("outside_out", [])))
        rows.append(f"| {name} | {len(rs)} | " + " | ".join(str(n.get(c, 0)) for c in CATEGORIES)
                    + f" | {esc} | {dmg} |")
    return "\n".join(rows)


def status_md(results: list[dict[str, Any]], title: str) -> str:
    """Every case that is not clean, with its command line, reason and output: a to-do list in Markdown."""
    lines = [f"# {title}", "", table(results), ""]
    for cat in CATEGORIES[1:]:
        rs = [r for r in results if r["category"] == cat]
        if not rs:
            continue
        lines += [f"## {HEADERS[cat]} ({len(rs)})", ""]
        for r in rs:
            files = f" (files: {', '.join(r['files'])})" if r["files"] else ""
            lines.append(f"- **{r['id']}**: {r['reason']}")
            lines.append(f"  - `cityopt {' '.join(_quote(a) for a in r['argv'])}`{files}; rc {r['rc']}")
            tail = [ln for ln in r["stderr_tail"].splitlines() if ln.strip() and not ln.startswith("INFO ")][-4:]
            if tail:
                lines.append("  - stderr: `" + " / ".join(t.strip()[:300] for t in tail).replace("`", "'") + "`")
        lines.append("")
    return "\n".join(lines) + "\n"


def _quote(a: str) -> str:
    import shlex

    return shlex.quote(a)


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[2]
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.survey", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=sys.executable, help="the interpreter (with cityopt's dependencies)")
    p.add_argument("--pythonpath", default=str(here), help="the checkout to survey (default: this one)")
    p.add_argument("--only", nargs="+", help="input categories or case-id prefixes to run")
    p.add_argument("--jobs", type=int, default=1, help="cases at once (default 1)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    p.add_argument("--json", metavar="OUT", help="write every case's outcome here")
    p.add_argument("--merge-into", metavar="JSON", help="replace these cases' outcomes in an earlier survey's JSON "
                   "(written back there, and the table is of the whole merged survey)")
    p.add_argument("--status", metavar="MD", help="also write every non-clean case, with its output, as Markdown")
    p.add_argument("--from-json", metavar="JSON", help="run nothing: table (and --status) of an earlier survey")
    p.add_argument("--quiet", action="store_true", help="no line per case")
    a = p.parse_args(argv)
    if a.from_json:
        data = json.loads(Path(a.from_json).read_text())
        print(table(data["cases"]))
        if a.status:
            Path(a.status).write_text(status_md(data["cases"], f"fuzz survey of {data['pythonpath']}"))
        return 0
    cases = all_cases()
    if a.only:
        cases = [c for c in cases if c.group in a.only or any(c.id.startswith(o) for o in a.only)]
    t0 = time.monotonic()
    results: list[dict[str, Any]] = []
    with cf.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futs = {pool.submit(_one, c, a.python, [a.pythonpath], a.timeout): c for c in cases}
        for fut in cf.as_completed(futs):
            r = fut.result()
            results.append(r)
            if not a.quiet:
                print(f"[{len(results)}/{len(cases)}] {r['category']:<9} {r['seconds']:6.1f}s {r['id']}: "
                      f"{r['reason'][:120]}", file=sys.stderr, flush=True)
    if a.merge_into:
        earlier = json.loads(Path(a.merge_into).read_text())["cases"]
        fresh = {r["id"] for r in results}
        results += [r for r in earlier if r["id"] not in fresh]
        a.json = a.json or a.merge_into
    order = {c.id: i for i, c in enumerate(all_cases())}
    results = [r for r in results if r["id"] in order]
    results.sort(key=lambda r: order[r["id"]])
    print(table(results))
    print(f"\n{len(results)} cases in {time.monotonic() - t0:.0f} s against {a.pythonpath}")
    if a.status:
        Path(a.status).write_text(status_md(results, f"fuzz survey of {a.pythonpath}"))
    if a.json:
        Path(a.json).write_text(json.dumps({"pythonpath": a.pythonpath, "python": a.python, "cases": results},
                                           indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
