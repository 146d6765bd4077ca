"""Running the QAOA ansatz on a Google processor's device: placement, qubit mapping, compilation.

The ``qvm:<processor>`` and ``engine:<processor>`` backends share everything
here; they differ only in where the processor (device, calibration) and the
sampler come from (:meth:`DeviceBackend._connect`, :meth:`DeviceBackend._sampler`).
The path from the logical circuit to the measured bits is:

1. **placement** (:func:`choose_qubits`): ``n`` connected device qubits, grown
   greedily from every start qubit, preferring compact patches (each coupling
   beyond a spanning tree saves SWAPs) of low calibrated error (readout,
   single-qubit and two-qubit Pauli error of the gate the circuit is compiled to);
2. **qubit mapping** (:func:`map_qubits`): cirq's router :class:`cirq.RouteCQC` on
   the subgraph of those qubits, once per backend (the mapping depends only on
   which qubits interact, so the parameterised circuit is mapped once, with its
   sympy symbols);
3. **compilation** (:func:`compile_circuit`): the mapped circuit with the angles
   bound, :func:`cirq.optimize_for_target_gateset` to the gate set chosen by
   :func:`choose_gateset` (the device's own compilation targets: sqrt-iSWAP on
   rainbow / weber, CZ on willow_pink).  Compiling per evaluation, with the
   angles bound, merges each inserted SWAP with the ZZ rotation beside it and
   writes every ZZ as two entangling gates; a symbolic compile done once needs
   about twice as many sqrt-iSWAPs (measured: 60 against 34 on 8 qubits, weber),
   and on a noisy processor fewer gates is what matters.  It costs 0.05-0.25 s
   per evaluation (8-12 qubits), against 1-7 s for 1000 noisy shots;
4. **validation**: ``device.validate_circuit`` on the final circuit, before it runs;
5. **measurement**: one ``cirq.measure`` (key ``"x"``) on the physical qubit
   where each logical qubit ends after the SWAPs, in logical order, so column
   ``i`` of the result is variable ``i``.

Cirq and cirq_google are imported inside the functions.
"""

from __future__ import annotations

import abc
import collections
import logging
import math
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from solvers.errors import InvalidOptionError, ProblemTooLargeError, SolverError
from solvers.qaoa.backends.base import QAOABackend
from solvers.qubo import bits_index

if TYPE_CHECKING:  # pragma: no cover
    import cirq
    import networkx as nx

    from solvers.qaoa.cost import IsingCost

__all__ = [
    "GATESETS",
    "DeviceBackend",
    "DeviceTarget",
    "MappedCircuit",
    "calibration_errors",
    "choose_gateset",
    "choose_qubits",
    "compile_circuit",
    "map_qubits",
]

logger = logging.getLogger(__name__)

#: Gate-set names accepted by the ``gateset`` option, in the order ``"auto"`` tries
#: them, with the calibration metric (``two_qubit_parallel_<metric>_gate_xeb_...``)
#: of each one's entangling gate.
GATESETS: dict[str, str] = {"cz": "cz", "sqrt_iswap": "sqrt_iswap", "sycamore": "sycamore"}
#: Default number of shots behind one (estimated) expectation value.
DEFAULT_SHOTS_PER_EVAL = 1000
#: Measurement key of the appended measurement.
MEASUREMENT_KEY = "x"
#: Compiled circuits kept per backend (the optimiser revisits its best point to sample it).
_COMPILE_CACHE_SIZE = 8


def _gateset_name(gateset: Any) -> str | None:
    """``"cz"``, ``"sqrt_iswap"`` or ``"sycamore"`` for a cirq compilation target gate set."""
    import cirq
    import cirq_google

    if isinstance(gateset, cirq_google.SycamoreTargetGateset):
        return "sycamore"
    if isinstance(gateset, cirq.SqrtIswapTargetGateset):
        return "sqrt_iswap"
    if isinstance(gateset, cirq.CZTargetGateset):
        return "cz"
    return None


def choose_gateset(
    device: cirq.Device, calibration: Mapping[str, Any] | None = None, name: str = "auto"
) -> tuple[str, cirq.CompilationTargetGateset]:
    """The compilation target gate set for ``device``.

    Parameters
    ----------
    device : cirq.Device
        A device whose ``metadata.compilation_target_gatesets`` lists its targets
        (every ``cirq_google.GridDevice`` does).
    calibration : cirq_google.Calibration, optional
        With ``name="auto"``, the first target (in the order of :data:`GATESETS`)
        whose entangling gate the calibration has error data for wins: a noisy
        virtual machine charges only calibrated gates, so compiling rainbow to
        CZ (which its calibration does not cover) would run noiseless
        two-qubit gates.  Without calibration data, the device's first target.
    name : {"auto", "cz", "sqrt_iswap", "sycamore"}
        A gate set by name, which the device must list.

    Returns
    -------
    (str, cirq.CompilationTargetGateset)
        The gate set's name and the gate set.

    Raises
    ------
    InvalidOptionError
        ``name`` is unknown or not a target of this device.
    """
    targets = list(getattr(getattr(device, "metadata", None), "compilation_target_gatesets", ()))
    named = [(_gateset_name(g), g) for g in targets]
    named = [(k, g) for k, g in named if k is not None]
    if not named:
        msg = f"device {device!r} lists no compilation target gate set cityopt knows"
        raise InvalidOptionError(msg)
    if name != "auto":
        for k, g in named:
            if k == name:
                return k, g
        msg = (
            f"option 'gateset' must be one of: auto, {', '.join(k for k, _ in named)} "
            f"(this device's targets); got {name!r}"
        )
        raise InvalidOptionError(msg)
    if calibration is not None:
        for key in GATESETS:
            metric = f"two_qubit_parallel_{GATESETS[key]}_gate_xeb_pauli_error_per_cycle"
            if metric in calibration:
                for k, g in named:
                    if k == key:
                        return k, g
    return named[0]


def calibration_errors(
    calibration: Mapping[str, Any] | None, gateset: str | None = None
) -> tuple[dict[Any, float], dict[frozenset, float]]:
    """Per-qubit and per-coupler error rates from a calibration, for placement.

    A qubit's error is its mean readout error ``(p00 + p11) / 2`` plus its
    single-qubit randomised-benchmarking Pauli error; a coupler's is the
    two-qubit XEB Pauli error per cycle of ``gateset``'s entangling gate
    (parallel figure where the calibration has it).  Missing data is left out.
    """
    qubit_err: dict[Any, float] = {}
    edge_err: dict[frozenset, float] = {}
    if calibration is None:
        return qubit_err, edge_err
    from cirq_google import Calibration

    def one_qubit(metric: str) -> dict[Any, float]:
        if metric not in calibration:
            return {}
        return {
            Calibration.key_to_qubit(k): Calibration.value_to_float(v)
            for k, v in calibration[metric].items()
        }

    p00 = one_qubit("single_qubit_p00_error")
    p11 = one_qubit("single_qubit_p11_error")
    rb = one_qubit("single_qubit_rb_pauli_error_per_gate")
    for q in set(p00) | set(p11) | set(rb):
        qubit_err[q] = 0.5 * (p00.get(q, 0.0) + p11.get(q, 0.0)) + rb.get(q, 0.0)
    if gateset in GATESETS:
        for prefix in ("two_qubit_parallel_", "two_qubit_"):
            metric = f"{prefix}{GATESETS[gateset]}_gate_xeb_pauli_error_per_cycle"
            if metric in calibration:
                for k, v in calibration[metric].items():
                    pair = frozenset(Calibration.key_to_qubits(k))
                    edge_err.setdefault(pair, Calibration.value_to_float(v))
    return qubit_err, edge_err


def choose_qubits(
    graph: nx.Graph,
    n: int,
    *,
    qubit_error: Mapping[Any, float] | None = None,
    edge_error: Mapping[frozenset, float] | None = None,
) -> list[Any]:
    """``n`` connected qubits of ``graph``: a compact patch of low error.

    Grows a patch greedily from every start qubit, each step adding the
    neighbouring qubit with the best score, and keeps the best patch.  The score
    of a patch is its expected error, ``sum`` of its qubits' errors plus the
    mean error of its couplers times ``n - 1``, minus, for each coupler beyond
    a spanning tree, the error of one SWAP (three two-qubit gates at the
    median coupler error): extra couplers mean fewer SWAPs after qubit mapping.
    Without calibration data every error is zero and the most compact patch wins
    (ties go to the smallest qubits, so the choice is deterministic).

    Raises
    ------
    ProblemTooLargeError
        No connected set of ``n`` qubits exists.
    """
    qubit_error = dict(qubit_error or {})
    edge_error = dict(edge_error or {})
    nodes = sorted(graph.nodes)
    if n < 1:
        msg = f"need at least one qubit, got n={n}"
        raise InvalidOptionError(msg)
    if n > len(nodes):
        msg = f"the circuit needs {n} qubits; the device has {len(nodes)}"
        raise ProblemTooLargeError(msg)
    q_med = float(np.median(list(qubit_error.values()))) if qubit_error else 0.0
    e_med = float(np.median(list(edge_error.values()))) if edge_error else 0.0
    swap_bonus = 3.0 * e_med if edge_error else 1.0

    def qerr(q: Any) -> float:
        return qubit_error.get(q, q_med)

    def eerr(a: Any, b: Any) -> float:
        return edge_error.get(frozenset((a, b)), e_med)

    def patch_score(patch: Sequence[Any]) -> tuple[float, tuple]:
        inside = set(patch)
        edges = [(a, b) for a, b in graph.subgraph(inside).edges]
        mean_e = sum(eerr(a, b) for a, b in edges) / len(edges) if edges else 0.0
        score = sum(qerr(q) for q in patch) + mean_e * (len(patch) - 1)
        score -= swap_bonus * (len(edges) - (len(patch) - 1))
        return score, tuple(sorted(patch))

    best: tuple[tuple[float, tuple], list[Any]] | None = None
    for start in nodes:
        patch, inside = [start], {start}
        while len(patch) < n:
            frontier = {v for u in patch for v in graph.neighbors(u) if v not in inside}
            if not frontier:
                break
            scored = []
            for v in frontier:
                links = [u for u in graph.neighbors(v) if u in inside]
                cost = qerr(v) + sum(eerr(u, v) for u in links) / len(links)
                scored.append((cost - swap_bonus * (len(links) - 1), v))
            v = min(scored)[1]
            patch.append(v)
            inside.add(v)
        if len(patch) < n:
            continue
        key = patch_score(patch)
        if best is None or key < best[0]:
            best = (key, patch)
    if best is None:
        msg = f"the device has no {n} connected qubits"
        raise ProblemTooLargeError(msg)
    return sorted(best[1])


@dataclass(frozen=True)
class MappedCircuit:
    """A circuit mapped onto device qubits (SWAPs inserted where two qubits do not couple).

    Attributes
    ----------
    circuit : cirq.Circuit
        On physical qubits, every two-qubit operation on a coupler, SWAPs added.
    initial : dict {logical qubit: physical qubit}
        Where each logical qubit starts.
    final : dict {logical qubit: physical qubit}
        Where each logical qubit is at the end (after the SWAPs): measure there.
    swaps : int
        SWAPs the mapping inserted.
    """

    circuit: cirq.Circuit
    initial: dict[Any, Any]
    final: dict[Any, Any]
    swaps: int


def map_qubits(circuit: cirq.AbstractCircuit, graph: nx.Graph, qubits: Sequence[Any]) -> MappedCircuit:
    """Map ``circuit`` with :class:`cirq.RouteCQC` onto the subgraph of ``graph`` on ``qubits``.

    ``qubits`` must be connected and at least as many as the circuit's qubits.
    Works on parameterised circuits (the mapping looks only at which qubits act).
    """
    import cirq

    sub = graph.subgraph(qubits).copy()
    router = cirq.RouteCQC(sub)
    mapped, initial, swap_map = router.route_circuit(circuit, tag_inserted_swaps=True)
    swaps = sum(1 for op in mapped.all_operations() if cirq.RoutingSwapTag() in op.tags)
    final = {lq: swap_map[pq] for lq, pq in initial.items()}
    return MappedCircuit(cirq.Circuit(mapped), dict(initial), final, swaps)


def compile_circuit(
    circuit: cirq.AbstractCircuit, gateset: cirq.CompilationTargetGateset
) -> cirq.Circuit:
    """``circuit`` (angles bound) in ``gateset``'s gates, negligible operations and empty moments dropped."""
    import cirq

    out = cirq.optimize_for_target_gateset(circuit, gateset=gateset)
    out = cirq.drop_negligible_operations(out)
    return cirq.drop_empty_moments(out)


def _two_qubit_ops(circuit: cirq.AbstractCircuit) -> int:
    from solvers.qaoa.circuit import count_two_qubit_gates

    return count_two_qubit_gates(circuit)


@dataclass(frozen=True)
class DeviceTarget:
    """What a backend runs against: a device to compile for (or none), and its calibration.

    ``device`` is None for a user sampler with no device: the logical circuit
    then runs as is, on ``cirq.LineQubit`` s.
    """

    processor_id: str | None
    device: cirq.Device | None
    calibration: Mapping[str, Any] | None = None


class DeviceBackend(QAOABackend):
    """Shot-based QAOA on a processor's device (base of ``qvm`` and ``engine``).

    Subclasses say where the device and the sampler come from; everything else
    (placement, qubit mapping, compilation, validation, measurement mapping, decoding
    and the sample-estimated expectation) happens here, identically.

    Parameters
    ----------
    cost, depth, mixer, groups, threads, processor
        See :class:`~solvers.qaoa.backends.base.QAOABackend`.
    shots_per_eval : int
        Shots behind one :meth:`expectation` estimate (default 1000).
    qubits : sequence of cirq.GridQubit, optional
        Device qubits to place the ``n`` logical qubits on (connected; default:
        :func:`choose_qubits` from the calibration).
    gateset : {"auto", "cz", "sqrt_iswap", "sycamore"}
        Compilation target (default: :func:`choose_gateset`).
    init_state : {"auto", "plus", "w", "basis"}
        The initial state, passed to :func:`~solvers.qaoa.circuit.qaoa_circuit`.
    seed : int, optional
        Seed of the stream of seeds that :meth:`expectation` draws its shots with
        (default 0, so an optimisation is reproducible); :meth:`sample` takes its own.
    """

    exact_expectation: ClassVar[bool] = False

    def __init__(
        self,
        cost: IsingCost,
        depth: int,
        *,
        shots_per_eval: int = DEFAULT_SHOTS_PER_EVAL,
        qubits: Sequence[Any] | None = None,
        gateset: str = "auto",
        seed: int | None = None,
        init_state: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(cost, depth, **kwargs)
        self.init_state = init_state
        if not (
            isinstance(shots_per_eval, int)
            and not isinstance(shots_per_eval, bool)
            and shots_per_eval >= 1
        ):
            msg = f"option 'shots_per_eval' must be a positive integer, got {shots_per_eval!r}"
            raise InvalidOptionError(msg)
        if gateset != "auto" and gateset not in GATESETS:
            msg = f"option 'gateset' must be one of: auto, {', '.join(GATESETS)}; got {gateset!r}"
            raise InvalidOptionError(msg)
        if seed is not None and not (
            isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
        ):
            msg = f"option 'seed' must be a non-negative integer, got {seed!r}"
            raise InvalidOptionError(msg)
        import cirq

        self._cirq = cirq
        self.shots_per_eval = shots_per_eval
        self._seed_seq = np.random.SeedSequence(0 if seed is None else seed)
        self.logical_qubits = cirq.LineQubit.range(self.num_qubits)
        self.logical_circuit = self._logical_circuit()

        self.target = self._connect()
        device = self.target.device
        if device is None:
            self.gateset_name: str | None = None
            self._gateset = None
            self.mapped = MappedCircuit(
                self.logical_circuit,
                {q: q for q in self.logical_qubits},
                {q: q for q in self.logical_qubits},
                0,
            )
            self.physical_qubits = list(self.logical_qubits)
        else:
            graph = getattr(getattr(device, "metadata", None), "nx_graph", None)
            if graph is None:
                msg = f"device {device!r} has no qubit graph (metadata.nx_graph) to map qubits on"
                raise InvalidOptionError(msg)
            self.gateset_name, self._gateset = choose_gateset(
                device, self.target.calibration, gateset
            )
            self.physical_qubits = self._place(graph, qubits)
            self.mapped = map_qubits(self.logical_circuit, graph, self.physical_qubits)
        self.measured_qubits = [self.mapped.final[q] for q in self.logical_qubits]
        self._compiled: collections.OrderedDict[Hashable, cirq.Circuit] = collections.OrderedDict()
        self.last_compile_s = math.nan
        # compile once at reference angles: fails early, and gives resources() figures
        ref = [0.4 + 0.1 * k for k in range(depth)], [-0.4 + 0.05 * k for k in range(depth)]
        self._last = self.circuit(*ref)

    # ------------------------------------------------------------ subclass hooks
    @abc.abstractmethod
    def _connect(self) -> DeviceTarget:
        """The device and calibration to compile for (network, if any, starts here)."""

    @abc.abstractmethod
    def _sampler(self, seed: int | None) -> cirq.Sampler:
        """The sampler for one run; ``seed`` seeds it where it can be seeded (simulators)."""

    # ------------------------------------------------------------ the pipeline
    def _logical_circuit(self) -> cirq.Circuit:
        """The parameterised logical circuit on ``LineQubit(0..n-1)``, every qubit present."""
        from solvers.qaoa.circuit import qaoa_circuit

        circuit = qaoa_circuit(
            self.cost.h,
            self.cost.J,
            self.depth,
            mixer=self.mixer,
            groups=self.groups,
            init_state=self.init_state,
            qubits=self.logical_qubits,
        )
        missing = set(self.logical_qubits) - set(circuit.all_qubits())
        if missing:  # keep every variable measurable (RouteCQC places only qubits it sees)
            circuit.append(self._cirq.I.on_each(*sorted(missing)))
        return circuit

    def _place(self, graph: nx.Graph, qubits: Sequence[Any] | None) -> list[Any]:
        import networkx as nx

        n = self.num_qubits
        if qubits is None:
            qerr, eerr = calibration_errors(self.target.calibration, self.gateset_name)
            return choose_qubits(graph, n, qubit_error=qerr, edge_error=eerr)
        chosen = list(qubits)
        bad = [q for q in chosen if q not in graph]
        if bad:
            msg = f"option 'qubits' names qubits not on the device: {bad}"
            raise InvalidOptionError(msg)
        if len(set(chosen)) != n:
            msg = f"option 'qubits' must name {n} distinct device qubits, got {len(set(chosen))}"
            raise InvalidOptionError(msg)
        if not nx.is_connected(graph.subgraph(chosen)):
            msg = f"option 'qubits' must be connected on the device: {chosen}"
            raise InvalidOptionError(msg)
        return sorted(chosen)

    def circuit(self, gammas: Sequence[float], betas: Sequence[float]) -> cirq.Circuit:
        """The circuit that runs: qubits mapped, angles bound, compiled, validated, measured (key ``"x"``)."""
        from solvers.qaoa.circuit import angle_resolver

        cirq = self._cirq
        key = (tuple(float(g) for g in gammas), tuple(float(b) for b in betas))
        hit = self._compiled.get(key)
        if hit is not None:
            self._compiled.move_to_end(key)
            self._last = hit
            return hit
        t0 = time.perf_counter()
        bound = cirq.resolve_parameters(self.mapped.circuit, angle_resolver(gammas, betas))
        if self._gateset is not None:
            bound = compile_circuit(bound, self._gateset)
        out = bound + cirq.Circuit(cirq.measure(*self.measured_qubits, key=MEASUREMENT_KEY))
        device = self.target.device
        if device is not None:
            try:
                device.validate_circuit(out)
            except ValueError as exc:  # a compilation bug, not the user's input
                msg = f"the compiled circuit fails {self.target.processor_id!r}'s validation: {exc}"
                raise SolverError(msg) from exc
        self.last_compile_s = time.perf_counter() - t0
        self._compiled[key] = out
        if len(self._compiled) > _COMPILE_CACHE_SIZE:
            self._compiled.popitem(last=False)
        self._last = out
        return out

    def _run(
        self, gammas: Sequence[float], betas: Sequence[float], shots: int, seed: int | None
    ) -> np.ndarray:
        circuit = self.circuit(gammas, betas)
        sampler = self._sampler(seed)
        result = sampler.run(circuit, repetitions=int(shots))
        bits = np.asarray(result.measurements[MEASUREMENT_KEY], dtype=np.uint8)
        if bits.shape != (int(shots), self.num_qubits):
            msg = f"the sampler returned bits of shape {bits.shape}, expected {(int(shots), self.num_qubits)}"
            raise SolverError(msg)
        return bits

    # ------------------------------------------------------------ the backend interface
    def state(self, gammas: Sequence[float], betas: Sequence[float]) -> np.ndarray:
        msg = (
            f"QAOA backend {self.name!r} gives samples, not state vectors; "
            "use sample() or expectation(), or the 'qsim' backend for states"
        )
        raise NotImplementedError(msg)

    def expectation(self, gammas: Sequence[float], betas: Sequence[float]) -> float:
        """Mean normalised cost ``C'`` over ``shots_per_eval`` shots (an estimate)."""
        seed = int(self._seed_seq.spawn(1)[0].generate_state(1)[0] & 0x7FFFFFFF)
        bits = self._run(gammas, betas, self.shots_per_eval, seed)
        return float(np.mean(self.cost.diag[bits_index(bits)]))

    def sample(
        self,
        gammas: Sequence[float],
        betas: Sequence[float],
        shots: int,
        *,
        seed: int | None = None,
    ) -> np.ndarray:
        return self._run(gammas, betas, shots, seed)

    def resources(self) -> dict[str, Any]:
        compiled = self._last
        device = self.target.device
        n_dev = len(device.metadata.qubit_set) if device is not None and device.metadata else None
        body = compiled[:-1]  # the measurement moment is not part of the depth figure
        return {
            "two_qubit_gates": _two_qubit_ops(compiled),
            "circuit_moments": len(body),
            "logical_qubits": self.num_qubits,
            "physical_qubits": len(set(body.all_qubits()) | set(self.measured_qubits)),
            "two_qubit_gates_logical": _two_qubit_ops(self.logical_circuit),
            "two_qubit_gates_compiled": _two_qubit_ops(compiled),
            "circuit_depth_compiled": len(body),
            "swaps_inserted": self.mapped.swaps,
            "processor": self.target.processor_id,
            "device_qubits_available": n_dev,
            "gateset": self.gateset_name,
            "shots_per_eval": self.shots_per_eval,
            "placement": [str(self.mapped.initial[q]) for q in self.logical_qubits],
            "measured_qubits": [str(q) for q in self.measured_qubits],
            "compile_time_s": self.last_compile_s,
        }
