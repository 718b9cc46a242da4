"""`DataCheck.scan` (what `batchops data check|drop` run): the vectorized reader vouches for a clean file, and on any
other file the outcome is exactly the exact reader's (`DataCheck.chunks`, the pipeline's own reading): same
problem lines, naming file, line and column."""

from __future__ import annotations

import csv
import gzip

import pytest

from batchops import operations as ops
from batchops_core.settings import load_settings
from pipelines.scripts import steplib

HEADER = "record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight"
ROW = "M,0.45,0.36,0.1,0.5,0.2,0.1,0.15"


@pytest.fixture(scope="module")
def schema():
    return ops.dataset_schema(load_settings("local"))


def rows(*keys: str) -> str:
    return "".join(f"{key},{ROW}\n" for key in keys)


def exact_problems(schema, kind: str, files) -> list[str]:
    """The reference: every file through `chunks()` (the exact reader whenever the fast one has a doubt)."""
    check = steplib.DataCheck(schema, kind)
    for path, name in files:
        for _ in check.chunks(path, name, chunk_rows=3):
            pass
    return check.finish()


def scanned(schema, kind: str, files, monkeypatch) -> tuple[list[str], bool]:
    """(problems of `scan`, whether it vouched without reading any file through `chunks()`)."""
    read_by_chunks = []
    original = steplib.DataCheck.chunks

    def counting(self, *args, **kwargs):
        read_by_chunks.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(steplib.DataCheck, "chunks", counting)
    check = steplib.DataCheck(schema, kind)
    check.scan(files, chunk_rows=3)
    return check.finish(), not read_by_chunks


def write(tmp_path, name: str, text: str, *, encoding: str = "utf-8"):
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(encoding)))
    else:
        path.write_bytes(text.encode(encoding))
    return path


CLEAN = {
    "plain": f"{HEADER}\n" + rows("a1", "a2", "a3", "a4"),
    "keys of several lengths": f"{HEADER}\n" + rows("a", "bb", "ccc", "a1", "b"),
    "CRLF line ends": (f"{HEADER}\n" + rows("a1", "a2")).replace("\n", "\r\n"),
    "blank lines": f"{HEADER}\n\n" + rows("a1") + "\n" + rows("a2"),
    "an empty optional number": f"{HEADER}\na1,M,,0.36,0.1,0.5,0.2,0.1,0.15\n",
    "a number column left empty": f"{HEADER}\n" + "".join(f"a{i},M,,0.36,0.1,0.5,0.2,0.1,0.15\n" for i in range(3)),
    "with the optional target": f"{HEADER},rings\n" + "".join(f"a{i},{ROW},{i}\n" for i in range(5)),
    "no newline at the end": f"{HEADER}\n" + rows("a1", "a2").rstrip("\n"),
    "a header with spaces (stripped)": HEADER.replace(",sex,", ", sex ,") + "\n" + rows("a1"),
    "numbers Python writes alike": f"{HEADER}\na1,M,+0.45,.36,1.,1e-1,5E-1,0,-0\n",
}

# Files the exact reader reads differently from a plain split, or refuses: the vectorized reader must not vouch.
DOUBTFUL = {
    "a quoted field": f'{HEADER}\n"a1",M,0.45,0.36,0.1,0.5,0.2,0.1,0.15\n' + rows("a2"),
    "a quoted duplicate key": f'{HEADER}\n"a1",{ROW}\n' + rows("a1"),
    "keys equal once stripped": f"{HEADER}\n" + rows("a1 ", "a1"),
    "keys equal once Unicode whitespace is stripped": f"{HEADER}\n" + rows("a1\u00a0", "a1", "\u2003a2", "a2"),
    "a key of whitespace only": f"{HEADER}\n" + rows("a1", "  "),
    "an empty key": f"{HEADER}\n" + rows("a1", ""),
    "duplicate keys": f"{HEADER}\n" + rows("a1", "a2", "a1", "a3", "a2"),
    "duplicate keys of several lengths": f"{HEADER}\n" + rows("a", "bb", "a", "ccc"),
    "a NUL in a key": f"{HEADER}\n" + rows("a1", "a\x002"),
    "a short row": f"{HEADER}\n" + rows("a1") + "a2,M,0.45\n",
    "a long row": f"{HEADER}\n" + rows("a1") + f"a2,{ROW},9\n",
    "a line of spaces": f"{HEADER}\n" + rows("a1") + "   \n" + rows("a2"),
    "not finite": f"{HEADER}\na1,M,nan,0.36,inf,0.5,0.2,0.1,-Infinity\n",
    "too large for a 32-bit float": f"{HEADER}\na1,M,1e39,0.36,0.1,0.5,0.2,0.1,0.15\n",
    "underscores Python reads": f"{HEADER}\na1,M,1_0,0.36,0.1,0.5,0.2,0.1,0.15\n",
    "spaces around a number": f"{HEADER}\na1,M, 0.45 ,0.36,0.1,0.5,0.2,0.1,0.15\n",
    "not a number": f"{HEADER}\na1,M,big,0.36,0.1,0.5,0.2,0.1,0.15\n",
    "a target that is not whole": f"{HEADER},rings\na1,{ROW},9.5\n",
    "a wrong header": HEADER.replace("sex", "gender") + "\n" + rows("a1"),
    "a header alone": f"{HEADER}\n",
    "an empty file": "",
}


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_a_clean_file_is_vouched_for_by_the_vectorized_reader(schema, tmp_path, monkeypatch, case):
    path = write(tmp_path, "batch.csv", CLEAN[case])
    assert exact_problems(schema, "inference", [(path, "batch.csv")]) == []
    assert scanned(schema, "inference", [(path, "batch.csv")], monkeypatch) == ([], True)


@pytest.mark.parametrize("case", sorted(DOUBTFUL))
def test_any_other_file_gets_the_exact_readers_outcome(schema, tmp_path, monkeypatch, case):
    path = write(tmp_path, "batch.csv", DOUBTFUL[case])
    expected = exact_problems(schema, "inference", [(path, "batch.csv")])
    problems, vouched = scanned(schema, "inference", [(path, "batch.csv")], monkeypatch)
    assert problems == expected
    assert not vouched


def test_a_byte_order_mark_and_gzip_are_read_alike(schema, tmp_path, monkeypatch):
    text = f"{HEADER}\n" + rows("a1", "a2")
    for path in (write(tmp_path, "bom.csv", text, encoding="utf-8-sig"), write(tmp_path, "part.csv.gz", text)):
        assert scanned(schema, "inference", [(path, path.name)], monkeypatch) == ([], True)


def test_a_field_beyond_the_csv_modules_limit_is_left_to_the_exact_reader(schema, tmp_path, monkeypatch):
    path = write(tmp_path, "long.csv", f"{HEADER}\n" + rows("a1", "k" * 64))
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(32)
        expected = exact_problems(schema, "inference", [(path, "long.csv")])
        assert scanned(schema, "inference", [(path, "long.csv")], monkeypatch) == (expected, False)
    finally:
        csv.field_size_limit(limit)


def test_record_keys_are_unique_across_the_files_of_one_dataset(schema, tmp_path, monkeypatch):
    first = write(tmp_path, "part-1.csv", f"{HEADER}\n" + rows("a1", "a2"))
    second = write(tmp_path, "part-2.csv", f"{HEADER}\n" + rows("a3", "a1"))
    files = [(first, "part-1.csv"), (second, "part-2.csv")]
    expected = exact_problems(schema, "inference", files)
    assert expected == ["part-2.csv:3: column 'record_id': duplicate record key 'a1' (also at part-1.csv:2)"]
    assert scanned(schema, "inference", files, monkeypatch) == (expected, False)
    third = write(tmp_path, "part-3.csv", f"{HEADER}\n" + rows("a3", "a4"))
    assert scanned(schema, "inference", [(first, "part-1.csv"), (third, "part-3.csv")], monkeypatch) == ([], True)


def test_ground_truth_needs_its_target_in_every_row(schema, tmp_path, monkeypatch):
    clean = write(tmp_path, "labels.csv", "record_id,rings\na1,9\na2,10\n")
    assert scanned(schema, "ground-truth", [(clean, "labels.csv")], monkeypatch) == ([], True)
    missing = write(tmp_path, "missing.csv", "record_id,rings\na1,9\na2,\n")
    expected = exact_problems(schema, "ground-truth", [(missing, "missing.csv")])
    assert expected == ["missing.csv:3: column 'rings': empty (a value is required)"]
    assert scanned(schema, "ground-truth", [(missing, "missing.csv")], monkeypatch) == (expected, False)


def test_a_schema_without_header_reads_columns_in_schema_order(tmp_path, monkeypatch):
    schema = steplib.Schema({"header": False, "record_key": "id", "target": "y", "columns": [
        {"name": "id", "type": "categorical"}, {"name": "x", "type": "integer"}, {"name": "y", "type": "float"}]})
    clean = write(tmp_path, "clean.csv", "a1,1\na2,2\n")  # the optional target left out: told by the width
    assert scanned(schema, "inference", [(clean, "clean.csv")], monkeypatch) == ([], True)
    with_target = write(tmp_path, "target.csv", "a1,1,0.5\na2,2,\n")
    assert scanned(schema, "inference", [(with_target, "target.csv")], monkeypatch) == ([], True)
    not_whole = write(tmp_path, "whole.csv", "a1,1\na2,2.5\n")
    expected = exact_problems(schema, "inference", [(not_whole, "whole.csv")])
    assert expected == ["whole.csv:2: column 'x': '2.5' is not a whole number"]
    assert scanned(schema, "inference", [(not_whole, "whole.csv")], monkeypatch) == (expected, False)
