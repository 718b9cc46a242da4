"""The dedup claim protocol on DynamoDB (moto): leases, retries, progress kept across attempts."""

from __future__ import annotations

import json
import time

import pytest
from lambda_testkit import DEDUP_TABLE

from lambdas.shared.claims import EventClaim, handle_once, lease_seconds_for
from lambdas.shared.runtime import client


def test_a_claim_with_a_live_lease_blocks_a_second_invocation(stack):
    assert EventClaim.acquire(DEDUP_TABLE, "evt-1", lease_seconds=600) is not None
    assert EventClaim.acquire(DEDUP_TABLE, "evt-1", lease_seconds=600) is None


def test_an_expired_lease_is_claimed_again_with_its_progress(stack):
    claim = EventClaim.acquire(DEDUP_TABLE, "evt-2", lease_seconds=600)
    claim.once("sns", lambda: "sent")
    client("dynamodb").update_item(  # the invocation died; its lease ran out
        TableName=DEDUP_TABLE,
        Key={"event_id": {"S": "evt-2"}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    resumed = EventClaim.acquire(DEDUP_TABLE, "evt-2", lease_seconds=600)
    assert resumed is not None and resumed.completed == ["sns"]
    calls = []
    assert resumed.once("sns", lambda: calls.append("again")) is None
    assert calls == []


def test_failure_keeps_decisions_and_progress_for_the_retry(stack):
    attempts = []

    def work(claim):
        plan = claim.remember("plan", lambda: {"target": f"decided on attempt {len(attempts) + 1}"})
        attempts.append(plan["target"])
        claim.once("first", lambda: None)
        if len(attempts) == 1:
            raise RuntimeError("second action failed")
        claim.once("second", lambda: None)
        return {"status": "sent"}

    with pytest.raises(RuntimeError, match="second action failed"):
        handle_once(DEDUP_TABLE, "evt-3", work, lease_seconds=600)
    item = stack.dedup_item("evt-3")
    assert item["state"]["S"] == "retry" and json.loads(item["saved"]["S"])["plan"]

    assert handle_once(DEDUP_TABLE, "evt-3", work, lease_seconds=600) == {"status": "sent"}
    assert attempts == ["decided on attempt 1", "decided on attempt 1"]
    assert [entry["S"] for entry in stack.dedup_item("evt-3")["completed"]["L"]] == ["first", "second"]
    assert handle_once(DEDUP_TABLE, "evt-3", work, lease_seconds=600)["status"] == "duplicate"


def test_failure_before_any_action_deletes_the_marker(stack):
    def work(claim):
        raise ValueError("template broke")

    with pytest.raises(ValueError):
        handle_once(DEDUP_TABLE, "evt-4", work, lease_seconds=600)
    assert stack.dedup_item("evt-4") is None


def test_expiry_is_a_week_ahead(stack):
    EventClaim.acquire(DEDUP_TABLE, "evt-5", lease_seconds=30)
    expires = int(stack.dedup_item("evt-5")["expires_at"]["N"])
    assert 6.9 * 86400 < expires - time.time() <= 7 * 86400


def test_lease_follows_the_remaining_invocation_time():
    class Context:
        def get_remaining_time_in_millis(self):
            return 45_000

    assert lease_seconds_for(Context()) == 45 + 60
    assert lease_seconds_for(None) == 960


def test_a_missing_dedup_table_is_named(stack):
    with pytest.raises(RuntimeError, match="cannot claim evt-6 in DynamoDB table no-such-table"):
        EventClaim.acquire("no-such-table", "evt-6")
