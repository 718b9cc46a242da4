"""Helpers for the CI wrapper tests: a stand-in for GitLab's Terraform state API and a way to run the wrappers.

`FakeStateApi` serves Terraform's HTTP backend protocol the way GitLab does (GET/POST the state, POST/DELETE
`<address>/lock`) on 127.0.0.1, records every request, and is stopped by the fixture that started it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[2]
CI_SCRIPTS = ROOT / "scripts" / "ci"

# Variables of the calling shell that would change what a wrapper does: never inherited by the tests.
_CLEARED = ("GITLAB_CI", "CI", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_JOB_TOKEN", "CI_PIPELINE_ID", "CI_JOB_ID",
            "AWS_ID_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE", "TF_STATE_BASE_ADDRESS",
            "TF_STATE_NAME", "TF_HTTP_USERNAME", "TF_HTTP_PASSWORD", "TF_DATA_DIR", "TF_ROOT", "BATCHOPS_CI_OUT",
            "TF_PLUGIN_MIRROR", "BATCHOPS_CONFIRM_DESTROY", "MODEL_PACKAGE_ARN", "MODEL_PACKAGE_VERSION",
            *(f"{prefix}_{env}" for prefix in ("AWS_ACCOUNT_ID", "AWS_DEPLOY_ROLE_ARN", "AWS_PLAN_ROLE_ARN")
              for env in ("DEV", "STAGING", "PROD", "LOCAL")))


@dataclass
class Request:
    method: str
    path: str
    user: str | None
    password: str | None
    body: bytes


@dataclass
class FakeStateApi:
    server: ThreadingHTTPServer
    thread: threading.Thread
    states: dict[str, bytes] = field(default_factory=dict)
    locks: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def state(self, path: str) -> dict | None:
        raw = self.states.get(path)
        return json.loads(raw) if raw else None

    def resources(self, path: str) -> list[str]:
        state = self.state(path) or {}
        return [f"{r['type']}.{r['name']}" for r in state.get("resources", [])]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start_state_api() -> FakeStateApi:
    api: FakeStateApi

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _record(self) -> tuple[str, bytes]:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            user = password = None
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            path = urlsplit(self.path).path
            api.requests.append(Request(self.command, path, user, password, body))
            return path, body

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            path, _ = self._record()
            state = api.states.get(path)
            self._answer(200, state) if state else self._answer(404)

        def do_POST(self) -> None:  # noqa: N802
            path, body = self._record()
            if path.endswith("/lock"):
                if path in api.locks:
                    self._answer(423, api.locks[path])
                    return
                api.locks[path] = body
            else:
                api.states[path] = body
            self._answer(200)

        def do_DELETE(self) -> None:  # noqa: N802
            path, _ = self._record()
            if path.endswith("/lock"):
                api.locks.pop(path, None)
            else:
                api.states.pop(path, None)
            self._answer(200)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="fake-gitlab-state", daemon=True)
    api = FakeStateApi(server, thread)
    thread.start()
    return api


def wrapper_env(**overrides: str) -> dict[str, str]:
    """The process environment minus CI/AWS variables of the calling shell, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never look for credentials beyond what a test provides
    env.update(overrides)
    return env


def start_moto() -> tuple[ThreadedMotoServer, dict[str, str]]:
    """A moto server on 127.0.0.1 standing in for an environment's account, and the variables that send boto3
    there. Stop it with `.stop()`."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                    "AWS_MAX_ATTEMPTS": "2"}


def run_wrapper(script: str, *args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([str(CI_SCRIPTS / script), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def run_batchops(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """`batchops ARGS` with the project's interpreter, as the wrappers run it (`batchops_cli` in common.sh)."""
    return subprocess.run([sys.executable, "-m", "batchops.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def run_job(name: str, *, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """Run a job's script lines from .gitlab-ci.yml the way a runner does: one shell, stop at the first failing
    line, with the job's own `variables:` (after extends) on top of `env`."""
    from gitlab_ci_model import effective_job, load

    job = effective_job(load(ROOT / ".gitlab-ci.yml"), name)
    lines = [*job.get("before_script", []), *job["script"]]
    job_env = {**env, **{key: str(value) for key, value in (job.get("variables") or {}).items()}}
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", "\n".join(lines)], env=job_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def run_bash(snippet: str, *, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `snippet` in bash after sourcing scripts/ci/common.sh (for its helper functions)."""
    return subprocess.run(["bash", "-c", f'source "{CI_SCRIPTS}/common.sh"\n{snippet}'], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
