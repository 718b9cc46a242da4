"""What the end-to-end tests on benchmarks/bench_load.py's stack share: the Terraform-applied local stack with an
approved model (each module its own copy, restored from one build per run: shared_stack.py), and the CLI on it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchops.aws_session import connect
from batchops_core.settings import load_settings
from batchops_local.runtime import start_local_aws

# The suite imports tests with importlib (folders are not on sys.path): add benchmarks/ and this folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_stack import APPROVED_STACK, SNAPSHOT, build_approved_stack, check_restored  # noqa: E402


@pytest.fixture(scope="module")
def approved_stack(request, tmp_path_factory, build_once):
    """(local AWS, target): the module's own stack, applied and with an approved model. The apply and training
    happen once per run (build_approved_stack); each module starts its own emulator from that snapshot, in its own
    copy of the home, so what one module changes no other sees."""
    prepared = build_once(APPROVED_STACK, build_approved_stack)
    home = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")) / "home"
    shutil.copytree(prepared / "home", home, symlinks=True)
    with start_local_aws(home, restore_from=prepared / SNAPSHOT) as local_aws:
        target = connect(load_settings("local"), endpoint_url=local_aws.endpoint_url)
        check_restored(local_aws, target)
        yield local_aws, target


@pytest.fixture
def stack_cli(approved_stack, tmp_path, monkeypatch):
    """`batchops ...` against the module's stack, wide enough that tables do not wrap."""
    from batchops.cli import app

    _, target = approved_stack
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("BATCHOPS_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", target.endpoint_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))
