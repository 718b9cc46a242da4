"""The label column's class balance: reported beside the features (which stay exactly as without it), compared
with the baseline's by the L-infinity distance between class shares, a warning and never a violation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import engine_step
import numpy as np
import pandas as pd
import pytest
from engine_step import RESULT_PATH, read_result, stage_baseline_and_core

from batchops_core.contracts import CLASS_BALANCE_DETAIL, LABEL_DISTRIBUTION
from pipelines.scripts import data_quality as dq

LABEL = "diagnosis"


def test_the_statistics_section_is_named_as_the_readers_name_it():
    assert dq.LABEL_DISTRIBUTION == LABEL_DISTRIBUTION  # the engine is self-contained: it restates the name


def labelled(make_frame, rows: int, seed: int, malignant: float, labels=("benign", "malignant")) -> pd.DataFrame:
    frame = make_frame(rows, seed)
    rng = np.random.default_rng(seed + 100)
    frame.insert(2, LABEL, rng.choice(list(labels), size=rows, p=[1 - malignant, malignant]))
    return frame


def classes(section: dict) -> dict:
    return {bucket["value"]: bucket["count"] for bucket in section["classes"]}


def test_features_are_exactly_what_they_are_without_the_label_column(write_csv, make_frame):
    frame = labelled(make_frame, 1500, seed=1, malignant=0.3)
    with_label = write_csv("with.csv", frame)
    without = write_csv("without.csv", frame.drop(columns=[LABEL]))
    statistics, constraints = dq.compute_baseline(with_label, header=True, label_column=LABEL)
    plain_statistics, plain_constraints = dq.compute_baseline(without, header=True)
    assert statistics["features"] == plain_statistics["features"]
    assert constraints == plain_constraints
    counts = frame[LABEL].value_counts()
    assert statistics[dq.LABEL_DISTRIBUTION] == {
        "name": LABEL, "inferred_type": "String", "num_present": 1500, "num_missing": 0,
        "classes": [{"value": "benign", "count": int(counts["benign"])},
                    {"value": "malignant", "count": int(counts["malignant"])}]}
    assert dq.LABEL_DISTRIBUTION not in plain_statistics  # nothing new without a label column


def test_integer_labels_are_classes_and_whole_floats_are_the_same_class(write_csv):
    path = write_csv("ints.csv", "x,label\n1,0\n2,1\n3,1.0\n4,\n5,2\n")
    statistics, _ = dq.compute_baseline(path, header=True, label_column="label")
    section = statistics[dq.LABEL_DISTRIBUTION]
    assert (section["inferred_type"], section["num_present"], section["num_missing"]) == ("Integral", 4, 1)
    assert classes(section) == {"0": 1, "1": 2, "2": 1}


@pytest.mark.parametrize("text,reason", [
    ("x,label\n1,0.25\n2,1.5\n", "column 'label' has fractional values: not a class label"),
    ("x,label\n1,\n2,\n", "column 'label' has no value"),
    ("x,other\n1,a\n", "the dataset has no column 'label'"),
    ("x,label\n" + "".join(f"{i},c{i}\n" for i in range(dq.CLASS_BALANCE_MAX_CLASSES + 1)),
     f"column 'label' has more than {dq.CLASS_BALANCE_MAX_CLASSES} distinct values: not a class label"),
])
def test_a_label_that_is_no_class_label_says_why(write_csv, text, reason):
    statistics, _ = dq.compute_baseline(write_csv("data.csv", text), header=True, label_column="label")
    section = statistics[dq.LABEL_DISTRIBUTION]
    assert section["not_reported"] == reason and "classes" not in section


def test_sections_of_datasets_read_apart_merge_to_the_whole(write_csv, make_frame):
    frame = labelled(make_frame, 1000, seed=2, malignant=0.4, labels=("a", "b"))
    frame.loc[frame.index[::7], LABEL] = "c"  # a third class, in both halves
    frame.loc[frame.index[5], LABEL] = None  # a missing label
    whole, _ = dq.compute_baseline(write_csv("whole.csv", frame), header=True, label_column=LABEL)
    parts = [dq.compute_baseline(write_csv(f"part{i}.csv", half), header=True, label_column=LABEL)[0]
             [dq.LABEL_DISTRIBUTION] for i, half in enumerate((frame.iloc[:333], frame.iloc[333:]))]
    assert dq.merge_label_distributions(parts) == whole[dq.LABEL_DISTRIBUTION]
    assert whole[dq.LABEL_DISTRIBUTION]["num_missing"] == 1
    unreported = {"name": LABEL, "not_reported": "the dataset has no column 'diagnosis'"}
    assert dq.merge_label_distributions([parts[0], unreported]) == unreported
    with pytest.raises(dq.DataQualityError, match="parts name different label columns"):
        dq.merge_label_distributions([parts[0], {**parts[1], "name": "other"}])


def statistics_with(counts: dict) -> dict:
    return {dq.LABEL_DISTRIBUTION: {"name": LABEL, "inferred_type": "String", "num_present": sum(counts.values()),
                                    "num_missing": 0,
                                    "classes": [{"value": k, "count": v} for k, v in sorted(counts.items())]}}


def test_class_balance_is_the_largest_change_of_a_class_share():
    baseline = statistics_with({"benign": 700, "malignant": 300})
    shifted = dq.class_balance(baseline, statistics_with({"benign": 45, "malignant": 55}))
    assert shifted["compared"] and shifted["drifted"]
    assert shifted["distance"] == pytest.approx(0.25, abs=1e-12)
    assert shifted["largest_change"] == "malignant"
    assert shifted["shares"] == {"benign": 0.45, "malignant": 0.55}
    assert shifted["chi_square_p_value"] < 1e-6
    assert shifted["message"] == ("Class balance drift on 'diagnosis': distance 0.2500 exceeds threshold 0.1 (class "
                                  "'malignant': 30.0% of the baseline, 55.0% of this dataset).")
    close = dq.class_balance(baseline, statistics_with({"benign": 66, "malignant": 34}))
    assert not close["drifted"] and close["distance"] == pytest.approx(0.04, abs=1e-12)
    assert not dq.class_balance(baseline, statistics_with({"benign": 45, "malignant": 55}), 0.3)["drifted"]


def test_a_class_the_baseline_never_saw_counts_and_is_named():
    baseline = statistics_with({"setosa": 50, "versicolor": 50})
    balance = dq.class_balance(baseline, statistics_with({"setosa": 40, "versicolor": 40, "virginica": 20}))
    assert balance["drifted"] and balance["new_classes"] == ["virginica"]
    assert balance["distance"] == pytest.approx(0.2, abs=1e-12)
    assert balance["message"].endswith("; classes not in the baseline: virginica.")


def test_without_class_counts_on_either_side_nothing_is_compared():
    batch = {dq.LABEL_DISTRIBUTION: {"name": LABEL, "not_reported": "the dataset has no column 'diagnosis'"}}
    assert dq.class_balance(statistics_with({"a": 1}), batch) == {
        "compared": False, "reason": "no class balance for the dataset: the dataset has no column 'diagnosis'"}
    assert dq.class_balance({"features": []}, statistics_with({"a": 1})) == {
        "compared": False, "reason": "no class balance for the baseline: no label distribution recorded"}
    with pytest.raises(dq.DataQualityError, match="class_balance_threshold: expected a number between 0 and 1"):
        dq.class_balance(statistics_with({"a": 1}), statistics_with({"a": 1}), 1.5)
    with pytest.raises(dq.DataQualityError, match="baseline statistics.label_distribution.classes: expected a list"):
        dq.class_balance({dq.LABEL_DISTRIBUTION: {"name": LABEL, "classes": [{"value": "a"}]}},
                         statistics_with({"a": 1}))


# ------------------------------------------------------------------------------------------ as the pipeline step


@pytest.fixture
def job(tmp_path, write_csv, make_frame, shipped_core_modules) -> Path:
    """A job root with a labelled baseline, a batch with the same class balance, one with shifted labels and one
    without the label column (an inference batch), and the core package staged as the `core` input."""
    write_csv("processing/input/train/part-0.csv", labelled(make_frame, 2000, seed=1, malignant=0.3))
    write_csv("processing/input/clean/batch.csv", labelled(make_frame, 1000, seed=3, malignant=0.3))
    write_csv("processing/input/shifted/batch.csv", labelled(make_frame, 1000, seed=3, malignant=0.6))
    write_csv("processing/input/unlabelled/batch.csv", make_frame(1000, seed=3))
    return stage_baseline_and_core(tmp_path, shipped_core_modules, label_column=LABEL)


def run_check(base_dir: Path, batch: str, **environment: str) -> subprocess.CompletedProcess:
    """The check as the pipeline step runs it, with the label column and a result to write."""
    return engine_step.run_check(base_dir, batch, **{
        "label_column": LABEL, "step_name": "DataQualityCheck", "step_result_path": RESULT_PATH,
        "fail_on_violation": "true", **environment})


def test_shifted_labels_are_a_class_balance_warning_not_a_failure(job):
    done = run_check(job, "shifted")
    assert done.returncode == 0, done.stderr
    violations = json.loads((job / "processing/output/constraint_violations.json").read_text())["violations"]
    assert violations == []  # the features did not drift; the label column is no feature
    result = read_result(job)
    assert result["outcome"] == "warning"
    balance = result["details"][CLASS_BALANCE_DETAIL]
    assert balance["drifted"] and balance["largest_change"] in ("benign", "malignant")
    assert balance["distance"] > 0.25
    assert result["message"].startswith("Data quality check found no constraint violation in 1000 rows. Class "
                                        "balance drift on 'diagnosis': distance ")
    assert "warning: Class balance drift on 'diagnosis'" in done.stdout
    statistics = json.loads((job / "processing/output/statistics.json").read_text())
    assert sum(classes(statistics[dq.LABEL_DISTRIBUTION]).values()) == 1000


def test_the_same_class_balance_passes(job):
    done = run_check(job, "clean")
    assert done.returncode == 0, done.stderr
    result = read_result(job)
    assert result["outcome"] == "passed"
    assert result["details"]["class_balance"]["compared"] and not result["details"]["class_balance"]["drifted"]
    assert run_check(job, "clean", class_balance_threshold="0.001").returncode == 0
    assert read_result(job)["outcome"] == "warning"  # the threshold is honoured


def test_an_unlabelled_batch_is_checked_as_before_and_says_why_there_is_no_class_balance(job):
    done = run_check(job, "unlabelled")
    assert done.returncode == 0, done.stderr
    result = read_result(job)
    assert result["outcome"] == "passed"
    assert result["details"]["class_balance"] == {
        "compared": False, "reason": "no class balance for the dataset: the dataset has no column 'diagnosis'"}


def test_a_bad_class_balance_threshold_is_a_clear_error(job):
    done = run_check(job, "clean", class_balance_threshold="ten")
    assert done.returncode == dq.EXIT_ERROR
    assert ("class_balance_threshold: expected a number between 0 and 1, got 'ten'"
            in (job / "output/message").read_text())
