"""Transform steps: a batch transform job with the built-in XGBoost serving container's semantics; the model is
loaded and scored in the serving image's runtime (one process per job, batch_transform.main)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from batchops_local.runner import batch_transform
from batchops_local.runner.aws import join_uri, parse_s3_uri, relative_key
from batchops_local.runner.batch_transform import ColumnFilter, TransformSettings
from batchops_local.runner.errors import StepFailed, StepStopped
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.jobs import (
    XGBOOST_IMAGE,
    JobDir,
    job_name,
    job_process_environment,
    require_image,
    run_job_process,
)
from batchops_local.runner.runtimes import interpreter_for
from batchops_local.runner.steps import instances
from batchops_local.runner.steps.registry import call
from batchops_local.runner.xgboost_algorithm import AlgorithmError, extract_model, is_csv_content_type


def transform_settings(arguments: dict[str, Any], *, what: str) -> TransformSettings:
    """Validate the request against what the local serving container supports; clear errors otherwise."""
    transform_input = arguments.get("TransformInput") or {}
    transform_output = arguments.get("TransformOutput") or {}
    processing = arguments.get("DataProcessing") or {}
    content_type = transform_input.get("ContentType") or "text/csv"
    if not is_csv_content_type(content_type):
        raise StepFailed(f"{what}: ContentType '{content_type}' is not supported locally (text/csv)")
    accept = transform_output.get("Accept") or "text/csv"
    if not is_csv_content_type(accept):
        raise StepFailed(f"{what}: Accept '{accept}' is not supported locally (text/csv)")
    split = transform_input.get("SplitType") or "None"
    if split not in ("Line", "None"):
        raise StepFailed(f"{what}: SplitType '{split}' is not supported for CSV locally (Line or None)")
    if (transform_input.get("CompressionType") or "None") != "None":
        raise StepFailed(f"{what}: CompressionType '{transform_input['CompressionType']}' is not supported locally")
    join = processing.get("JoinSource") or "None"
    if join not in ("None", "Input"):
        raise StepFailed(f"{what}: JoinSource must be None or Input, found '{join}'")
    try:
        return TransformSettings(input_filter=ColumnFilter.parse(processing.get("InputFilter")),
                                 output_filter=ColumnFilter.parse(processing.get("OutputFilter")),
                                 join_input=join == "Input")
    except ValueError as exc:
        raise StepFailed(f"{what}: {exc}") from None


def stage_model(context: StepContext, model_name: Any, job: JobDir, *, what: str) -> tuple[str, str]:
    """The model's archive extracted into the job's /opt/ml/model; returns (serving image, model data URL)."""
    if not model_name:
        raise StepFailed(f"{what}: ModelName is required")
    description = call(context, "DescribeModel", ModelName=str(model_name))
    container = description.get("PrimaryContainer") or (description.get("Containers") or [{}])[0]
    require_image(container.get("Image"), (XGBOOST_IMAGE,), what=f"{what} model '{model_name}'")
    _require_algorithm_mode(container.get("Environment") or {}, what=f"{what} model '{model_name}'")
    model_url = container.get("ModelDataUrl")
    if not model_url:
        raise StepFailed(f"{what}: model '{model_name}' has no ModelDataUrl")
    archive = context.aws.download_file(model_url, job.root / "model.tar.gz", what=f"model data of '{model_name}'")
    try:
        extract_model(archive, job.opt_ml / "model")
    except AlgorithmError as exc:
        raise StepFailed(f"{what}: model '{model_name}' ({model_url}): {exc}") from None
    return container.get("Image"), model_url


def _require_algorithm_mode(environment: dict[str, Any], *, what: str) -> None:
    """The XGBoost serving entry point runs a user module whenever SAGEMAKER_PROGRAM is set, even to "": it
    imports `ServingEnv().module_name` unless that is None (aws/sagemaker-xgboost-container, branch 1.7-1,
    src/sagemaker_xgboost_container/serving.py `main`; aws/sagemaker-containers v2.8.6.post2,
    src/sagemaker_containers/_env.py `_Env.__init__`: os.environ.get("SAGEMAKER_PROGRAM", None))."""
    if "SAGEMAKER_PROGRAM" not in environment:
        return
    program = environment["SAGEMAKER_PROGRAM"]
    if program == "":
        raise StepFailed(f"{what}: the container environment sets SAGEMAKER_PROGRAM to an empty value, so the XGBoost "
                         "serving container runs in script mode and fails importing the module '' "
                         "(ValueError: Empty module name); remove SAGEMAKER_PROGRAM to serve with the built-in "
                         "algorithm")
    raise StepFailed(f"{what}: the container environment sets SAGEMAKER_PROGRAM={program!r} (script mode: the XGBoost "
                     "serving container imports that user module); script-mode serving is not supported locally, "
                     "remove SAGEMAKER_PROGRAM to serve with the built-in algorithm")


def run_transform(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments()
    what = f"Transform step '{context.name}'"
    arn = context.aws.arn("transform-job", name)
    context.metadata["TransformJob"] = {"Arn": arn}
    settings = transform_settings(arguments, what=what)
    source = ((arguments.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    if (source.get("S3DataType") or "S3Prefix") != "S3Prefix":
        raise StepFailed(f"{what}: S3DataType '{source.get('S3DataType')}' is not supported locally (S3Prefix)")
    output_path = (arguments.get("TransformOutput") or {}).get("S3OutputPath")
    parse_s3_uri(output_path, what=f"{what} TransformOutput.S3OutputPath")
    job = JobDir(context.directory, name)
    model_name = arguments.get("ModelName")
    image, model_url = stage_model(context, model_name, job, what=what)
    input_uri = source.get("S3Uri")
    _, prefix = parse_s3_uri(input_uri, what=f"{what} input S3Uri")
    objects = list(context.aws.list_objects(input_uri, what=f"{what} input"))
    if not objects:
        raise StepFailed(f"{what}: no S3 objects found under {input_uri}")
    workers = max(1, min(int(arguments.get("MaxConcurrentTransforms") or 1), len(objects), 4))
    items = []
    for bucket, key, _size in objects:
        relative = relative_key(prefix, key)
        items.append({"bucket": bucket, "key": key, "relative": relative,
                      "input": str(job.opt_ml / "input" / relative),
                      "output": str(job.opt_ml / "output" / f"{relative}.out")})

    def download(item: dict[str, str]) -> None:
        if context.stop_requested():
            raise StepStopped()
        for path in (item["input"], item["output"]):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        context.aws.s3.download_file(item["bucket"], item["key"], item["input"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(download, items))
    hosts = instances.host_names((arguments.get("TransformResources") or {}).get("InstanceCount"), what=what)
    report = _serve_on_instances(context, job, hosts, image, model_name, model_url, settings, items, workers,
                                 what=what)

    def upload(pair: tuple[dict[str, str], dict[str, Any]]) -> str | None:
        item, outcome = pair
        if "error" in outcome:
            return f"s3://{item['bucket']}/{item['key']}: {outcome['error']}"
        target = join_uri(output_path, f"{item['relative']}.out")
        context.aws.upload_file(Path(item["output"]), target, what="transform output")
        context.log.note(f"{item['relative']}: {outcome['records']} record(s) in {outcome['seconds']:.2f} s "
                         f"-> {target}")
        _discard(Path(item["input"]), Path(item["output"]))
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        failures = [problem for problem in pool.map(upload, zip(items, report, strict=True)) if problem]
    if not context.keep_job_dirs:
        job.remove()
    if failures:
        raise StepFailed(f"{len(failures)} of {len(objects)} input object(s) failed: {'; '.join(failures[:3])}")
    return StepResult(properties={**arguments, "TransformJobName": name, "TransformJobArn": arn,
                                  "TransformJobStatus": "Completed"})


def _serve_on_instances(context: StepContext, job: JobDir, hosts: list[str], image: str, model_name: Any,
                        model_url: str, settings: TransformSettings, items: list[dict[str, str]], workers: int, *,
                        what: str) -> list[dict[str, Any]]:
    """The objects partitioned by key across the instances (instances.objects_of_host), each instance one serving
    process with its share, side by side; the report per object in the order of `items`."""
    shares = [instances.objects_of_host(items, instances.SHARDED_BY_S3_KEY, number, len(hosts))
              for number in range(len(hosts))]
    if len(hosts) > 1:
        context.log.note("objects per instance: " + ", ".join(f"{host} {len(share)}"
                                                              for host, share in zip(hosts, shares, strict=True)))

    def serve(host: str, share: list[dict[str, str]]) -> list[dict[str, Any]]:
        if not share:  # more instances than objects: this one idles, as on SageMaker
            return []
        return _serve(context, job, host, image, model_name, model_url, settings, share, workers, what=what)

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        reports = list(pool.map(serve, hosts, shares))
    by_output = {item["output"]: outcome for share, report in zip(shares, reports, strict=True)
                 for item, outcome in zip(share, report, strict=True)}
    return [by_output[item["output"]] for item in items]


def _serve(context: StepContext, job: JobDir, host: str, image: str, model_name: Any, model_url: str,
           settings: TransformSettings, items: list[dict[str, str]], workers: int, *,
           what: str) -> list[dict[str, Any]]:
    """Score the instance `host`'s staged objects in one process of the serving image's runtime (its Python and
    xgboost load the model, as the container does on AWS); a report per object: records and seconds, or the
    error."""
    files = {"report": job.root / f"transform-report-{host}.json", "failure": job.root / f"model-failure-{host}.txt"}
    spec = {"model_dir": str(job.opt_ml / "model"), "workers": workers, "join_input": settings.join_input,
            "input_filter": settings.input_filter.expression if settings.input_filter else None,
            "output_filter": settings.output_filter.expression if settings.output_filter else None,
            "objects": [{"input": item["input"], "output": item["output"]} for item in items],
            **{key: str(path) for key, path in files.items()}}
    job_file = job.root / f"transform-job-{host}.json"
    job_file.write_text(json.dumps(spec), encoding="utf-8")
    python = interpreter_for(image, what=what, note=context.log.note)
    code = run_job_process([python, batch_transform.__file__, str(job_file)], env=job_process_environment({}),
                           job=job, log=context.log, max_runtime_seconds=None,
                           stop_requested=context.stop_requested)
    if code == batch_transform.EXIT_MODEL_ERROR and files["failure"].is_file():
        raise StepFailed(f"{what}: model '{model_name}' ({model_url}): "
                         f"{files['failure'].read_text(encoding='utf-8')}")
    if code != 0 or not files["report"].is_file():
        raise StepFailed(f"{what}: the serving process exited with code {code} (see the step log)")
    return json.loads(files["report"].read_text(encoding="utf-8"))["objects"]


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
