#!/usr/bin/env python3
"""Summarise `terraform show -json <plan>` (stdin) as GitLab's Terraform report (stdout).

The merge-request widget reads `{"create": N, "update": N, "delete": N}`; a replacement counts as one
create and one delete, as Terraform's own summary line does. Reads and no-ops are not changes.
Usage: terraform show -json plan.tfplan | plan_report.py > plan-report.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

COUNTED_ACTIONS = ("create", "update", "delete")
KNOWN_ACTIONS = {*COUNTED_ACTIONS, "no-op", "read", "forget"}


class PlanJsonError(ValueError):
    """The input is not a Terraform plan in JSON form."""


def summarise(plan: Any) -> dict[str, int]:
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise PlanJsonError("expected the JSON of `terraform show -json <plan file>` (an object with format_version)")
    changes = plan.get("resource_changes")
    changes = [] if changes is None else changes
    if not isinstance(changes, list):
        raise PlanJsonError("'resource_changes' is not a list")
    counts = dict.fromkeys(COUNTED_ACTIONS, 0)
    for index, change in enumerate(changes):
        for action in _actions(change, index):
            if action in counts:
                counts[action] += 1
    return counts


def _actions(change: Any, index: int) -> Iterable[str]:
    where = f"resource_changes[{index}]"
    if isinstance(change, dict):
        where = change.get("address", where)
        actions = (change.get("change") or {}).get("actions")
        if isinstance(actions, list) and all(isinstance(a, str) for a in actions):
            unknown = sorted(set(actions) - KNOWN_ACTIONS)
            if unknown:
                raise PlanJsonError(f"{where}: unknown action(s) {', '.join(unknown)}")
            return actions
    raise PlanJsonError(f"{where}: no list of actions under change.actions")


def main() -> int:
    try:
        plan = json.load(sys.stdin)
        report = summarise(plan)
    except json.JSONDecodeError as exc:
        print(f"plan_report: stdin is not JSON ({exc})", file=sys.stderr)
        return 1
    except PlanJsonError as exc:
        print(f"plan_report: {exc}", file=sys.stderr)
        return 1
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
