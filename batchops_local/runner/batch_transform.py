"""Batch transform of CSV objects with built-in XGBoost serving semantics (aws-contracts §8.5), vectorised.

Per object: records are the object's lines (`SplitType=Line`); `InputFilter` picks the columns sent to the
model; the prediction is formatted as the container does (one value per line, `str(float)`, or `str(list)` of the
class probabilities for multi:softprob);
`JoinSource=Input` appends it to the input record; `OutputFilter` picks columns of the joined record; each
record ends with a newline (`AssembleWith=Line`). Work happens per chunk of lines with pandas' C parser and
`Booster.inplace_predict`, never per row in Python.

Filters are the JSONPath subset SageMaker documents for CSV: `$`, `$[i]`, `$[i,j,...]`, `$[a:b]`, `$[a:]`,
`$[:b]` (negative indices count from the end).

Runs in the serving image's runtime (Python 3.9 and xgboost 1.7.4 for sagemaker-xgboost 1.7-1): the transform
step starts `python batch_transform.py <job.json>` there (see `main`), so it imports nothing of the harness.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

if __package__:  # imported by the harness
    from batchops_local.runner.transform_records import (
        ColumnFilter,
        TransformError,
        TransformSettings,
        decode_text,
        joined,
        line_chunks,
        record_lines,
    )
else:  # run as a file in the image's runtime, next to transform_records.py
    from transform_records import (  # type: ignore[no-redef]
        ColumnFilter,
        TransformError,
        TransformSettings,
        decode_text,
        joined,
        line_chunks,
        record_lines,
    )

@dataclass
class ObjectReport:
    records: int
    seconds: float


@dataclass(frozen=True)
class _Plan:
    """What to read and what to write for records of `columns` columns with `predicted` prediction columns."""

    columns: int
    feature_columns: list[int]
    text_columns: list[int]  # input columns the output keeps, read as their original text
    chosen: list[int] | None  # output columns of the assembled record; None: the whole record
    join_input: bool

    @classmethod
    def make(cls, settings: TransformSettings, columns: int, predicted: int = 1) -> _Plan:
        filtered = settings.input_filter
        feature_columns = filtered.indices(columns) if filtered else list(range(columns))
        if not feature_columns:
            raise TransformError(f"InputFilter {filtered.expression} selects no column of a {columns}-column record")
        width = columns + predicted if settings.join_input else predicted
        chosen = None
        if settings.output_filter is not None:
            chosen = settings.output_filter.indices(width)
            if not chosen:
                raise TransformError(f"OutputFilter {settings.output_filter.expression} selects no column")
            chosen = None if chosen == list(range(width)) else chosen
        text_columns = sorted({i for i in chosen or [] if i < columns}) if settings.join_input else []
        return cls(columns, feature_columns, text_columns, chosen, settings.join_input)

    @property
    def keeps_lines(self) -> bool:
        """The whole input record plus the prediction: input lines are kept verbatim."""
        return self.join_input and self.chosen is None


def transform_csv_file(booster: xgb.Booster, source: Path, target: Path, settings: TransformSettings) -> ObjectReport:
    """Transform one CSV object into `target` (written completely or the call raises TransformError).

    The next chunk is parsed and predicted on a helper thread (pandas' parser and XGBoost release the GIL)
    while the current one is formatted and written.
    """
    started = time.perf_counter()
    records = 0
    plan: _Plan | None = None
    with source.open("rb") as reader, target.open("w", encoding="utf-8", newline="") as writer, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-parse") as parser:
        pending = None
        line = 1
        for chunk in line_chunks(reader, settings.chunk_bytes):
            if not chunk.strip():
                line += chunk.count(b"\n")
                continue
            if plan is None:
                first_line = decode_text(chunk.lstrip(b"\r\n").split(b"\n", 1)[0], line=line)
                plan = _Plan.make(settings, len(next(csv.reader([first_line]))))
            parsed = parser.submit(_parse_and_predict, booster, chunk, plan, line=line)
            if pending is not None:
                records += _write(writer, _assemble(settings, plan, *pending))
            pending = (chunk, parsed, line)
            line += chunk.count(b"\n")
        if pending is not None:
            records += _write(writer, _assemble(settings, plan, *pending))
    return ObjectReport(records=records, seconds=time.perf_counter() - started)


def _write(writer: io.TextIOBase, records: list[str]) -> int:
    writer.write("\n".join(records))
    writer.write("\n")
    return len(records)


def _parse_and_predict(booster: xgb.Booster, text: bytes, plan: _Plan, *, line: int) -> tuple[pd.DataFrame,
                                                                                               np.ndarray]:
    """The GIL-free part of a chunk (pandas' parser, XGBoost's predictor), run ahead on a helper thread."""
    frame = _parse(text, plan.columns, plan.feature_columns, plan.text_columns, line=line)
    matrix = _features(frame, plan.feature_columns, plan.text_columns, line=line)
    try:
        return frame, booster.inplace_predict(matrix)
    except (xgb.core.XGBoostError, ValueError) as exc:  # ValueError: feature count mismatch
        raise TransformError(f"the model rejected the records from line {line} ({matrix.shape[1]} feature "
                             f"columns): {str(exc).strip().splitlines()[0]}") from None


def _assemble(settings: TransformSettings, plan: _Plan, text: bytes, parsed: Future, line: int) -> list[str]:
    """Build one chunk's output records from its parsed input and predictions."""
    frame, predictions = parsed.result()
    predicted = _format_predictions(predictions)
    if len(predicted) != 1:  # a multi-output model: the assembled record is wider than planned
        plan = _Plan.make(settings, plan.columns, len(predicted))
        if set(plan.text_columns) - set(frame.columns):
            frame = _parse(text, plan.columns, [], plan.text_columns, line=line)
    if plan.keeps_lines:
        lines = record_lines(decode_text(text, line=line), expected=len(frame), line=line)
        return joined([lines, *predicted], line=line)
    if not plan.join_input:
        parts = predicted if plan.chosen is None else [predicted[i] for i in plan.chosen]
    else:
        parts = [frame[i].tolist() if i < plan.columns else predicted[i - plan.columns] for i in plan.chosen]
    return parts[0] if len(parts) == 1 else joined(parts, line=line)


def _parse(text: bytes, columns: int, float_columns: list[int], text_columns: list[int], *,
           line: int) -> pd.DataFrame:
    """Features as float32, kept input columns as their original text, in one pass of pandas' C parser.

    The fast pass does no missing-value detection; a chunk with empty feature fields (missing values) or a
    bad value takes a second, careful pass that maps empty fields to NaN or names the problem.
    """
    wanted = sorted(set(float_columns) | set(text_columns))
    dtypes = {i: (object if i in text_columns else np.float32) for i in wanted}
    options = {"header": None, "encoding": "utf-8", "names": range(columns), "usecols": wanted, "dtype": dtypes,
               "engine": "c"}
    try:
        try:
            return pd.read_csv(io.BytesIO(text), na_filter=False, **options)
        except ValueError:
            return pd.read_csv(io.BytesIO(text), keep_default_na=False,
                               na_values={i: [""] for i in float_columns if i not in text_columns}, **options)
    except UnicodeDecodeError as exc:
        raise TransformError(f"lines from {line}: not UTF-8 text ({exc.reason})") from None
    except ValueError as exc:  # includes pandas' ParserError
        raise TransformError(f"lines from {line}: cannot parse CSV: {exc} (is there a header line or a "
                             "text column? InputFilter must leave numeric columns only)") from None


def _features(frame: pd.DataFrame, feature_columns: list[int], text_columns: list[int], *,
              line: int) -> np.ndarray:
    if not set(feature_columns) & set(text_columns):
        return frame[feature_columns].to_numpy(dtype=np.float32, copy=False)
    try:  # a column both sent to the model and kept in the output was read as text
        return frame[feature_columns].replace("", np.nan).to_numpy(dtype=np.float32)
    except ValueError as exc:
        raise TransformError(f"lines from {line}: a feature column is not numeric: {exc}") from None


def _format_predictions(predictions: np.ndarray) -> list[list[str]]:
    """One list of text values per CSV field of the prediction, formatted like the container in a batch transform
    (algorithm_mode/serve.py with SAGEMAKER_BATCH: `"\\n".join(map(str, predictions.tolist()))`): `str` of a float
    for one output (binary:logistic, regression); `str` of a list, `[p0, p1, p2]`, for several (multi:softprob).
    That text holds commas, so a joined CSV record has one field per class: `[p0`, ` p1`, ` p2]`."""
    matrix = predictions.reshape(len(predictions), -1)
    columns = [list(map(repr, matrix[:, column].tolist())) for column in range(matrix.shape[1])]
    if len(columns) == 1:
        return columns
    last = len(columns) - 1
    return [[("[" if index == 0 else " ") + value + ("]" if index == last else "") for value in column]
            for index, column in enumerate(columns)]


# ------------------------------------------------------------------------------------ job process (entry point)

EXIT_MODEL_ERROR = 3  # the model does not load; the message is the job file's `failure` path


def run_job(job: dict) -> dict:
    """Transform every object of a job with one loaded model; a per-object report (records or error)."""
    from xgboost_algorithm import AlgorithmError, load_booster  # the sibling file, on sys.path as a script

    try:
        booster = load_booster(Path(job["model_dir"]))
    except AlgorithmError as exc:
        Path(job["failure"]).write_text(str(exc), encoding="utf-8")
        raise SystemExit(EXIT_MODEL_ERROR) from None
    settings = TransformSettings(input_filter=ColumnFilter.parse(job.get("input_filter")),
                                 output_filter=ColumnFilter.parse(job.get("output_filter")),
                                 join_input=bool(job.get("join_input")))

    def one(item: dict) -> dict:
        source, target = Path(item["input"]), Path(item["output"])
        try:
            report = transform_csv_file(booster, source, target, settings)
        except (TransformError, UnicodeDecodeError) as exc:
            target.unlink(missing_ok=True)  # all-or-nothing per object
            return {"error": str(exc)}
        return {"records": report.records, "seconds": report.seconds}

    with ThreadPoolExecutor(max_workers=max(1, int(job.get("workers") or 1))) as pool:
        return {"objects": list(pool.map(one, job["objects"]))}


def main(argv: list) -> int:
    if len(argv) != 2:
        print("usage: python batch_transform.py <job.json>", file=sys.stderr)
        return 2
    job = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    report = run_job(job)
    Path(job["report"]).write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
