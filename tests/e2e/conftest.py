"""What the end-to-end tests on benchmarks/bench_load.py's stack share: the Terraform-applied local stack with an
approved model (one per test module), and the CLI pointed at it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_load  # noqa: E402


@pytest.fixture(scope="module")
def approved_stack(request, tmp_path_factory):
    """(local AWS, target): the module's own stack, applied and with an approved model (bench_load)."""
    home = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")) / "home"
    with bench_load.approved_stack(home) as (local_aws, target):
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
