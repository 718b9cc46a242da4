"""Preprocess step, one script in two modes.

`--mode train` (training pipelines): read every CSV under the input (plus labelled feedback batches when
`--feedback-uri` is given), validate it against the configured schema, split train/validation/test
reproducibly, fit the feature preprocessing on the training split and save it as `preprocessing.json`, and
write the XGBoost CSVs (no header, label in column 0) and the data-quality baseline dataset.

`--mode transform` (batch inference): apply a model version's saved `preprocessing.json` (never refit) and
write the transform input (record key first, then the transformed features, no header) and the data-quality
input. With `--comparison-threshold` (and the two methods) it also writes the model version's baseline
`constraints.json` with the configured drift settings in `monitoring_config.distribution_constraints`: the
data-quality check of either engine reads them from there (the Model Monitor analyzer reads no environment for
them; schema: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html).

Data-quality datasets always hold the raw feature columns in schema order with a header row, in both modes.
Feature preprocessing: numeric columns get the training median for missing values; categorical columns are
one-hot encoded over the training categories (an unknown or missing category encodes as all zeros).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

# The shared helpers and the core modules: beside this file (core: installed) locally, the processing inputs
# `steplib` and `core` in a container; the shipped core comes first so that it is the one imported.
_INPUTS = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "processing", "input")
sys.path[:0] = [os.path.join(_INPUTS, "core"), str(Path(__file__).resolve().parent), os.path.join(_INPUTS, "steplib")]
import steplib  # noqa: E402

from batchops_core import datasets  # noqa: E402
from batchops_core.s3uri import S3UriError, split_s3_uri  # noqa: E402

StepFailure = steplib.StepFailure

ARTEFACT_FORMAT = "batchops-preprocessing"
ARTEFACT_VERSION = 1


# ------------------------------------------------------------------------------------------ the artefact


def fit_preprocessing(table, schema) -> dict:
    features = []
    for column in schema.features:
        if schema.is_numeric(column):
            values = steplib.numeric_column(table, column, integer=schema.types[column] == "integer",
                                            allow_missing=True)
            present = values[~np.isnan(values)]
            median = float(np.median(present)) if present.size else 0.0
            features.append({"name": column, "type": schema.types[column], "median": median})
        else:
            categories = sorted({v for v in table.values[column] if v != ""})
            features.append({"name": column, "type": "categorical", "categories": categories})
    artefact = {"format": ARTEFACT_FORMAT, "version": ARTEFACT_VERSION, "record_key": schema.record_key,
                "target": schema.target, "features": features, "output_columns": output_columns(features)}
    if schema.classes:  # the label encoding: class index i is classes[i] (the model's outputs, in this order)
        artefact["classes"] = list(schema.classes)
    return artefact


def output_columns(features: list[dict]) -> list[str]:
    names: list[str] = []
    for feature in features:
        if feature["type"] == "categorical":
            names.extend(f"{feature['name']}={category}" for category in feature["categories"])
        else:
            names.append(feature["name"])
    return names


def load_artefact(directory: Path, schema) -> dict:
    found = steplib.list_files(directory, ".json")
    if len(found) != 1:
        raise StepFailure(f"expected one preprocessing artefact (.json) in {directory}, found {len(found)}")
    try:
        artefact = json.loads(found[0].read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise StepFailure(f"preprocessing artefact {found[0].name} is not valid JSON: {error}") from None
    if artefact.get("format") != ARTEFACT_FORMAT or artefact.get("version") != ARTEFACT_VERSION:
        raise StepFailure(f"{found[0].name} is not a version {ARTEFACT_VERSION} {ARTEFACT_FORMAT} artefact")
    trained = [f["name"] for f in artefact["features"]]
    if trained != schema.features:
        raise StepFailure("the model version was trained on the features " + ", ".join(trained)
                          + " but the configured schema has " + ", ".join(schema.features)
                          + ": score this batch with a model trained on the current schema")
    if artefact.get("classes", []) != list(schema.classes):
        raise StepFailure(f"the model version was trained for the classes {artefact.get('classes', [])} but the "
                          f"configured model.classes are {list(schema.classes)}: score this batch with a model "
                          "trained on the current classes")
    return artefact


def transform_features(table, schema, artefact: dict) -> np.ndarray:
    blocks = []
    for feature in artefact["features"]:
        column = feature["name"]
        if feature["type"] == "categorical":
            values = np.array(table.values[column], dtype=object)
            blocks.append(np.column_stack([values == c for c in feature["categories"]]).astype(np.float64)
                          if feature["categories"] else np.empty((len(table), 0)))
        else:
            numbers = steplib.numeric_column(table, column, integer=feature["type"] == "integer",
                                             allow_missing=True)
            blocks.append(np.where(np.isnan(numbers), feature["median"], numbers).reshape(-1, 1))
    return np.hstack(blocks) if blocks else np.empty((len(table), 0))


# ------------------------------------------------------------------------------------------ modes


def split_indices(count: int, validation_fraction: float, test_fraction: float, seed: int):
    """Seeded shuffle, then test, validation and train slices (RandomState: same order on numpy 1.x and 2.x)."""
    problem = steplib.split_problem(count, validation_fraction, test_fraction)
    if problem:
        raise StepFailure(problem)
    order = np.random.RandomState(seed).permutation(count)
    _, validation_count, test_count = steplib.split_sizes(count, validation_fraction, test_fraction)
    test = np.sort(order[:test_count])
    validation = np.sort(order[test_count:test_count + validation_count])
    train = np.sort(order[test_count + validation_count:])
    return train, validation, test


def input_files(args, schema, *, split_by_file: bool = False) -> list[tuple[Path, str]]:
    """The dataset's CSV files: the dropped object, or every part of a folder whose trigger file was dropped
    (`split_by_file`: this instance's share of them when the job has several instances)."""
    return steplib.dataset_files("data", steplib.processing_path("input", "data"), region=args.region,
                                 trigger_file=args.trigger_file, header=schema.header, split_by_file=split_by_file)


def feedback_files(uri: str, region: str) -> list[tuple[Path, str]]:
    try:
        bucket, prefix = split_s3_uri(uri, what="--feedback-uri")
    except S3UriError as error:
        raise StepFailure(str(error)) from None
    destination = steplib.processing_path("feedback")
    try:
        found = steplib.download_csv_objects(steplib.s3_client(region), bucket, prefix, destination)
    except Exception as error:  # botocore raises several kinds; the step must say where it looked
        raise StepFailure(f"cannot read labelled feedback under {uri}: {error}") from None
    print(f"labelled feedback: {len(found)} file(s) under {uri}")
    return found


def run_train(args, schema) -> None:
    files = input_files(args, schema)
    if args.feedback_uri:
        files += feedback_files(args.feedback_uri, args.region)
    # The shared validation (`batchops data check` runs the same): every problem, or a table to train on.
    check = steplib.DataCheck(schema, "training", split=(args.validation_fraction, args.test_fraction))
    table = steplib.Table(schema.columns)
    for path, name in files:
        for chunk in check.chunks(path, name, chunk_rows=None):
            table.extend(chunk)
    check.raise_problems("the training data")
    target = schema.target_values(table, what="the training data")
    train, validation, test = split_indices(len(table), args.validation_fraction, args.test_fraction, args.seed)
    for name, rows in (("train", train), ("validation", validation), ("test", test)):
        problem = steplib.target_problem(target[rows], schema.target, f"the {name} split")
        if problem:  # a constant test split would make any metric "perfect"; a constant train split teaches nothing
            raise StepFailure(f"{problem} (split with seed {args.seed}): provide more varied rows")
    artefact = fit_preprocessing(table.take(train), schema)
    features = transform_features(table, schema, artefact)
    output = steplib.processing_path("output")
    for name, rows in (("train", train), ("validation", validation), ("test", test)):
        steplib.write_matrix(output / name / f"{name}.csv", np.column_stack([target[rows], features[rows]]))
    baseline = table.take(train)
    columns = data_quality_columns(args, schema, has_label=True)  # training data always has the target
    steplib.write_csv(output / "baseline" / "baseline.csv", baseline.rows(columns), header=columns)
    steplib.write_json(output / "preprocessing" / "preprocessing.json", artefact)
    print(f"rows: {len(table)} from {len(files)} file(s); train {len(train)}, validation {len(validation)}, "
          f"test {len(test)}; {len(artefact['output_columns'])} model features")


def data_quality_columns(args, schema, has_label: bool) -> list[str]:
    """The columns of a data-quality dataset: the features, and the label (as people wrote it) when data quality
    reports its class balance and the data carries it (an inference batch usually has no labels)."""
    label = args.data_quality_label
    return [*schema.features, label] if label and has_label else list(schema.features)


def _has_column(path, column: str) -> bool:
    if not column:
        return False
    try:
        return column in steplib.header_columns(path)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error):
        return False  # the data check names what is wrong with the file next


def run_transform(args, schema) -> None:
    artefact = load_artefact(steplib.processing_path("input", "preprocessing"), schema)
    # Each file is transformed on its own, so a job's instances split the batch by file (outputs keep the files'
    # names: no two instances write the same one). Duplicate record keys are found within an instance's share;
    # `batchops data drop` checks the whole batch before it is uploaded.
    files = input_files(args, schema, split_by_file=True)
    output = steplib.processing_path("output")
    # The shared validation (`batchops data check` runs the same), in chunks: memory stays flat however large the
    # batch (record keys are kept as 8-byte hashes, to find duplicates). After a problem, rows are only checked.
    check = steplib.DataCheck(schema, "inference")
    for path, name in files:
        plain = name[:-len(".gz")] if name.lower().endswith(".gz") else name  # a folder's parts are read unzipped
        relative = plain if plain.lower().endswith(".csv") else plain + ".csv"
        columns = data_quality_columns(args, schema, has_label=_has_column(path, args.data_quality_label))
        for table in check.chunks(path, name, chunk_rows=args.chunk_rows):
            if check.problems:
                continue
            features = transform_features(table, schema, artefact)
            later = not table.first_of_file  # a file read again from its start is written again from its start
            steplib.write_matrix(output / "transform" / relative, features, keys=table.values[schema.record_key],
                                 append=later)
            steplib.write_csv(output / "dataquality" / relative, table.rows(columns),
                              header=None if later else columns, append=later)
    if files:  # an instance whose share is empty has nothing to check
        check.raise_problems("the batch")
    print(f"rows: {check.rows} from {len(files)} file(s); {len(artefact['output_columns'])} model features")
    first_instance = steplib.cluster_position()[0] == 0
    if args.comparison_threshold is not None and first_instance:  # one copy: every instance would write the same
        write_check_constraints(args, steplib.processing_path("input", "baseline_constraints"),
                                output / "constraints" / "constraints.json")


def write_check_constraints(args, source_dir: Path, target: Path) -> None:
    """The baseline constraints with the configured drift settings (every other key kept as it is)."""
    sources = sorted(p for p in source_dir.rglob("*.json") if p.is_file()) if source_dir.is_dir() else []
    if len(sources) != 1:
        raise StepFailure(f"expected one baseline constraints file under {source_dir}, found {len(sources)}")
    try:
        constraints = json.loads(sources[0].read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StepFailure(f"baseline constraints {sources[0].name} are not valid JSON: {error}") from None
    if not isinstance(constraints, dict) or not isinstance(constraints.get("monitoring_config", {}), dict):
        raise StepFailure(f"baseline constraints {sources[0].name}: expected an object with a monitoring_config object")
    config = constraints.setdefault("monitoring_config", {})
    distribution = config.get("distribution_constraints")
    if not isinstance(distribution, dict):
        distribution = config["distribution_constraints"] = {}
    distribution.update(perform_comparison="Enabled", comparison_threshold=args.comparison_threshold,
                        comparison_method=args.comparison_method,
                        categorical_comparison_threshold=args.comparison_threshold,
                        categorical_drift_method=args.categorical_drift_method)
    steplib.write_json(target, constraints)


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description="Validate, split and preprocess a tabular dataset.")
    parser.add_argument("--mode", choices=("train", "transform"), required=True)
    parser.add_argument("--validation-fraction", type=float, default=None)
    parser.add_argument("--test-fraction", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--feedback-uri", default="", help="s3:// prefix of labelled batches to train on too")
    parser.add_argument("--region", default="")
    parser.add_argument("--trigger-file", default=datasets.DEFAULT_TRIGGER_FILE,
                        help="a `data` input key ending in /<this> names the folder of part files to read")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="transform mode: rows processed at once")
    parser.add_argument("--data-quality-label", default="",
                        help="the label column, kept in the data-quality datasets for its class balance")
    parser.add_argument("--comparison-threshold", type=float, default=None,
                        help="transform mode: write the baseline constraints with these drift settings")
    parser.add_argument("--comparison-method", choices=("Simple", "Robust"), default="Robust")
    parser.add_argument("--categorical-drift-method", choices=("LInfinity", "ChiSquared"), default="LInfinity")
    args = parser.parse_args(argv)
    if args.mode == "train":
        missing = [f"--{n.replace('_', '-')}" for n in ("validation_fraction", "test_fraction", "seed")
                   if getattr(args, n) is None]
        if missing:
            raise StepFailure(f"--mode train needs {', '.join(missing)}")
        if args.feedback_uri and not args.region:
            raise StepFailure("--feedback-uri needs --region")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    schema = steplib.Schema.load()
    if args.mode == "train":
        run_train(args, schema)
    else:
        run_transform(args, schema)
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
