"""Batch transform of CSV objects with built-in XGBoost serving semantics (aws-contracts §8.5), vectorised.

Per object: records are the object's lines (`SplitType=Line`); `InputFilter` picks the columns sent to the
model; the prediction is formatted as the container does (one value per line, `str(float)`);
`JoinSource=Input` appends it to the input record; `OutputFilter` picks columns of the joined record; each
record ends with a newline (`AssembleWith=Line`). Work happens per chunk of lines with pandas' C parser and
`Booster.inplace_predict`, never per row in Python.

Filters are the JSONPath subset SageMaker documents for CSV: `$`, `$[i]`, `$[i,j,...]`, `$[a:b]`, `$[a:]`,
`$[:b]` (negative indices count from the end).
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024

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


@dataclass
class ObjectReport:
    records: int
    seconds: float


def transform_csv_file(booster: xgb.Booster, source: Path, target: Path, settings: TransformSettings) -> ObjectReport:
    """Transform one CSV object into `target` (written completely or the call raises TransformError)."""
    started = time.perf_counter()
    records = 0
    columns: int | None = None
    with source.open("rb") as reader, target.open("w", encoding="utf-8", newline="") as writer:
        for chunk in _line_chunks(reader, settings.chunk_bytes):
            text = chunk.decode("utf-8", errors="strict") if isinstance(chunk, bytes) else chunk
            lines = [line.rstrip("\r") for line in text.split("\n")]
            lines = [line for line in lines if line]
            if not lines:
                continue
            if columns is None:
                columns = len(next(csv.reader([lines[0]])))
            out = _transform_lines(booster, lines, columns, settings, first_record=records)
            writer.write("\n".join(out))
            writer.write("\n")
            records += len(lines)
    return ObjectReport(records=records, seconds=time.perf_counter() - started)


def _line_chunks(reader: io.BufferedReader, size: int):
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


def _transform_lines(booster: xgb.Booster, lines: list[str], columns: int, settings: TransformSettings,
                     *, first_record: int) -> list[str]:
    feature_columns = settings.input_filter.indices(columns) if settings.input_filter else list(range(columns))
    if not feature_columns:
        raise TransformError(f"InputFilter {settings.input_filter.expression} selects no column of a "
                             f"{columns}-column record")
    payload = "\n".join(lines)
    features = _read_columns(payload, sorted(set(feature_columns)), float_values=True, columns=columns,
                             first_record=first_record)
    matrix = features[feature_columns].to_numpy(dtype=np.float32, copy=False)
    try:
        predictions = booster.inplace_predict(matrix)
    except xgb.core.XGBoostError as exc:
        raise TransformError(f"the model rejected records {first_record + 1}-{first_record + len(lines)} "
                             f"({matrix.shape[1]} feature columns): {str(exc).strip().splitlines()[0]}") from None
    prediction_columns = _format_predictions(predictions)
    if not settings.join_input:
        return _select(prediction_columns, settings.output_filter, lines=None, payload=payload, columns=0,
                       first_record=first_record)
    return _select(prediction_columns, settings.output_filter, lines=lines, payload=payload, columns=columns,
                   first_record=first_record)


def _select(prediction_columns: list[list[str]], output_filter: ColumnFilter | None, *, lines: list[str] | None,
            payload: str, columns: int, first_record: int) -> list[str]:
    """Assemble output records: [input columns...] + prediction columns, then the OutputFilter."""
    width = columns + len(prediction_columns)
    chosen = output_filter.indices(width) if output_filter else list(range(width))
    if not chosen:
        raise TransformError(f"OutputFilter {output_filter.expression} selects no column")
    if lines is not None and chosen == list(range(width)):
        # Fast path: the input line is kept verbatim, predictions appended.
        predicted = _join_columns(prediction_columns)
        return [f"{line},{value}" for line, value in zip(lines, predicted, strict=True)]
    input_wanted = sorted({i for i in chosen if i < columns})
    texts = _read_columns(payload, input_wanted, float_values=False, columns=columns,
                          first_record=first_record) if input_wanted else None
    parts = [texts[i].tolist() if i < columns else prediction_columns[i - columns] for i in chosen]
    return _join_columns(parts)


def _join_columns(parts: list[list[str]]) -> list[str]:
    if len(parts) == 1:
        return parts[0]
    return [",".join(row) for row in zip(*parts, strict=True)]


def _format_predictions(predictions: np.ndarray) -> list[list[str]]:
    """One list of text values per prediction column, formatted like the container (`str` of a float)."""
    matrix = predictions.reshape(len(predictions), -1).astype(np.float64)
    return [[repr(value) for value in matrix[:, column].tolist()] for column in range(matrix.shape[1])]


def _read_columns(payload: str, wanted: list[int], *, float_values: bool, columns: int,
                  first_record: int) -> pd.DataFrame:
    try:
        if float_values:
            return pd.read_csv(io.StringIO(payload), header=None, usecols=wanted, dtype=np.float32, engine="c",
                               names=range(columns) if columns else None)
        return pd.read_csv(io.StringIO(payload), header=None, usecols=wanted, dtype=str, engine="c",
                           keep_default_na=False, na_filter=False, names=range(columns) if columns else None)
    except ValueError as exc:
        hint = " (is there a header line or a text column? use InputFilter to drop it)" if float_values else ""
        raise TransformError(f"records {first_record + 1}-{first_record + payload.count(chr(10)) + 1}: cannot "
                             f"parse CSV: {exc}{hint}") from None
    except pd.errors.ParserError as exc:
        raise TransformError(f"records from {first_record + 1}: malformed CSV: {exc}") from None
