"""Runner test fixtures: a plain moto server on 127.0.0.1 (stopped at the end), a bucket per test, a runner."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path

import pytest

# The helpers module beside this file, importable by the test modules as `runner_support`.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from runner_support import Aws, Runner  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint) -> Aws:
    bucket = f"runner-{uuid.uuid4().hex[:12]}"
    helper = Aws(moto_endpoint, bucket)
    helper.s3.create_bucket(Bucket=bucket)
    return helper


@pytest.fixture
def runner(aws, tmp_path) -> Runner:
    return Runner(aws, tmp_path / "home")
