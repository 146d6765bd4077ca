"""Where a fuzz case runs, what it wrote, and running it in a subprocess.

Layout of one case (``top`` a fresh temporary folder)::

    top/home/                       HOME, the cache, TMPDIR (not watched)
    top/guard/                      watched whole: nothing may change here but out/
    top/guard/root/l1/l2/l3/work/   the working folder: the case's files, `--out out`

The working folder sits four levels below the temporary root and five below the
guard, so a label like ``../../../../x`` or a NAME like ``../../x`` lands
inside the watched folder, where it is seen, never in the real file system.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.cases import Case, materialize
from tests.fuzz.classify import NETWORK_MARKER, Outcome

__all__ = ["Sandbox", "netguard_dir", "run_subprocess"]

_SITECUSTOMIZE = f'''
"""cityopt fuzz: refuse connections and name lookups beyond this machine, and say so on stderr."""
import ipaddress as _ip
import socket as _socket
import sys as _sys

_LOCAL = {{"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}}


def _local(host):
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL:
        return True
    try:
        return _ip.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what):
    _sys.stderr.write("{NETWORK_MARKER} " + repr(what) + "\\n")
    _sys.stderr.flush()
    raise OSError("cityopt fuzz: no network (" + repr(what) + ")")


_connect, _connect_ex, _gai = _socket.socket.connect, _socket.socket.connect_ex, _socket.getaddrinfo


def connect(self, address):
    if isinstance(address, tuple) and address and not _local(address[0]):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if isinstance(address, tuple) and address and not _local(address[0]):
        _refuse(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _local(host):
        _refuse(host)
    return _gai(host, *args, **kwargs)


_socket.socket.connect, _socket.socket.connect_ex, _socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''


def netguard_dir(parent: Path) -> Path:
    """A folder holding a ``sitecustomize.py`` that blocks the network: put it first on PYTHONPATH."""
    d = parent / "netguard"
    d.mkdir(parents=True, exist_ok=True)
    (d / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return d


Snapshot = dict[str, tuple[int, int] | None]  # relpath -> (size, mtime_ns) for files, None for folders


def snapshot(root: Path) -> Snapshot:
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            out[str(p.relative_to(root))] = None
        for f in filenames:
            p = Path(dirpath) / f
            try:
                st = p.lstat()
                out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
            except OSError:
                out[str(p.relative_to(root))] = (-1, -1)
    return out


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths added, deleted or changed (a folder counts when added or deleted)."""
    changed = [p for p in after if p not in before]
    changed += [f"{p} (changed)" for p in after if p in before and after[p] != before[p]]
    changed += [f"{p} (deleted)" for p in before if p not in after]
    return sorted(changed)


@dataclass
class Sandbox:
    """One case's folders (see the module docstring)."""

    top: Path

    @classmethod
    def make(cls, parent: str | os.PathLike[str] | None = None) -> Sandbox:
        top = Path(tempfile.mkdtemp(prefix="cityopt-fuzz-", dir=parent))
        sb = cls(top)
        for d in (sb.home, sb.tmp, sb.cache, sb.work):
            d.mkdir(parents=True, exist_ok=True)
        return sb

    @property
    def home(self) -> Path:
        return self.top / "home"

    @property
    def tmp(self) -> Path:
        return self.home / "tmp"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def guard(self) -> Path:
        return self.top / "guard"

    @property
    def root(self) -> Path:
        return self.guard / "root"

    @property
    def work(self) -> Path:
        return self.root / "l1" / "l2" / "l3" / "work"

    def prepare(self, case: Case) -> Snapshot:
        materialize(case, self.work, self.guard)
        return snapshot(self.guard)

    def written(self, before: Snapshot) -> tuple[list[str], list[str], list[str]]:
        """(every change in the guard, those not under work/out/ or touching an input, those outside work/)."""
        allc = changes(before, snapshot(self.guard))
        work = str(self.work.relative_to(self.guard))
        out = f"{work}/out"
        # outside out/, or an input (anywhere, out/ included) changed or deleted: damage, not output
        outside_out = [p for p in allc if not (p == out or p.startswith(out + "/"))
                       or p.endswith((" (deleted)", " (changed)"))]
        escaped = [p for p in allc if not (p == work or p.startswith(work + "/"))]
        return allc, outside_out, escaped

    def env(self, pythonpath: list[str]) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM", "TZ")}
        keep.update({
            "HOME": str(self.home), "TMPDIR": str(self.tmp), "CITYOPT_CACHE_DIR": str(self.cache),
            "MPLCONFIGDIR": str(self.home / "mpl"), "XDG_CACHE_HOME": str(self.home / ".cache"),
            "PYTHONPATH": os.pathsep.join(pythonpath), "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
        })
        return keep


def _limits(mem_bytes: int) -> None:  # pragma: no cover - runs in the child
    os.setsid()
    if mem_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))


def run_subprocess(case: Case, *, python: str = sys.executable, pythonpath: list[str], timeout_s: float = 60.0,
                   mem_bytes: int = 8 << 30, sandbox_parent: str | None = None,
                   keep: bool = False) -> tuple[Outcome, Sandbox]:
    """Run ``python -m optimizer.cli <case.argv>`` in a fresh sandbox; what it did.

    ``pythonpath`` goes after the network guard.  The child runs in its own
    session under a memory limit, killed with its whole process group at
    ``timeout_s``.
    """
    sb = Sandbox.make(sandbox_parent)
    guard_path = netguard_dir(sb.home)
    before = sb.prepare(case)
    argv = [python, "-m", "optimizer.cli", *case.argv_for(sb.guard)]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=sb.work, env=sb.env([str(guard_path), *pythonpath]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: _limits(mem_bytes))
    timed_out = False
    try:
        so, se = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        so, se = proc.communicate()
    # a child's own children (Dask workers) may outlive it: end the session's group
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    seconds = time.monotonic() - t0
    stdout, stderr = so.decode(errors="replace"), se.decode(errors="replace")
    written, outside_out, escaped = sb.written(before)
    network = [ln[len(NETWORK_MARKER):].strip() for ln in stderr.splitlines() if ln.startswith(NETWORK_MARKER)]
    out = Outcome(rc=None if timed_out else proc.returncode, stdout=stdout, stderr=stderr, timed_out=timed_out,
                  written=written, outside_out=outside_out, escaped=escaped, network=network, seconds=seconds)
    if not keep:
        import shutil

        shutil.rmtree(sb.top, ignore_errors=True)
    return out, sb
