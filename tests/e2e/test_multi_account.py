"""`batchops demo --scenario multi-account` end to end: a registry (dev) and two consumers (staging, prod) in three
emulated accounts; the scenario's expectations are checked again here from its outcome, the outbox and the reports."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from batchops.demo_multi_account import run_multi_account_demo
from batchops_local.emulator import read_outbox

pytestmark = pytest.mark.slow

DEV_ACCOUNT = "111111111111"


def test_a_version_trained_in_dev_scores_in_staging_and_prod_only_once_promoted(tmp_path):
    home = tmp_path / "home"
    output = io.StringIO()
    outcome = run_multi_account_demo(home, console=Console(file=output, width=200), execution_timeout=600)

    first, second = outcome.versions[1], outcome.versions[2]
    assert f":{DEV_ACCOUNT}:model-package/abalone-dev-models/1" in first and second.endswith("/2")
    scored = [(environment, text) for environment, _id, text in outcome.scored]
    assert scored == [
        ("staging", f"version 2 of abalone-dev-models (account {DEV_ACCOUNT})"),
        ("prod", f"version 1 of abalone-dev-models (account {DEV_ACCOUNT})"),  # prod before its promotion
        ("prod", f"version 2 of abalone-dev-models (account {DEV_ACCOUNT})"),
    ]
    bodies = [str(message.get("body", "")) for message in read_outbox(home)]
    for environment, execution_id, text in outcome.scored:
        assert any(execution_id in body and f"Scored with: {text}" in body and f"/ {environment} (" in body
                   for body in bodies), f"no email of {environment} {execution_id} names {text}"
    for environment in ("staging", "prod"):
        page = outcome.reports[environment].read_text(encoding="utf-8")
        assert "<th>scored with</th>" in page
    assert "multi-account demo: every expected outcome happened" in output.getvalue()
