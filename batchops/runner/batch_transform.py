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
            if not chunk.strip():
                continue
            if columns is None:
                first_line = _decode(chunk.lstrip(b"\r\n").split(b"\n", 1)[0], first_record=records)
                columns = len(next(csv.reader([first_line])))
            out = _transform_text(booster, chunk, columns, settings, first_record=records)
            writer.write("\n".join(out))
            writer.write("\n")
            records += len(out)
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


def _decode(data: bytes, *, first_record: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TransformError(f"records from {first_record + 1}: not UTF-8 text ({exc.reason})") from None


def _transform_text(booster: xgb.Booster, text: bytes, columns: int, settings: TransformSettings,
                    *, first_record: int) -> list[str]:
    """One chunk of records: a single CSV parse for features and any input columns the output keeps."""
    feature_columns = settings.input_filter.indices(columns) if settings.input_filter else list(range(columns))
    if not feature_columns:
        raise TransformError(f"InputFilter {settings.input_filter.expression} selects no column of a "
                             f"{columns}-column record")
    predictions_per_record = 1  # refined after predicting (multi-output models)
    width = columns + predictions_per_record if settings.join_input else predictions_per_record
    chosen = _chosen_output(settings, columns, width)
    keep_lines = settings.join_input and chosen is None  # whole input record + prediction: keep lines verbatim
    text_columns = sorted({i for i in (chosen or []) if i < columns}) if settings.join_input else []
    frame = _parse(text, columns, sorted(set(feature_columns)), text_columns, first_record=first_record)
    matrix = _features(frame, feature_columns, text_columns, first_record=first_record)
    try:
        predictions = booster.inplace_predict(matrix)
    except (xgb.core.XGBoostError, ValueError) as exc:  # ValueError: feature count mismatch
        raise TransformError(f"the model rejected records {first_record + 1}-{first_record + len(frame)} "
                             f"({matrix.shape[1]} feature columns): {str(exc).strip().splitlines()[0]}") from None
    predicted = _format_predictions(predictions)
    if len(predicted) != predictions_per_record:  # a multi-output model: the record is wider than assumed
        width = columns + len(predicted) if settings.join_input else len(predicted)
        chosen = _chosen_output(settings, columns, width)
        keep_lines = settings.join_input and chosen is None
        needed = sorted({i for i in (chosen or []) if i < columns}) if settings.join_input else []
        if set(needed) - set(text_columns):
            frame = _parse(text, columns, [], needed, first_record=first_record)
    if keep_lines:
        lines = _record_lines(_decode(text, first_record=first_record), expected=len(frame),
                              first_record=first_record)
        return list(map(",".join, zip(lines, *predicted, strict=True)))
    if not settings.join_input:
        parts = predicted if chosen is None else [predicted[i] for i in chosen]
    else:
        parts = [frame[i].tolist() if i < columns else predicted[i - columns] for i in chosen]
    return parts[0] if len(parts) == 1 else list(map(",".join, zip(*parts, strict=True)))


def _chosen_output(settings: TransformSettings, columns: int, width: int) -> list[int] | None:
    """Output columns of the assembled record; None when the whole record is kept."""
    if settings.output_filter is None:
        return None
    chosen = settings.output_filter.indices(width)
    if not chosen:
        raise TransformError(f"OutputFilter {settings.output_filter.expression} selects no column")
    return None if chosen == list(range(width)) else chosen


def _parse(text: bytes, columns: int, float_columns: list[int], text_columns: list[int], *,
           first_record: int) -> pd.DataFrame:
    """Features as float32, kept input columns as their original text, in one pass of pandas' C parser."""
    wanted = sorted(set(float_columns) | set(text_columns))
    dtypes = {i: (str if i in text_columns else np.float32) for i in wanted}
    try:
        return pd.read_csv(io.BytesIO(text), header=None, encoding="utf-8", names=range(columns), usecols=wanted,
                           dtype=dtypes, engine="c", keep_default_na=False,
                           na_values={i: [""] for i in float_columns if i not in text_columns})
    except UnicodeDecodeError as exc:
        raise TransformError(f"records from {first_record + 1}: not UTF-8 text ({exc.reason})") from None
    except ValueError as exc:  # includes pandas' ParserError
        raise TransformError(f"records from {first_record + 1}: cannot parse CSV: {exc} (is there a header line or a "
                             "text column? InputFilter must leave numeric columns only)") from None


def _features(frame: pd.DataFrame, feature_columns: list[int], text_columns: list[int], *,
              first_record: int) -> np.ndarray:
    if not set(feature_columns) & set(text_columns):
        return frame[feature_columns].to_numpy(dtype=np.float32, copy=False)
    try:  # a column both sent to the model and kept in the output was read as text
        return frame[feature_columns].replace("", np.nan).to_numpy(dtype=np.float32)
    except ValueError as exc:
        raise TransformError(f"records from {first_record + 1}: a feature column is not numeric: {exc}") from None


def _record_lines(text: str, *, expected: int, first_record: int) -> list[str]:
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.rstrip("\r") for line in lines]
    if lines and lines[-1] == "":
        lines.pop()
    if "" in lines:
        lines = [line for line in lines if line]
    if len(lines) != expected:
        raise TransformError(f"records from {first_record + 1}: {len(lines)} lines but {expected} CSV records "
                             "(quoted fields spanning lines are not supported)")
    return lines


def _format_predictions(predictions: np.ndarray) -> list[list[str]]:
    """One list of text values per prediction column, formatted like the container (`str` of a float)."""
    matrix = predictions.reshape(len(predictions), -1)
    return [list(map(repr, matrix[:, column].tolist())) for column in range(matrix.shape[1])]
