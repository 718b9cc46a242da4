"""PublishPredictions step: put a scored batch's predictions where consumers look, and say so.

The batch is the dataset the job's `data` input names (one object, or the folder of a trigger key: steplib).
Its predictions (the transform's `.out` files, `key,prediction` lines, joined by record key upstream; for a
classification model LabelPredictions' CSV files with labels and probabilities) become one CSV with a header
(batchops_core.datasets.results_columns) at the key that mirrors the batch under the results
prefix (batchops_core.datasets.results_key), with this execution's ARN in the object's metadata. The bucket is
versioned: a batch scored again gets a new version, and the step says which version (and execution) it replaced.
Then the "results ready" event (batchops_core.contracts RESULTS_EVENT_SOURCE / RESULTS_READY_DETAIL_TYPE) goes to
the default event bus, and `result.json` records the location for the emails and `batchops runs show`.
A batch outside the inference prefix has no mirrored key: the step records `skipped` and publishes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# The shared helpers and the core modules: beside this file (core: installed) locally, the processing inputs
# `steplib` and `core` in a container; the shipped core comes first so that it is the one imported.
_INPUTS = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "processing", "input")
sys.path[:0] = [os.path.join(_INPUTS, "core"), str(Path(__file__).resolve().parent), os.path.join(_INPUTS, "steplib")]
import steplib  # noqa: E402

from batchops_core import contracts, datasets, results  # noqa: E402
from batchops_core.contracts import Step  # noqa: E402

StepFailure = steplib.StepFailure


def model_version(model_package_arn: str) -> str:
    """`arn:...:model-package/<group>/<version>` -> `<version>`."""
    version = model_package_arn.rsplit("/", 1)[-1]
    if not version.isdigit():
        raise StepFailure(f"--model-package-arn '{model_package_arn}' does not end in a version number")
    return version


def write_results(predictions_dir: Path, target: Path, record_key: str, version: str, *, labelled: bool) -> int:
    """The predictions with the model version appended, under one header line; returns the row count.

    Plain: the transform's `.out` files (`key,prediction` lines). Labelled (classification): the CSV files
    LabelPredictions wrote, each with the same header (record key, label, probabilities), which becomes the results
    header's prediction columns."""
    files = steplib.list_files(predictions_dir, "" if labelled else ".out")
    if not files:
        raise StepFailure(f"no predictions under {predictions_dir}: the step before wrote nothing")
    rows = 0
    columns = None if labelled else datasets.results_columns(record_key)
    suffix = "," + version + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as out:
        if columns is not None:
            out.write(",".join(columns) + "\n")
        for path in files:
            with path.open(encoding="utf-8", newline="") as handle:
                if labelled:
                    header = handle.readline().rstrip("\r\n").split(",")
                    if header[:1] != [record_key]:
                        raise StepFailure(f"{path.name}: labelled predictions start with {header[:1]}, expected the "
                                          f"record key '{record_key}'")
                    found = datasets.results_columns(record_key, tuple(header[1:]))
                    if columns is None:
                        columns = found
                        out.write(",".join(columns) + "\n")
                    elif found != columns:
                        raise StepFailure(f"{path.name}: header {header} differs from the other files' {columns[:-1]}")
                for line in handle:
                    line = line.rstrip("\r\n")
                    if line:
                        out.write(line + suffix)
                        rows += 1
    return rows


def previous_version(client, bucket: str, key: str) -> dict:
    """The version a new upload would make noncurrent: its id and the execution that wrote it (or {})."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except client.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return {}
        raise StepFailure(f"cannot read s3://{bucket}/{key}: {error}") from None
    return {"version_id": head.get("VersionId") or "",
            "execution_arn": (head.get("Metadata") or {}).get(contracts.RESULTS_METADATA_EXECUTION, "")}


def publish(args, schema) -> results.StepResult:
    bucket, batch_key, folder = steplib.dataset_location("data", args.trigger_file)
    batch = f"s3://{bucket}/{batch_key}" + ("/" if folder else "")
    key = datasets.results_key(batch_key, folder=folder, inference_prefix=args.inference_prefix,
                               results_prefix=args.results_prefix)
    if key is None:
        return results.StepResult(step=Step.PUBLISH_PREDICTIONS, outcome=results.SKIPPED,
                                  message=f"not published: the batch {batch} is not under the inference prefix "
                                          f"'{args.inference_prefix}/'")
    local = steplib.processing_path("results", "predictions.csv")
    rows = write_results(steplib.processing_path("input", "predictions"), local, schema.record_key,
                         model_version(args.model_package_arn), labelled=args.labelled)
    client = steplib.s3_client(args.region)
    replaced = previous_version(client, bucket, key)
    location = f"s3://{bucket}/{key}"
    try:
        client.upload_file(str(local), bucket, key, ExtraArgs={
            "ContentType": "text/csv", "Metadata": {contracts.RESULTS_METADATA_EXECUTION: args.execution_arn}})
        version_id = client.head_object(Bucket=bucket, Key=key).get("VersionId") or ""
    except Exception as error:  # botocore raises several kinds; say where we wrote
        raise StepFailure(f"cannot publish the predictions to {location}: {error}") from None
    message = f"{rows} predictions of {batch} published to {location}"
    if replaced:
        message += (f"; the earlier results (version {replaced['version_id'] or 'null'}, written by "
                    f"{replaced['execution_arn'] or 'an unknown run'}) are kept as a noncurrent version")
    send_results_ready(args, batch, location, rows)
    print(message)
    details = {contracts.RESULTS_LOCATION_DETAIL: location, "version_id": version_id, "batch": batch}
    if replaced:
        details["replaced"] = replaced
    return results.StepResult(step=Step.PUBLISH_PREDICTIONS, outcome=results.PASSED, message=message,
                              counts={"rows": rows}, details=details)


def send_results_ready(args, batch: str, location: str, rows: int) -> None:
    import boto3

    detail = dict(zip(contracts.RESULTS_EVENT_FIELDS,  # noqa: B905 (3.9)
                      (args.execution_arn, batch, location, rows, args.model_package_arn)))
    try:
        answer = boto3.client("events", region_name=args.region).put_events(Entries=[{
            "Source": contracts.RESULTS_EVENT_SOURCE, "DetailType": contracts.RESULTS_READY_DETAIL_TYPE,
            "Detail": json.dumps(detail), "Resources": [args.execution_arn] if args.execution_arn else []}])
    except Exception as error:
        raise StepFailure(f"published to {location}, but the results-ready event could not be sent: {error}") from None
    if answer.get("FailedEntryCount"):
        entry = (answer.get("Entries") or [{}])[0]
        raise StepFailure(f"published to {location}, but EventBridge refused the results-ready event: "
                          f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Publish a scored batch's predictions under the results prefix.")
    for name in ("--inference-prefix", "--results-prefix", "--region", "--model-package-arn", "--execution-arn"):
        parser.add_argument(name, required=True)
    parser.add_argument("--trigger-file", default=datasets.DEFAULT_TRIGGER_FILE,
                        help="a `data` input key ending in /<this> names a folder batch")
    parser.add_argument("--labelled", action="store_true",
                        help="the predictions are LabelPredictions' CSV files (classification), not `.out` files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = publish(args, steplib.Schema.load())
    steplib.write_step_result(result)
    print(f"publish predictions: {result.outcome}: {result.message}")
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
