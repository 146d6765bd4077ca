"""Sort one fuzz case's outcome into the issue's categories.

``clean``
    exit 2; stderr (log lines aside) exactly one non-empty line starting
    ``cityopt: error:`` that names what the case expects; no traceback; nothing
    written, changed or deleted anywhere in the watched folder (the case's
    working and output folders and everything around its temporary root) but
    the case's own input files.  An argparse usage error (``usage: ...`` then
    ``cityopt run: error: argument --x: ...``) counts as one line: the standard
    form, naming the flag.
``weak``
    exit 2 and nothing written, but the message is not one line, does not name
    the field, shows a library's internal text (``KeyError``, pandapower,
    DuckDB...), or the case tried to reach the network.
``traceback``
    a ``Traceback`` in the output, an exit code other than 0 and 2, or a hang
    past the time limit.
``partial``
    exit 2 but something was left written (or an input changed or deleted).
``accepted``
    exit 0 for a bad input ("silently accepted").
``refused``
    a valid input (``succeed`` cases) refused with exit 2.

A ``succeed`` case is ``clean`` when it exits 0 writing only under ``out/``; a
``contained`` case when it refuses cleanly or exits 0 writing only under ``out/``.

>>> from tests.fuzz.cases import Case
>>> c = Case("x/y", "cli-traffic", ("run",), expect=(("--routes", "routes"),))
>>> classify(c, Outcome(rc=2, stdout="", stderr="cityopt: error: --routes must be <= 20\\n")).category
'clean'
>>> classify(c, Outcome(rc=2, stdout="", stderr="cityopt: error: KeyError: 'x'\\n")).category
'weak'
>>> classify(c, Outcome(rc=1, stdout="", stderr="Traceback (most recent call last):\\n...")).category
'traceback'
>>> classify(c, Outcome(rc=2, stdout="", stderr="cityopt: error: --routes\\n", written=["out/x"])).category
'partial'
>>> classify(c, Outcome(rc=0, stdout="ok", stderr="")).category
'accepted'
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.fuzz.cases import Case

__all__ = ["CATEGORIES", "Outcome", "Verdict", "classify", "error_lines"]

CATEGORIES = ("clean", "weak", "traceback", "partial", "accepted", "refused")

#: The CLI's own log format (``logging.basicConfig`` in optimizer.cli): not part of the error.
_LOG = re.compile(r"^(DEBUG|INFO|WARNING) [\w.\-]+: ")
#: A Python warning (``file.py:12: FutureWarning: ...``) and its source line.
_PYWARN = re.compile(r"^\S+:\d+: \w*Warning: ")
#: argparse's error: ``cityopt run: error: argument --x: ...``
_ARGPARSE = re.compile(r"^cityopt(?: \w+)?: error: ")
#: A library's internal text in a user-facing message.
_INTERNAL = re.compile(
    r"\b(KeyError|IndexError|TypeError|AttributeError|ValueError|UnicodeDecodeError|JSONDecodeError|"
    r"ZeroDivisionError|OverflowError|AssertionError|RuntimeError|NotImplementedError|"
    r"Catalog Error|Binder Error|Parser Error|IO Error|Serialization Error|InvalidInputException|"
    r"DeserializationNotAllowed|HTTPSConnectionPool|Max retries exceeded|"
    r"_duckdb|duckdb\.duckdb|errors\.pydantic|"
    r"object has no attribute|unhashable type|not subscriptable|invalid literal for)\b"
)
NETWORK_MARKER = "CITYOPT-FUZZ-NETWORK:"


@dataclass
class Outcome:
    """What one run of a case did."""

    rc: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    written: list[str] = field(default_factory=list)  # added, changed or deleted paths (relative to the guard)
    outside_out: list[str] = field(default_factory=list)  # of those, not under the case's out/ folder
    escaped: list[str] = field(default_factory=list)  # of those, outside the case's working folder
    network: list[str] = field(default_factory=list)  # hosts it tried to reach
    seconds: float = 0.0


@dataclass
class Verdict:
    category: str
    reason: str
    message: str = ""
    outcome: Outcome | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d


def error_lines(stderr: str) -> tuple[list[str], list[str]]:
    """(the lines that make the error, the log and warning lines set aside)."""
    kept: list[str] = []
    dropped: list[str] = []
    skip_next = False
    for line in stderr.splitlines():
        if skip_next:
            skip_next = False
            if line.startswith(" "):
                dropped.append(line)
                continue
        if not line.strip():
            continue
        if line.startswith(NETWORK_MARKER) or _LOG.match(line):
            dropped.append(line)
        elif _PYWARN.match(line):
            dropped.append(line)
            skip_next = True
        else:
            kept.append(line)
    return kept, dropped


def _message(lines: list[str]) -> tuple[str | None, str]:
    """(the one error line or None, why not)."""
    if len(lines) == 1 and lines[0].startswith("cityopt: error:"):
        return lines[0], ""
    if lines and lines[0].startswith("usage:") and _ARGPARSE.match(lines[-1]) \
            and all(ln.startswith(("usage:", " ")) for ln in lines[:-1]):
        return lines[-1], ""
    if not lines:
        return None, "exit 2 with nothing on stderr"
    if any(ln.startswith("cityopt: error:") for ln in lines):
        return None, f"the error takes {len(lines)} lines"
    return None, "no 'cityopt: error:' line"


def _names(message: str, expect: tuple[Any, ...]) -> list[str]:
    """The expected words the message leaves out."""
    low = message.lower()
    missing = []
    for item in expect:
        alts = (item,) if isinstance(item, str) else tuple(item)
        if not any(a.lower() in low for a in alts):
            missing.append(" or ".join(repr(a) for a in alts))
    return missing


def classify(case: Case, out: Outcome) -> Verdict:
    """The category of ``out`` for ``case``, with the reason."""
    text = out.stdout + "\n" + out.stderr
    lines, _ = error_lines(out.stderr)
    v = lambda cat, why, msg="": Verdict(cat, why, msg, out)  # noqa: E731
    if out.timed_out:
        return v("traceback", "hang: killed at the time limit")
    if "Traceback (most recent call last)" in text:
        last = next((ln for ln in reversed(lines) if ln.strip()), "")
        return v("traceback", f"traceback (rc {out.rc}): {last[:200]}")
    if case.succeed:
        if out.rc == 0:
            if out.outside_out:
                return v("partial", f"exit 0 but wrote outside out/: {out.outside_out[:5]}")
            return v("clean", "valid input: ran, wrote only under out/")
        if out.rc == 2:
            msg, _ = _message(lines)
            return v("refused", "a valid input was refused", msg or (lines[-1] if lines else ""))
        return v("traceback", f"exit {out.rc}: {lines[-1][:200] if lines else ''}")
    if out.rc == 0:
        if case.contained and not out.outside_out:
            return v("clean", "exit 0, wrote only under out/ (contained)")
        where = f"; wrote outside out/: {out.outside_out[:5]}" if out.outside_out else ""
        return v("accepted", f"exit 0 for a bad input{where}")
    if out.rc != 2:
        return v("traceback", f"exit {out.rc}: {lines[-1][:200] if lines else '(no stderr)'}")
    msg, why = _message(lines)
    if out.written:
        return v("partial", f"exit 2 but left {len(out.written)} path(s): {out.written[:5]}",
                 msg or (lines[-1] if lines else ""))
    if out.network:
        return v("weak", f"tried the network ({', '.join(out.network[:3])})", msg or "")
    if msg is None:
        return v("weak", why, "\n".join(lines[-6:]))
    internal = _INTERNAL.search(msg)
    if internal:
        return v("weak", f"shows internal text {internal.group(0)!r}", msg)
    missing = _names(msg, case.expect)
    if missing:
        return v("weak", f"does not name {', '.join(missing)}", msg)
    return v("clean", "one line naming the field", msg)
