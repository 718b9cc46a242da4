"""`batchops infra` through the Terraform adapter against a background emulator: apply, plan, destroy."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from batchops.cli import app
from batchops_local.runtime import stop_background

pytestmark = pytest.mark.slow  # Terraform applies ~35 resources twice (a minute or more)


def test_apply_then_no_drift_then_destroy(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    home = tmp_path / "home"
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["--home", str(home), *args])

    no_emulator = cli("infra", "plan")  # no emulator yet: a clear one-line user error, not a traceback
    assert no_emulator.exit_code == 2 and "the local emulator is not running" in no_emulator.output
    up = cli("emulator", "up")
    try:
        assert up.exit_code == 0, up.output
        applied = cli("infra", "apply")
        assert applied.exit_code == 0, applied.output
        assert "applied:" in applied.output
        assert (home / "terraform" / "local" / "terraform.tfstate").is_file()
        planned = cli("infra", "plan", "--exit-code")
        assert planned.exit_code == 0, planned.output
        assert "plan: no changes" in planned.output
        destroyed = cli("infra", "destroy")
        assert destroyed.exit_code == 0, destroyed.output
        again = cli("infra", "plan", "--exit-code")
        assert again.exit_code == 2, again.output
        assert "to add, 0 to change, 0 to destroy" in again.output
    finally:
        down = cli("emulator", "down")
        stop_background(home)
    assert down.exit_code == 0
