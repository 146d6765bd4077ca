"""QAOA on Google devices: the ``qvm:<processor>`` virtual machines and the ``engine`` path.

Compiled circuits pass each device's validation and, simulated without noise,
give the logical circuit's distribution (qubit mapping included); the noisy QVM
samples in variable order and is noisy; the expectation is estimated from
samples in the right order; ``engine:`` fails clearly without credentials and
runs any ``cirq.Sampler``.  No test touches the network (tests/conftest.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

cirq = pytest.importorskip("cirq")
cirq_google = pytest.importorskip("cirq_google")
qsimcirq = pytest.importorskip("qsimcirq")

from cirq.devices import noise_utils  # noqa: E402
from cirq_google.engine import virtual_engine_factory as vef  # noqa: E402

from solvers import QUBO, QUBOBuilder, solve_qubo  # noqa: E402
from solvers.errors import (  # noqa: E402
    BackendUnavailableError,
    InvalidOptionError,
    ProblemTooLargeError,
)
from solvers.qaoa.backends import available_backends, make_backend  # noqa: E402
from solvers.qaoa.backends import engine as engine_mod  # noqa: E402
from solvers.qaoa.backends.device import choose_gateset, choose_qubits  # noqa: E402
from solvers.qaoa.backends.engine import EngineBackend  # noqa: E402
from solvers.qaoa.backends.qsim import QsimBackend  # noqa: E402
from solvers.qaoa.backends.qvm import QVMBackend, virtual_processors  # noqa: E402
from solvers.qaoa.circuit import qaoa_circuit  # noqa: E402
from solvers.qaoa.cost import IsingCost  # noqa: E402

PROCESSORS = ["rainbow", "weber", "willow_pink"]
RESOURCE_KEYS = {
    "logical_qubits",
    "physical_qubits",
    "two_qubit_gates_logical",
    "two_qubit_gates_compiled",
    "circuit_depth_compiled",
    "swaps_inserted",
    "processor",
    "device_qubits_available",
    "two_qubit_gates",
    "circuit_moments",
}


# ---------------------------------------------------------------- helpers


def random_cost(n: int, seed: int) -> IsingCost:
    rng = np.random.default_rng(seed)
    return IsingCost.from_qubo(QUBO.from_matrix(np.triu(rng.normal(size=(n, n)))))


def logical_probabilities(cost: IsingCost, depth: int, gammas, betas) -> np.ndarray:
    """|psi|^2 of the uncompiled circuit, complex128, variable 0 the most significant bit."""
    c = qaoa_circuit(cost.h, cost.J, depth, gammas=gammas, betas=betas)
    psi = (
        cirq.Simulator(dtype=np.complex128)
        .simulate(c, qubit_order=cirq.LineQubit.range(cost.num_qubits))
        .final_state_vector
    )
    return np.abs(psi) ** 2


def compiled_probabilities(backend, gammas, betas) -> np.ndarray:
    """|psi|^2 of the compiled device circuit, noiseless, read in the measured-qubit order."""
    circuit = backend.circuit(gammas, betas)
    last = circuit[-1]
    assert all(cirq.is_measurement(op) for op in last.operations)
    (meas,) = last.operations
    assert list(meas.qubits) == list(backend.measured_qubits)
    psi = (
        cirq.Simulator(dtype=np.complex128)
        .simulate(circuit[:-1], qubit_order=backend.measured_qubits)
        .final_state_vector
    )
    return np.abs(psi) ** 2


def strong_field_qubo(target: list[int]) -> QUBO:
    """A QUBO whose unique optimum is ``target``: strong fields, weak couplings."""
    n = len(target)
    linear = {i: (-1.0 if t else 1.0) for i, t in enumerate(target)}
    quad = {(i, i + 1): 0.1 for i in range(n - 1)}
    quad[(0, n - 1)] = -0.1
    return QUBO.from_terms(linear, quad)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No project, no credentials anywhere; building an Engine fails the test."""
    for var in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS", "GCLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path))

    def forbidden(*args, **kwargs):
        raise AssertionError("an Engine was built although credentials are missing")

    monkeypatch.setattr(engine_mod, "_quantum_engine", forbidden)


# ---------------------------------------------------------------- compilation


@pytest.mark.parametrize("processor", PROCESSORS)
@pytest.mark.parametrize(("n", "depth", "seed"), [(5, 2, 11), (6, 1, 12)])
def test_compiled_circuit_is_valid_and_equals_the_logical_one(processor, n, depth, seed):
    cost = random_cost(n, seed)
    backend = make_backend(f"qvm:{processor}", cost, depth)
    rng = np.random.default_rng(seed)
    gammas, betas = rng.uniform(-1, 1, depth), rng.uniform(-1, 1, depth)

    circuit = backend.circuit(gammas, betas)
    device = vef.create_device_from_processor_id(processor)  # a fresh copy, not the backend's
    device.validate_circuit(circuit)
    graph = device.metadata.nx_graph
    for op in circuit.all_operations():
        if len(op.qubits) == 2:
            assert graph.has_edge(*op.qubits), op
    assert not cirq.is_parameterized(circuit)

    res = backend.resources()
    assert RESOURCE_KEYS <= set(res)
    assert res["swaps_inserted"] > 0  # so the final qubit mapping is exercised below
    assert backend.mapped.initial != backend.mapped.final
    assert res["logical_qubits"] == res["physical_qubits"] == n
    assert res["device_qubits_available"] == len(device.metadata.qubit_set)
    assert res["processor"] == processor
    assert res["two_qubit_gates_logical"] == depth * len(cost.J)
    assert res["two_qubit_gates_compiled"] >= res["two_qubit_gates_logical"]
    assert res["circuit_depth_compiled"] == len(circuit) - 1
    json.dumps(res)  # summary.json must be able to hold it

    p_logical = logical_probabilities(cost, depth, gammas, betas)
    p_compiled = compiled_probabilities(backend, gammas, betas)
    np.testing.assert_allclose(p_compiled, p_logical, atol=1e-6)


@pytest.mark.parametrize("processor", ["weber", "willow_pink"])
@pytest.mark.parametrize("mixer", ["xy-ring", "xy-complete"])
def test_xy_mixer_circuits_compile_and_keep_their_distribution(processor, mixer):
    groups = [(0, 1, 2), (3, 4)]
    cost = random_cost(5, 31)
    backend = make_backend(f"qvm:{processor}", cost, 2, mixer=mixer, groups=groups)
    gammas, betas = [0.4, 0.7], [-0.5, 0.3]
    vef.create_device_from_processor_id(processor).validate_circuit(backend.circuit(gammas, betas))
    logical = qaoa_circuit(
        cost.h, cost.J, 2, mixer=mixer, groups=groups, gammas=gammas, betas=betas
    )
    psi = (
        cirq.Simulator(dtype=np.complex128)
        .simulate(logical, qubit_order=cirq.LineQubit.range(5))
        .final_state_vector
    )
    p_compiled = compiled_probabilities(backend, gammas, betas)
    np.testing.assert_allclose(p_compiled, np.abs(psi) ** 2, atol=1e-6)
    # the XY mixer keeps every one-hot group feasible, after compilation too
    feasible = [
        i
        for i in range(32)
        if format(i, "05b")[:3].count("1") == 1 and format(i, "05b")[3:].count("1") == 1
    ]
    assert p_compiled[feasible].sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("processor", PROCESSORS)
def test_compiled_two_qubit_gates_are_the_calibrated_ones(processor):
    """The virtual machine charges noise only for calibrated gates: compile to those."""
    backend = make_backend(f"qvm:{processor}", random_cost(4, 3), 1)
    errors = vef.load_device_noise_properties(processor).gate_pauli_errors
    two = [op for op in backend.circuit([0.3], [-0.3]).all_operations() if len(op.qubits) == 2]
    assert two
    for op in two:
        assert noise_utils.OpIdentifier(type(op.gate), *op.qubits) in errors, op
    assert backend.resources()["gateset"] == ("cz" if processor == "willow_pink" else "sqrt_iswap")


def test_choose_gateset_and_qubits():
    rainbow = vef.create_device_from_processor_id("rainbow")
    cal = vef.load_median_device_calibration("rainbow")
    assert choose_gateset(rainbow, cal)[0] == "sqrt_iswap"
    assert choose_gateset(rainbow, cal, "cz")[0] == "cz"
    willow = vef.create_device_from_processor_id("willow_pink")
    with pytest.raises(InvalidOptionError, match="sqrt_iswap"):
        choose_gateset(willow, None, "sqrt_iswap")
    graph = rainbow.metadata.nx_graph
    with pytest.raises(ProblemTooLargeError, match="24 qubits"):
        choose_qubits(graph, 24)
    four = choose_qubits(graph, 4)
    sub = graph.subgraph(four)
    assert sub.number_of_edges() == 4  # a 2 x 2 square: the most compact patch


def test_explicit_qubits_are_used_and_checked():
    cost = random_cost(4, 5)
    square = [
        cirq.GridQubit(5, 3),
        cirq.GridQubit(5, 4),
        cirq.GridQubit(6, 3),
        cirq.GridQubit(6, 4),
    ]
    backend = make_backend("qvm:rainbow", cost, 1, qubits=square)
    assert set(backend.circuit([0.2], [-0.3]).all_qubits()) == set(square)
    apart = [cirq.GridQubit(5, 3), cirq.GridQubit(5, 4), cirq.GridQubit(6, 3), cirq.GridQubit(8, 4)]
    with pytest.raises(InvalidOptionError, match="connected"):
        make_backend("qvm:rainbow", cost, 1, qubits=apart)
    with pytest.raises(InvalidOptionError, match="not on the device"):
        make_backend("qvm:rainbow", cost, 1, qubits=[*square[:3], cirq.GridQubit(0, 0)])


# ---------------------------------------------------------------- the noisy QVM


@pytest.mark.parametrize("processor", PROCESSORS)
def test_qvm_samples_the_optimum_in_variable_order(processor):
    target = [1, 0, 1, 1, 0]
    cost = IsingCost.from_qubo(strong_field_qubo(target))
    exact = QsimBackend(cost, 1)
    idx = int("".join(map(str, target)), 2)
    # the angles that put the most weight on the optimum, found without noise
    grid = [(g, b) for g in np.linspace(0.2, 1.2, 11) for b in np.linspace(-1.2, 1.2, 13)]
    g, b = max(grid, key=lambda gb: exact.probabilities([gb[0]], [gb[1]])[idx])
    p_noiseless = float(exact.probabilities([g], [b])[idx])
    assert p_noiseless > 0.9

    qvm = make_backend(f"qvm:{processor}", cost, 1)
    assert qvm.resources()["swaps_inserted"] > 0
    bits = qvm.sample([g], [b], 1000, seed=7)
    assert bits.shape == (1000, 5) and bits.dtype == np.uint8
    assert set(np.unique(bits)) <= {0, 1}
    rows, counts = np.unique(bits, axis=0, return_counts=True)
    assert rows[np.argmax(counts)].tolist() == target
    frequency = counts.max() / 1000
    assert 0.5 < frequency < p_noiseless - 0.01  # found, and noise did cost something
    np.testing.assert_array_equal(qvm.sample([g], [b], 1000, seed=7), bits)
    assert not np.array_equal(qvm.sample([g], [b], 1000, seed=8), bits)


def test_qvm_is_shot_based():
    qvm = make_backend("qvm:weber", random_cost(3, 1), 1, shots_per_eval=50)
    assert qvm.exact_expectation is False
    with pytest.raises(NotImplementedError, match="samples"):
        qvm.state([0.1], [0.2])
    first = qvm.expectation([0.3], [-0.3])
    assert np.isfinite(first)
    # a fresh backend repeats the same estimates (reproducible optimisation)
    again = make_backend("qvm:weber", random_cost(3, 1), 1, shots_per_eval=50)
    assert again.expectation([0.3], [-0.3]) == first


# ---------------------------------------------------------------- the engine path


def test_user_sampler_runs_through_the_engine_path_and_estimates_the_expectation():
    cost = random_cost(5, 23)
    gammas, betas = [0.5, 0.2], [-0.4, -0.6]
    shots = 4000
    backend = make_backend(
        "engine:rainbow",
        cost,
        2,
        sampler=qsimcirq.QSimSimulator(seed=3),
        shots_per_eval=shots,
    )
    assert isinstance(backend, EngineBackend)
    res = backend.resources()
    assert res["processor"] == "rainbow" and res["swaps_inserted"] > 0
    vef.create_device_from_processor_id("rainbow").validate_circuit(backend.circuit(gammas, betas))

    p = logical_probabilities(cost, 2, gammas, betas)
    mean = float(p @ cost.diag)
    sigma = float(np.sqrt(p @ (cost.diag - mean) ** 2 / shots))
    estimate = backend.expectation(gammas, betas)
    assert abs(estimate - mean) < 4 * sigma
    # the test can fail: read in reversed column order, the estimate would be far off
    n = cost.num_qubits
    rev = np.array([int(format(i, f"0{n}b")[::-1], 2) for i in range(2**n)])
    assert abs(float(p @ cost.diag[rev]) - mean) > 10 * sigma

    bits = backend.sample(gammas, betas, 2000)
    assert bits.shape == (2000, 5)
    freq = np.bincount(bits @ (1 << np.arange(n - 1, -1, -1)), minlength=2**n) / 2000
    assert np.abs(freq - p).max() < 0.05


def test_user_sampler_without_a_known_device_runs_the_logical_circuit():
    cost = random_cost(3, 2)
    backend = make_backend("engine:my_simulator", cost, 1, sampler=cirq.Simulator(seed=1))
    circuit = backend.circuit([0.3], [-0.2])
    assert set(circuit.all_qubits()) == set(cirq.LineQubit.range(3))
    res = backend.resources()
    assert res["swaps_inserted"] == 0 and res["device_qubits_available"] is None
    assert backend.sample([0.3], [-0.2], 10).shape == (10, 3)


def test_engine_without_credentials_says_what_is_missing(no_credentials):
    cost = random_cost(3, 4)
    with pytest.raises(BackendUnavailableError) as info:
        make_backend("engine:rainbow", cost, 1)
    msg = str(info.value)
    assert "GOOGLE_CLOUD_PROJECT" in msg
    assert "gcloud auth application-default login" in msg
    assert "GOOGLE_APPLICATION_CREDENTIALS" in msg
    assert info.value.__cause__ is None
    # the same error through the solver
    q = QUBO.from_terms({0: 1.0, 1: -1.0}, {(0, 1): 0.5})
    with pytest.raises(BackendUnavailableError, match="GOOGLE_CLOUD_PROJECT"):
        solve_qubo(q, "qaoa", backend="engine:rainbow")


def test_engine_credentials_file_problems_are_clear(no_credentials, monkeypatch, tmp_path):
    cost = random_cost(3, 4)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(BackendUnavailableError, match="missing.json' is not a file") as info:
        make_backend("engine:rainbow", cost, 1)
    assert "project id" not in str(info.value)  # the project is set: only the file is named
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    with pytest.raises(BackendUnavailableError, match="cannot read Google credentials") as info:
        make_backend("engine:rainbow", cost, 1)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_engine_with_credentials_uses_the_processor_interface(monkeypatch):
    """With credentials, the engine's processor gives device, calibration and sampler."""
    calls = []

    def fake_engine(project_id, credentials):
        calls.append((project_id, credentials))
        return vef.create_noiseless_virtual_engine_from_latest_templates()

    monkeypatch.setattr(engine_mod, "_quantum_engine", fake_engine)
    marker = object()
    cost = random_cost(4, 8)
    backend = make_backend("engine:weber", cost, 1, project_id="my-project", credentials=marker)
    assert calls == [("my-project", marker)]
    gammas, betas = [0.4], [-0.3]
    vef.create_device_from_processor_id("weber").validate_circuit(backend.circuit(gammas, betas))
    bits = backend.sample(gammas, betas, 3000)
    n = cost.num_qubits
    freq = np.bincount(bits @ (1 << np.arange(n - 1, -1, -1)), minlength=2**n) / 3000
    np.testing.assert_allclose(freq, logical_probabilities(cost, 1, gammas, betas), atol=0.04)


def test_engine_is_built_offline_and_network_failures_are_one_clear_error(monkeypatch):
    engine = engine_mod._quantum_engine("my-project", object())  # sockets are blocked here
    assert engine.project_id == "my-project"
    assert engine.context.client.max_retry_delay_seconds == engine_mod.ENGINE_MAX_RETRY_DELAY_S
    assert engine.get_processor("rainbow").processor_id == "rainbow"

    class Unreachable:
        def get_processor(self, pid):
            return self

        def get_device(self):
            raise ConnectionError("name resolution failed")

    monkeypatch.setattr(engine_mod, "_quantum_engine", lambda project, creds: Unreachable())
    with pytest.raises(BackendUnavailableError, match="cannot reach processor 'rainbow'") as info:
        make_backend("engine:rainbow", random_cost(3, 1), 1, project_id="p", credentials=object())
    assert "ConnectionError: name resolution failed" in str(info.value)


# ---------------------------------------------------------------- names and options


def test_bad_processor_name_lists_the_valid_ones():
    assert virtual_processors() == PROCESSORS
    assert "qvm:<processor>" in available_backends()
    assert "engine:<processor>" in available_backends()
    with pytest.raises(InvalidOptionError, match="rainbow, weber, willow_pink") as info:
        make_backend("qvm:sycamore", random_cost(2, 0), 1)
    assert "'sycamore'" in str(info.value)
    with pytest.raises(InvalidOptionError, match="qvm:<processor>"):
        make_backend("qvm", random_cost(2, 0), 1)


def test_unknown_and_bad_options_raise():
    cost = random_cost(2, 0)
    with pytest.raises(InvalidOptionError, match="frobnicate"):
        QVMBackend(cost, 1, processor="weber", frobnicate=1)
    with pytest.raises(InvalidOptionError, match="shots_per_eval"):
        make_backend("qvm:weber", cost, 1, shots_per_eval=0)
    with pytest.raises(InvalidOptionError, match="gateset"):
        make_backend("qvm:weber", cost, 1, gateset="magic")
    with pytest.raises(InvalidOptionError, match="sampler"):
        make_backend("engine:weber", cost, 1, sampler="qsim")


# ---------------------------------------------------------------- the solver


def test_solve_qubo_on_the_qvm_finds_a_good_feasible_answer():
    rng = np.random.default_rng(3)
    b = QUBOBuilder()
    groups = [[f"t{t}r{r}" for r in range(2)] for t in range(3)]
    for g in groups:
        for v in g:
            b.add_linear(v, float(rng.uniform(0.0, 2.0)))
    for g in groups:
        b.add_onehot(g, penalty=6.0)
    q = b.build()
    best = min(q.energy([int(c) for c in format(i, "06b")]) for i in range(64))
    sol = solve_qubo(q, "qaoa", backend="qvm:willow_pink", depth=1, seed=1, shots=500, maxiter=8)
    assert sol.feasible
    assert sol.energy == pytest.approx(best)
    assert sol.resources["processor"] == "willow_pink"
