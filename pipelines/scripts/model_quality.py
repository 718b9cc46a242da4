"""ModelQualityCheck step: compare a scored batch with its ground truth and leave the labelled batch for retraining.

The batch is the S3Uri of the job's `data` input (read from /opt/ml/config/processingjobconfig.json: a key can
outgrow a container argument). Ground truth for the batch `<inference prefix>/<rel path>` is every CSV under
`<ground-truth prefix>/<rel path>` (record key and target, the dataset's header convention). Predictions
(`key,prediction` lines of the transform's `.out` files) are joined to it by record key, never by row position.
Writes `report.json` (for people) and `result.json` (batchops_core.results.StepResult: metric, value, `--threshold`
as the run used it, comparison, outcome passed / failed / skipped, counts rows / matched). The step succeeds
whenever it could evaluate, a violation included: the pipeline's CheckModelQuality step reads the outcome and fails
the execution through ModelQualityViolated (a failed job would upload no outputs, so the result would be lost on
AWS). Missing ground truth or no matching keys is `skipped`; bad input (malformed files, a bad threshold) fails the
step itself. The labelled rows (raw features and target, training schema) go to the `feedback` output.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import heapq
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

from batchops_core import contracts, datasets, metrics, results  # noqa: E402
from batchops_core.contracts import OutputFile, Step  # noqa: E402
from batchops_core.s3uri import S3UriError, split_s3_uri  # noqa: E402

StepFailure = steplib.StepFailure
LISTED_KEYS = 20


def read_predictions(directory: Path, width: int = 1) -> steplib.KeyedValues:
    if not steplib.list_files(directory, ".out"):
        raise StepFailure(f"no predictions (*.out) under {directory}: the batch transform wrote nothing")
    return steplib.read_predictions(directory, width)


def ground_truth_prefix(input_key: str, inference_prefix: str, truth_prefix: str) -> str | None:
    """`<inference>/<rel>` -> `<ground truth>/<rel>`; None when the batch is not under the inference prefix."""
    base = inference_prefix.rstrip("/") + "/"
    if not input_key.startswith(base) and input_key.rstrip("/") != base.rstrip("/"):
        return None
    relative = input_key[len(base):] if input_key.startswith(base) else ""
    return truth_prefix.rstrip("/") + "/" + relative


def read_ground_truth(files, schema) -> steplib.KeyedValues:
    """Key -> target from every ground-truth file, validated as `batchops data check --kind ground-truth` does
    (other schema columns may be present and are ignored; keys are unique, or the check fails)."""
    check = steplib.DataCheck(schema, "ground-truth")
    keys, values = [], []
    for path, name in files:
        file_start = len(keys)
        for table in check.chunks(path, name):
            if table.first_of_file:  # the exact reader starts a file over: drop what the fast one gave of it
                del keys[file_start:], values[file_start:]
            if check.problems:
                continue
            values.append(schema.target_values(table, what=f"ground truth {name}"))
            keys.append(steplib.encode_keys(table.values[schema.record_key]))
    check.raise_problems("ground truth")
    if not keys:
        return steplib.KeyedValues(steplib.encode_keys([]), np.empty(0))
    return steplib.KeyedValues(np.concatenate(keys), np.concatenate(values))


def write_feedback(files, truth: steplib.KeyedValues, schema, path: Path) -> int:
    """The batch's rows that have a label, in batch order and the training schema (all columns, schema order),
    read and written a chunk at a time (memory stays flat)."""
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if schema.header:
            writer.writerow(schema.columns)
        for file, name in files:
            file_start, written_before = handle.tell(), written
            for table in steplib.table_chunks(file, name, schema, required=[schema.record_key, *schema.features],
                                              optional=[schema.target]):
                if table.first_of_file:  # the exact reader starts the file over: so does its feedback
                    handle.seek(file_start)
                    handle.truncate()
                    written = written_before
                columns = labelled_columns(table, truth, schema)
                writer.writerows(zip(*columns))  # noqa: B905 (equal lengths; 3.9)
                written += len(columns[0])
    return written


def labelled_columns(table, truth: steplib.KeyedValues, schema) -> list[list[str]]:
    """The columns (schema order) of the table's rows that have a label, the label as the target."""
    found, where = truth.find(steplib.encode_keys(table.values[schema.record_key]))
    labelled = np.flatnonzero(found).tolist()
    labels = truth.values[where[found]]
    every_row = len(labelled) == len(table)  # the usual case: the columns as they are
    columns = []
    for column in schema.columns:
        values = table.values.get(column)
        if column == schema.target:
            columns.append([schema.classes[int(label)] for label in labels.tolist()] if schema.classes else
                           steplib.formatted_numbers(labels))
        elif values is None:
            columns.append([""] * len(labelled))
        else:
            columns.append(values if every_row else [values[index] for index in labelled])
    return columns


def input_location(name: str) -> tuple[str, str]:
    """Bucket and key of this job's processing input `name` (processingjobconfig.json).

    Never a container argument: a key may be 1,024 bytes, an argument at most 256 characters."""
    uri = steplib.processing_input_uri(name)
    try:
        return split_s3_uri(uri, what=f"the processing input '{name}'")
    except S3UriError as error:
        raise StepFailure(str(error)) from None


def ground_truth_files(client, bucket: str, prefix: str, *, folder: bool) -> list[tuple[Path, str]]:
    """The labels of a batch: every CSV under `<ground truth>/<rel>` (one object, or a single batch's labels split
    into files); for a folder batch `<rel>` (no extension) the folder `<rel>/` or the one object `<rel>.csv`."""
    destination = steplib.processing_path("ground_truth")
    if not folder:
        return steplib.download_csv_objects(client, bucket, prefix, destination)
    return (steplib.download_csv_objects(client, bucket, prefix + "/", destination)
            + steplib.download_csv_objects(client, bucket, prefix + datasets.SINGLE_OBJECT_SUFFIX, destination))


def write_batch_index(client, args, batch_bucket: str, batch_key: str, folder: bool) -> None:
    """Record where this run's predictions of the batch are, for a model-quality run its later ground truth
    starts. Written before the ground truth is listed: labels that arrive after the listing find the index."""
    relative = datasets.relative_key(batch_key, args.inference_prefix)
    if relative is None or not args.outputs:
        return
    bucket, outputs_prefix = split_s3_uri(args.outputs, what="--outputs")
    index = {"batch": f"s3://{batch_bucket}/{batch_key}", "folder": folder,
             "predictions": steplib.processing_input_uri("predictions"),
             "execution_arn": args.execution_arn,
             "scored_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}  # noqa: UP017 (3.9)
    key = contracts.batch_index_key(outputs_prefix, relative)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=json.dumps(index, sort_keys=True).encode(),
                          ContentType="application/json")
    except Exception as error:  # botocore raises several kinds; say where we wrote
        raise StepFailure(f"cannot record the batch index s3://{bucket}/{key}: {error}") from None


def find_batch_index(client, args, relative: str) -> dict | None:
    """The index of the batch these labels belong to: the one at the same relative path, else the nearest folder
    above it (labels of one batch split into several files under `<ground truth>/<batch path>/`); its S3
    LastModified under `written`."""
    bucket, outputs_prefix = split_s3_uri(args.outputs, what="--outputs")
    parts = relative.split("/")
    for end in range(len(parts), 0, -1):
        key = contracts.batch_index_key(outputs_prefix, "/".join(parts[:end]))
        try:
            answer = client.get_object(Bucket=bucket, Key=key)
            body = answer["Body"].read()
        except client.exceptions.NoSuchKey:
            continue
        except Exception as error:
            raise StepFailure(f"cannot read the batch index s3://{bucket}/{key}: {error}") from None
        try:
            index = json.loads(body)
            split_s3_uri(index["batch"], what="batch"), split_s3_uri(index["predictions"], what="predictions")
        except (ValueError, KeyError, TypeError, S3UriError) as error:
            raise StepFailure(f"the batch index s3://{bucket}/{key} is not valid: {error}") from None
        return {**index, "written": answer["LastModified"]}
    return None


def download_predictions(client, uri: str, destination: Path, width: int) -> steplib.KeyedValues:
    bucket, prefix = split_s3_uri(uri, what="predictions")
    try:
        for key in steplib.list_keys(client, bucket, prefix.rstrip("/") + "/"):
            if key.endswith(".out"):
                local = destination / key
                local.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, key, str(local))
    except Exception as error:
        raise StepFailure(f"cannot read the predictions {uri}: {error}") from None
    return read_predictions(destination, width)


def check(args, schema, gate: steplib.Gate, bucket: str, key: str, predictions: steplib.KeyedValues,
          *, folder: bool, late: bool = False) -> tuple[dict, results.StepResult, steplib.KeyedValues | None]:
    """The report, the structured result and the ground truth of the batch s3://bucket/key."""
    metric = gate.metric
    report: dict = {"metric": metric.name, "threshold": args.threshold, "rows_scored": len(predictions),
                    "batch": f"s3://{bucket}/{key}"}

    def outcome(status: str, message: str, value: float | None = None, matched: int = 0,
                details: dict | None = None) -> results.StepResult:
        return results.StepResult(step=Step.MODEL_QUALITY_CHECK, outcome=status, message=message,
                                  metric=metric.name, value=value, threshold=args.threshold,
                                  comparison=metric.comparison, counts={"rows": len(predictions), "matched": matched},
                                  details=details or {})

    def skipped(reason: str, truth: steplib.KeyedValues | None, matched: int = 0):
        return ({**report, "status": results.SKIPPED, "reason": reason},
                outcome(results.SKIPPED, f"model quality not checked: {reason}", matched=matched), truth)

    prefix = ground_truth_prefix(key, args.inference_prefix, args.ground_truth_prefix)
    client = steplib.s3_client(args.region)
    if not late:
        write_batch_index(client, args, bucket, key, folder)
    if prefix is None:
        return skipped(f"the batch key is not under the inference prefix '{args.inference_prefix}/'", None)
    report["ground_truth"] = f"s3://{bucket}/{prefix}"
    try:
        files = ground_truth_files(client, bucket, prefix, folder=folder)
    except Exception as error:  # botocore raises several kinds; say where we looked
        raise StepFailure(f"cannot read ground truth under {report['ground_truth']}: {error}") from None
    if not files:
        if late:
            return skipped("no ground truth for this batch", None)
        # Labels dropped later start the model-quality pipeline on this run's predictions (the batch index).
        message = (f"model quality {contracts.MODEL_QUALITY_WAITING}: labels dropped under "
                   f"{report['ground_truth']} start its check")
        return ({**report, "status": results.SKIPPED, "reason": contracts.MODEL_QUALITY_WAITING},
                outcome(results.SKIPPED, message, details={contracts.MODEL_QUALITY_WAITING_DETAIL: True}), None)
    truth = read_ground_truth(files, schema)
    # Joined by key in the predictions' order (the metric sums in the same order as ever).
    predicted_keys, predicted_values = predictions.ordered()
    found, where = truth.find(predicted_keys)
    labelled, _ = predictions.find(truth.keys)
    unmatched_predictions, unmatched_truth = predicted_keys[~found], truth.keys[~labelled]
    matched = int(found.sum())
    report.update({
        "rows_with_ground_truth": len(truth), "rows_matched": matched,
        "unmatched_prediction_keys": first_sorted(unmatched_predictions),
        "unmatched_prediction_count": len(unmatched_predictions),
        "unmatched_ground_truth_keys": first_sorted(unmatched_truth),
        "unmatched_ground_truth_count": len(unmatched_truth),
    })
    if not matched:
        if late:  # labels dropped for this batch on purpose: a mismatch is a mistake, not a wait
            raise StepFailure(f"no record key of the ground truth under {report['ground_truth']} matches a "
                              f"prediction of the batch {report['batch']} ({len(truth)} labelled keys, "
                              f"{len(predictions)} predictions)")
        return skipped("no record key of the ground truth matches a prediction", truth)
    actual = truth.values[where[found]]
    predicted = predicted_values[found]
    # A metric that means nothing on these rows is neither a pass nor a violation (which would start retraining):
    # the check could not decide.
    degenerate = steplib.degenerate_labels(actual)
    if matched < steplib.MIN_SPLIT_ROWS:
        return skipped(f"{degenerate} ({matched} matched)", truth, matched)
    try:
        computed = gate.compute_all(actual, predicted)
    except metrics.MetricUndefined as error:
        if degenerate:  # e.g. r2 when every label is the same
            return skipped(f"{error}", truth, matched)
        raise StepFailure(f"ground truth under {report['ground_truth']}: {error}") from None
    except metrics.MetricError as error:
        raise StepFailure(f"ground truth under {report['ground_truth']}: {error}") from None
    value = computed[metric.name]["value"]
    report.update({"metrics": computed, "value": value})
    passed = metric.passes(value, args.threshold)
    status = results.PASSED if passed else results.FAILED
    message = (f"Model quality {'within' if passed else 'violation'}: {metric.name} {metric.format(value)} "
               f"{'meets' if passed else 'fails'} the gate {metric.describe_gate(args.threshold)} "
               f"on {matched} matched rows of {report['batch']}")
    details = gate.summary(actual, predicted, computed).to_details() if gate.classes else None
    return {**report, "status": status}, outcome(status, message, value, matched, details), truth


def first_sorted(keys) -> list[str]:
    """The first LISTED_KEYS keys in sorted order (bytes order of UTF-8 is the strings' code-point order)."""
    return [key.decode("utf-8") for key in heapq.nsmallest(LISTED_KEYS, keys.tolist())]


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Check a scored batch against its ground truth.")
    for name in ("--inference-prefix", "--ground-truth-prefix", "--region"):
        parser.add_argument(name, required=True)
    steplib.add_gate_arguments(parser)
    parser.add_argument("--threshold", type=float, required=True, help="the run's ModelQualityThreshold")
    parser.add_argument("--mode", choices=("scored", "late"), default="scored",
                        help="scored: this run's predictions (inputs `predictions`, `data`); late: the stored "
                             "predictions of the batch the `ground_truth` input belongs to")
    parser.add_argument("--outputs", default="", help="s3://<bucket>/<outputs prefix>: where batch indexes live")
    parser.add_argument("--execution-arn", default="", help="this pipeline execution (recorded in the index)")
    parser.add_argument("--trigger-file", default=datasets.DEFAULT_TRIGGER_FILE,
                        help="a `data` input key ending in /<this> names a folder batch")
    return parser.parse_args(argv)


def scored_check(args, schema, gate: steplib.Gate):
    """This run's predictions of the batch its `data` input names (one object, or a folder of parts)."""
    bucket, key, folder = steplib.dataset_location("data", args.trigger_file)
    predictions = read_predictions(steplib.processing_path("input", "predictions"), gate.prediction_width)
    report, result, truth = check(args, schema, gate, bucket, key, predictions, folder=folder)

    def batch_files():
        return steplib.dataset_files("data", steplib.processing_path("input", "data"), region=args.region,
                                     trigger_file=args.trigger_file, header=schema.header)

    return report, result, truth, batch_files


def late_skipped(args, metric, batch: str, what: str, reason: str):
    """A late run with nothing to evaluate: the report and result, no labels, no batch files."""
    result = results.StepResult(step=Step.MODEL_QUALITY_CHECK, outcome=results.SKIPPED,
                                message=f"model quality {what}: {reason}", metric=metric.name,
                                threshold=args.threshold, comparison=metric.comparison)
    report = {"metric": metric.name, "threshold": args.threshold, "batch": batch, "status": results.SKIPPED,
              "reason": reason}
    return report, result, None, list


def late_check(args, schema, gate: steplib.Gate):
    """Ground truth dropped on its own: evaluate the stored predictions of the batch it labels."""
    bucket, key = input_location("ground_truth")
    relative = datasets.relative_key(key, args.ground_truth_prefix)
    if relative is None:
        raise StepFailure(f"s3://{bucket}/{key} is not under the ground-truth prefix '{args.ground_truth_prefix}/'")
    client = steplib.s3_client(args.region)
    index = find_batch_index(client, args, relative)
    if index is None:
        batch = f"s3://{bucket}/{args.inference_prefix.rstrip('/')}/{relative}"
        return late_skipped(args, gate.metric, batch, "not checked",
                            f"the batch {batch} is not scored yet: its own inference run checks these labels")
    try:
        dropped_at = client.head_object(Bucket=bucket, Key=key)["LastModified"]
    except Exception as error:
        raise StepFailure(f"cannot read s3://{bucket}/{key}: {error}") from None
    if dropped_at < index["written"]:
        # The scored run recorded its index before it listed the labels: these were there, it checked them.
        return late_skipped(args, gate.metric, index["batch"], "not checked again",
                            f"the labels s3://{bucket}/{key} were there when {index['batch']} was scored: its "
                            f"inference run {index.get('execution_arn') or '(unknown)'} checked them")
    predictions = download_predictions(client, index["predictions"], steplib.processing_path("predictions"),
                                       gate.prediction_width)
    batch_bucket, batch_key = split_s3_uri(index["batch"], what="batch")
    folder = bool(index.get("folder"))
    report, result, truth = check(args, schema, gate, batch_bucket, batch_key, predictions, folder=folder,
                                  late=True)
    report["scored_by"] = index.get("execution_arn", "")

    def batch_files():
        try:
            return steplib.download_csv_objects(client, batch_bucket, batch_key + ("/" if folder else ""),
                                                steplib.processing_path("batch"))
        except Exception as error:
            raise StepFailure(f"cannot read the batch {index['batch']}: {error}") from None

    return report, result, truth, batch_files


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gate = steplib.gate_from_arguments(args)
    schema = steplib.Schema.load()
    if list(schema.classes) != list(gate.classes):
        raise StepFailure(f"--classes {list(gate.classes)} differ from the dataset schema's {list(schema.classes)}")
    report, result, truth, batch_files = (late_check if args.mode == "late" else scored_check)(args, schema, gate)
    if report.get("rows_matched"):
        feedback_path = steplib.processing_path("output", "feedback", OutputFile.FEEDBACK)
        report["feedback_rows"] = write_feedback(batch_files(), truth, schema, feedback_path)
    steplib.write_json(steplib.processing_path("output", "report", OutputFile.MODEL_QUALITY_REPORT), report)
    steplib.write_step_result(result)
    print(f"model quality: {result.outcome}: {result.message}")
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
