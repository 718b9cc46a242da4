"""Batch transform record plumbing shared by both serving engines (built-in XGBoost and framework script mode):
splitting objects into records and mini-batches, the CSV JSONPath filters, joining predictions to their input
records and assembling the output object (aws-contracts §8.5; AWS docs "Associate Prediction Results with Input
Records", https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html).

Runs in the serving image's runtime (imported as a sibling file there), so: standard library only, Python 3.9.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024  # small enough to overlap parsing/predicting with formatting
# CreateTransformJob MaxPayloadInMB: "The default value is 6 MB" (API reference, CreateTransformJob).
DEFAULT_MAX_PAYLOAD_MB = 6
MEGABYTE = 1024 * 1024

_SLICE = re.compile(r"^\$\[\s*(-?\d+)?\s*:\s*(-?\d+)?\s*\]$")
_LIST = re.compile(r"^\$\[\s*-?\d+\s*(,\s*-?\d+\s*)*\]$")


class TransformError(Exception):
    """A record or object problem; the object (and so the job) fails with this message."""


@dataclass(frozen=True)
class ColumnFilter:
    """A parsed CSV JSONPath filter; `indices(n)` are the selected columns of an n-column record."""

    expression: str
    start: int | None = None
    stop: int | None = None
    listed: tuple[int, ...] | None = None

    @classmethod
    def parse(cls, expression: str | None) -> ColumnFilter | None:
        text = (expression or "").strip()
        if text in ("", "$"):
            return None
        sliced = _SLICE.match(text)
        if sliced:
            start, stop = (int(v) if v is not None else None for v in sliced.groups())
            return cls(text, start=start, stop=stop)
        if _LIST.match(text):
            return cls(text, listed=tuple(int(v) for v in text[2:-1].split(",")))
        raise ValueError(f"unsupported CSV filter '{expression}': use $, $[i], $[i,j,...] or $[a:b]")

    def indices(self, columns: int) -> list[int]:
        if self.listed is None:
            return list(range(columns))[self.start:self.stop]
        chosen = []
        for index in self.listed:
            position = index + columns if index < 0 else index
            if not 0 <= position < columns:
                raise TransformError(f"filter {self.expression} selects column {index}, the record has {columns}")
            chosen.append(position)
        return chosen


@dataclass(frozen=True)
class TransformSettings:
    input_filter: ColumnFilter | None = None
    output_filter: ColumnFilter | None = None
    join_input: bool = False
    chunk_bytes: int = DEFAULT_CHUNK_BYTES

    @property
    def processes_records(self) -> bool:
        """Any of InputFilter, JoinSource=Input, OutputFilter is set: records are CSV rows."""
        return bool(self.input_filter or self.output_filter or self.join_input)


def line_chunks(reader: io.BufferedReader, size: int) -> Iterator[bytes]:
    """Chunks of roughly `size` bytes that end on a line boundary."""
    rest = b""
    while True:
        block = reader.read(size)
        if not block:
            if rest:
                yield rest
            return
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        rest = block[cut + 1:]
        yield block[: cut + 1]


def decode_text(data: bytes, *, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TransformError(f"lines from {line}: not UTF-8 text ({exc.reason})") from None


def joined(columns: list[list[str]], *, line: int) -> list[str]:
    """Records from equally long columns (zip's strict= is Python 3.10+; this also runs on the image's 3.9)."""
    if len({len(column) for column in columns}) > 1:
        raise TransformError(f"lines from {line}: records and predictions differ in count")
    return list(map(",".join, zip(*columns)))  # noqa: B905 (lengths checked above; runs on 3.9)


def record_lines(text: str, *, expected: int | None = None, line: int = 1) -> list[str]:
    """The non-empty lines of `text` (a trailing `\\r` dropped); `expected`: how many there must be."""
    lines = text.split("\n")
    if "\r" in text:
        lines = [record.rstrip("\r") for record in lines]
    lines = [record for record in lines if record]
    if expected is not None and len(lines) != expected:
        raise TransformError(f"lines from {line}: {len(lines)} lines but {expected} CSV records "
                             "(quoted fields spanning lines are not supported)")
    return lines


# ------------------------------------------------------------------ record by record (the framework engine)


def split_records(data: bytes, split_type: str) -> list[bytes]:
    """`SplitType=Line`: each non-empty line is a record (its line break removed); `None`: the whole object."""
    if split_type == "None":
        return [data] if data else []
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip(b"\r")]


def mini_batches(records: list[bytes], *, single_record: bool, max_payload_bytes: int) -> Iterator[list[int]]:
    """Indices of the records of each request: one each (`SingleRecord`), or as many as fit in MaxPayloadInMB,
    newline-separated (`MultiRecord`). A record larger than the limit fails the object as on SageMaker, where
    "MaxPayloadInMB must be greater or equal to the size of a single record" (API reference, CreateTransformJob);
    MaxPayloadInMB=0 means no limit (allowed there for streaming, here a single request per object)."""
    batch: list[int] = []
    size = 0
    for index, record in enumerate(records):
        if max_payload_bytes and len(record) > max_payload_bytes:
            raise TransformError(f"record {index + 1} has {len(record)} bytes, more than MaxPayloadInMB "
                                 f"({max_payload_bytes // MEGABYTE} MB)")
        added = len(record) + (1 if batch else 0)
        if batch and (single_record or (max_payload_bytes and size + added > max_payload_bytes)):
            yield batch
            batch, size = [], 0
            added = len(record)
        batch.append(index)
        size += added
    if batch:
        yield batch


def csv_fields(record: str, *, number: int) -> list[str]:
    try:
        rows = list(csv.reader([record], strict=True))
    except csv.Error as exc:
        raise TransformError(f"record {number}: not a CSV row ({exc})") from None
    return rows[0] if rows else []


def csv_row(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def filtered_record(record: str, column_filter: ColumnFilter | None, *, number: int) -> str:
    """InputFilter over one CSV record: the selected columns, re-quoted where a field needs it."""
    if column_filter is None:
        return record
    fields = csv_fields(record, number=number)
    chosen = column_filter.indices(len(fields))
    if not chosen:
        raise TransformError(f"record {number}: InputFilter {column_filter.expression} selects no column of a "
                             f"{len(fields)}-column record")
    return csv_row([fields[i] for i in chosen])


def joined_record(record: str, prediction: str, settings: TransformSettings, *, number: int) -> str:
    """JoinSource=Input appends the prediction row's fields to the input row; OutputFilter picks columns of the
    result (or of the prediction alone without a join)."""
    fields = csv_fields(prediction, number=number)
    if settings.join_input:
        fields = csv_fields(record, number=number) + fields
    if settings.output_filter is None:
        return record + "," + prediction if settings.join_input else prediction
    chosen = settings.output_filter.indices(len(fields))
    if not chosen:
        raise TransformError(f"record {number}: OutputFilter {settings.output_filter.expression} selects no column")
    return csv_row([fields[i] for i in chosen])
