"""The project's own QAOA state-vector simulator on the cost diagonal (the ``fast`` backend's).

Like QOKit's "fur" simulators, it never builds a circuit.  The cost ``C'`` is a
diagonal, computed once per QUBO (:attr:`solvers.qaoa.cost.IsingCost.diag`) and
kept in the working precision; every evaluation then runs, per layer,

- the phase layer ``exp(-i gamma C')``: one elementwise pass;
- the mixer layer of :mod:`solvers.qaoa.mixers`: the X rotations of the
  ungrouped qubits, and the XY rotations of the one-hot groups' edges in their
  documented order.

The state is big-endian like Cirq's (qubit 0 the most significant index bit), and
equals the circuit of :func:`solvers.qaoa.circuit.qaoa_circuit` amplitude for
amplitude, global phase included.

How the X mixer runs fast.  ``rx(2 beta) = S R(beta) S^dagger`` with
``S = diag(1, i)`` and the *real* rotation ``R(beta) = [[cos, sin], [-sin, cos]]``;
the ``S`` factors are diagonal, so they commute with the phase layers and cancel
between layers.  The simulator therefore works in the frame
``psi_frame = S_F^dagger psi`` on the free qubits ``F``: their initial ``|+>``
becomes ``(|0> - i|1>)/sqrt(2)``, their mixer is a real rotation on the state's
float view (half the flops of a complex one), and ``S_F`` is applied once, when
:meth:`FastSimulator.state` hands the state out.  Probabilities, expectations and
gradients do not see the frame.

Two sets of kernels apply the rotations (option ``kernels``):

- ``"jit"``, the CPU default: the compiled kernels of
  :mod:`solvers.qaoa.fastsim.jit`: radix-4 butterflies, two qubits per sweep of
  a tile held in cache, 2 multiply-adds per float and qubit; the two lowest
  qubits (floats 2 and 4 apart, too close for vector registers) as contiguous
  stencils; the phase layer by a vectorised ``sincos``;
- ``"blas"``, the GPU's (and numpy's when asked): single-qubit butterflies in
  numpy are bound by passes and call overhead, so consecutive qubits are fused
  into blocks of 3-4 and each block is one matrix product with the Kronecker
  product of the 2x2 rotations (``2**k`` multiply-adds per float for ``k``
  qubits); the block on the lowest qubits (contiguous rows) stays complex.

On this 2-core machine ``jit`` runs the 16-qubit, depth-3 optimiser loop 1.9x
as fast as ``blas`` (``python -m benchmarks.bench_qaoa``).

With the compiled kernels a layer of the X mixer is two passes over the state.
The tile pass takes tiles of :data:`TILE` contiguous amplitudes (128 KiB in
complex64, so a tile and its share of the diagonal stay in L2) and applies, while
the tile is in cache, the phase layer and the rotations of the qubits inside a
tile (the low-order ``log2 TILE``), and the XY edges of groups inside a tile.
The high pass gathers blocks of ``width`` columns of all ``2**h`` rows of the
``h`` high-order qubits into a contiguous scratch of :data:`HIGH_BLOCK_BYTES`,
applies those ``h`` rotations there and writes the block back.  XY edges across
a tile take a pass each.  :meth:`FastSimulator.traffic` lists the passes and the
bytes they move.  With ``threads > 1`` each pass is cut into one contiguous share
of tiles or blocks per thread of a pool (the compiled kernels release the GIL),
BLAS's own threads held to one meanwhile.  Work vectors of up to
:data:`WORKSPACE_MAX` amplitudes are kept between calls (a fresh one costs more
in page faults than a 16-qubit layer costs in arithmetic).

Gradients use the adjoint method: one forward pass, then one backward pass
carrying the state ``psi`` and the co-state ``lambda = C' psi`` through the
inverse gates.  For a gate ``exp(-i theta H)`` the derivative of
``<psi|C'|psi>`` is ``2 Re <lambda|D|psi>`` with ``D = -i H``, both vectors taken
just after the gate; a layer's angle collects it from each of its gates.

A GPU path runs the same code with CuPy arrays (``platform="gpu"``: one tile, no
thread pool); it needs CuPy and an NVIDIA GPU.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from solvers.errors import InvalidInputError, InvalidOptionError
from solvers.qaoa.fastsim.jit import edge_strides, expect_tiles, float_strides, sincos_constants
from solvers.qaoa.fastsim.kernels import (
    PRECISIONS,
    array_module,
    check_angles,
    qubit_runs,
    single_threaded_blas,
    thread_pool,
    to_host,
)
from solvers.qaoa.fastsim.passes import TilePasses
from solvers.qaoa.mixers import Mixer
from solvers.qubo import index_bits

__all__ = [
    "FIRST_REAL_BLOCK",
    "HIGH_BLOCK_BYTES",
    "KERNELS",
    "LOW_BLOCK",
    "REAL_BLOCK",
    "TILE",
    "WORKSPACE_MAX",
    "FastSimulator",
]

#: Values of the ``kernels`` option: ``auto`` is ``jit`` on the CPU and ``blas`` on the GPU.
KERNELS = ("auto", "jit", "blas")

#: Amplitudes per tile of a pass over the state vector (128 KiB in complex64: the tile
#: and its share of the diagonal stay in the 512 KiB L2 while the low qubits rotate).
TILE = 1 << 14
#: Bytes of a block of :func:`~solvers.qaoa.fastsim.jit.high_rotate` (the high-order qubits' pass).
HIGH_BLOCK_BYTES = 1 << 19
#: Largest vector (amplitudes) kept as a workspace between calls (32 MiB in complex64).
WORKSPACE_MAX = 1 << 22
#: Qubits fused into the complex block at the bottom of the index (run with the phase).
LOW_BLOCK = 3
#: Qubits fused into each real-rotation block.
REAL_BLOCK = 3
#: Qubits of the real block nearest the low-order bits of a run: its inner dimension is
#: the smallest (many small batched products), and a larger block amortises them
#: (measured 5-10% on a whole evaluation at 16-24 qubits).
FIRST_REAL_BLOCK = 4


class FastSimulator(TilePasses):
    """QAOA state vectors from a cost diagonal, with adjoint gradients.

    Parameters
    ----------
    diag : array_like, shape (2**n,)
        The cost ``C'`` of each basis state, big-endian (qubit 0 the most
        significant bit), e.g. :attr:`IsingCost.diag`.  Copied once into the
        working precision (used as it is for complex128 on the CPU; never written).
    mixer : Mixer
        The mixer and initial state (:func:`solvers.qaoa.mixers.make_mixer`).
    precision : {"complex64", "complex128"}
        Working precision of the state.
    platform : {"cpu", "gpu"}
        ``"gpu"`` runs on CuPy (raises :class:`BackendUnavailableError` where
        CuPy or a GPU is missing).
    threads : int
        Worker threads for the passes over the vector (CPU).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.qaoa.mixers import make_mixer
    >>> sim = FastSimulator(np.array([1.0, -1.0]), make_mixer("x", 1), precision="complex128")
    >>> psi = sim.state([0.0], [0.0])            # |+>
    >>> np.round(psi * np.sqrt(2), 12).tolist()
    [(1+0j), (1+0j)]
    >>> round(sim.expectation([0.3], [-0.4]), 6) == round(float(sim.probabilities([0.3], [-0.4]) @ [1, -1]), 6)
    True
    """

    def __init__(
        self,
        diag: Sequence[float] | np.ndarray,
        mixer: Mixer,
        *,
        precision: str = "complex64",
        platform: str = "cpu",
        threads: int = 1,
        kernels: str = "auto",
    ) -> None:
        if kernels not in KERNELS:
            msg = f"option 'kernels' of backend 'fast' must be one of: {', '.join(KERNELS)}; got {kernels!r}"
            raise InvalidOptionError(msg)
        if kernels == "jit" and platform != "cpu":
            msg = "option kernels='jit' of backend 'fast' runs on the CPU only; use kernels='auto' on the GPU"
            raise InvalidOptionError(msg)
        if precision not in PRECISIONS:
            msg = (
                f"option 'precision' of backend 'fast' must be one of: {', '.join(PRECISIONS)}; "
                f"got {precision!r}"
            )
            raise InvalidOptionError(msg)
        xp = array_module(platform)
        diag = np.asarray(diag, dtype=np.float64).reshape(-1)
        n = int(diag.size).bit_length() - 1
        if diag.size < 2 or diag.size != 1 << n:
            msg = f"the cost diagonal must have 2**n entries (n >= 1), got {diag.size}"
            raise InvalidInputError(msg)
        if mixer.num_qubits != n:
            msg = f"the mixer is for {mixer.num_qubits} qubits, the diagonal for {n}"
            raise InvalidInputError(msg)
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            msg = f"threads must be a positive integer, got {threads!r}"
            raise InvalidOptionError(msg)
        self.n = n
        self.mixer = mixer
        self.precision = precision
        self.platform = platform
        self.threads = threads
        #: "jit" (compiled butterflies, the CPU default) or "blas" (matrix products, the GPU's)
        self.kernels = "jit" if kernels == "jit" or (kernels == "auto" and xp is np) else "blas"
        self._xp = xp
        self._work: list[Any] = []
        self._work_lock = threading.Lock()
        self._cdtype, self._rdtype = PRECISIONS[precision]
        self._d = xp.asarray(diag.astype(self._rdtype, copy=False))  # shared if float64
        self._shares_diag = self._d is diag
        size = 1 << n
        self._tile = size if xp is not np else min(size, TILE)
        self._consts = sincos_constants(self._rdtype)
        #: the high-order qubits' pass of the compiled kernels: (rows, width, strides) or None
        self._high: tuple[int, int, np.ndarray] | None = None
        self._pool = thread_pool(threads) if (xp is np and threads > 1 and size > self._tile) else None

        free = set(mixer.free_qubits)
        # On the CPU the compiled butterflies (:mod:`solvers.qaoa.fastsim.jit`) take every free qubit in the
        # frame; on the GPU the lowest ones form a complex block for one matrix product.
        low_block = 0 if self.kernels == "jit" else LOW_BLOCK
        low: list[int] = []
        q = n - 1
        while q in free and len(low) < low_block:
            low.insert(0, q)
            q -= 1
        #: the complex block on the lowest qubits, ``(lo, k)``, or None
        self._low = (low[0], len(low)) if low else None
        #: qubits in the frame ``S^dagger`` (the real-rotation blocks)
        self.frame_qubits = tuple(sorted(free - set(low)))
        # qubits on the low-order bits of a tile run inside the tile pass, the rest alone
        inside = n - (self._tile.bit_length() - 1)
        #: bit 0: qubit n - 1 by the stencil of the tile pass, bit 1: qubit n - 2 (jit)
        self._low_stencil = 0
        if self.kernels == "jit":  # compiled butterflies inside a tile; matrix products outside
            stencil = [q for q in (n - 1, n - 2) if q in self.frame_qubits and q >= inside]
            self._low_stencil = sum(1 << (n - 1 - q) for q in stencil)
            inner = [q for q in self.frame_qubits if q >= inside]
            self._tile_strides = float_strides([q for q in inner if q not in stencil], n)
            #: the backward's: every frame qubit inside a tile by the butterflies
            self._tile_strides_back = float_strides(inner, n)
            self._tile_blocks: list[tuple[int, int]] = []
            high = [q for q in self.frame_qubits if q < inside]
            self._pass_blocks = qubit_runs(high, REAL_BLOCK, FIRST_REAL_BLOCK)  # the backward's
            if high:
                rows = 1 << inside
                block = HIGH_BLOCK_BYTES // np.dtype(self._cdtype).itemsize
                width = min(self._tile, max(1, block // rows))
                self._high = (rows, width, float_strides(high, inside) * width)
            # XY edges of the groups inside a tile run in the tile pass (groups commute, so
            # only the order within a group matters); the other groups' edges a pass each
            tile_edges: list[tuple[int, int]] = []
            pass_edges: list[tuple[int, int]] = []
            for g, es in zip(mixer.groups, mixer.group_edges):
                (tile_edges if min(g) >= inside else pass_edges).extend(es)
            self._tile_edges = edge_strides(tile_edges, n)
            self._pass_edges = tuple(pass_edges)
        else:
            self._tile_strides = np.zeros(0, dtype=np.int64)
            self._tile_strides_back = self._tile_strides
            self._tile_edges = np.zeros((0, 2), dtype=np.int64)
            self._pass_edges = mixer.edges
            blocks = qubit_runs(self.frame_qubits, REAL_BLOCK, FIRST_REAL_BLOCK)
            self._tile_blocks = [blk for blk in blocks if blk[0] >= inside]
            self._pass_blocks = [blk for blk in blocks if blk[0] < inside]
        self._initial_plan = self._product_plan(self._factors())
        s_gate = np.array([1.0, 1j])
        self._frame_plan = self._product_plan([((q,), s_gate) for q in self.frame_qubits])

    # ----------------------------------------------------------- plumbing
    @property
    def num_qubits(self) -> int:
        return self.n

    def memory_bytes(self, *, gradient: bool = False) -> int:
        """Bytes of the arrays the simulator holds during a call.

        Its working-precision diagonal (none in complex128 on the CPU, where the
        caller's float64 diagonal is used as it is) and the state vector, plus the
        co-state for :meth:`expectation_and_gradient`; tiles are extra but small.
        Up to :data:`WORKSPACE_MAX` amplitudes the vectors stay allocated between
        calls.  :meth:`probabilities` and :meth:`sample` also build float64 vectors.
        """
        size = 1 << self.n
        real, cplx = np.dtype(self._rdtype).itemsize, np.dtype(self._cdtype).itemsize
        own_diag = 0 if self._shares_diag else size * real
        return own_diag + size * cplx * (2 if gradient else 1)

    def traffic(self, depth: int) -> list[tuple[str, int, int]]:
        """The passes over memory of one :meth:`state` call of ``depth`` layers:
        ``(pass, how many, least bytes each)``, bytes read plus bytes written.

        Writing the initial state; per layer the tile pass (read the diagonal, read
        and write the state), the high-order qubits' pass (read and write the state;
        with the matrix-product kernels one per real block outside a tile), half the
        state read and written per XY edge outside a tile; the final pass into the
        physical frame.  Caches are assumed to hold a tile and nothing more, so the
        figures are what the passes cannot avoid moving; a write that misses cache may
        also read the line first, which is not counted.

        >>> from solvers.qaoa.mixers import make_mixer
        >>> sim = FastSimulator(np.zeros(1 << 20), make_mixer("x", 20))
        >>> [(name, count, b >> 20) for name, count, b in sim.traffic(2)]
        [('initial state', 1, 8), ('phase + low qubits', 2, 20), ('high qubits', 2, 16), ('frame', 1, 16)]
        """
        size = 1 << self.n
        real, cplx = np.dtype(self._rdtype).itemsize, np.dtype(self._cdtype).itemsize
        passes = [("initial state", 1, size * cplx), ("phase + low qubits", depth, size * (real + 2 * cplx))]
        outside = 1 if self._high is not None else len(self._pass_blocks)
        if outside:
            passes.append(("high qubits", depth * outside, 2 * size * cplx))
        if self._pass_edges:
            passes.append(("XY edges outside a tile", depth * len(self._pass_edges), size * cplx))
        if self.frame_qubits:
            passes.append(("frame", 1, 2 * size * cplx))
        return passes

    def bytes_moved(self, depth: int) -> int:
        """The least bytes one :meth:`state` call of ``depth`` layers moves to and from
        memory: the sum of :meth:`traffic`.  The benchmark divides it by the time taken
        for the achieved bandwidth."""
        return sum(count * each for _, count, each in self.traffic(depth))

    def _context(self) -> contextlib.AbstractContextManager:
        return single_threaded_blas() if self._xp is np else contextlib.nullcontext()

    # ---------------------------------------------------------- the state
    def _factors(self) -> list[tuple[tuple[int, ...], np.ndarray]]:
        """The initial state as tensor factors ``(qubits, tensor)``, in the frame
        (``S^dagger`` on the axes of frame qubits)."""
        r = 1.0 / math.sqrt(2.0)
        factors = [((q,), np.array([r, r], dtype=complex)) for q in self.mixer.plus_qubits]
        for g in self.mixer.prepared_groups:
            k = len(g)
            t = np.zeros((2,) * k, dtype=complex)
            if self.mixer.init_state == "w":
                for i in range(k):
                    t[tuple(1 if j == i else 0 for j in range(k))] = 1.0 / math.sqrt(k)
            else:
                t[(1,) + (0,) * (k - 1)] = 1.0
            factors.append((tuple(g), t))
        frame = set(self.frame_qubits)
        s_dagger = np.array([1.0, -1j])
        for qs, t in factors:
            for axis, q in enumerate(qs):
                if q in frame:
                    shape = [1] * len(qs)
                    shape[axis] = 2
                    t *= s_dagger.reshape(shape)
        return factors

    def _product_plan(self, factors: Sequence[tuple[tuple[int, ...], np.ndarray]]) -> tuple:
        """A product of tensor factors as ``(hi, lo, rest)``: each factor folded into the
        vector over the high or the low half of the index bits where it fits; ``rest``
        the factors spanning both, spread to ``n`` axes (one pass each)."""
        n = self.n
        m = n // 2
        hi = np.ones((2,) * m, dtype=np.complex128)
        lo = np.ones((2,) * (n - m), dtype=np.complex128)
        rest = []

        def spread(t: np.ndarray, qs: Sequence[int], first: int, width: int) -> np.ndarray:
            shape = [1] * width
            for q in qs:
                shape[q - first] = 2
            return np.transpose(t, np.argsort(qs)).reshape(shape)

        for qs, t in factors:
            if max(qs) < m:
                hi = hi * spread(t, qs, 0, m)
            elif min(qs) >= m:
                lo = lo * spread(t, qs, m, n - m)
            else:
                rest.append(self._xp.asarray(spread(t, qs, 0, n).astype(self._cdtype)))
        fh = self._xp.asarray(hi.reshape(-1, 1).astype(self._cdtype))
        fl = self._xp.asarray(lo.reshape(1, -1).astype(self._cdtype))
        return fh, fl, rest

    def _fill_product(self, psi: Any, plan: tuple, *, multiply: bool) -> None:
        """``psi = product`` (or ``psi *= product``) for a :meth:`_product_plan`."""
        fh, fl, rest = plan
        rows = psi.reshape(fh.shape[0], fl.shape[1])
        per = max(1, self._tile // fl.shape[1])

        def job(r0: int) -> None:
            block = rows[r0 : r0 + per]
            if multiply:
                block *= fh[r0 : r0 + per] * fl
            else:
                self._xp.multiply(fh[r0 : r0 + per], fl, out=block)

        self._run([functools.partial(job, r0) for r0 in range(0, fh.shape[0], per)])
        tensor = psi.reshape((2,) * self.n)
        for t in rest:
            tensor *= t

    def _initial(self, psi: Any = None) -> Any:
        if psi is None:
            psi = self._xp.empty(1 << self.n, dtype=self._cdtype)
        self._fill_product(psi, self._initial_plan, multiply=False)
        return psi

    @contextlib.contextmanager
    def _vectors(self, count: int) -> Any:
        """``count`` work vectors for a call that hands no state out.

        Up to :data:`WORKSPACE_MAX` amplitudes they are kept and reused between
        calls: a fresh vector of a few hundred kilobytes costs more in page faults
        than a 16-qubit layer costs in arithmetic.  Larger ones are allocated per
        call, so the simulator holds no state vector between calls.  A call that
        finds the workspace busy (another thread) allocates its own.
        """
        size = 1 << self.n
        if size <= WORKSPACE_MAX and self._work_lock.acquire(blocking=False):
            try:
                while len(self._work) < count:
                    self._work.append(self._xp.empty(size, dtype=self._cdtype))
                yield self._work[:count]
            finally:
                self._work_lock.release()
        else:
            yield [self._xp.empty(size, dtype=self._cdtype) for _ in range(count)]

    def _to_physical(self, psi: Any) -> Any:
        """Apply ``S_F`` (``i`` on ``|1>`` of each frame qubit) in place."""
        if self.frame_qubits:
            self._fill_product(psi, self._frame_plan, multiply=True)
        return psi

    def _evolve(self, gammas: np.ndarray, betas: np.ndarray, psi: Any = None) -> Any:
        psi = self._initial(psi)
        for g, b in zip(gammas.tolist(), betas.tolist()):
            self._tile_pass(psi, g, b)
            self._mixer_rest(psi, b)
        return psi

    # ------------------------------------------------------------- public
    def initial_state(self) -> np.ndarray:
        """The initial state ``|psi_0>`` (host array, working precision)."""
        with self._context():
            return to_host(self._to_physical(self._initial()))

    def state(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        """The final state (host array, working precision, big-endian)."""
        g, b = check_angles(gammas, betas)
        with self._context():
            return to_host(self._to_physical(self._evolve(g, b)))

    def _probabilities(self, psi: Any) -> np.ndarray:
        xp = self._xp
        out = np.empty(psi.shape[0], dtype=np.float64)
        tile = self._tile

        def job(s: int) -> None:
            seg = psi[s : s + tile]
            p = xp.square(seg.real, dtype=np.float64) + xp.square(seg.imag, dtype=np.float64)
            out[s : s + tile] = to_host(p)

        self._run([functools.partial(job, s) for s in range(0, psi.shape[0], tile)])
        return out

    def probabilities(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        """``|amplitude|**2`` of every basis state, float64."""
        g, b = check_angles(gammas, betas)
        with self._context(), self._vectors(1) as (psi,):
            return self._probabilities(self._evolve(g, b, psi))

    def _expect(self, psi: Any, lam: Any = None) -> float:
        """``<psi|C|psi>``; with ``lam`` also sets ``lam = C psi``."""
        xp, tile = self._xp, self._tile
        if xp is np and lam is None:  # compiled: numpy would cast the diagonal to complex
            flat, d = psi.view(self._rdtype), self._d

            def part(a: int, m: int) -> float:
                return expect_tiles(flat[2 * a * tile : 2 * (a + m) * tile], d[a * tile : (a + m) * tile])

            return sum(self._run_spans(psi.shape[0] // tile, part))

        def job(s: int) -> float:
            seg = psi[s : s + tile]
            out = lam[s : s + tile] if lam is not None else None
            c_psi = xp.multiply(seg, self._d[s : s + tile], out=out)
            return float(xp.vdot(seg, c_psi).real)  # BLAS dot, working precision

        return sum(self._run([functools.partial(job, s) for s in range(0, psi.shape[0], tile)]))

    def expectation(self, gammas: Sequence[float], betas: Sequence[float]) -> float:
        """``<psi|C'|psi>`` (the diagonal's units)."""
        g, b = check_angles(gammas, betas)
        with self._context(), self._vectors(1) as (psi,):
            return self._expect(self._evolve(g, b, psi))

    def expectation_and_gradient(
        self, gammas: Sequence[float], betas: Sequence[float]
    ) -> tuple[float, np.ndarray]:
        """``<C'>`` and ``[d/dgamma_0.., d/dbeta_0..]`` by the adjoint method.

        Memory: two state vectors (``psi`` and the co-state).
        """
        g, b = check_angles(gammas, betas)
        p = g.size
        grad = np.zeros(2 * p)
        with self._context(), self._vectors(2) as (psi, lam):
            self._evolve(g, b, psi)
            value = self._expect(psi, lam)
            for layer in reversed(range(p)):
                gamma, beta = float(g[layer]), float(b[layer])
                acc = 0.0
                for lo, k in self._pass_blocks:
                    acc += self._real_block(lo, k, -beta, psi, lam)
                for a, c in reversed(self._pass_edges):
                    acc += self._xy_edge(a, c, -beta, psi, lam)
                low, phase = self._tile_pass_back(psi, lam, gamma, beta)
                grad[p + layer] = 2.0 * (acc + low)
                grad[layer] = 2.0 * phase
        return value, grad

    def sample(
        self,
        gammas: Sequence[float],
        betas: Sequence[float],
        shots: int,
        *,
        seed: int | None = None,
    ) -> np.ndarray:
        """``shots`` bitstrings drawn from the exact probabilities: ``(shots, n)`` uint8,
        column ``i`` = qubit ``i``.  Basis states of probability zero are never drawn."""
        if not isinstance(shots, (int, np.integer)) or isinstance(shots, bool) or shots < 1:
            msg = f"shots must be a positive integer, got {shots!r}"
            raise InvalidInputError(msg)
        probs = self.probabilities(gammas, betas)
        cdf = np.cumsum(probs)
        del probs
        u = np.random.default_rng(seed).random(int(shots)) * cdf[-1]
        idx = np.searchsorted(cdf, u, side="right")
        # u < cdf[-1] up to rounding; never step past the last state of non-zero probability
        last = int(np.searchsorted(cdf, cdf[-1], side="left"))
        np.minimum(idx, last, out=idx)
        return index_bits(idx, self.n, order="big")
