"""LabelPredictions step (classification models): the transform's predictions as people read them.

Reads the batch transform's `key,prediction` lines (`input/predictions/**.out`: the probability of the positive
class for binary:logistic, the container's `[p0, p1, ...]` for multi:softprob) and writes, per `.out` file, a CSV
with a header under `output/predictions/<same relative path without .out>`: the record key, the predicted label
(a name of `--classes`: binary, the positive class at and above `--decision-threshold`; multiclass, the most
probable class) and the probabilities: binary one column `probability_<positive label>`, multiclass one column
`probability_<label>` per class, in class order. Column names come from the dataset schema (record key, target).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

# The shared helpers and the core modules: beside this file (core: installed) locally, the processing inputs
# `steplib` and `core` in a container; the shipped core comes first so that it is the one imported.
_INPUTS = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "processing", "input")
sys.path[:0] = [os.path.join(_INPUTS, "core"), str(Path(__file__).resolve().parent), os.path.join(_INPUTS, "steplib")]
import steplib  # noqa: E402

from batchops_core import metrics  # noqa: E402

StepFailure = steplib.StepFailure


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description="Write the batch's predictions with the class labels.")
    steplib.add_class_arguments(parser)
    return parser.parse_args(argv)


def labelled_rows(predictions: dict, problem_type: str, classes: list[str], decision_threshold: float) -> list:
    keys = list(predictions)
    scores = np.array([predictions[key] for key in keys], dtype=np.float64)
    decided = metrics.predicted_classes(problem_type, scores, decision_threshold)
    probabilities = scores.reshape(len(keys), -1)
    return [[key, classes[int(index)], *map(repr, row.tolist())]
            for key, index, row in zip(keys, decided, probabilities)]  # noqa: B905 (equal lengths; runs on 3.9)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.problem_type not in metrics.CLASSIFICATION:
        raise StepFailure(f"--problem-type: labels exist for classification models only, found {args.problem_type}")
    classes = steplib.parse_classes(args.classes)
    schema = steplib.Schema.load()
    if list(schema.classes) != classes:
        raise StepFailure(f"--classes {classes} differ from the dataset schema's {list(schema.classes)}")
    width = steplib.prediction_width(args.problem_type, classes)
    source = steplib.processing_path("input", "predictions")
    files = steplib.list_files(source, ".out")
    if not files:
        raise StepFailure(f"no predictions (*.out) under {source}: the batch transform wrote nothing")
    probability_columns = [f"probability_{classes[-1]}"] if args.problem_type == metrics.BINARY else \
        [f"probability_{label}" for label in classes]
    header = [schema.record_key, schema.target, *probability_columns]
    rows = 0
    for path in files:
        name = path.relative_to(source).as_posix()
        predictions = steplib.read_prediction_file(path, name, width)
        labelled = labelled_rows(predictions, args.problem_type, classes, args.decision_threshold)
        steplib.write_csv(steplib.processing_path("output", "predictions", name.removesuffix(".out")), labelled,
                          header=header)
        rows += len(labelled)
    print(f"labelled {rows} predictions in {len(files)} file(s): {', '.join(header)}")
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
