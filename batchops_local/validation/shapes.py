"""Compiled validators of botocore shapes, and AWS's validation message.

The message is the one AWS's services write for a request outside the model's constraints, e.g.
  1 validation error detected: Value 'x...' at 'environment' failed to satisfy constraint: Map value must
  satisfy constraint: [Member must have length less than or equal to 256]
(member names with a lower-case first letter joined by '.', list members as `<list>.<n>.member`, map keys and
values reported at the map; a sensitive member's value is left out: "Value at 'x' ..."; a missing required
member: "Value null at 'x' failed to satisfy constraint: Member must not be null").
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .patterns import matcher

MAX_REPORTED = 10  # AWS lists every violation; the message is capped here only to keep logs readable


@dataclass(frozen=True)
class Violation:
    path: str
    constraint: str
    value: Any = None
    sensitive: bool = False
    missing: bool = False
    type_error: bool = False  # a value of the wrong JSON type: AWS's JSON services answer SerializationException

    def text(self) -> str:
        if self.missing:
            shown = "Value null at"
        elif self.sensitive:
            shown = "Value at"
        else:
            shown = f"Value '{_java_text(self.value)}' at"
        return f"{shown} '{self.path}' failed to satisfy constraint: {self.constraint}"


class RequestInvalid(ValueError):
    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__(format_violations(violations))

    @property
    def type_error(self) -> bool:
        return any(v.type_error for v in self.violations)


def format_violations(violations: list[Violation]) -> str:
    count = len(violations)
    head = f"{count} validation error{'s' if count != 1 else ''} detected: "
    return head + "; ".join(v.text() for v in violations[:MAX_REPORTED])


def _java_text(value: Any) -> str:
    # AWS renders values with Java's toString: maps {k=v, ...}, lists [a, b], booleans lower case
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_java_text(v) for v in value) + "]"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    return str(value)


def _member_path(parent: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{parent}.{name}" if parent else name


def _java_length(value: str) -> int:
    # Java counts UTF-16 code units: a character outside the BMP counts twice
    if value.isascii():
        return len(value)
    return len(value) + sum(1 for ch in value if ord(ch) > 0xFFFF)


Check = Callable[[Any, str, list], None]  # (value, path, out violations)


def _length_checks(metadata: dict[str, Any]) -> list[tuple[Callable[[int], bool], str]]:
    checks = []
    if "min" in metadata:
        low = metadata["min"]
        checks.append((lambda n, low=low: n >= low, f"Member must have length greater than or equal to {low}"))
    if "max" in metadata:
        high = metadata["max"]
        checks.append((lambda n, high=high: n <= high, f"Member must have length less than or equal to {high}"))
    return checks


def _scalar_constraints(shape: Any) -> Callable[[Any], list[str]]:
    """The failed constraints of a scalar value (strings, blobs, numbers); [] when it satisfies them all."""
    metadata = shape.metadata
    kind = shape.type_name
    if kind == "string":
        lengths = _length_checks(metadata)
        pattern = metadata.get("pattern")
        matches = matcher(pattern) if pattern else None
        enum = list(getattr(shape, "enum", None) or [])
        enum_set = frozenset(enum)
        enum_text = f"Member must satisfy enum value set: [{', '.join(enum)}]"

        def string_failures(value: str) -> list[str]:
            failed = []
            if lengths:
                n = _java_length(value)
                failed = [text for ok, text in lengths if not ok(n)]
            if matches is not None and not matches(value):
                failed.append(f"Member must satisfy regular expression pattern: {pattern}")
            if enum_set and value not in enum_set:
                failed.append(enum_text)
            return failed

        return string_failures
    if kind == "blob":
        lengths = _length_checks(metadata)
        return lambda value: [text for ok, text in lengths if not ok(len(value))]
    if kind in ("integer", "long", "float", "double"):
        bounds = []
        if "min" in metadata:
            low = metadata["min"]
            bounds.append((lambda v, low=low: v >= low, f"Member must have value greater than or equal to {low}"))
        if "max" in metadata:
            high = metadata["max"]
            bounds.append((lambda v, high=high: v <= high, f"Member must have value less than or equal to {high}"))
        return lambda value: [text for ok, text in bounds if not ok(value)]
    return lambda value: []


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "blob": (bytes, bytearray, str),
    "timestamp": (datetime, int, float, str),
    "structure": (dict,),
    "list": (list, tuple),
    "map": (dict,),
}
_TYPE_WORDS = {"structure": "an object", "map": "an object", "list": "a list", "boolean": "a boolean",
               "string": "a string", "blob": "a blob"}


class _Compiler:
    """One per service model: shape name → check, built once (recursive shapes resolve through the cache)."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def check(self, shape: Any) -> Check:
        found = self._checks.get(shape.name)
        if found is not None:
            return found
        with self._lock:
            found = self._checks.get(shape.name)
            if found is None:
                found = self._compile(shape)
        return found

    def _compile(self, shape: Any) -> Check:
        # Building is shallow (member checks are looked up when a value is checked), so a recursive shape needs no
        # placeholder; the finished check is published only once complete, as other threads read without the lock.
        built = self._build(shape)
        self._checks[shape.name] = built
        return built

    def _build(self, shape: Any) -> Check:
        kind = shape.type_name
        accepted = _TYPES.get(kind)
        sensitive = bool(shape.metadata.get("sensitive"))
        type_text = f"Member must be {_TYPE_WORDS.get(kind, 'a number' if kind != 'timestamp' else 'a timestamp')}"

        def wrong_type(value: Any) -> bool:
            if accepted is None:  # document: any JSON value
                return False
            if kind in ("integer", "long", "float", "double") and isinstance(value, bool):
                return True
            return not isinstance(value, accepted)

        if kind == "structure":
            members = [(member, member_shape) for member, member_shape in shape.members.items()]
            required = list(shape.required_members)
            member_checks: list[tuple[str, Any]] = members

            def check_structure(value: Any, path: str, out: list) -> None:
                if wrong_type(value):
                    out.append(Violation(path, type_text, value, sensitive, type_error=True))
                    return
                for member in required:
                    if value.get(member) is None:
                        out.append(Violation(_member_path(path, member), "Member must not be null", missing=True))
                for member, member_shape in member_checks:
                    item = value.get(member)
                    if item is not None:
                        self.check(member_shape)(item, _member_path(path, member), out)

            return check_structure

        if kind == "list":
            sizes = _length_checks(shape.metadata)
            member_shape = shape.member

            def check_list(value: Any, path: str, out: list) -> None:
                if wrong_type(value):
                    out.append(Violation(path, type_text, value, sensitive, type_error=True))
                    return
                for ok, text in sizes:
                    if not ok(len(value)):
                        out.append(Violation(path, text, value, sensitive))
                member_check = self.check(member_shape)
                if member_shape.type_name in ("structure", "list", "map"):
                    for index, item in enumerate(value, start=1):
                        if item is not None:
                            member_check(item, f"{path}.{index}.member", out)
                    return
                # a list of scalars is reported at the list: "Member must satisfy constraint: [...]"
                inner: list[Violation] = []
                for index, item in enumerate(value, start=1):
                    if item is not None:
                        member_check(item, f"{path}.{index}.member", inner)
                _fold(inner, path, value, sensitive, "Member must satisfy constraint", out)

            return check_list

        if kind == "map":
            sizes = _length_checks(shape.metadata)
            key_shape, value_shape = shape.key, shape.value

            def check_map(value: Any, path: str, out: list) -> None:
                if wrong_type(value):
                    out.append(Violation(path, type_text, value, sensitive, type_error=True))
                    return
                for ok, text in sizes:
                    if not ok(len(value)):
                        out.append(Violation(path, text, value, sensitive))
                key_check, value_check = self.check(key_shape), self.check(value_shape)
                keys: list[Violation] = []
                values: list[Violation] = []
                for key, item in value.items():
                    key_check(key, path, keys)
                    if item is not None:
                        value_check(item, f"{path}.{key}", values)
                _fold(keys, path, value, sensitive or bool(key_shape.metadata.get("sensitive")),
                      "Map keys must satisfy constraint", out)
                if value_shape.type_name in ("structure", "list", "map"):
                    out.extend(values)
                else:
                    _fold(values, path, value, sensitive or bool(value_shape.metadata.get("sensitive")),
                          "Map value must satisfy constraint", out)

            return check_map

        failures = _scalar_constraints(shape)

        def check_scalar(value: Any, path: str, out: list) -> None:
            if wrong_type(value):
                out.append(Violation(path, type_text, value, sensitive, type_error=True))
                return
            if isinstance(value, (str, bytes, bytearray)) or (
                isinstance(value, (int, float)) and not isinstance(value, bool)
            ):
                if kind == "blob" and isinstance(value, str):
                    value_for_length = value.encode()
                    failed = failures(value_for_length)
                else:
                    failed = failures(value)
                for text in failed:
                    out.append(Violation(path, text, value, sensitive))

        return check_scalar


def _fold(inner: list[Violation], path: str, value: Any, sensitive: bool, head: str, out: list) -> None:
    """Scalars inside a list or map are reported once, at the container, with their failed constraints."""
    if not inner:
        return
    type_errors = [v for v in inner if v.type_error]
    out.extend(Violation(path, v.constraint, value, sensitive, type_error=True) for v in type_errors[:1])
    constraints = list(dict.fromkeys(v.constraint for v in inner if not v.type_error))
    if constraints:
        out.append(Violation(path, f"{head}: [{', '.join(constraints)}]", value, sensitive))


@functools.cache
def _service(service: str) -> tuple[Any, _Compiler]:

    return _session().get_service_model(service), _Compiler()


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


_service_lock = threading.Lock()


def service_model(service: str) -> Any:
    with _service_lock:  # botocore's loader is not meant to be raced on first load
        return _service(service)[0]


def operation_model(service: str, operation: str) -> Any:
    return service_model(service).operation_model(operation)


def violations(service: str, operation: str, params: dict[str, Any]) -> list[Violation]:
    with _service_lock:
        model, compiler = _service(service)
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return []
    out: list[Violation] = []
    compiler.check(shape)(params, "", out)
    return out


def validate(service: str, operation: str, params: dict[str, Any]) -> None:
    """Raise RequestInvalid (with AWS's message) when `params` is outside the operation's input shape."""
    found = violations(service, operation, params)
    if found:
        raise RequestInvalid(found)
