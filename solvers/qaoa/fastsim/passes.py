"""The passes over the state vector of :class:`solvers.qaoa.fastsim.simulator.FastSimulator`.

:class:`TilePasses` holds the simulator's gate kernels, forward and backward:
the tile pass (phase layer, low complex block, real blocks inside a tile), the
real blocks outside a tile and the XY edges, each also run backward on the
co-state of the adjoint gradient; with the job runner and the phase and matrix
factories they share.  It is a mixin: the attributes below are set by
:meth:`FastSimulator.__init__ <solvers.qaoa.fastsim.simulator.FastSimulator>`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from solvers.qaoa.fastsim.jit import (
    edge_strides,
    high_rotate,
    layer_tiles,
    low_coefficients,
    phase,
    phase_back,
    rotate,
    rotate_back,
    xy_edges,
    xy_edges_back,
)
from solvers.qaoa.fastsim.kernels import block_matrix, tile_slices
from solvers.qaoa.mixers import Mixer

__all__ = ["TilePasses"]


class TilePasses:
    """Gate kernels of :class:`~solvers.qaoa.fastsim.simulator.FastSimulator` (a mixin)."""

    n: int
    mixer: Mixer
    threads: int
    _xp: Any
    _d: Any
    _cdtype: type
    _rdtype: type
    _tile: int
    thread_pool: ThreadPoolExecutor | None
    _low: tuple[int, int] | None
    _tile_blocks: list[tuple[int, int]]
    _tile_strides: np.ndarray
    _tile_strides_back: np.ndarray
    _tile_edges: np.ndarray
    _pass_edges: tuple[tuple[int, int], ...]
    kernels: str
    _pass_blocks: list[tuple[int, int]]
    _high: tuple[int, int, np.ndarray] | None
    _consts: np.ndarray
    _low_stencil: int

    def _run(self, jobs: list[Callable[[], Any]]) -> list[Any]:
        """Run independent tile jobs; on the pool, as one contiguous chunk per thread."""
        if self._pool is None or len(jobs) < 2:
            return [job() for job in jobs]
        per = -(-len(jobs) // self.threads)
        chunks = [jobs[i : i + per] for i in range(0, len(jobs), per)]
        done = self._pool.map(lambda chunk: [job() for job in chunk], chunks)
        return [r for part in done for r in part]

    def _spans(self, count: int) -> list[tuple[int, int]]:
        """``(first, count)`` of one contiguous share of ``count`` items per thread."""
        per = -(-count // (self.threads if self._pool is not None else 1))
        return [(i, min(per, count - i)) for i in range(0, count, per)]

    def _run_spans(self, count: int, fn: Callable[[int, int], Any]) -> list[Any]:
        """``fn(first, count)`` on each thread's share of ``count`` items, in parallel."""
        jobs = [functools.partial(fn, a, m) for a, m in self._spans(count)]
        if self._pool is None or len(jobs) < 2:
            return [job() for job in jobs]
        return list(self._pool.map(lambda job: job(), jobs))

    def _phase(self, start: int, stop: int, gamma: float) -> Any:
        """``exp(-i gamma d)`` on ``d[start:stop]``, in the working precision."""
        d = self._d[start:stop]
        if self._xp is np:
            x = np.multiply(d, -gamma)
            out = np.empty(x.shape, self._cdtype)
            np.cos(x, out=out.real)
            np.sin(x, out=out.imag)
            return out
        return self._xp.exp((-1j * gamma) * d).astype(self._cdtype, copy=False)

    def _matrix(self, kind: str, k: int, beta: float = 0.0) -> Any:
        dtype = self._rdtype if kind.startswith("real") else self._cdtype
        m = block_matrix(kind, k, float(beta), np.dtype(dtype).name)
        return m if self._xp is np else self._xp.asarray(m)

    # ------------------------------------------------------------- passes
    def _tile_pass(self, psi: Any, gamma: float, beta: float) -> None:
        """One pass of tiles: ``exp(-i gamma C)``, the low block's ``rx(2 beta)``, then the
        real blocks whose qubits lie inside a tile, while the tile is in cache.

        With the compiled kernels: :func:`~solvers.qaoa.fastsim.jit.layer_tiles` on each
        thread's share of tiles (the phase, the two lowest qubits' stencils, the other
        rotations and the XY edges inside a tile)."""
        tile, size, rdt = self._tile, 1 << self.n, self._rdtype
        if self.kernels == "jit":
            flat, strides, edges = psi.view(rdt), self._tile_strides, self._tile_edges
            g, one, k = rdt(-gamma), rdt(1.0), self._consts
            c, s = rdt(math.cos(beta)), rdt(math.sin(beta))
            co = (
                low_coefficients(math.cos(beta), math.sin(beta), self._low_stencil, rdt)
                if self._low_stencil
                else np.zeros((0, 0), dtype=rdt)
            )
            self._run_spans(
                size // tile,
                lambda a, m: layer_tiles(flat, self._d, a, m, tile, g, one, k, co, strides, edges, c, s),
            )
            return
        ut = self._matrix("rx_t", self._low[1], beta) if self._low else None
        k_low = 1 << self._low[1] if self._low else 1
        blocks = [(self._matrix("real", k, beta), 1 << k) for _, k in self._tile_blocks]
        strides, edges = self._tile_strides, self._tile_edges
        cos, sin = rdt(math.cos(beta)), rdt(math.sin(beta))

        def job(s: int) -> None:
            seg = psi[s : s + tile]
            if self._xp is np:
                phase(seg.view(rdt), self._d[s : s + tile], rdt(-gamma), rdt(1.0), self._consts)
            else:
                seg *= self._phase(s, s + tile, gamma)
            if ut is not None:
                rows = seg.reshape(-1, k_low)
                rows[...] = rows @ ut
            flat = seg.view(rdt)
            if strides.size:
                rotate(flat, strides, cos, sin)
            if edges.size:
                xy_edges(flat, edges, cos, sin)
            for (lo, k), (u, big_k) in zip(self._tile_blocks, blocks):
                t = flat.reshape(-1, big_k, 2 << (self.n - lo - k))
                t[...] = u @ t

        self._run([functools.partial(job, s) for s in range(0, size, tile)])

    def _tile_pass_back(self, psi: Any, lam: Any, gamma: float, beta: float) -> tuple[float, float]:
        """Backward through :meth:`_tile_pass` on ``psi`` and the co-state ``lam``, in one
        pass of tiles: returns ``Re <lam|D|psi>`` of its mixer blocks and of the phase
        layer, each taken just after its gate."""
        xp, tile, rdt, n = self._xp, self._tile, self._rdtype, self.n
        if self._low:
            ut = self._matrix("rx_t", self._low[1], -beta)
            dt = self._matrix("rx_gen_t", self._low[1])
            k_low = 1 << self._low[1]
        blocks = [
            (self._matrix("real", k, -beta), self._matrix("real_gen", k), 1 << k)
            for _, k in self._tile_blocks
        ]
        strides, edges = self._tile_strides_back, self._tile_edges
        cos, msin = rdt(math.cos(beta)), rdt(-math.sin(beta))

        def job(s: int) -> tuple[float, float]:
            ps, ls = psi[s : s + tile], lam[s : s + tile]
            mixer = 0.0
            pf, lf = ps.view(rdt), ls.view(rdt)
            if edges.size:
                mixer += xy_edges_back(pf, lf, edges, cos, msin)
            if strides.size:
                mixer += rotate_back(pf, lf, strides, cos, msin)
            for (lo, k), (u, d, big_k) in zip(self._tile_blocks, blocks):
                shape = (-1, big_k, 2 << (n - lo - k))
                pt, lt = pf.reshape(shape), lf.reshape(shape)
                mixer += float(xp.vdot(lt.ravel(), (d @ pt).ravel()))
                pt[...] = u @ pt
                lt[...] = u @ lt
            if self._low:
                pr, lr = ps.reshape(-1, k_low), ls.reshape(-1, k_low)
                mixer += float(xp.vdot(lr, pr @ dt).real)
                pr[...] = pr @ ut
                lr[...] = lr @ ut
            if xp is np:  # Re <lam|-iC|psi>, then the inverse phase on both
                d, g = self._d[s : s + tile], rdt(gamma)
                return mixer, float(phase_back(ps.view(rdt), ls.view(rdt), d, g, self._consts))
            phase = float(xp.vdot(ls, self._d[s : s + tile] * ps).imag)
            f = self._phase(s, s + tile, -gamma)
            ps *= f
            ls *= f
            return mixer, phase

        parts = self._run([functools.partial(job, s) for s in range(0, psi.shape[0], tile)])
        return sum(x[0] for x in parts), sum(x[1] for x in parts)

    def _real_block(self, lo: int, k: int, beta: float, psi: Any, lam: Any = None) -> float:
        """``R(beta)^{(x)k}`` on qubits ``lo..lo+k-1`` of ``psi`` (and ``lam``).

        With ``lam``, first returns ``Re <lam|D|psi>`` of the block (before applying).
        """
        n, xp = self.n, self._xp
        big_k = 1 << k
        rdt = self._rdtype
        u = self._matrix("real", k, beta)
        d = self._matrix("real_gen", k) if lam is not None else None
        a_dim, b_dim = 1 << lo, 2 << (n - lo - k)  # float view: 2 floats per amplitude
        views = [x.view(rdt).reshape(a_dim, big_k, b_dim) for x in (psi, lam) if x is not None]

        def job(ix: tuple[slice, slice]) -> float:
            value = 0.0
            tiles = [v[ix[0], :, ix[1]] for v in views]
            if lam is not None:
                value = float(xp.vdot(tiles[1].ravel(), (d @ tiles[0]).ravel()))
            for t in tiles:
                t[...] = u @ t
            return value

        return sum(
            self._run(
                [
                    functools.partial(job, ix)
                    for ix in tile_slices((a_dim, b_dim), 2 * self._tile // big_k)
                ]
            )
        )

    def _xy_edge(self, a: int, b: int, beta: float, psi: Any, lam: Any = None) -> float:
        """``exp(-i beta (XX + YY)/2)`` on qubits ``a, b`` (with ``lam``: ``Re <lam|D|psi>`` first)."""
        n, xp = self.n, self._xp
        a, b = min(a, b), max(a, b)
        if self.kernels == "jit":
            return self._xy_edge_jit(a, b, beta, psi, lam)
        shape = (1 << a, 2, 1 << (b - a - 1), 2, 1 << (n - b - 1))
        views = [x.reshape(shape) for x in (psi, lam) if x is not None]
        c, ms = math.cos(beta), -1j * math.sin(beta)

        def job(ix: tuple[slice, slice, slice]) -> float:
            value = 0.0
            pairs = [(v[ix[0], 0, ix[1], 1, ix[2]], v[ix[0], 1, ix[1], 0, ix[2]]) for v in views]
            if lam is not None:
                (px, py), (lx, ly) = pairs
                z = xp.vdot(lx.ravel(), py.ravel()) + xp.vdot(ly.ravel(), px.ravel())
                value = float(z.imag)  # Re <lam| -i (XX+YY)/2 |psi>
            for x, y in pairs:
                old = x.copy()
                x *= c
                x += ms * y
                y *= c
                y += ms * old
            return value

        return sum(
            self._run([functools.partial(job, ix) for ix in tile_slices(shape[::2], self._tile // 2)])
        )

    def _xy_edge_jit(self, a: int, b: int, beta: float, psi: Any, lam: Any = None) -> float:
        """:meth:`_xy_edge` by the compiled sweep, the ``2**a`` independent blocks of the
        index above qubit ``a`` shared out to the threads."""
        rdt = self._rdtype
        edge = edge_strides([(a, b)], self.n)
        c, s = rdt(math.cos(beta)), rdt(math.sin(beta))
        rows = 1 << a
        per = max(1, min(rows, (2 * self._tile) // int(2 * edge[0, 0])))
        views = [x.view(rdt).reshape(rows, -1) for x in (psi, lam) if x is not None]

        def job(r0: int) -> float:
            parts = [v[r0 : r0 + per].reshape(-1) for v in views]
            if lam is None:
                xy_edges(parts[0], edge, c, s)
                return 0.0
            # backward: ``beta`` is already the inverse angle (the caller passes -beta)
            return float(xy_edges_back(parts[0], parts[1], edge, c, s))

        return sum(self._run([functools.partial(job, r0) for r0 in range(0, rows, per)]))

    def _mixer_rest(self, psi: Any, beta: float) -> None:
        """The rest of the mixer: real blocks outside a tile (with the compiled kernels, all
        of them in one pass of :func:`~solvers.qaoa.fastsim.jit.high_rotate`), then the XY
        edges in order."""
        if self._high is not None:
            rows, width, strides = self._high
            rdt = self._rdtype
            flat, c, s = psi.view(rdt), rdt(math.cos(beta)), rdt(math.sin(beta))

            def job(a: int, m: int) -> None:
                scratch = np.empty(2 * rows * width, dtype=rdt)
                high_rotate(flat, rows, width, a, m, scratch, strides, c, s)

            self._run_spans((1 << self.n) // (rows * width), job)
        else:
            for lo, k in self._pass_blocks:
                self._real_block(lo, k, beta, psi)
        for a, b in self._pass_edges:
            self._xy_edge(a, b, beta, psi)
