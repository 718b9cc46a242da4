"""steplib's fast readers give exactly what the exact (csv-module) readers give, or leave the file to them."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from step_script_support import OTHER_SCHEMA, SCRIPTS_DIR

sys.path.insert(0, str(SCRIPTS_DIR))
import steplib  # noqa: E402

COLUMNS = [c["name"] for c in OTHER_SCHEMA["columns"]]
KEY, TARGET = OTHER_SCHEMA["record_key"], OTHER_SCHEMA["target"]
REQUIRED = [c for c in COLUMNS if c != TARGET]


@pytest.mark.parametrize("cell", ["north", " north", "north\t", "\xa0north", "north\x1f", "nor th"],
                         ids=["plain", "leading-space", "trailing-tab", "nbsp", "unit-separator", "inner-space"])
def test_chunks_equal_the_exact_reader_whatever_the_cells_hold(tmp_path, cell):
    schema = steplib.Schema(OTHER_SCHEMA)
    rows = [[str(100 + i), "1.5", cell if i % 2 else "south", "3", "van", "2.0"] for i in range(7)]
    path = tmp_path / "batch.csv"
    path.write_text(",".join(REQUIRED) + "\n" + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    exact = steplib.read_table(path, schema, required=REQUIRED, optional=[TARGET])
    chunks = list(steplib.table_chunks(path, "batch.csv", schema, required=REQUIRED, optional=[TARGET], chunk_rows=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert chunks[0].origins[0] == ("batch.csv", 0)  # read by the fast reader (no line numbers)
    for column in exact.columns:
        assert [value for chunk in chunks for value in chunk.values[column]] == exact.values[column], column


@pytest.mark.parametrize("text", [
    "k1,1.5\nk2, 2\n\nk1,3\n", "\n\n k1 ,1_0\nk2,nan", "k1,1.5\n \nk2,2\n", "k1,1.5\nk2\n", "5\n6,1,2\n",
    "k1,x\n", "k1,1,2\n", "k1,1\r\nk2,2\r\n", "é,1\n", '"k,1",2\n', "k1,1e400\n"])
def test_predictions_read_fast_equal_the_exact_reader_or_are_left_to_it(tmp_path, text):
    (tmp_path / "a.out").write_text(text, encoding="utf-8")
    try:
        expected = steplib.read_prediction_file(tmp_path / "a.out", "a.out")
    except steplib.StepFailure as failure:
        expected = failure
    fast = steplib._fast_prediction_columns(tmp_path / "a.out")
    if fast is not None:  # whatever it reads, the exact reader reads alike (last value of a key wins)
        assert not isinstance(expected, Exception)
        read = steplib.KeyedValues(*fast).ordered()
        assert steplib.decode_keys(read[0]) == list(expected)
        assert np.array_equal(read[1], np.array(list(expected.values())), equal_nan=True)
    elif isinstance(expected, Exception):
        with pytest.raises(steplib.StepFailure, match=str(expected)):
            steplib.read_predictions(tmp_path)


def test_keyed_values_behave_as_a_dict_filled_row_by_row_even_when_hashes_collide(monkeypatch):
    rng = np.random.RandomState(0)
    keys = [f"k{rng.randint(0, 300)}" + "x" * rng.randint(0, 12) for _ in range(1000)] + ["", "é"]
    values = rng.normal(size=len(keys))
    expected = dict(zip(keys, values.tolist(), strict=True))
    queries = list(expected)[::3] + ["absent", "k", "k1x" * 9]
    for colliding in (False, True):
        if colliding:
            monkeypatch.setattr(steplib, "key_hashes", lambda encoded: np.zeros(len(encoded), dtype=np.uint64))
        table = steplib.KeyedValues(steplib.encode_keys(keys), values)
        ordered_keys, ordered_values = table.ordered()
        assert steplib.decode_keys(ordered_keys) == list(expected)
        assert ordered_values.tolist() == list(expected.values())
        found, where = table.find(steplib.encode_keys(queries))
        assert found.tolist() == [query in expected for query in queries]
        assert table.values[where[found]].tolist() == [expected[q] for q in queries if q in expected]


def test_the_key_index_finds_every_repeated_key_within_and_across_chunks_and_merged_runs():
    rng = np.random.RandomState(1)
    keys = [f"r{i}" for i in range(5000)]
    repeats = {keys[int(i)] for i in rng.choice(5000, 40, replace=False)}
    keys += sorted(repeats)  # seen again in later chunks, after their first runs were merged
    keys.insert(1234, keys[1233])  # twice in one chunk
    rng.shuffle(keys)
    index = steplib._KeyIndex()
    for start in range(0, len(keys), 97):
        index.add(keys[start:start + 97])
        sizes = [run.size for run in index.runs]
        assert all(2 * newer < older for older, newer in zip(sizes, sizes[1:], strict=False)), sizes  # O(log n) runs
    assert sum(run.size for run in index.runs) == len(keys)
    seen, repeated = set(), set()
    for key in keys:
        (repeated if key in seen else seen).add(key)
    assert index.suspects >= repeated and len(repeated) == 41  # suspects: hashes seen before (exact pass after)
