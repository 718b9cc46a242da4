"""Helpers shared by the step scripts: paths, failure reporting, the dataset schema, CSV reading, results, S3.

Shipped beside the scripts as the processing input `steplib` (`/opt/ml/processing/input/steplib`). Runs in the
scikit-learn 1.2-1 and XGBoost 1.7-1 containers (Python 3.9, numpy 1.x) and locally: standard library, numpy and
the shipped core modules (the processing input `core`, put on sys.path by each script before this import).
Metrics and their pass/fail rule come from `batchops_core.metrics`, S3 URIs from `batchops_core.s3uri`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from batchops_core import datasets, metrics
from batchops_core.contracts import DATASET_SCHEMA_FILE, DATASET_SCHEMA_INPUT, STEP_RESULT_OUTPUT, OutputFile
from batchops_core.results import ClassificationSummary, StepResult
from batchops_core.s3uri import S3UriError, split_s3_uri

NUMERIC_TYPES = ("integer", "float")
DATA_SUFFIXES = (datasets.SINGLE_OBJECT_SUFFIX, datasets.PART_SUFFIX)
MAX_LISTED = 5  # problems listed in a failure reason before "(and N more)"
DEFAULT_CHUNK_ROWS = 100_000


# ------------------------------------------------------------------------------------------ paths, failures


def base_dir() -> Path:
    """`/opt/ml` in a container; a job root laid out the same way when run locally."""
    return Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))


def processing_path(*parts: str) -> Path:
    return base_dir().joinpath("processing", *parts)


class StepFailure(Exception):
    """A failure the step reports to SageMaker as its FailureReason (no traceback: the message says it all)."""


# The job's own CreateProcessingJob request as SageMaker hands it to the container ("How Amazon SageMaker
# Processing Configures Your Processing Container",
# https://docs.aws.amazon.com/sagemaker/latest/dg/build-your-own-processing-container.html#byoc-config).
PROCESSING_JOB_CONFIG = ("config", "processingjobconfig.json")


def processing_input_uri(name: str) -> str:
    """The S3Uri of the job's processing input `name`, read from /opt/ml/config/processingjobconfig.json.

    A location that can be long (an S3 key: up to 1,024 bytes) reaches a script this way, never as a container
    argument or environment value (each at most 256 characters in CreateProcessingJob: botocore sagemaker
    service-2.json ContainerArgument, ProcessingEnvironmentValue)."""
    path = base_dir().joinpath(*PROCESSING_JOB_CONFIG)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StepFailure(f"the processing job configuration {path} is missing (SageMaker writes it into every "
                          f"processing container; the location of the input '{name}' is read from it)") from None
    except json.JSONDecodeError as error:
        raise StepFailure(f"the processing job configuration {path} is not valid JSON: {error}") from None
    inputs = config.get("ProcessingInputs") if isinstance(config, dict) else None
    for item in inputs if isinstance(inputs, list) else []:
        if isinstance(item, dict) and item.get("InputName") == name:
            uri = (item.get("S3Input") or {}).get("S3Uri")
            if not isinstance(uri, str) or not uri:
                raise StepFailure(f"{path}: the processing input '{name}' has no S3Input.S3Uri")
            return uri
    names = [i.get("InputName") for i in inputs or [] if isinstance(i, dict)]
    raise StepFailure(f"{path}: no processing input named '{name}' (inputs: {', '.join(map(str, names)) or 'none'})")


# This instance and all of the job's (`current_host`, `hosts`: algo-1 ... algo-N), same page as above.
RESOURCE_CONFIG = ("config", "resourceconfig.json")


def cluster_position() -> tuple[int, int]:
    """(index of this instance in `hosts`, number of instances); (0, 1) when the job has no resource config."""
    path = base_dir().joinpath(*RESOURCE_CONFIG)
    if not path.is_file():
        return 0, 1
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        hosts = list(config["hosts"])
        return hosts.index(config["current_host"]), len(hosts)
    except (ValueError, KeyError, TypeError) as error:
        raise StepFailure(f"the resource configuration {path} has no current_host among its hosts: {error}") from None


def my_share(files: list, what: str) -> list:
    """The files this instance works on when a job's instances split its input by file: round-robin in the given
    (sorted) order, the way the runner shards ShardedByS3Key inputs; an instance may get none."""
    index, count = cluster_position()
    if count == 1:
        return files
    mine = files[index::count]
    print(f"{what}: {len(mine)} of {len(files)} file(s) on instance {index + 1} of {count}")
    return mine


def write_failure_message(message: str) -> None:
    path = base_dir() / "output" / "message"
    path.parent.mkdir(parents=True, exist_ok=True)
    # SageMaker shows at most 1 KiB of the message as FailureReason.
    path.write_text(message[:1024], encoding="utf-8")


def run_step(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a step's main; a StepFailure or any other error becomes `/opt/ml/output/message` and exit code 1."""
    try:
        return main(argv)
    except StepFailure as failure:
        message = str(failure)
    except Exception as error:  # an unexpected bug: keep the traceback in the log, a summary as the reason
        traceback.print_exc()
        message = f"{type(error).__name__}: {error}"
    write_failure_message(message)
    print(f"FAILED: {message}", file=sys.stderr)
    return 1


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------ schema


class Schema:
    """The configured dataset schema (the processing input `schema`: a JSON file written by the pipeline upsert)."""

    def __init__(self, data: dict):
        try:
            self.header = bool(data["header"])
            self.record_key = str(data["record_key"])
            self.target = str(data["target"])
            self.types = {str(c["name"]): str(c["type"]) for c in data["columns"]}
            self.columns = [str(c["name"]) for c in data["columns"]]
            # A classification model's target labels in class-index order (the label encoding); empty: regression.
            self.classes = tuple(str(label) for label in data.get("classes", ()))
        except (KeyError, TypeError) as error:
            raise StepFailure(f"the dataset schema is not a valid schema (missing {error})") from None
        for name in (self.record_key, self.target):
            if name not in self.types:
                raise StepFailure(f"the dataset schema: column '{name}' is not among the columns {self.columns}")

    @classmethod
    def load(cls) -> Schema:
        path = processing_path("input", DATASET_SCHEMA_INPUT, DATASET_SCHEMA_FILE)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StepFailure(f"the dataset schema {path} is missing (the processing input "
                              f"'{DATASET_SCHEMA_INPUT}')") from None
        try:
            return cls(json.loads(text))
        except json.JSONDecodeError as error:
            raise StepFailure(f"the dataset schema {path} is not valid JSON: {error}") from None

    @property
    def features(self) -> list[str]:
        return [c for c in self.columns if c not in (self.record_key, self.target)]

    def is_numeric(self, column: str) -> bool:
        """A column read as numbers: a classification target is read as labels, whatever its type."""
        if column == self.target and self.classes:
            return False
        return self.types[column] in NUMERIC_TYPES

    def target_values(self, table: Table, *, what: str) -> np.ndarray:
        """The target as numbers the model learns: the value (regression) or the class index (classification)."""
        if self.classes:
            return encode_labels(table.values[self.target], self.classes, what=what).astype(np.float64)
        return numeric_column(table, self.target, integer=self.types[self.target] == "integer", allow_missing=False)


def encode_labels(labels: Sequence[str], classes: Sequence[str], *, what: str) -> np.ndarray:
    """Class indices of label texts; a label outside `classes` is a StepFailure naming the values."""
    index = {label: position for position, label in enumerate(classes)}
    unseen = sorted({label for label in labels if label not in index})
    if unseen:
        shown = ", ".join(repr(label) for label in unseen[:MAX_LISTED]) + (" ..." if len(unseen) > MAX_LISTED else "")
        raise StepFailure(f"{what}: {len(unseen)} label value(s) not among the model's classes "
                          f"({', '.join(classes)}): {shown}")
    return np.array([index[label] for label in labels], dtype=np.int64)


# ------------------------------------------------------------------------------------------ CSV tables


class Table:
    """Rows of one or more CSV files as strings, with the file and line of every row (for error messages)."""

    def __init__(self, columns: list[str]):
        self.columns = list(columns)
        self.values: dict[str, list[str]] = {c: [] for c in columns}
        self.origins: list[tuple[str, int]] = []
        # Numeric columns parsed without a problem, by (column, integer): a column is parsed once per table.
        self.numbers: dict[tuple[str, bool], np.ndarray] = {}
        # False for a file's later chunks (DataCheck.chunks): a reader that starts a file over yields True again.
        self.first_of_file = True

    def __len__(self) -> int:
        return len(self.origins)

    def extend(self, other: Table) -> None:
        for column in self.columns:
            self.values[column].extend(other.values.get(column, [""] * len(other)))
        self.origins.extend(other.origins)
        self.numbers.clear()

    def take(self, indices: Iterable[int]) -> Table:
        indices = list(indices)
        part = Table(self.columns)
        for column in self.columns:
            values = self.values[column]
            part.values[column] = [values[i] for i in indices]
        part.origins = [self.origins[i] for i in indices]
        return part

    def rows(self, columns: Sequence[str]) -> Iterable[Sequence[str]]:
        """The rows of these columns (column-wise zip: no per-cell Python work)."""
        if not columns:
            return [[] for _ in range(len(self))]
        return zip(*(self.values[c] for c in columns))  # noqa: B905 (equal lengths; 3.9)

    def where(self, index: int) -> str:
        name, line = self.origins[index]
        return f"{name}:{line}"


def list_files(directory: Path, suffix: str) -> list[Path]:
    """Every file under `directory` ending in `suffix` (any depth, hidden files skipped), in a fixed order."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.rglob("*") if p.is_file() and p.name.lower().endswith(suffix)
             and not any(part.startswith(".") for part in p.relative_to(directory).parts)]
    return sorted(found, key=lambda p: p.relative_to(directory).as_posix())


def open_text(path: Path):
    """A CSV file as text for the csv module: gzip-compressed when its name ends in `.gz` (folder parts)."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")


def read_table(path: Path, schema: Schema, *, required: Sequence[str], optional: Sequence[str] = (),
               display_name: str | None = None, header: bool | None = None) -> Table:
    """Read one CSV by the schema's header convention and check its columns (see `read_table_chunks`)."""
    chunks = list(read_table_chunks(path, schema, required=required, optional=optional, display_name=display_name,
                                    header=header, chunk_rows=None))
    table = chunks[0]
    for chunk in chunks[1:]:
        table.extend(chunk)
    return table


def read_table_chunks(path: Path, schema: Schema, *, required: Sequence[str], optional: Sequence[str] = (),
                      display_name: str | None = None, header: bool | None = None,
                      chunk_rows: int | None = DEFAULT_CHUNK_ROWS) -> Iterator[Table]:
    """Read one CSV in tables of at most `chunk_rows` rows (None: one table), checking columns and widths.

    With a header, columns are found by name (any order) and must be the required ones plus any optional ones.
    Without one, the row must hold the schema's columns in schema order, the optional ones possibly left out.
    An empty file (or a header alone) yields one empty table. The first problem is raised as a StepFailure
    (`DataCheck` collects them all instead).
    """
    name = display_name or path.name
    for columns, batch in _csv_batches(path, name, schema, required, optional, header, chunk_rows):
        rows, ragged = _by_width(name, columns, batch)
        if ragged:
            raise StepFailure(problem_summary(ragged))
        yield _table_of(name, columns, rows, required, optional)


def _csv_batches(path: Path, name: str, schema: Schema, required: Sequence[str], optional: Sequence[str],
                 header: bool | None, chunk_rows: int | None) -> Iterator[tuple[list[str], list]]:
    """The file's columns (header or schema order checked) with each batch of (line, fields) rows.

    Problems of the file as a whole (empty, header, first row, not UTF-8, not CSV) are StepFailures."""
    has_header = schema.header if header is None else header
    reader = None
    try:
        with open_text(path) as handle:
            reader = csv.reader(handle)
            rows = ((number, row) for number, row in enumerate(reader, start=1)
                    if len(row) > 1 or (row and row[0].strip()))
            first = next(rows, None)
            if has_header:
                if first is None:
                    raise StepFailure(f"{name}: the file is empty (a header row is expected: {', '.join(required)})")
                columns = [cell.strip() for cell in first[1]]
                _check_header(name, columns, required, optional)
            else:
                columns = _positional_columns(name, first, schema, required, optional)
                rows = itertools.chain([first] if first else [], rows)
            yielded = False
            while True:
                batch = list(itertools.islice(rows, chunk_rows)) if chunk_rows else list(rows)
                if batch or not yielded:
                    yield columns, batch
                    yielded = True
                if not batch or chunk_rows is None:
                    return
    except UnicodeDecodeError as error:
        raise StepFailure(f"{name}: not UTF-8 text ({error.reason} at byte {error.start} of a block)") from None
    except (gzip.BadGzipFile, EOFError) as error:
        raise StepFailure(f"{name}: not a complete gzip file ({error})") from None
    except csv.Error as error:  # e.g. a NUL byte, an unterminated quote, a field beyond the csv module's limit
        raise StepFailure(f"{name}:{reader.line_num if reader else 1}: not a valid CSV row ({error})") from None


class _NotPlain(Exception):
    """The fast reader cannot vouch for a file (or a chunk has a problem): the exact reader reads it instead."""


_SCAN_BYTES = 1 << 24
# Bytes of what str.strip may remove: ASCII whitespace, \x1c-\x1f, and any non-ASCII byte (Unicode spaces). A
# file without any has nothing to strip. `bytes.translate` deleting the others finds them many times faster than
# a regular expression.
_STRIPPABLE_BYTES = b" \t\n\r\x0b\x0c" + bytes(range(0x1C, 0x20)) + bytes(range(0x80, 0x100))
_UNSTRIPPABLE_BYTES = bytes(byte for byte in range(256) if byte not in _STRIPPABLE_BYTES)


def _plain_shape(path: Path) -> tuple[int, bool, bool]:
    """(commas, whether a quote character occurs, whether a cell may need stripping) of the whole file, read in
    blocks (memory stays flat). Line ends do not count for stripping: a file of `\n` lines alone has none."""
    commas, quoted, strippable = 0, False, False
    with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")) as handle:
        for block in iter(lambda: handle.read(_SCAN_BYTES), b""):
            commas += block.count(b",")
            quoted = quoted or b'"' in block
            strippable = strippable or bool(block.translate(None, _UNSTRIPPABLE_BYTES).replace(b"\n", b""))
    return commas, quoted, strippable


def _fast_tables(path: Path, name: str, schema: Schema, required: Sequence[str], optional: Sequence[str],
                 chunk_rows: int | None) -> Iterator[Table]:
    """The file's tables read by pandas' C parser (many times faster than the csv module) when that gives exactly
    what the exact reader (`_csv_batches`, `_table_of`) gives: no quote characters in the file (so both split
    fields alike), every row as wide as the columns (a longer one stops pandas; a shorter one would be padded
    silently, so the file's commas are counted: rows x (columns - 1)), the header and columns decided by the
    exact reader's own rules. Rows carry no line numbers: any problem with a chunk means reading the file again
    with the exact reader (DataCheck.chunks), whose messages name the lines. Raises _NotPlain when it cannot."""
    try:
        import pandas as pd
    except ImportError:
        raise _NotPlain() from None
    try:
        commas, quoted, strippable = _plain_shape(path)
        if quoted:
            raise _NotPlain()
        columns = _first_row_columns(path, name, schema, required, optional)[0]
        frames = pd.read_csv(path, header=0 if schema.header else None, names=None if schema.header else list(
            range(len(columns))), dtype=object, keep_default_na=False, na_filter=False, index_col=False,
            skip_blank_lines=True, encoding="utf-8-sig", engine="c", chunksize=chunk_rows)
        rows, pending = 0, None
        kept = [c for c in columns if c in required or c in optional]
        for frame in [frames] if chunk_rows is None else frames:
            if schema.header and [str(c).strip() for c in frame.columns] != columns:
                raise _NotPlain()
            table = Table(kept)
            for column in kept:
                cells = frame.iloc[:, columns.index(column)].tolist()
                table.values[column] = list(map(str.strip, cells)) if strippable else cells
            table.origins = [(name, 0)] * len(frame)  # no line numbers: problems are reported by the exact reader
            for column in optional:
                if column not in table.values:
                    table.columns.append(column)
                    table.values[column] = [""] * len(table)
            rows += len(frame)
            if pending is not None:
                yield pending
            pending = table
        # Checked before the last (with chunk_rows None: the only) table is handed out.
        if rows == 0 or rows * (len(columns) - 1) != commas - (len(columns) - 1 if schema.header else 0):
            raise _NotPlain()
        yield pending
    except (_NotPlain, StepFailure):
        raise _NotPlain() from None
    except Exception:  # pandas' own parse errors (a longer row, bad UTF-8, a broken gzip): the exact reader says
        raise _NotPlain() from None


def _first_row_columns(path: Path, name: str, schema: Schema, required: Sequence[str],
                       optional: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the file's columns by the exact reader's rules: header, or schema order by the first row's width; the
    first row's cells as written); a file without rows, or whose columns the exact reader would refuse, raises
    _NotPlain (or StepFailure)."""
    with open_text(path) as handle:
        first = next((row for row in csv.reader(handle) if len(row) > 1 or (row and row[0].strip())), None)
    if first is None:
        raise _NotPlain()
    if schema.header:
        columns = [cell.strip() for cell in first]
        _check_header(name, columns, required, optional)
        return columns, first
    return _positional_columns(name, (1, first), schema, required, optional), first


_SCAN_BLOCK_BYTES = 8 << 20  # the vectorized check reads a file in blocks of this size (memory stays flat)
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)  # 64-bit FNV-1a
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[ord(c) for c in map(chr, range(128)) if c.isspace()]] = True
# Bytes no text of the exact reader may hold unnoticed: a quote (the csv module would unquote; `pyarrow` is told
# not to) or NUL (the csv module refuses the row).
_UNPLAIN_BYTES = (b'"', b"\0")


def _scan_plain(path: Path, name: str, schema: Schema, required: Sequence[str], optional: Sequence[str],
                numbers: Sequence[tuple[str, bool, bool]], key: str | None) -> tuple[int, np.ndarray]:
    """Check a file without building rows: (data rows, 64-bit hashes of its record keys) when the file is clean
    by the exact reader's rules, else _NotPlain (the caller then reads it with the exact reader, which names
    every problem). `numbers`: (column, integer, required) of each numeric column to check.

    `pyarrow`'s CSV reader, every column as text, with quoting off: it vouches only where it reads what the csv
    module reads (no quote or NUL byte, no field beyond the csv module's size limit, every row exactly as wide as
    the columns, valid UTF-8); numbers are parsed by its strict parser (it accepts a subset of what Python's
    float() accepts, rounding alike) and judged by `_bad_numbers`; record keys must not be empty, begin or end
    with whitespace or a non-ASCII character (the exact reader strips Unicode whitespace). Repeated key hashes
    are for the caller to confirm or clear."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv
    except ImportError:
        raise _NotPlain() from None
    columns, first = _first_row_columns(path, name, schema, required, optional)
    names = None if schema.header else [str(i) for i in range(len(columns))]
    field_limit = csv.field_size_limit()
    rows, hashes = 0, []
    try:
        reader = pa_csv.open_csv(
            str(path), read_options=pa_csv.ReadOptions(block_size=_SCAN_BLOCK_BYTES, column_names=names),
            parse_options=pa_csv.ParseOptions(quote_char=False, double_quote=False, escape_char=False,
                                              newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(column_types={c: pa.string() for c in names or first},
                                                  strings_can_be_null=True, null_values=[""], check_utf8=True))
        raw_names = reader.schema.names
        if [n.strip() for n in raw_names] != (columns if schema.header else names):
            raise _NotPlain()
        if any(reader.schema.field(n).type != pa.string() for n in raw_names):
            raise _NotPlain()  # a column type guessed from its first block (an all-empty or odd column)
        by_column = {c: raw_names[i] for i, c in enumerate(columns)}
        for batch in reader:
            texts = {c: batch.column(raw) for c, raw in by_column.items()}
            lengths = {}
            for column, array in texts.items():
                offsets, data = _string_buffers(array)
                lengths[column] = np.diff(offsets)  # an empty field (null) has length 0
                text = data.tobytes()
                if len(array) and (lengths[column].max() > field_limit or any(b in text for b in _UNPLAIN_BYTES)):
                    raise _NotPlain()
            for column, integer, needed in numbers:
                array = texts.get(column)
                if array is None:
                    continue  # an optional column the file leaves out
                if needed and array.null_count:
                    raise _NotPlain()
                parsed, empty = pc.cast(array, pa.float64()), lengths[column] == 0
                values = np.frombuffer(parsed.buffers()[1], dtype=np.float64)[parsed.offset:parsed.offset + len(parsed)]
                if _bad_numbers(values, empty, integer=integer).any():  # empty cells hold an arbitrary value
                    raise _NotPlain()
            if key is not None:
                hashes.append(_key_hashes(texts[key]))
            rows += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        raise _NotPlain() from None  # a row of another width, bad UTF-8, a broken gzip, text that is no number
    if rows == 0:
        raise _NotPlain()
    return rows, (np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64))


def _string_buffers(array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a pyarrow string array: the text of row i is bytes[offsets[i]:offsets[i+1]]."""
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return offsets, raw[offsets[0]:offsets[-1]] if len(offsets) else raw[:0]


def _key_hashes(array) -> np.ndarray:
    """64-bit FNV-1a hashes of the record keys of a pyarrow string array, column-wise over the keys' bytes;
    _NotPlain when a key is empty or begins or ends with whitespace or a non-ASCII byte (left to the exact
    reader, which strips Unicode whitespace before it compares keys)."""
    offsets, data = _string_buffers(array)
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    if not len(lengths):
        return np.empty(0, dtype=np.uint64)
    if array.null_count or (lengths == 0).any():
        raise _NotPlain()
    edges = np.concatenate([data[starts], data[starts + lengths - 1]])
    if _ASCII_SPACE[edges].any() or (edges >= 0x80).any():
        raise _NotPlain()
    hashes = np.full(len(lengths), _FNV_OFFSET, dtype=np.uint64)
    width = int(lengths.max())
    if int(lengths.min()) == width:  # keys of one length (the usual generated ids): a matrix of their bytes
        matrix = data.reshape(len(lengths), width)
        byte_at = lambda position: matrix[:, position]  # noqa: E731
    else:  # a shorter key has ended: no NUL in a key, so 0 stands for it
        last = len(data) - 1
        byte_at = lambda position: np.where(lengths > position,  # noqa: E731
                                            data[np.minimum(starts + position, last)], 0)
    with np.errstate(over="ignore"):
        for position in range(width):
            hashes = (hashes ^ byte_at(position).astype(np.uint64)) * _FNV_PRIME
    return hashes


def _by_width(name: str, columns: list[str], batch: list) -> tuple[list, list[str]]:
    """The rows with one field per column, and a problem line for every other row."""
    width = len(columns)
    if all(len(row) == width for _, row in batch):
        return batch, []
    good = [(number, row) for number, row in batch if len(row) == width]
    ragged = [f"{name}:{number}: {len(row)} fields, expected {width} ({', '.join(columns)})"
              for number, row in batch if len(row) != width]
    return good, ragged


def _table_of(name: str, columns: list[str], rows: list, required: Sequence[str],
              optional: Sequence[str]) -> Table:
    """A Table of rows whose widths were checked (`_by_width`)."""
    kept = [c for c in columns if c in required or c in optional]
    table = Table(kept)
    # Column-wise (transposed once) rather than cell by cell: several times faster on large files.
    # Widths were checked before; zip(strict=) would need Python 3.10 (containers run older ones).
    cells = list(zip(*(row for _, row in rows))) if rows else [() for _ in columns]  # noqa: B905
    for column in kept:
        table.values[column] = [value.strip() for value in cells[columns.index(column)]]
    table.origins = [(name, number) for number, _ in rows]
    for column in optional:
        if column not in table.values:
            table.columns.append(column)
            table.values[column] = [""] * len(table)
    return table


def _check_header(name: str, columns: list[str], required: Sequence[str], optional: Sequence[str]) -> None:
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    missing = [c for c in required if c not in columns]
    unknown = [c for c in columns if c not in required and c not in optional]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if duplicated:
        problems.append(f"duplicated column(s) {', '.join(duplicated)}")
    if problems:
        raise StepFailure(f"{name}: header does not match the configured schema: {'; '.join(problems)} "
                          f"(expected {', '.join(required)}" + (f", optionally {', '.join(optional)})" if optional
                                                                else ")"))


def _positional_columns(name, first, schema, required, optional) -> list[str]:
    """Columns of a file without header, told apart by the width of its first row."""
    full = [c for c in schema.columns if c in required or c in optional]
    if first is None:
        return full
    number, row = first
    for count in range(len(optional) + 1):
        candidate = [c for c in full if c in required or c in optional[count:]]
        if len(candidate) == len(row):
            return candidate
    widths = sorted({len([c for c in full if c in required or c in optional[k:]]) for k in range(len(optional) + 1)})
    raise StepFailure(f"{name}: line {number} has {len(row)} fields, expected {' or '.join(map(str, widths))} "
                      f"(columns in schema order: {', '.join(full)}; the file has no header row)")


def read_tables(files: list[tuple[Path, str]], schema: Schema, *, required: Sequence[str],
                optional: Sequence[str] = (), line_numbers: bool = True) -> Table:
    """Every file as one Table. `line_numbers=False`: a caller that only copies the text may get rows without
    line numbers (the fast reader, `_fast_tables`), read by the exact reader when the fast one cannot."""
    table = Table([c for c in schema.columns if c in required or c in optional])
    for path, display_name in files:
        part = None
        if not line_numbers:
            try:
                part = next(_fast_tables(path, display_name, schema, required, optional, None))
            except _NotPlain:
                part = None
        if part is None:
            part = read_table(path, schema, required=required, optional=optional, display_name=display_name)
        table.extend(part)
    return table


def table_chunks(path: Path, name: str, schema: Schema, *, required: Sequence[str], optional: Sequence[str] = (),
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Table]:
    """One file's rows in Tables of at most `chunk_rows` rows, for a caller that only copies the text (rows carry
    no line numbers when the fast reader reads them). When the fast reader cannot vouch for the file, the exact
    reader reads it from its start: the table then has `first_of_file` set again, and whoever writes per chunk
    starts the file over. Problems are raised as by `read_table_chunks` (memory stays flat)."""
    first = True
    try:
        for table in _fast_tables(path, name, schema, required, optional, chunk_rows):
            table.first_of_file, first = first, False
            yield table
        return
    except _NotPlain:
        pass
    first = True
    for table in read_table_chunks(path, schema, required=required, optional=optional, display_name=name,
                                   chunk_rows=chunk_rows):
        table.first_of_file, first = first, False
        yield table


def number_problem(text: str, *, integer: bool, allow_missing: bool) -> str | None:
    """What is wrong with one cell of a numeric column, None if nothing."""
    if text == "":
        return None if allow_missing else "empty (a value is required)"
    try:
        number = float(text)
    except ValueError:
        return f"'{text}' is not a number"
    if not math.isfinite(number):
        return f"'{text}' is not finite"
    if abs(number) > MAX_ABS_VALUE:
        return (f"'{text}' is too large: numbers must be at most {MAX_ABS_VALUE:.8g} in magnitude (XGBoost reads "
                "them as 32-bit floats)")
    if integer and number != math.floor(number):
        return f"'{text}' is not a whole number"
    return None


def numeric_values(table: Table, column: str, *, integer: bool, allow_missing: bool,
                   limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """The column as float64 (missing or bad = NaN) and a problem line for each bad cell (at most `limit`)."""
    values = table.values[column]
    cached = table.numbers.get((column, integer))
    if cached is not None and (allow_missing or not np.isnan(cached).any()):  # NaN only where a cell is empty
        return cached, []
    with np.errstate(all="ignore"):  # inf and NaN are looked for, never warned about
        try:  # the common case, converted in C; a bad value sends us to the row-by-row check below
            out = np.array([v if v else "nan" for v in values], dtype=np.float64)
        except ValueError:
            out = None
        if out is not None:
            empty = np.array(values, dtype=object) == "" if values else np.zeros(0, dtype=bool)
            bad = _bad_numbers(out, empty, integer=integer)
            if not bad.any():
                table.numbers[(column, integer)] = out
            if not bad.any() and (allow_missing or not empty.any()):
                return out, []
    out = np.full(len(values), np.nan)
    problems: list[str] = []
    for index, text in enumerate(values):
        problem = number_problem(text, integer=integer, allow_missing=allow_missing)
        if problem is None:
            out[index] = float(text) if text else np.nan
        elif limit is None or len(problems) < limit:
            problems.append(f"{table.where(index)}: column '{column}': {problem}")
    return out, problems


def _bad_numbers(values: np.ndarray, empty: np.ndarray, *, integer: bool) -> np.ndarray:
    """Which parsed cells break `number_problem`'s rules (not finite, too large, not whole where integer); empty
    cells (NaN in `values`) are judged by the caller."""
    with np.errstate(all="ignore"):
        return ~empty & (~np.isfinite(values) | (np.abs(values) > MAX_ABS_VALUE)
                         | (integer & (values != np.floor(values))))


def numeric_column(table: Table, column: str, *, integer: bool, allow_missing: bool) -> np.ndarray:
    """The column as float64 (missing = NaN); a StepFailure lists the offending cells."""
    out, problems = numeric_values(table, column, integer=integer, allow_missing=allow_missing, limit=MAX_LISTED + 1)
    if problems:
        raise StepFailure(problem_summary(problems))
    return out


def problem_summary(problems: Sequence[str], more: bool = False) -> str:
    """Problem lines as one failure reason: the first few, then how many more."""
    shown = "; ".join(problems[:MAX_LISTED])
    rest = len(problems) - MAX_LISTED
    if rest > 0 or more:
        shown += f" (and {max(rest, 0)}{'+' if more else ''} more)"
    return shown


def _list_some(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


# ------------------------------------------------------------------------------------------ data validation
# The one validation of input data: Preprocess runs it on every file it reads (train and transform modes),
# ModelQualityCheck on the ground truth, and `batchops data check|drop` on a file before anything is uploaded.

DATA_KINDS = ("training", "inference", "ground-truth")
MAX_PROBLEMS = 20  # problems collected before the check stops reading
# XGBoost (training and the batch transform) reads features and labels as 32-bit floats: a larger magnitude would
# become infinite. Below it the data-quality statistics (sums of values and of squared deviations in float64)
# stay finite, so the DataQualityCheck never fails on "values too large to sum in 64-bit floating point".
MAX_ABS_VALUE = float(np.finfo(np.float32).max)
# Fewest rows each of the train, validation and test splits must get: what every registry metric needs to be
# defined (r2 needs two different labels) and what the gates accept as a split.
MIN_SPLIT_ROWS = 2
# A target whose standard deviation is at most this share of its largest magnitude is "nearly constant": a model
# learns nothing from it and scores a perfect metric on a test split of the same labels.
NEAR_CONSTANT_RELATIVE_STD = 1e-9


def kind_columns(schema: Schema, kind: str) -> tuple[list[str], list[str]]:
    """(required, optional) columns of a CSV of this kind; with a header, in any order."""
    if kind == "training":
        return [c for c in schema.columns if c != schema.record_key], [schema.record_key]
    if kind == "inference":
        return [schema.record_key, *schema.features], [schema.target]
    if kind == "ground-truth":  # other schema columns may be present and are ignored
        return [schema.record_key, schema.target], schema.features
    raise ValueError(f"unknown data kind '{kind}' (expected one of: {', '.join(DATA_KINDS)})")


def split_sizes(count: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Rows of the train, validation and test splits of `count` rows."""
    test = int(round(count * test_fraction))
    validation = int(round(count * validation_fraction))
    return count - test - validation, validation, test


def split_problem(count: int, validation_fraction: float, test_fraction: float) -> str | None:
    if min(split_sizes(count, validation_fraction, test_fraction)) >= MIN_SPLIT_ROWS:
        return None
    return (f"{count} row(s) cannot be split into train/validation/test with fractions {validation_fraction} "
            f"(validation) and {test_fraction} (test) so that each split gets at least {MIN_SPLIT_ROWS} rows: "
            "provide more rows")


class Moments:
    """Count, mean, sum of squared deviations, min and max of numbers fed in blocks (NaN skipped)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = math.inf, -math.inf

    def add(self, values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        if not values.size:
            return
        block_mean = float(values.mean())
        block_m2 = float(((values - block_mean) ** 2).sum())
        total = self.count + values.size
        delta = block_mean - self.mean
        self.mean += delta * values.size / total
        self.m2 += block_m2 + delta * delta * self.count * values.size / total
        self.count = total
        self.min, self.max = min(self.min, float(values.min())), max(self.max, float(values.max()))

    def constant_problem(self, column: str, where: str) -> str | None:
        """Why these values cannot be a target to learn from (constant or nearly so), None if they can."""
        if self.count == 0:
            return None
        if self.min == self.max:
            return (f"{where}: target column '{column}' is constant (every value is {format_number(self.min)}): "
                    "a model would learn nothing and still score perfectly")
        deviation = math.sqrt(max(self.m2, 0.0) / self.count)
        if deviation <= NEAR_CONSTANT_RELATIVE_STD * max(abs(self.min), abs(self.max)):
            return (f"{where}: target column '{column}' is nearly constant (standard deviation "
                    f"{format_number(deviation)} around {format_number(self.mean)}): a model would learn nothing")
        return None


def target_problem(values: np.ndarray, column: str, where: str) -> str | None:
    moments = Moments()
    moments.add(np.asarray(values, dtype=np.float64))
    return moments.constant_problem(column, where)


class _KeyIndex:
    """Record keys seen so far as sorted 64-bit hashes (8 bytes a row, not the keys themselves); a key whose hash
    was seen before is a suspect, confirmed (and its lines found) by a second pass over the suspects only.

    The hashes are kept in sorted runs merged like a binary counter (a run absorbs the newer one once that is at
    least half its size): each hash is merged O(log n) times, where merging every chunk into one array re-sorted
    the whole of it per chunk (quadratic: 16 s of CPU for 1e7 keys in 100,000-key chunks)."""

    def __init__(self):
        self.runs: list[np.ndarray] = []  # sorted hashes; each run more than twice the size of the next
        self.suspects: set[str] = set()

    def add(self, keys: list[str]) -> None:
        hashes = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys))
        ordered = np.sort(hashes)
        repeated = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
        for run in self.runs:  # looked up in sorted order: numpy's binary search narrows from the previous answer
            positions = np.minimum(np.searchsorted(run, ordered), run.size - 1)
            repeated.update(ordered[run[positions] == ordered].tolist())
        if repeated:
            self.suspects.update(k for k, h in zip(keys, hashes.tolist()) if h in repeated)  # noqa: B905
        self.runs.append(ordered)
        while len(self.runs) > 1 and 2 * self.runs[-1].size >= self.runs[-2].size:
            newer = self.runs.pop()
            # Two sorted runs: the stable sort (timsort) merges them in linear time.
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], newer]), kind="stable")


class DataCheck:
    """Validate CSV files of one kind against the schema, streaming (memory stays flat but for 8 bytes a record
    key): the columns (header or schema order), the width of every row, numbers (finite, whole where the schema
    says integer, within MAX_ABS_VALUE), required values, unique record keys (inference, ground truth) and, for
    training, a target that is not (nearly) constant and enough rows for every split.

    `chunks()` yields each file's rows as Tables while recording problems (rows of a wrong width are left out);
    `finish()` returns every problem line, `<file>:<line>: ...`. Reading stops after `max_problems`.
    """

    def __init__(self, schema: Schema, kind: str, *, split: tuple[float, float] | None = None,
                 max_problems: int = MAX_PROBLEMS):
        self.schema, self.kind, self.split, self.max_problems = schema, kind, split, max_problems
        self.required, self.optional = kind_columns(schema, kind)
        checked = self.required if kind == "ground-truth" else self.required + self.optional
        self.numeric = [c for c in checked if c != schema.record_key and schema.is_numeric(c)]
        self.problems: list[str] = []
        self.truncated = False
        self.rows = 0
        self.files: list[tuple[Path, str]] = []
        self.keys = _KeyIndex() if kind != "training" else None
        self.target = Moments() if kind == "training" else None
        self.labels_seen: set[str] = set()  # classification training: the classes present
        self._finished = False

    @property
    def full(self) -> bool:
        return len(self.problems) >= self.max_problems

    def _add(self, problems: Sequence[str]) -> None:
        room = self.max_problems - len(self.problems)
        self.problems.extend(problems[:room])
        self.truncated = self.truncated or len(problems) > room

    def chunks(self, path: Path, name: str, chunk_rows: int | None = DEFAULT_CHUNK_ROWS) -> Iterator[Table]:
        """The file's rows in Tables of at most `chunk_rows` rows (None: one). Read by the fast reader while the
        file is plain and every chunk checks clean; else (from the start of the file: the table then has
        `first_of_file` set again, and whoever writes per chunk starts the file over) by the exact reader, whose
        problem lines name the file and line."""
        self.files.append((path, name))
        if not self.problems:
            saved = self._state()
            try:
                first = True
                for table in _fast_tables(path, name, self.schema, self.required, self.optional, chunk_rows):
                    self._check(table)
                    if self.problems:
                        raise _NotPlain()
                    table.first_of_file, first = first, False
                    yield table
                return
            except _NotPlain:
                self._restore(saved)
        first = True
        for table in self._exact_chunks(path, name, chunk_rows):
            table.first_of_file, first = first, False
            yield table

    def _state(self) -> tuple:
        keys = None if self.keys is None else (list(self.keys.runs), set(self.keys.suspects))
        target = None if self.target is None else dict(vars(self.target))
        return list(self.problems), self.truncated, self.rows, keys, target, set(self.labels_seen)

    def _restore(self, state: tuple) -> None:
        self.problems, self.truncated, self.rows, keys, target, self.labels_seen = state
        if keys is not None:
            self.keys.runs, self.keys.suspects = keys
        if target is not None:
            vars(self.target).update(target)

    def _exact_chunks(self, path: Path, name: str, chunk_rows: int | None) -> Iterator[Table]:
        try:
            for columns, batch in _csv_batches(path, name, self.schema, self.required, self.optional, None,
                                               chunk_rows):
                if self.full:
                    self.truncated = True
                    return
                rows, ragged = _by_width(name, columns, batch)
                self._add(ragged)
                table = _table_of(name, columns, rows, self.required, self.optional)
                self._check(table)
                yield table
        except StepFailure as failure:
            self._add([str(failure)])

    def _numeric_rules(self) -> list[tuple[str, bool, bool]]:
        """(column, integer, required) of every numeric column checked: the target is required unless the kind
        is inference."""
        return [(column, self.schema.types[column] == "integer",
                 column == self.schema.target and self.kind != "inference") for column in self.numeric]

    def scan(self, files: Sequence[tuple[Path, str]], chunk_rows: int | None = DEFAULT_CHUNK_ROWS) -> None:
        """Check files (one dataset: record keys unique across them) without handing out their rows
        (`batchops data check|drop`). Vectorized (`_scan_plain`) when every file is clean by it and no two record
        keys share a hash; anything else (a problem, a doubt, a training target's statistics, class labels) is
        read by `chunks()`, whose problem lines name file and line: the outcome is the same either way."""
        vectorized = (not self.problems and self.keys is not None and self.target is None
                      and not (self.schema.classes and self.kind != "inference"))
        if vectorized:
            try:
                found = [_scan_plain(path, name, self.schema, self.required, self.optional, self._numeric_rules(),
                                     self.schema.record_key) for path, name in files]
                hashes = np.sort(np.concatenate([h for _, h in found]))
                if not (hashes[1:] == hashes[:-1]).any():
                    self.files.extend(files)
                    self.rows += sum(rows for rows, _ in found)
                    return
            except (_NotPlain, StepFailure):
                pass
        for path, name in files:
            for _ in self.chunks(path, name, chunk_rows):
                pass

    def _check(self, table: Table) -> None:
        for column, integer, required in self._numeric_rules():
            values, problems = numeric_values(table, column, integer=integer,
                                              allow_missing=not required, limit=self.max_problems)
            self._add(problems)
            if self.target is not None and column == self.schema.target:
                self.target.add(values)
        if self.schema.classes and self.kind != "inference":
            self._check_labels(table)
        if self.keys is not None:
            key = self.schema.record_key
            keys = table.values[key]
            self._add([f"{table.where(i)}: column '{key}': empty record key" for i, k in enumerate(keys) if k == ""])
            self.keys.add([k for k in keys if k])
        self.rows += len(table)

    def _check_labels(self, table: Table) -> None:
        """Every label is one of the schema's classes (a label the model cannot predict would be silently lost)."""
        column, classes = self.schema.target, self.schema.classes
        labels = table.values[column]
        known = set(classes)
        self._add([f"{table.where(i)}: column '{column}': " + (f"'{label}' is not one of the classes "
                                                               f"({', '.join(classes)})" if label else "no label")
                   for i, label in enumerate(labels) if label not in known])
        if self.kind == "training":
            self.labels_seen.update(label for label in labels if label in known)

    def finish(self) -> list[str]:
        if self._finished:
            return self._result()
        self._finished = True
        if not self.full and self.keys is not None and self.keys.suspects:
            self._add(self._duplicates())
        if not self.full and not self.problems and self.rows == 0:
            self._add([f"{self.files[0][1]}: no data rows" if len(self.files) == 1
                       else f"no data rows in any of the {len(self.files)} files"])
        if not self.problems and self.target is not None:
            where = self.files[0][1] if len(self.files) == 1 else f"{len(self.files)} files"
            split = split_problem(self.rows, *self.split) if self.split else None
            single_class = (f"{where}: target column '{self.schema.target}' has one class only "
                            f"('{next(iter(self.labels_seen))}'): a model would learn nothing"
                            if self.schema.classes and len(self.labels_seen) == 1 else None)
            self._add([p for p in (self.target.constant_problem(self.schema.target, where), single_class,
                                   f"{where}: {split}" if split else None) if p])
        return self._result()

    def _result(self) -> list[str]:
        return self.problems + ([f"(stopped after {self.max_problems} problems)"] if self.truncated else [])

    def _duplicates(self) -> list[str]:
        """Every later line of a key seen before, naming the first; a second pass that looks at suspects only."""
        key, first, problems = self.schema.record_key, {}, []
        for path, name in self.files:
            for columns, batch in _csv_batches(path, name, self.schema, self.required, self.optional, None,
                                               DEFAULT_CHUNK_ROWS):
                index = columns.index(key)
                for number, row in batch:
                    if len(row) != len(columns) or row[index].strip() not in self.keys.suspects:
                        continue
                    value = row[index].strip()
                    if value in first:
                        problems.append(f"{name}:{number}: column '{key}': duplicate record key '{value}' "
                                        f"(also at {first[value]})")
                    else:
                        first[value] = f"{name}:{number}"
        return problems

    def raise_problems(self, what: str) -> None:
        """A StepFailure with the first problems of `what`, if there are any."""
        self.finish()
        if self.problems:
            raise StepFailure(f"{what}: " + problem_summary(self.problems, more=self.truncated))


def format_number(value: float) -> str:
    return format(float(value), ".10g")


def write_matrix(path: Path, matrix: np.ndarray, keys: Sequence[str] | None = None, *, append: bool = False) -> None:
    """Numbers as CSV without header (`%.10g`), optionally each row led by its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Column by column, each distinct value formatted once (features repeat values: one-hot 0/1, medians).
    columns = [formatted_numbers(matrix[:, j]) for j in range(matrix.shape[1])]
    if keys is not None:
        columns.insert(0, [_csv_field(key) for key in keys])
    lines = [",".join(row) for row in zip(*columns)] if columns else [""] * matrix.shape[0]  # noqa: B905
    with path.open("a" if append else "w", encoding="utf-8", newline="") as handle:
        handle.write("".join(line + "\n" for line in lines))


def formatted_numbers(values: np.ndarray) -> list[str]:
    """`%.10g` text of each value (what np.savetxt writes with that format)."""
    distinct, positions = np.unique(values, return_inverse=True)
    texts = np.array([format_number(value) for value in distinct.tolist()], dtype=object)
    return texts[positions.reshape(-1)].tolist()


def _csv_field(text: str) -> str:
    if "," in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(path: Path, rows: Iterable[Sequence[str]], header: Sequence[str] | None = None, *,
              append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


# ------------------------------------------------------------------------------------------ metrics, results


@dataclass(frozen=True)
class Gate:
    """The gate's metric and, for a classification model, its classes (labels in class-index order) and decision
    threshold: what Evaluate and ModelQualityCheck are told (pipelines.common.processing.gate_arguments)."""

    metric: metrics.Metric
    classes: tuple[str, ...] = ()
    decision_threshold: float = metrics.DEFAULT_DECISION_THRESHOLD

    @property
    def prediction_width(self) -> int:
        return prediction_width(self.metric.problem_type, self.classes)

    def compute_all(self, actual, predicted) -> dict[str, dict[str, float]]:
        return metrics.compute_all(self.metric.problem_type, actual, predicted, required=self.metric.name,
                                   decision_threshold=self.decision_threshold)

    def summary(self, actual, predicted, computed: dict[str, dict[str, float]]) -> ClassificationSummary:
        """The confusion matrix, per-class scores and every metric of a classification gate's rows."""
        problem = self.metric.problem_type
        decided = metrics.predicted_classes(problem, predicted, self.decision_threshold)
        matrix = metrics.confusion_matrix(actual, decided, len(self.classes))
        per_class = dict(zip(self.classes, metrics.per_class_scores(matrix)))  # noqa: B905 (one per class; 3.9)
        return ClassificationSummary(
            problem_type=problem, labels=list(self.classes), confusion_matrix=matrix, per_class=per_class,
            metrics={name: values["value"] for name, values in computed.items()},
            decision_threshold=self.decision_threshold if problem == metrics.BINARY else None)


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", choices=metrics.METRIC_NAMES, required=True, help="the gate's metric")
    add_class_arguments(parser)


def add_class_arguments(parser: argparse.ArgumentParser) -> None:
    """The problem type, classes and decision threshold (pipelines.common.processing.gate_arguments)."""
    parser.add_argument("--problem-type", choices=metrics.PROBLEM_TYPES, default=metrics.REGRESSION)
    parser.add_argument("--classes", default="[]", help="classification: JSON list of labels in class-index order")
    parser.add_argument("--decision-threshold", type=float, default=metrics.DEFAULT_DECISION_THRESHOLD,
                        help="binary: probability at and above which the positive class is predicted")


def gate_from_arguments(args: argparse.Namespace) -> Gate:
    """The registry's metric of --metric/--problem-type with its --threshold checked (a StepFailure says why)."""
    try:
        metric = metrics.get(args.metric, args.problem_type)
    except metrics.MetricError as error:
        raise StepFailure(f"--metric: {error}") from None
    problem = metric.threshold_problem(args.threshold)
    if problem:
        raise StepFailure(f"--threshold: {problem}")
    classes = parse_classes(args.classes)
    if metric.problem_type == metrics.REGRESSION:
        fits, wanted = not classes, "no"
    elif metric.problem_type == metrics.BINARY:
        fits, wanted = len(classes) == 2, "exactly 2"
    else:
        fits, wanted = len(classes) >= 3, "at least 3"
    if not fits or len(set(classes)) != len(classes):
        raise StepFailure(f"--classes: a {metric.problem_type} gate takes {wanted} distinct labels, found {classes}")
    if not 0 < args.decision_threshold < 1:
        raise StepFailure(f"--decision-threshold: must lie strictly between 0 and 1, found {args.decision_threshold}")
    return Gate(metric, tuple(classes), args.decision_threshold)


def parse_classes(text: str) -> list[str]:
    """--classes: a JSON list of label strings."""
    try:
        classes = json.loads(text)
    except ValueError:
        raise StepFailure(f"--classes: expected a JSON list of labels, found {text!r}") from None
    if not isinstance(classes, list) or not all(isinstance(label, str) for label in classes):
        raise StepFailure(f"--classes: expected a JSON list of label strings, found {text!r}")
    return classes


def prediction_width(problem_type: str, classes: Sequence[str]) -> int:
    """CSV fields of one prediction in the transform output: one per class for multiclass, else one."""
    return len(classes) if problem_type == metrics.MULTICLASS else 1


def read_predictions(directory: Path, width: int = 1) -> KeyedValues:
    """Key -> prediction of the transform's `key,prediction` lines (`.out` files under `directory`, in a fixed
    order; a key repeated keeps its last prediction); `width` > 1: the container's multiclass text
    `key,[p0, p1, ...]`, one CSV field per class, read as the class probabilities."""
    keys, values = [], []
    for path in list_files(directory, ".out"):
        name = path.relative_to(directory).as_posix()
        columns = _fast_prediction_columns(path) if width == 1 else None
        if columns is None:
            read = read_prediction_file(path, name, width)
            columns = encode_keys(list(read)), np.array(list(read.values()), dtype=np.float64)
        keys.append(columns[0])
        values.append(columns[1])
    if not keys:
        return KeyedValues(encode_keys([]), np.empty((0,) if width == 1 else (0, width)))
    return KeyedValues(np.concatenate(keys), np.concatenate(values))


# Bytes the fast prediction reader leaves to the exact one: quotes, NUL, carriage returns, non-ASCII (str.strip
# strips more than bytes.strip: \x1c-\x1f and Unicode spaces). `bytes.translate` deleting every other byte finds them
# many times faster than a regular expression.
_NOT_PLAIN_BYTES = b'"\x00\r' + bytes(range(0x1C, 0x20)) + bytes(range(0x80, 0x100))
_PLAIN_BYTES = bytes(byte for byte in range(256) if byte not in _NOT_PLAIN_BYTES)


def _fast_prediction_columns(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The encoded keys and the predictions of one `key,prediction` file split as bytes, when that gives exactly
    what `read_prediction_file` gives (plain ASCII lines, one comma each, every prediction a number to Python's
    float); None: the exact reader reads it and names the line of any problem. Read in blocks of whole lines:
    memory holds the encoded keys, not the text."""
    keys, values = [], []
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_SCAN_BYTES) + handle.readline(), b""):
            if block.translate(None, _PLAIN_BYTES):
                return None
            if not _one_comma_a_line(block):
                return None
            lines = [line for line in block.split(b"\n") if line]  # empty lines: skipped as the csv module does
            fields = b",".join(lines).split(b",")
            try:
                values.append(np.array(fields[1::2], dtype=object).astype(np.float64))  # float() of each field
            except ValueError:
                return None
            keys.append(np.array([key.strip() for key in fields[0::2]], dtype=bytes))
    if not sum(map(len, keys)):
        return None
    return np.concatenate(keys), np.concatenate(values)


def _one_comma_a_line(block: bytes) -> bool:
    """Whether every non-empty line of `block` holds exactly one comma (vectorised: positions, not a loop)."""
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    bounds = np.concatenate(([-1], newlines, [] if block.endswith(b"\n") else [len(data)]))
    starts, stops = bounds[:-1] + 1, bounds[1:]
    commas = np.flatnonzero(data == ord(","))
    per_line = np.searchsorted(commas, stops) - np.searchsorted(commas, starts)
    return bool(((per_line == 1) | (stops == starts)).all())


def encode_keys(keys: Sequence[str]) -> np.ndarray:
    """Record keys as a numpy array of their UTF-8 bytes (byte order is code-point order: sorts as the strings)."""
    if not keys:
        return np.empty(0, dtype="S1")
    return np.array([key.encode("utf-8") for key in keys], dtype=bytes)


def decode_keys(keys: np.ndarray) -> list[str]:
    return [key.decode("utf-8") for key in keys.tolist()]


def key_hashes(keys: np.ndarray) -> np.ndarray:
    """64-bit hashes of encoded keys, computed on their 8-byte words (vectorised: no Python work a key), the same
    whatever the array's width (all-NUL words, the padding, are skipped). Any mixing will do: `KeyedValues` checks
    every match and every shared hash against the keys themselves."""
    words = -(-max(keys.dtype.itemsize, 1) // 8)
    view = keys.astype(f"S{8 * words}").view("<u8").reshape(len(keys), words)
    hashes = np.full(len(keys), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for word in range(words):  # splitmix64-style rounds
        value = view[:, word]
        mixed = (hashes ^ value) * np.uint64(0xBF58476D1CE4E5B9)
        hashes = np.where(value != 0, mixed ^ (mixed >> np.uint64(31)), hashes)
    return hashes


class KeyedValues:
    """Values by record key held in numpy arrays (keys as UTF-8 bytes, ordered by a 64-bit hash of each), for joins
    of large batches: tens of bytes a row where a dict of Python strings takes hundreds, and a sort of integers
    where one of strings takes seconds. Built from keys in reading order, it behaves as a dict filled row by row:
    `ordered()` gives the keys in first-seen order, a repeated key keeps its last value. Two different keys with
    one hash (rare) switch it to a dict of the keys, as exact and slower. Keys are told apart up to trailing NUL
    bytes (numpy bytes); CSV text carries none."""

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        hashes = key_hashes(keys)
        order = np.argsort(hashes, kind="stable")
        ordered, hashes = keys[order], hashes[order]
        same = hashes[1:] == hashes[:-1]
        self._positions: dict[bytes, int] | None = None
        if (same & (ordered[1:] != ordered[:-1])).any():
            self._by_dict(keys, values)
            return
        first = np.ones(len(ordered), dtype=bool)
        first[1:] = ~same
        last = np.ones(len(ordered), dtype=bool)
        last[:-1] = first[1:]
        self.hashes = hashes[first]
        self.keys = ordered[first]
        self.values = values[order[last]]  # the last value of each key
        self._first_seen = order[first]

    def _by_dict(self, keys: np.ndarray, values: np.ndarray) -> None:
        first: dict[bytes, int] = {}
        last: dict[bytes, int] = {}
        for index, key in enumerate(keys.tolist()):
            first.setdefault(key, index)
            last[key] = index
        self.keys = keys[list(first.values())]
        self.values = values[list(last.values())] if last else values[:0]
        self._first_seen = np.arange(len(first))
        self._positions = {key: position for position, key in enumerate(first)}

    def __len__(self) -> int:
        return len(self.keys)

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values in first-seen order (a dict's order)."""
        rank = np.argsort(self._first_seen, kind="stable")
        return self.keys[rank], self.values[rank]

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key: whether it is here, and where (an index into `keys` / `values`, valid where found)."""
        if self._positions is not None:
            where = np.fromiter((self._positions.get(key, -1) for key in keys.tolist()), dtype=np.int64,
                                count=len(keys))
            found = where >= 0
            return found, np.where(found, where, 0)
        if not len(self.keys):
            return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), dtype=np.int64)
        hashes = key_hashes(keys)
        # Looked up in hash order: numpy's binary search narrows from the previous answer (several times faster
        # on a million keys than lookups in random order, which miss the cache).
        order = np.argsort(hashes)
        where = np.empty(len(keys), dtype=np.int64)
        where[order] = np.minimum(np.searchsorted(self.hashes, hashes[order]), len(self.keys) - 1)
        return (self.hashes[where] == hashes) & (self.keys[where] == keys), where


def read_prediction_file(path: Path, name: str, width: int = 1) -> dict[str, float | list[float]]:
    expected = "key,prediction" if width == 1 else f"key,[{width} class probabilities]"
    predictions: dict[str, float | list[float]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) != 1 + width:
                raise StepFailure(f"{name} line {number}: expected '{expected}', found {len(row)} fields")
            fields = row[1:]
            if width > 1:
                if not (fields[0].startswith("[") and fields[-1].endswith("]")):
                    raise StepFailure(f"{name} line {number}: expected '{expected}', found {','.join(fields)}")
                fields = [fields[0][1:], *fields[1:-1], fields[-1][:-1]]
            try:
                values = [float(field) for field in fields]
            except ValueError:
                raise StepFailure(f"{name} line {number}: prediction '{','.join(row[1:])}' is not a number") \
                    from None
            predictions[row[0].strip()] = values[0] if width == 1 else values
    return predictions


def compute_metrics(gate: Gate, actual, predicted, *, what: str) -> dict[str, dict[str, float]]:
    """Every metric of the gate metric's problem type on these rows; the gate metric itself must be defined."""
    try:
        return gate.compute_all(actual, predicted)
    except metrics.MetricError as error:
        raise StepFailure(f"{what}: {error}") from None


def degenerate_labels(actual) -> str | None:
    """Why a gate metric on these labels would say nothing about a model (too few rows, one label value)."""
    actual = np.asarray(actual, dtype=np.float64)
    if actual.size < MIN_SPLIT_ROWS:
        return f"{actual.size} row(s); a gate metric needs at least {MIN_SPLIT_ROWS}"
    if float(np.min(actual)) == float(np.max(actual)):
        return (f"every label is {format_number(actual[0])}: a constant prediction would score perfectly, so the "
                "metric says nothing about the model")
    return None


def write_step_result(result: StepResult) -> Path:
    """The structured result of a deciding step: `result.json` in its processing output `result`."""
    path = processing_path("output", STEP_RESULT_OUTPUT, OutputFile.STEP_RESULT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.to_json(), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ S3


def s3_client(region: str):
    """boto3 picks up AWS_ENDPOINT_URL (the local emulator) from the environment by itself."""
    import boto3

    return boto3.client("s3", region_name=region)


def list_keys(client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def download_csv_objects(client, bucket: str, prefix: str, destination: Path) -> list[tuple[Path, str]]:
    """Download every `.csv` and `.csv.gz` object under the key prefix (hidden names skipped: a folder's trigger
    file, Spark's markers); returns (local path, s3 URI) pairs in key order."""
    found = []
    for key in list_keys(client, bucket, prefix):
        name = key.rsplit("/", 1)[-1]
        if datasets.is_hidden(name) or not name.lower().endswith(DATA_SUFFIXES):
            continue
        local = destination / key
        local.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(local))
        found.append((local, f"s3://{bucket}/{key}"))
    return found


# ------------------------------------------------------------------------------------------ datasets


def dataset_location(input_name: str, trigger_file: str) -> tuple[str, str, bool]:
    """Bucket, dataset key and whether it is a folder, of the dataset the processing input `input_name` names:
    the object itself, or the folder of a trigger key (batchops_core/datasets.py)."""
    uri = processing_input_uri(input_name)
    try:
        bucket, key = split_s3_uri(uri, what=f"the processing input '{input_name}'")
    except S3UriError as error:
        raise StepFailure(str(error)) from None
    return bucket, datasets.dataset_key(key, trigger_file), datasets.trigger_folder(key, trigger_file) is not None


def dataset_files(input_name: str, local_dir: Path, *, region: str, trigger_file: str,
                  header: bool, split_by_file: bool = False) -> list[tuple[Path, str]]:
    """The CSV files of the dataset that the processing input `input_name` names, as (local path, name) pairs.

    One object: the input's own download under `local_dir`. A trigger key: every part of its folder, downloaded
    with S3 calls (a processing input's location is fixed when the pipeline is defined; the folder is known only
    from the key). A folder without parts, with objects that are not parts, or (with headers) with parts of
    different headers fails here, before the dataset is read, naming the files.

    `split_by_file`: a job on several instances works on this instance's share of the files (`my_share`; a
    single object goes to the first instance)."""
    bucket, key, folder = dataset_location(input_name, trigger_file)
    if not folder:
        files = list_files(local_dir, datasets.SINGLE_OBJECT_SUFFIX)
        if not files:
            raise StepFailure(f"no CSV files in the dataset s3://{bucket}/{key} (looked for *.csv under {local_dir})")
        found = [(path, path.relative_to(local_dir).as_posix()) for path in files]
        return my_share(found, f"the dataset s3://{bucket}/{key}") if split_by_file else found
    where = f"s3://{bucket}/{key}/"
    client = s3_client(region)
    try:
        keys = [k for k in list_keys(client, bucket, key + "/") if not k.endswith("/")]
    except Exception as error:  # botocore raises several kinds; say where we looked
        raise StepFailure(f"cannot list the folder dataset {where}: {error}") from None
    names = [k[len(key) + 1:] for k in keys]
    parts = [n for n in names if not datasets.is_hidden(n.rsplit("/", 1)[-1])]
    problems = [problem for problem in map(datasets.part_problem, parts) if problem]
    if problems:
        raise StepFailure(f"the folder dataset {where}: " + _list_some(problems))
    if not parts:
        raise StepFailure(f"the folder dataset {where} holds no part files ({datasets.PART_SUFFIX}) besides "
                          f"{_list_some(names)}: nothing to read")
    if split_by_file:
        parts = my_share(sorted(parts), f"the folder dataset {where}")
    destination = processing_path("dataset", input_name)
    found = []
    for name in parts:
        local = destination / name
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.download_file(bucket, f"{key}/{name}", str(local))
        except Exception as error:
            raise StepFailure(f"cannot read the part {where}{name}: {error}") from None
        found.append((local, name))
    if header:
        check_same_header(found, where)
    print(f"folder dataset {where}: {len(found)} part file(s)")
    return found


def header_columns(path: Path) -> list[str]:
    """The column names of a CSV file (plain or gzip): its first non-empty row, whatever the quoting."""
    with open_text(path) as handle:
        row = next((r for r in csv.reader(handle) if len(r) > 1 or (r and r[0].strip())), [])
    return [cell.strip() for cell in row]


def check_same_header(files: list[tuple[Path, str]], where: str) -> None:
    """Every part of a folder starts with the same header line; else a StepFailure naming the parts of each."""
    by_header: dict[str, list[str]] = {}
    for path, name in files:
        try:
            first = ",".join(header_columns(path))
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, OSError, csv.Error) as error:
            raise StepFailure(f"the part {where}{name} cannot be read as gzip-compressed UTF-8 CSV: {error}") from None
        by_header.setdefault(first, []).append(name)
    if len(by_header) > 1:
        groups = [f"{_list_some(names)} start with '{header or '(nothing: empty)'}'"
                  for header, names in sorted(by_header.items(), key=lambda item: item[1][0])]
        raise StepFailure(f"the parts of the folder dataset {where} have different headers: " + "; ".join(groups))
