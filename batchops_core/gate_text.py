"""How people read a gate's result, defined once: metric values, and a classification gate's summary
(results.ClassificationSummary).

The cells of the summary's tables (confusion matrix, per-class scores, metrics) are built here; emails and the CLI
lay them out as plain text (`summary_text`), the HTML report as tables. Metric values are formatted by the metric
registry; a metric name the registry does not know is shown with 4 decimals. Shipped to the notification Lambda:
Python 3.9, standard library only.
"""

from __future__ import annotations

from batchops_core import metrics
from batchops_core.results import ClassificationSummary

MATRIX_CORNER = "actual \\ predicted"
PER_CLASS_HEADER = ("class", "precision", "recall", "f1", "support")
SCORE_DECIMALS = 4  # per-class precision/recall/f1 and metrics the registry does not know
# Plain text shows the confusion matrix up to this many classes: wider, it no longer reads in an email (one column
# per class); the per-class scores are still listed, and the HTML report shows every matrix.
TEXT_MATRIX_MAX_CLASSES = 15


def metric_value(name: str, value: float | None) -> str:
    """`value` as the registry formats metric `name`; 4 decimals for a name it does not know (or names for
    several problem types); "not computed" for no value."""
    if value is None:
        return "not computed"
    try:
        return metrics.get(name).format(value)
    except metrics.MetricError:
        return _score(value)


def matrix_rows(summary: ClassificationSummary) -> tuple[list[str], list[list[str]]]:
    """Header (corner, then the predicted labels) and one row per actual label: the label, then its counts."""
    header = [MATRIX_CORNER, *summary.labels]
    rows = [[label, *(str(count) for count in counts)]
            for label, counts in zip(summary.labels, summary.confusion_matrix)]  # noqa: B905 (Python 3.9)
    return header, rows


def per_class_rows(summary: ClassificationSummary) -> tuple[list[str], list[list[str]]]:
    """Header and one row per label the summary scores (label order): precision, recall, f1, support."""
    rows = []
    for label in summary.labels:
        scores = summary.per_class.get(label)
        if scores is None:
            continue
        support = scores.get("support")
        rows.append([label, *(_score(scores.get(name)) for name in PER_CLASS_HEADER[1:4]),
                     "" if support is None else str(int(support))])
    return list(PER_CLASS_HEADER), rows


def metric_pairs(summary: ClassificationSummary) -> list[tuple[str, str]]:
    """(name, formatted value) of every metric the summary carries, by name (result.json sorts its keys anyway)."""
    return [(name, metric_value(name, summary.metrics[name])) for name in sorted(summary.metrics)]


def matrix_caption(summary: ClassificationSummary) -> str:
    """'confusion matrix (rows: actual, columns: predicted; decision threshold 0.5)'"""
    threshold = ("" if summary.decision_threshold is None
                 else f"; decision threshold {summary.decision_threshold:g}")
    return f"confusion matrix (rows: actual, columns: predicted{threshold})"


def summary_text(summary: ClassificationSummary) -> str:
    """Plain text for emails and the terminal: confusion matrix, per-class scores and all metrics."""
    opening = f"{summary.problem_type} classification, {len(summary.labels)} classes; {matrix_caption(summary)}"
    if len(summary.labels) <= TEXT_MATRIX_MAX_CLASSES:
        lines = [f"{opening}:", *_aligned(*matrix_rows(summary))]
    else:
        lines = [f"{opening}: more than {TEXT_MATRIX_MAX_CLASSES} classes, shown in the HTML report only"]
    header, rows = per_class_rows(summary)
    if rows:
        lines.append("per class:")
        lines += _aligned(header, rows)
    pairs = metric_pairs(summary)
    if pairs:
        lines.append("metrics: " + ", ".join(f"{name} {value}" for name, value in pairs))
    return "\n".join(lines)


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    """Indented columns: the first (labels) left-aligned, the numbers right-aligned."""
    table = [header, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    return ["  " + "  ".join(cell.ljust(widths[0]) if column == 0 else cell.rjust(widths[column])
                             for column, cell in enumerate(row)).rstrip() for row in table]


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.{SCORE_DECIMALS}f}"
