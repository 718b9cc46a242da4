"""How a classification gate's summary reads: the same cells in emails, the CLI and the report."""

from __future__ import annotations

import dataclasses

from batchops_core import gate_text
from batchops_core.results import ClassificationSummary

BINARY_TEXT = """\
binary classification, 2 classes; confusion matrix (rows: actual, columns: predicted; decision threshold 0.5):
  actual \\ predicted  benign  malignant
  benign                  70          2
  malignant                3         39
per class:
  class      precision  recall      f1  support
  benign        0.9589  0.9722  0.9655       72
  malignant     0.9512  0.9286  0.9398       42
metrics: accuracy 0.9561, auc 0.9921, f1 0.9398, logloss 0.1183, precision 0.9512, recall 0.9286"""


def test_binary_summary_reads_as_aligned_tables_with_the_decision_threshold(classification_summaries):
    assert gate_text.summary_text(classification_summaries["binary"]) == BINARY_TEXT


def test_multiclass_summary_has_a_row_and_a_column_per_class_and_no_decision_threshold(classification_summaries):
    text = gate_text.summary_text(classification_summaries["multiclass"])
    lines = text.splitlines()
    assert lines[0] == "multiclass classification, 3 classes; confusion matrix (rows: actual, columns: predicted):"
    assert lines[1].split() == ["actual", "\\", "predicted", "setosa", "versicolor", "virginica"]
    assert [line.split() for line in lines[2:5]] == [["setosa", "10", "0", "0"], ["versicolor", "0", "9", "1"],
                                                     ["virginica", "0", "2", "8"]]
    assert lines[8].split() == ["versicolor", "0.8182", "0.9000", "0.8571", "10"]
    assert lines[-1] == "metrics: accuracy 0.9000, f1_macro 0.8997, f1_weighted 0.8997, mlogloss 0.2548"


def test_a_metric_the_registry_does_not_know_shows_its_plain_name_with_4_decimals(classification_summaries):
    summary = dataclasses.replace(classification_summaries["binary"], metrics={"kappa": 0.71234567})
    assert gate_text.summary_text(summary).endswith("\nmetrics: kappa 0.7123")
    assert gate_text.metric_value("rmse", 2.123456) == "2.1235"  # the registry's format
    assert gate_text.metric_value("f1", None) == "not computed"


def test_cells_are_what_every_rendering_lays_out(classification_summaries):
    summary = classification_summaries["binary"]
    assert gate_text.matrix_rows(summary) == (
        ["actual \\ predicted", "benign", "malignant"], [["benign", "70", "2"], ["malignant", "3", "39"]])
    header, rows = gate_text.per_class_rows(summary)
    assert header == ["class", "precision", "recall", "f1", "support"]
    assert rows[1] == ["malignant", "0.9512", "0.9286", "0.9398", "42"]
    without_scores = dataclasses.replace(summary, per_class={}, metrics={})
    assert "per class" not in gate_text.summary_text(without_scores)
    assert "metrics:" not in gate_text.summary_text(without_scores)


def test_a_matrix_too_wide_for_text_is_left_to_the_report_and_the_per_class_scores_stay():
    labels = [f"class{i:02d}" for i in range(gate_text.TEXT_MATRIX_MAX_CLASSES + 1)]
    size = len(labels)
    summary = ClassificationSummary(
        "multiclass", labels, [[10 if row == column else 0 for column in range(size)] for row in range(size)],
        {label: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 10} for label in labels}, {"accuracy": 1.0})
    lines = gate_text.summary_text(summary).splitlines()
    assert lines[0] == (f"multiclass classification, {size} classes; confusion matrix (rows: actual, columns: "
                        f"predicted): more than {gate_text.TEXT_MATRIX_MAX_CLASSES} classes, shown in the HTML report "
                        "only")
    assert lines[1] == "per class:" and len(lines) == 4 + size  # opening, "per class:", header, rows, metrics
    assert gate_text.matrix_rows(summary)[1][0] == ["class00", "10", *["0"] * (size - 1)]  # the report's cells
