"""Warm job processes: per step runtime, a server that has imported numpy, pandas, xgboost and boto3 once forks
each job process instead of the runner starting a fresh interpreter (like the emulator's warm Lambda execution
environments). A fresh interpreter of an image runtime spends 0.4-0.5 s importing those before a step's own work
(on a quiet machine; 3 s on a loaded one), on every step of every pipeline.

Each job keeps its isolation: its own process (forked, not shared), its own private /opt/ml mount namespace
(made by the job process itself, as private_opt_ml does with `unshare` for a cold start), its own cwd and whole
environment, its runtime's interpreter. What an interpreter fixes at start from its environment (PYTHON*,
OpenMP/BLAS threads, locale, TMPDIR) cannot change after a fork, so servers are keyed by the interpreter and
those variables: a job reaches a server started with exactly its values (the first job of a new key waits for
its server to warm up). The worker side is warm_worker.py.

`BATCHOPS_WARM_POOL=0` turns the pool off (every job a fresh process). A server exits when this process does
(its stdin is a pipe from here).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from batchops_local.runner import private_opt_ml, warm_worker

# Read by the interpreter or by native libraries when they load, i.e. before a fork could change them. Not KMP_*:
# Intel's OpenMP, which the runtimes' wheels (OpenBLAS, GNU OpenMP) do not load, and which scikit-learn's import
# sets in the runner's own environment at some moment (it would split one key into two).
_STARTUP_VARIABLE = re.compile(r"PYTHON.*|OMP_.*|GOMP_.*|OPENBLAS_.*|GOTO.*|MKL_.*|BLIS_.*|NUMEXPR_.*"
                               r"|LD_.*|MALLOC_.*|LC_.*|LANG|LANGUAGE|TMPDIR")
# Arguments of an interpreter that runs a script (`python <script> ...`) and nothing else.
_SCRIPT = re.compile(r"[^-].*")
_READY_TIMEOUT_SECONDS = 120


def enabled() -> bool:
    # fork, unshare(2) and passing the output pipe over a Unix socket as used here: Linux only.
    return sys.platform == "linux" and os.environ.get("BATCHOPS_WARM_POOL", "1") != "0"


def startup_variables(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in env.items() if _STARTUP_VARIABLE.fullmatch(name)))


class WarmJob:
    """A job process forked by a warm server, with the subset of subprocess.Popen's interface the runner uses."""

    def __init__(self, connection: socket.socket, pid: int, stdout_fd: int):
        self.pid = pid
        self.stdout = os.fdopen(stdout_fd, "rb")
        self.returncode: int | None = None
        self._connection = connection
        self._pending = b""

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        self._connection.settimeout(timeout)
        try:
            while b"\n" not in self._pending:
                chunk = self._connection.recv(64)
                if not chunk:  # the supervisor died without a report (e.g. killed with the server)
                    self._pending += b"-9\n"
                    break
                self._pending += chunk
        except TimeoutError:
            raise subprocess.TimeoutExpired(f"warm job {self.pid}", timeout) from None
        self.returncode = int(self._pending.split(b"\n", 1)[0])
        self._connection.close()
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Server:
    def __init__(self, interpreter: str, env: dict[str, str], directory: Path, number: int):
        self.socket_path = str(directory / f"worker-{number}.sock")
        self.ready = threading.Event()
        self.settled = threading.Event()
        self.process = subprocess.Popen([interpreter, warm_worker.__file__, self.socket_path], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._await_ready, daemon=True).start()

    def _await_ready(self) -> None:
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() == b"ready":
            self.ready.set()
        self.settled.set()  # ready, or ended without being ready

    def wait_until_ready(self, timeout: float = _READY_TIMEOUT_SECONDS) -> bool:
        self.settled.wait(timeout)
        return self.ready.is_set()

    def usable(self) -> bool:
        return self.ready.is_set() and self.process.poll() is None

    def start(self, argv: list[str], *, cwd: Path, env: dict[str, str], opt_ml: Path) -> WarmJob | None:
        private = None
        if private_opt_ml.not_private_reason(opt_ml) is None:
            private = [str(opt_ml), str(private_opt_ml.staging_directory(opt_ml))]
        request = {"argv": argv, "env": env, "cwd": str(cwd), "private_opt_ml": private,
                   "mounts": private_opt_ml.FORKED_JOB_MOUNTS}
        read_end, write_end = os.pipe()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.socket_path)
            message = (json.dumps(request) + "\n").encode()
            sent = socket.send_fds(connection, [message], [write_end])
            connection.sendall(message[sent:])
            os.close(write_end)
            write_end = -1
            pid_line = b""
            connection.settimeout(30)
            while not pid_line.endswith(b"\n"):
                chunk = connection.recv(1)
                if not chunk:
                    raise OSError("the warm server closed the connection")
                pid_line += chunk
            connection.settimeout(None)
        except OSError:
            connection.close()
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
            return None
        return WarmJob(connection, int(pid_line), read_end)


class WarmPool:
    """The servers of this process, one per (interpreter, startup variables)."""

    def __init__(self) -> None:
        self._servers: dict[tuple[str, tuple[tuple[str, str], ...]], _Server] = {}
        self._lock = threading.Lock()
        self._directory: Path | None = None

    def _server(self, interpreter: str, env: dict[str, str]) -> _Server:
        """The key's server, started (not yet ready) when it has none or its server ended after serving (one
        that never became ready stays: its jobs start cold rather than trying again each time)."""
        key = (interpreter, startup_variables(env))
        with self._lock:
            server = self._servers.get(key)
            if server is None or (server.ready.is_set() and server.process.poll() is not None):
                if self._directory is None:
                    self._directory = Path(tempfile.mkdtemp(prefix="batchops-warm-"))
                    atexit.register(self.close)
                # Only what the interpreter reads at start; each job brings its whole environment.
                server_env = {name: value for name, value in env.items()
                              if _STARTUP_VARIABLE.fullmatch(name) or name in ("PATH", "HOME")}
                server = _Server(interpreter, server_env, self._directory, len(self._servers) + 1)
                self._servers[key] = server
            return server

    def warm(self, interpreter: str, env: dict[str, str]) -> None:
        """Start the server jobs of `interpreter` with these startup variables will use."""
        if enabled():
            self._server(interpreter, env)

    def start(self, command: list[str], *, cwd: Path, env: dict[str, str], opt_ml: Path) -> WarmJob | None:
        """`command` (`<interpreter> <script> [args]`) as a warm job; None when it must start cold: the pool is
        off, the command is not a plain script run, or its server could not start.

        A job whose server is still warming up waits for it: a cold start would import the same packages
        again next to it, on the same cores, and take as long.
        """
        if not enabled() or len(command) < 2 or not _SCRIPT.fullmatch(command[1]):
            return None
        server = self._server(command[0], env)
        server.wait_until_ready()
        if not server.usable():
            return None
        return server.start(command[1:], cwd=cwd, env=env, opt_ml=opt_ml)

    def wait_until_ready(self, interpreter: str, env: dict[str, str], timeout: float = _READY_TIMEOUT_SECONDS) -> bool:
        return self._server(interpreter, env).wait_until_ready(timeout)

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
            directory, self._directory = self._directory, None
        for server in servers:
            if server.process.stdin:
                server.process.stdin.close()  # the server exits on end of input
            try:
                server.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.process.kill()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


POOL = WarmPool()
