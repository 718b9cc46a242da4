"""Emulator state that survives a restart: snapshots of moto's backends and of the emulator's own records.

moto keeps every resource in process memory and has no persistence of its own, so the launcher pickles what it
holds into one file (`Emulator(..., state_path=...)`; the CLI's background server passes
`<home>/emulator-snapshot.bin`):

- the file starts with one JSON line, the header: snapshot format, moto version, Python version, time; a
  snapshot from another moto or Python (pickles of moto objects are tied to both) is refused with one line
  saying how to discard it;
- then the pickle: every moto backend in use (by the module attribute that holds its BackendDict) and the
  pipeline execution registry; objects pickle cannot take (locks, conditions, weak dictionaries, lambdas as
  `defaultdict` factories, cryptography keys) are rebuilt on load;
- written to a temporary file and renamed, so a crash mid-write leaves the previous snapshot;
- `Snapshotter` writes one at most every `interval` seconds after a change (off the request threads) and on a
  graceful stop, so a killed server loses at most the last few seconds;
- on restore, pipeline executions, their steps and processing/training jobs that had not ended are Failed with
  "the emulator stopped while this ran (restored from snapshot <time>)": nothing runs them any more.
"""

from __future__ import annotations

import copy
import copyreg
import functools
import io
import json
import logging
import os
import pickle
import sys
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("batchops_local.emulator.persistence")

SNAPSHOT_FILE = "emulator-snapshot.bin"
SNAPSHOT_FORMAT = 1  # raise when the layout of the pickled payload changes
DEFAULT_INTERVAL_SECONDS = 2.0
INTERRUPTED_REASON = "the emulator stopped while this ran (restored from snapshot {time})"


class SnapshotError(RuntimeError):
    """A snapshot that cannot be restored (one line: what, where, and how to discard it)."""


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def current_header() -> dict[str, Any]:
    return {"format": SNAPSHOT_FORMAT, "moto": _moto_version(), "python": _python_version()}


def read_header(path: Path) -> dict[str, Any] | None:
    """The snapshot's header, checked against this process; None when there is no snapshot."""
    try:
        with open(path, "rb") as stream:
            line = stream.readline(4096)
    except FileNotFoundError:
        return None
    try:
        header = json.loads(line)
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        raise SnapshotError(
            f"{path}: not an emulator snapshot (no header line); delete the file to start with an empty emulator"
        ) from None
    expected = current_header()
    found = {key: header.get(key) for key in expected}
    if found != expected:
        written = ", ".join(f"{key} {value}" for key, value in found.items())
        running = ", ".join(f"{key} {value}" for key, value in expected.items())
        raise SnapshotError(
            f"{path}: the emulator snapshot was written with {written} and this emulator runs {running}, so it "
            "cannot be restored; delete the file (its resources are lost) or go back to that moto/Python"
        )
    return header


# ------------------------------------------------------------------------------------------- pickling


def _weak_value_dictionary(items: dict[Any, Any]) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _defaultdict(kind: type, factory: Any, attributes: dict[str, Any], items: dict[Any, Any]) -> defaultdict:
    restored = defaultdict.__new__(kind)
    defaultdict.__init__(restored, factory)
    if attributes:  # a subclass's own attributes (a plain defaultdict has no __dict__)
        restored.__dict__.update(attributes)
    dict.update(restored, items)
    return restored


def _reduce_defaultdict(obj: defaultdict) -> tuple[Any, ...]:
    """Also for subclasses whose __init__ takes other arguments (moto's ssm ParameterDict) and for factories
    pickle cannot name (`defaultdict(lambda: defaultdict(dict))`): the factory becomes "a copy of what it made"."""
    factory = obj.default_factory
    qualname = getattr(factory, "__qualname__", "")
    if "<lambda>" in qualname or "<locals>" in qualname:
        factory = functools.partial(copy.deepcopy, factory())
    return _defaultdict, (type(obj), factory, dict(getattr(obj, "__dict__", {})), dict(dict.items(obj)))


def _dict_subclass(kind: type, attributes: dict[str, Any], items: dict[Any, Any]) -> dict:
    restored = dict.__new__(kind)
    if attributes:
        restored.__dict__.update(attributes)
    dict.update(restored, items)
    return restored


def _reduce_dict_subclass(obj: dict) -> tuple[Any, ...]:
    """moto's dict subclasses by their stored items: pickle's default goes through the subclass's own items()
    and __setitem__, which for S3's versioned key store means the latest versions only."""
    return _dict_subclass, (type(obj), dict(getattr(obj, "__dict__", {})), dict(dict.items(obj)))


def _private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(der, password=None)


def _reduce_private_key(key: Any) -> tuple[Any, ...]:
    from cryptography.hazmat.primitives import serialization

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _private_key, (der,)


def _subclasses(kind: type) -> list[type]:
    found = [kind]
    for sub in kind.__subclasses__():
        found += _subclasses(sub)
    return found


def _dispatch_table() -> dict[type, Callable[[Any], Any]]:
    """Reducers by exact type (looked up in C, so the common objects cost nothing extra) for what pickle
    cannot take or takes wrongly: synchronisation objects (rebuilt new: nothing waits on them across a
    restart), weak dictionaries, defaultdicts, moto's dict subclasses, cryptography keys (KMS)."""
    from cryptography.hazmat.bindings._rust import openssl

    table: dict[type, Callable[[Any], Any]] = {
        **copyreg.dispatch_table,  # what pickle knows already (re.Pattern, ...)
        type(threading.Lock()): lambda _: (threading.Lock, ()),
        type(threading.RLock()): lambda _: (threading.RLock, ()),
        threading.Condition: lambda _: (threading.Condition, ()),
        threading.Event: lambda _: (threading.Event, ()),
        weakref.WeakValueDictionary: lambda obj: (_weak_value_dictionary, (dict(obj),)),
        openssl.rsa.RSAPrivateKey: _reduce_private_key,
        openssl.ec.ECPrivateKey: _reduce_private_key,
    }
    for kind in _subclasses(dict):
        if issubclass(kind, defaultdict):
            table[kind] = _reduce_defaultdict
        elif kind.__module__.startswith("moto."):
            table[kind] = _reduce_dict_subclass
    return table


def _dumps(payload: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _dispatch_table()
    pickler.dump(payload)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------- moto's backends


def _backends_in_use() -> dict[tuple[str, str], dict[str, Any]]:
    """(module, attribute) of each BackendDict in use -> {account: {region: backend}}."""
    from moto.core.base_backend import BackendDict

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for backends in list(BackendDict._instances):
        module_name = backends.backend.__module__
        module = sys.modules[module_name]
        names = [name for name, value in vars(module).items() if value is backends]
        if not names:  # not reachable again after a restart: nothing to restore it into
            log.warning("moto backends of %s are not a module attribute; not in the snapshot", module_name)
            continue
        saved = {
            account: {region: backend for region, backend in list(regions.items()) if not _as_built_iam(backend)}
            for account, regions in list(backends.items())
        }
        found[(module_name, names[0])] = {account: regions for account, regions in saved.items() if regions}
    return found


def _as_built_iam(backend: Any) -> bool:
    """An IAM backend holding nothing but the unattached AWS-managed policies it was built with (about 4 MB
    each; moto builds one per partition on the first request): rebuilt on use, so not worth a snapshot."""
    from moto.iam.models import IAMBackend

    if not isinstance(backend, IAMBackend):
        return False
    aws_policies = backend.aws_managed_policies
    for name, value in vars(backend).items():
        if name in ("aws_managed_policies", "managed_policies"):
            continue
        if isinstance(value, dict | list | set) and value:
            return False
    if backend.credential_report is not None or backend.account_password_policy is not None:
        return False
    if getattr(backend.tagger, "tags", None):
        return False
    return len(backend.managed_policies) == len(aws_policies) and not any(
        policy.attachment_count for policy in aws_policies
    )


def _install_backends(saved: dict[tuple[str, str], dict[str, Any]]) -> None:
    import importlib

    from moto.core.base_backend import backend_lock

    for (module_name, attribute), accounts in saved.items():
        backends = getattr(importlib.import_module(module_name), attribute)
        with backend_lock:
            for account, regions in accounts.items():
                account_backends = backends[account]  # registers the BackendDict as in use
                for region, backend in regions.items():
                    dict.__setitem__(account_backends, region, backend)


# ------------------------------------------------------------------------------------------- save / load


def save(path: Path, registry: Any, attempts: int = 5) -> dict[str, Any]:
    """Write a snapshot of moto's backends and `registry` (ExecutionRegistry) atomically; return its facts."""
    started = time.perf_counter()
    for attempt in range(attempts):
        try:  # other threads keep serving requests: a dictionary may change while it is pickled
            payload = _dumps({"backends": _backends_in_use(), "executions": registry.snapshot_state()})
            break
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    header = {**current_header(), "written_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as stream:
        stream.write(json.dumps(header).encode() + b"\n")
        stream.write(payload)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)
    return {"bytes": len(payload), "seconds": time.perf_counter() - started, **header}


def load(path: Path, registry: Any) -> dict[str, Any] | None:
    """Restore the snapshot at `path` into the (empty) moto backends and `registry`; return its header with
    the ARNs of the executions it interrupted (`interrupted`), or None without a snapshot."""
    header = read_header(path)
    if header is None:
        return None
    with open(path, "rb") as stream:
        stream.readline()
        try:
            payload = pickle.load(stream)
        except Exception as error:
            raise SnapshotError(
                f"{path}: the emulator snapshot cannot be read ({type(error).__name__}: {error}); delete the "
                "file to start with an empty emulator (its resources are lost)"
            ) from None
    _install_backends(payload["backends"])
    _index_buckets()
    reason = INTERRUPTED_REASON.format(time=header.get("written_at", "?"))
    interrupted = registry.restore_state(payload["executions"], reason)
    _fail_unfinished_jobs(reason)
    return {**header, "interrupted": interrupted}


def discard(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _index_buckets() -> None:
    """moto finds another account's bucket through an index of bucket names kept beside the backends (the bucket
    namespace is global), not in them: rebuild it from the restored buckets of every account."""
    from moto.s3.models import s3_backends

    for account, partition, backend in s3_backends.iter_backends():
        for name in backend.buckets:
            s3_backends.bucket_accounts[name] = (partition, account)


def _fail_unfinished_jobs(reason: str) -> None:
    from moto.sagemaker.models import sagemaker_backends

    from .sagemaker.jobs import FINAL_JOB_STATUSES

    now = datetime.now(UTC)
    for _account, _region, backend in sagemaker_backends.iter_backends():
        for job in backend.processing_jobs.values():
            if job.processing_job_status not in FINAL_JOB_STATUSES:
                job.processing_job_status, job.processing_end_time = "Failed", now
                job.failure_reason, job.last_modified_time = reason, now
        for job in backend.training_jobs.values():
            if job.training_job_status not in FINAL_JOB_STATUSES:
                job.training_job_status = job.secondary_status = "Failed"
                job.training_end_time, job.failure_reason, job.last_modified_time = now, reason, now


# ------------------------------------------------------------------------------------------- when to write


class Snapshotter:
    """Writes a snapshot at most every `interval` seconds after `changed()`, on its own thread."""

    def __init__(self, write: Callable[[], Any], interval: float = DEFAULT_INTERVAL_SECONDS):
        self._write = write
        self.interval = interval
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one write at a time (the thread and `flush`)
        self._thread = threading.Thread(target=self._loop, name="emulator-snapshots", daemon=True)
        self.last: dict[str, Any] | None = None
        self.last_error: str | None = None

    def start(self) -> Snapshotter:
        self._thread.start()
        return self

    def changed(self) -> None:
        self._changed.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._changed.wait(0.5):
                continue
            if self._stop.wait(self.interval):  # gather the changes of the next `interval` seconds into one write
                return
            self._changed.clear()
            self.flush()

    def flush(self) -> dict[str, Any] | None:
        with self._lock:
            try:
                self.last = self._write()
                self.last_error = None
            except Exception as error:  # a failed write keeps the previous snapshot; the log says why
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("could not write the emulator snapshot")
                return None
            return self.last

    def stop(self) -> None:
        """Stop the thread without a final write (the caller decides whether to `flush`)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(30)
