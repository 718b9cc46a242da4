"""Exactly-once handling of redelivered EventBridge events, backed by the DynamoDB dedup table.

EventBridge delivers at least once, and SageMaker may emit one change twice, each copy with its own event id.
Each handler claims a key naming what it acts on: the event id where a redelivery is the only repetition
(model package state changes), the thing itself where one change may come as several events (the pipeline state
change: `lambdas.notification.events.state_change_key`; the violating execution: `retrain:<execution ARN>`).
The table's hash key attribute is still called `event_id` (Terraform's table definition). A key is claimed by a
conditional write before anything is sent:

* not seen before → claimed (state `in_progress`, a lease as long as the invocation may run);
* `done` → a redelivery: nothing is sent again;
* `in_progress` with a live lease → another invocation is handling it right now: skipped;
* `in_progress` with an expired lease (the invocation died) or `retry` → claimed again.

Side effects run through `claim.once(name, action)`; each completed action is recorded at once, so a retry
after a partial failure (SNS sent, Slack down) repeats only what did not happen. When an invocation fails
before any action completed the marker is deleted, so the retry starts from scratch. Items expire through
the table's TTL attribute `expires_at`.
"""

from __future__ import annotations

import json
import time

from lambdas.shared.runtime import client, error_code, log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Longer than any redelivery: EventBridge retries for 24 h at most, Lambda's asynchronous retries for 6 h.
RETENTION_SECONDS = 7 * 24 * 3600
LEASE_MARGIN_SECONDS = 60
DEFAULT_LEASE_SECONDS = 900 + LEASE_MARGIN_SECONDS  # the longest a Lambda invocation can run, plus margin

_NAMES = {
    "#id": "event_id",
    "#state": "state",
    "#lease": "lease_until",
    "#expires": "expires_at",
    "#completed": "completed",
    "#saved": "saved",
}


class EventClaim:
    """The right to act on one claim key, with the actions already completed by earlier attempts."""

    def __init__(self, table: str, key: str, completed: list[str], saved: dict[str, Any]):
        self.table = table
        self.key = key
        self.completed = completed
        self.saved = saved

    @classmethod
    def acquire(cls, table: str, key: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> EventClaim | None:
        """Claim the key, or return None when it is done or being handled by a live invocation."""
        now = int(time.time())
        try:
            response = client("dynamodb").update_item(
                TableName=table,
                Key={"event_id": {"S": key}},
                UpdateExpression="SET #state = :in_progress, #lease = :lease, #expires = :expires",
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #state = :retry OR (#state = :in_progress AND #lease < :now)"
                ),
                ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k not in ("#completed", "#saved")},
                ExpressionAttributeValues={
                    ":in_progress": {"S": "in_progress"},
                    ":retry": {"S": "retry"},
                    ":lease": {"N": str(now + int(lease_seconds))},
                    ":expires": {"N": str(now + RETENTION_SECONDS)},
                    ":now": {"N": str(now)},
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise RuntimeError(f"cannot claim {key} in DynamoDB table {table}: {exc}") from exc
        item = response.get("Attributes", {})
        completed = [entry["S"] for entry in item.get("completed", {}).get("L", [])]
        saved = json.loads(item["saved"]["S"]) if "saved" in item else {}
        if completed:
            log("info", "resuming a partly handled event", completed=completed)
        return cls(table, key, completed, saved)

    def once(self, action: str, run: Callable[[], Any]) -> Any:
        """Run `action` unless an earlier attempt completed it; record it as completed right after."""
        if action in self.completed:
            log("info", f"skipping '{action}': done by an earlier attempt")
            return None
        result = run()
        self.completed.append(action)
        self._set("#completed", {"L": [{"S": name} for name in self.completed]})
        return result

    def remember(self, key: str, compute: Callable[[], Any]) -> Any:
        """A decision taken once per claim (e.g. which model version to fall back to), kept for retries."""
        if key not in self.saved:
            self.saved[key] = compute()
            self._set("#saved", {"S": json.dumps(self.saved, sort_keys=True)})
        return self.saved[key]

    def finish(self) -> None:
        self._set("#state", {"S": "done"})

    def release(self) -> None:
        """After a failure: let the retry redo the work (delete the marker, or keep the progress made)."""
        dynamodb = client("dynamodb")
        if not self.completed and not self.saved:
            dynamodb.delete_item(TableName=self.table, Key={"event_id": {"S": self.key}})
        else:
            self._set("#state", {"S": "retry"})

    def _set(self, name: str, value: dict[str, Any]) -> None:
        client("dynamodb").update_item(
            TableName=self.table,
            Key={"event_id": {"S": self.key}},
            UpdateExpression=f"SET {name} = :value",
            ExpressionAttributeNames={name: _NAMES[name]},
            ExpressionAttributeValues={":value": value},
        )


def handle_once(
    table: str, key: str, work: Callable[[EventClaim], dict[str, Any]], lease_seconds: float
) -> dict[str, Any]:
    """Run `work` for a claim key at most once to completion; failures release the claim and propagate."""
    claim = EventClaim.acquire(table, key, lease_seconds)
    if claim is None:
        log("info", "already handled or being handled: nothing sent again", outcome="duplicate", claim_key=key)
        return {"status": "duplicate", "claim_key": key}
    try:
        result = work(claim)
    except BaseException as failure:
        try:
            claim.release()
        except Exception as release_failure:  # the original failure matters more; report both
            log("error", "could not release the dedup marker after a failure", error=repr(release_failure))
        log("error", "event handling failed; Lambda retries it, then sends it to the on-failure queue",
            error=repr(failure))
        raise
    claim.finish()
    return result


def lease_seconds_for(context: Any) -> float:
    """How long this invocation may still run (from the Lambda context), plus a margin."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return remaining() / 1000 + LEASE_MARGIN_SECONDS
    return DEFAULT_LEASE_SECONDS
