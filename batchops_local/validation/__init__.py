"""Request validation against botocore's service models and AWS's documented quotas.

`validate(service, operation, params)` checks a parsed request (botocore member names, Python values) against
the operation's input shape: required members, types, string/blob length, patterns, enums, list/map sizes,
numeric ranges, recursively. Validators are compiled once per shape and cached, so a check is a lookup plus a
walk of the request. The emulator (gate.py) and the pipeline runner use the same checks.
"""

from __future__ import annotations

from .shapes import RequestInvalid, Violation, format_violations, operation_model, validate

__all__ = ["RequestInvalid", "Violation", "format_violations", "operation_model", "validate"]
