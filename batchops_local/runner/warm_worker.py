"""The warm side of the runner's warm pool (warm_pool.py), run as a file by a step runtime's interpreter (the
image's Python and packages), so it uses the standard library only and Python 3.9 syntax.

    <runtime python> warm_worker.py <socket path>

It imports the heavy packages the step scripts use once, says `ready` on stdout, then serves one job per
connection until its stdin (a pipe from the runner) closes:

- the runner sends one JSON line ({argv, env, cwd, private_opt_ml}) with the job's output pipe attached
  (SCM_RIGHTS);
- a supervisor is forked for the connection; it forks the job process, sends its pid, waits for it and sends
  its exit code (negative: the signal that ended it, as subprocess reports it);
- the job process makes its own private /opt/ml mount namespace (as `unshare` does for a cold job), points
  stdin at /dev/null and stdout/stderr at the job's pipe, takes the job's cwd and its whole environment, and
  runs the script as `python <script> <args>` would: `__main__`, sys.argv, the script's directory first on
  sys.path, fresh random seeds. It ends through the interpreter's normal shutdown (threads joined, atexit).

What a fork cannot redo is decided at interpreter start from the environment (PYTHON*, OpenMP/BLAS thread
settings, locale): warm_pool keys its servers by those variables, so a job only reaches a server started with
the same values.
"""

from __future__ import annotations

import atexit
import builtins
import ctypes
import gc
import importlib
import importlib.machinery
import io
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import types

# What the step scripts, the built-in algorithm and the transform engine import; whichever the runtime has.
PRELOAD = ("numpy", "pandas", "xgboost", "boto3")
# The services the step scripts make boto3 clients for.
BOTOCORE_SERVICES = ("s3", "sagemaker", "ssm", "events")
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MAX_REQUEST = 1 << 20
_SERVER_MODULES: set[str] = set()


def main(socket_path: str) -> None:
    job = serve(socket_path)
    run_job(*job)


def serve(socket_path: str) -> tuple[dict, int]:
    """Serve until stdin closes (then exit); returns only in a forked job process, with its job."""
    sys.path.pop(0)  # this file's directory; a job gets its script's instead
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _share_botocore_models()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    _SERVER_MODULES.update(sys.modules)
    gc.freeze()  # the jobs' collections leave the imported objects (and so their pages) alone
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1024):
            os._exit(0)  # the runner is gone
        if listener in readable:
            connection, _ = listener.accept()
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                return _supervise(connection)
            connection.close()


def _share_botocore_models() -> None:
    """Every boto3 session parses the JSON models of the services it makes clients for (0.6 s for the four the
    step scripts use): sessions that read the default data path get a loader that has parsed them already.

    Only the loader is shared (files and search path, the same in every process of the runtime): a session
    with its own data path (AWS_DATA_PATH, config) gets its own, and configuration and credentials are read by
    each job's sessions from its own environment as before.
    """
    try:
        import botocore.loaders
        import botocore.session
    except ImportError:
        return
    loader = botocore.loaders.create_loader()
    for service in BOTOCORE_SERVICES:
        for kind in ("service-2", "endpoint-rule-set-1"):
            try:
                loader.load_service_model(service, kind)
            except Exception:  # noqa: BLE001 - a model this botocore does not have is loaded (and missed) as before
                pass
    for name in ("endpoints", "partitions", "_retry", "sdk-default-configuration"):
        try:
            loader.load_data(name)
        except Exception:  # noqa: BLE001 - as above
            pass
    create_loader = botocore.session.create_loader

    def default_data_path_shared(search_path_string=None):
        return loader if search_path_string is None else create_loader(search_path_string)

    botocore.session.create_loader = default_data_path_shared


def _supervise(connection: socket.socket) -> tuple[dict, int]:
    """In the supervisor: read the job, fork it, report its pid and exit code; returns only in the job."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        data, fds, _, _ = socket.recv_fds(connection, _MAX_REQUEST, 1)
        while data and not data.endswith(b"\n"):
            chunk = connection.recv(_MAX_REQUEST)
            if not chunk:
                break
            data += chunk
        job = json.loads(data)
        output = fds[0]
    except (OSError, ValueError, IndexError):
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        connection.close()
        return job, output
    os.close(output)
    try:
        connection.sendall(f"{pid}\n".encode())
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    try:
        connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    except OSError:
        pass
    os._exit(0)


def run_job(job: dict, output: int) -> None:
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(stdin)
    os.close(output)
    if job.get("private_opt_ml"):
        _enter_private_opt_ml(job["mounts"], *job["private_opt_ml"])
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    script = job["argv"][0]
    sys.argv = list(job["argv"])
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    # The forked state would give every job the server's random sequences.
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    try:
        _run_as_main(script)
        code = 0
    except SystemExit as exit_:
        code = _exit_code(exit_)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # ended by SIGINT, as the interpreter reports it
        _finish()
        os.kill(os.getpid(), signal.SIGINT)
        code = 1
    except BaseException:  # noqa: BLE001 - reported like an uncaught exception at top level
        sys.excepthook(*sys.exc_info())
        code = 1
    _finish()
    os._exit(code)


def _run_as_main(script: str) -> None:
    """The script as `__main__`, as `python <script>` runs it (its module is the one _finish clears first)."""
    main = types.ModuleType("__main__")
    main.__dict__.update({"__file__": script, "__cached__": None, "__builtins__": builtins,
                          "__loader__": importlib.machinery.SourceFileLoader("__main__", script)})
    sys.modules["__main__"] = main
    with io.open_code(script) as source:
        code = compile(source.read(), script, "exec")
    exec(code, main.__dict__)


def _exit_code(exit_: SystemExit) -> int:
    if exit_.code is None:
        return 0
    if isinstance(exit_.code, int):
        return exit_.code & 0xFF
    print(exit_.code, file=sys.stderr)
    return 1


def _finish() -> None:
    """The interpreter's shutdown as the job sees it: non-daemon threads joined, atexit functions run, what the
    job created collected (its open files flushed and closed), output flushed. Not the teardown of the modules
    the server imported: that would write to, and so copy, every page of them (0.4-1 s per job measured)."""
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_Finalize calls first (3.9-3.13)
    atexit._run_exitfuncs()
    atexit._clear()  # as the interpreter does: the functions no longer hold the job's objects
    # The script's globals first, dropped one by one as the interpreter does (a file it left open is flushed
    # before its buffer goes: the cyclic collector alone may finalize them in either order and lose the data).
    sys.modules["__main__"].__dict__.clear()
    gc.collect()
    # Then what the modules the job imported hold, newest first.
    for name in reversed([name for name in sys.modules if name not in _SERVER_MODULES]):
        module = sys.modules.pop(name, None)
        if module is not None and isinstance(getattr(module, "__dict__", None), dict):
            module.__dict__.clear()
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _enter_private_opt_ml(mounts: str, job_opt_ml: str, stage: str) -> None:
    """This process's own mount namespace (and user namespace unless root) with the job directory as /opt/ml."""
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS | (0 if uid == 0 else _CLONE_NEWUSER)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare: {os.strerror(error)}")
    if uid != 0:  # as `unshare --map-root-user`
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    subprocess.run(["/bin/sh", "-c", mounts, "sh", job_opt_ml, stage], check=True)


if __name__ == "__main__":
    main(sys.argv[1])
