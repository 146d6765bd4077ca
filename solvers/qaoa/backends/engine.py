"""``engine:<processor>``: a real Google processor through ``cirq_google.Engine``, or any sampler.

The circuit takes the same path as on the virtual machine (placement, qubit mapping,
compilation, validation, measurement mapping: :mod:`solvers.qaoa.backends.device`); only
the device and the sampler come from the Quantum Engine:
``cirq_google.Engine(project_id).get_processor(pid)`` with its
``get_device()``, ``get_current_calibration()`` and ``get_sampler()``.

Credentials are looked for before anything reaches the network, without
google-auth's discovery (which would ask the GCE metadata server): the project
id is the option ``project_id`` or the environment variable
``GOOGLE_CLOUD_PROJECT``; the credentials are the option ``credentials`` (a
``google.auth`` credentials object), the key file named by
``GOOGLE_APPLICATION_CREDENTIALS``, or the application-default credentials that
``gcloud auth application-default login`` writes.  When any is missing, one
:class:`~solvers.errors.BackendUnavailableError` says which and how to set it.

With the option ``sampler`` (any ``cirq.Sampler``: a ``cirq.Simulator``, a
qsim sampler, a processor's sampler you built yourself) no credentials are
needed: the circuit is compiled for the option ``device`` if given, else for the
named processor's device where cirq_google ships its specification (rainbow,
weber, willow_pink), else the logical circuit runs as is on ``cirq.LineQubit`` s.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solvers.errors import BackendUnavailableError, CityoptError, InvalidOptionError, SolverError
from solvers.qaoa.backends.device import DeviceBackend, DeviceTarget

if TYPE_CHECKING:  # pragma: no cover
    import cirq

    from solvers.qaoa.cost import IsingCost

__all__ = [
    "CREDENTIALS_ENV",
    "ENGINE_MAX_RETRY_DELAY_S",
    "PROJECT_ENV",
    "EngineBackend",
    "application_default_credentials_path",
    "find_credentials",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the Google Cloud project.
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
#: Environment variable naming a credentials (service-account key) file.
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
#: Longest back-off delay (seconds) between retries of an unreachable Quantum Engine
#: (about twice that in all before giving up).
ENGINE_MAX_RETRY_DELAY_S = 60
#: OAuth scope of the Quantum Engine API.
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def application_default_credentials_path() -> Path:
    """Where ``gcloud auth application-default login`` writes its credentials."""
    config = os.environ.get("CLOUDSDK_CONFIG")
    if config:
        return Path(config) / "application_default_credentials.json"
    if sys.platform == "win32":  # pragma: no cover
        base = Path(os.environ.get("APPDATA", Path.home())) / "gcloud"
    else:
        base = Path.home() / ".config" / "gcloud"
    return base / "application_default_credentials.json"


def find_credentials(
    project_id: str | None = None, credentials: Any = None, *, backend: str = "engine"
) -> tuple[str, Any]:
    """The project id and credentials for the Quantum Engine, found offline.

    Returns
    -------
    (str, google.auth.credentials.Credentials)

    Raises
    ------
    BackendUnavailableError
        One error naming everything that is missing and how to set it, or why a
        credentials file cannot be read.
    """
    project = (project_id or os.environ.get(PROJECT_ENV, "")).strip() or None
    problems: list[str] = []
    if project is None:
        problems.append(
            f"no Google Cloud project id (pass project_id='my-project' or set {PROJECT_ENV})"
        )
    path: Path | None = None
    if credentials is None:
        named = os.environ.get(CREDENTIALS_ENV, "").strip()
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                problems.append(f"{CREDENTIALS_ENV}={named!r} is not a file")
        else:
            path = application_default_credentials_path()
            if not path.is_file():
                problems.append(
                    "no credentials (run `gcloud auth application-default login`, or set "
                    f"{CREDENTIALS_ENV} to a service-account key file, or pass "
                    "credentials=<google.auth credentials>)"
                )
    if problems:
        msg = (
            f"QAOA backend {backend!r} runs on a Google quantum processor and needs a Cloud "
            f"project with Quantum Engine access: {'; '.join(problems)}. To run without "
            "hardware, use backend 'qvm:<processor>' or pass sampler=<a cirq.Sampler>"
        )
        raise BackendUnavailableError(msg)
    if credentials is None:
        try:
            credentials = _load_credentials(Path(str(path)))
        except Exception as exc:  # json / google-auth raise several kinds; say which file and why
            msg = f"QAOA backend {backend!r}: cannot read Google credentials from {path}: {exc}"
            raise BackendUnavailableError(msg) from None
    return str(project), credentials


def _load_credentials(path: Path) -> Any:
    """Credentials from a service-account key or an authorized-user (gcloud ADC) file."""
    import json

    info = json.loads(path.read_text())
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=_SCOPES)
    if kind == "authorized_user":
        from google.oauth2 import credentials as user_credentials

        return user_credentials.Credentials.from_authorized_user_info(info, scopes=_SCOPES)
    import google.auth  # other kinds (external accounts, impersonation): google-auth's own loader

    creds, _ = google.auth.load_credentials_from_file(str(path), scopes=_SCOPES)
    return creds


def _quantum_engine(project_id: str, credentials: Any) -> Any:
    """``cirq_google.Engine`` for the project (no network until a processor is asked).

    Its client gives up retrying an unreachable service once the back-off delay
    passes :data:`ENGINE_MAX_RETRY_DELAY_S` (cirq_google's default, an hour,
    would keep an offline machine waiting for about two), and prints nothing.
    """
    import cirq_google
    from cirq_google.engine.engine import EngineContext
    from cirq_google.engine.engine_client import EngineClient

    client = EngineClient(
        service_args={"credentials": credentials},
        verbose=False,
        max_retry_delay_seconds=ENGINE_MAX_RETRY_DELAY_S,
    )
    return cirq_google.Engine(project_id=project_id, context=EngineContext(client=client))


class EngineBackend(DeviceBackend):
    """A Google quantum processor through the Quantum Engine (see the module docstring).

    Options, beyond :class:`~solvers.qaoa.backends.device.DeviceBackend`'s: ``project_id``,
    ``credentials``, ``sampler`` (a ``cirq.Sampler`` to run on instead of the
    Engine) and ``device`` (a ``cirq.Device`` to compile for).  Seeds do not
    reach hardware or a user's sampler: seed those yourself.
    """

    name = "engine"

    def __init__(
        self,
        cost: IsingCost,
        depth: int,
        *,
        project_id: str | None = None,
        credentials: Any = None,
        sampler: cirq.Sampler | None = None,
        device: cirq.Device | None = None,
        **kwargs: Any,
    ) -> None:
        import cirq

        if sampler is not None and not isinstance(sampler, cirq.Sampler):
            msg = f"option 'sampler' must be a cirq.Sampler, got {type(sampler).__name__}"
            raise InvalidOptionError(msg)
        if device is not None and not isinstance(device, cirq.Device):
            msg = f"option 'device' must be a cirq.Device, got {type(device).__name__}"
            raise InvalidOptionError(msg)
        if project_id is not None and not isinstance(project_id, str):
            msg = f"option 'project_id' must be a string, got {project_id!r}"
            raise InvalidOptionError(msg)
        self._project_id = project_id
        self._credentials = credentials
        self._user_sampler = sampler
        self._user_device = device
        super().__init__(cost, depth, **kwargs)

    def _connect(self) -> DeviceTarget:
        pid = str(self.processor)
        if self._user_sampler is not None:
            return self._offline_target(pid)
        project, creds = find_credentials(
            self._project_id, self._credentials, backend=f"engine:{pid}"
        )
        engine = _quantum_engine(project, creds)
        processor = engine.get_processor(pid)
        where = f"processor {pid!r} of project {project!r}"
        try:
            device = self._user_device or processor.get_device()
        except Exception as exc:  # network, auth, unknown processor: one clear error
            msg = f"cannot reach {where} through the Quantum Engine: {type(exc).__name__}: {exc}"
            raise BackendUnavailableError(msg) from None
        try:
            calibration = processor.get_current_calibration()
        except Exception as exc:
            logger.warning("no calibration for %s (%s); placing qubits without it", where, exc)
            calibration = None
        try:
            self._processor_sampler = processor.get_sampler()
        except Exception as exc:
            msg = f"cannot get a sampler for {where}: {type(exc).__name__}: {exc}"
            raise BackendUnavailableError(msg) from None
        self.engine = engine
        return DeviceTarget(pid, device, calibration)

    def _offline_target(self, pid: str) -> DeviceTarget:
        """The device to compile for when the user brings the sampler (no network)."""
        from cirq_google.engine import virtual_engine_factory as vef

        known = pid in vef.list_virtual_processors()
        calibration = (
            vef.load_median_device_calibration(pid) if pid in vef.MEDIAN_CALIBRATIONS else None
        )
        if self._user_device is not None:
            return DeviceTarget(pid, self._user_device, calibration if known else None)
        if known:
            return DeviceTarget(pid, vef.create_device_from_processor_id(pid), calibration)
        logger.info(
            "engine:%s with a user sampler: no device known for %r, running the logical circuit as is",
            pid,
            pid,
        )
        return DeviceTarget(pid, None, None)

    def _sampler(self, seed: int | None) -> cirq.Sampler:
        return self._user_sampler if self._user_sampler is not None else self._processor_sampler

    def _run(self, gammas: Any, betas: Any, shots: int, seed: int | None) -> Any:
        if self._user_sampler is not None:
            return super()._run(gammas, betas, shots, seed)
        try:
            return super()._run(gammas, betas, shots, seed)
        except CityoptError:
            raise
        except Exception as exc:  # the job failed remotely, or the service went away
            msg = f"the job on processor {self.processor!r} failed: {type(exc).__name__}: {exc}"
            raise SolverError(msg) from exc
