"""Transform steps: a batch transform job served as its model's container serves it, in the serving image's runtime
(one process per job): the built-in XGBoost algorithm's serving semantics (batch_transform.main), or a framework
model in script mode, whose user module's handlers serve the records (framework_serving.main)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops_local.runner import batch_transform, framework_serving
from batchops_local.runner.aws import join_uri, parse_s3_uri, relative_key
from batchops_local.runner.errors import StepFailed, StepStopped, clipped_reason
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.expressions import to_text
from batchops_local.runner.jobs import (
    SCRIPT_IMAGES,
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    JobDir,
    image_repository,
    job_name,
    job_process_environment,
    require_image,
    run_job_process,
)
from batchops_local.runner.runtimes import interpreter_for
from batchops_local.runner.steps import instances
from batchops_local.runner.steps.registry import call
from batchops_local.runner.transform_records import DEFAULT_MAX_PAYLOAD_MB, ColumnFilter, TransformSettings
from batchops_local.runner.xgboost_algorithm import AlgorithmError, extract_model, is_csv_content_type

# The serving stack's defaults (sagemaker-containers v2.8.6.post2 _worker.py Request / _env.py ServingEnv): a
# request without Content-Type is JSON; without Accept (or */*) the answer is SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
# else JSON.
DEFAULT_INVOCATIONS_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
SERVING_DEFAULT_TYPE = framework_serving.JSON
USER_PROGRAM = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"


@dataclass
class ServedModel:
    """The transform job's model as its container serves it."""

    name: str
    image: str
    model_url: str
    environment: dict[str, str] = field(default_factory=dict)
    network_isolation: bool = False

    @property
    def program(self) -> str | None:
        """The user module of a framework model in script mode; None for the built-in algorithm."""
        return self.environment.get(USER_PROGRAM) or None


def transform_settings(arguments: dict[str, Any], model: ServedModel, *, what: str) -> TransformSettings:
    """Validate the request against what the local serving supports; clear errors otherwise."""
    transform_input = arguments.get("TransformInput") or {}
    processing = arguments.get("DataProcessing") or {}
    split = transform_input.get("SplitType") or "None"
    if split not in ("Line", "None"):
        raise StepFailed(f"{what}: SplitType '{split}' is not supported locally (Line or None)")
    if (transform_input.get("CompressionType") or "None") != "None":
        raise StepFailed(f"{what}: CompressionType '{transform_input['CompressionType']}' is not supported locally")
    join = processing.get("JoinSource") or "None"
    if join not in ("None", "Input"):
        raise StepFailed(f"{what}: JoinSource must be None or Input, found '{join}'")
    try:
        settings = TransformSettings(input_filter=ColumnFilter.parse(processing.get("InputFilter")),
                                     output_filter=ColumnFilter.parse(processing.get("OutputFilter")),
                                     join_input=join == "Input")
    except ValueError as exc:
        raise StepFailed(f"{what}: {exc}") from None
    content_type, accept = content_types(arguments, model)
    if model.program is None:
        for field_name, value in (("ContentType", content_type), ("Accept", accept)):
            if not is_csv_content_type(value):
                raise StepFailed(f"{what}: {field_name} '{value}' is not supported locally by the built-in "
                                 "algorithm (text/csv)")
    elif settings.processes_records:
        if split != "Line" or not (is_csv_content_type(content_type) and is_csv_content_type(accept)):
            raise StepFailed(f"{what}: InputFilter, OutputFilter and JoinSource are supported locally for CSV "
                             f"records only (SplitType Line, ContentType and Accept text/csv), found SplitType "
                             f"'{split}', ContentType '{content_type}', Accept '{accept}'")
    return settings


def content_types(arguments: dict[str, Any], model: ServedModel) -> tuple[str, str]:
    """(ContentType, Accept) of the requests: the built-in algorithm reads CSV by default; a framework container
    gets the headers as the job sets them, with the serving stack's defaults."""
    given_type = (arguments.get("TransformInput") or {}).get("ContentType")
    given_accept = (arguments.get("TransformOutput") or {}).get("Accept")
    if model.program is None:
        return given_type or "text/csv", given_accept or "text/csv"
    if not given_accept or given_accept == "*/*":
        given_accept = model.environment.get(DEFAULT_INVOCATIONS_ACCEPT) or SERVING_DEFAULT_TYPE
    return given_type or SERVING_DEFAULT_TYPE, given_accept


def describe_served_model(context: StepContext, model_name: Any, *, what: str) -> ServedModel:
    if not model_name:
        raise StepFailed(f"{what}: ModelName is required")
    description = call(context, "DescribeModel", ModelName=str(model_name))
    container = description.get("PrimaryContainer") or (description.get("Containers") or [{}])[0]
    environment = {key: to_text(value) for key, value in (container.get("Environment") or {}).items()}
    model = ServedModel(str(model_name), container.get("Image"), container.get("ModelDataUrl"), environment,
                        bool(description.get("EnableNetworkIsolation")))
    what = f"{what} model '{model_name}'"
    require_image(model.image, SCRIPT_IMAGES, what=what)
    if model.program is None:
        _require_algorithm_mode(model, what=what)
    elif not environment.get(SUBMIT_DIRECTORY):
        raise StepFailed(f"{what}: the container environment sets {USER_PROGRAM}={model.program!r} but no "
                         f"{SUBMIT_DIRECTORY} (the source directory holding it, e.g. s3://.../sourcedir.tar.gz)")
    if not model.model_url:
        raise StepFailed(f"{what}: model has no ModelDataUrl")
    return model


def stage_model(context: StepContext, model: ServedModel, job: JobDir, *, what: str) -> None:
    """The model's archive extracted into the job's /opt/ml/model."""
    archive = context.aws.download_file(model.model_url, job.root / "model.tar.gz",
                                        what=f"model data of '{model.name}'")
    try:
        extract_model(archive, job.opt_ml / "model")
    except AlgorithmError as exc:
        raise StepFailed(f"{what}: model '{model.name}' ({model.model_url}): {exc}") from None


def _require_algorithm_mode(model: ServedModel, *, what: str) -> None:
    """Without a user module only the XGBoost image serves (its built-in algorithm). The XGBoost serving entry point
    runs a user module whenever SAGEMAKER_PROGRAM is set, even to "": it imports `ServingEnv().module_name` unless
    that is None (aws/sagemaker-xgboost-container, branch 1.7-1, src/sagemaker_xgboost_container/serving.py `main`;
    aws/sagemaker-containers v2.8.6.post2, src/sagemaker_containers/_env.py `_Env.__init__`:
    os.environ.get("SAGEMAKER_PROGRAM", None)). The scikit-learn image always imports the user module
    (aws/sagemaker-scikit-learn-container branch 1.2-1, serving.py `main`)."""
    if image_repository(model.image) == SKLEARN_IMAGE:
        raise StepFailed(f"{what}: a {SKLEARN_IMAGE} model serves a user module: set {USER_PROGRAM} (the "
                         f"inference script) and {SUBMIT_DIRECTORY} in the container environment")
    if model.environment.get(USER_PROGRAM) == "":
        raise StepFailed(f"{what}: the container environment sets SAGEMAKER_PROGRAM to an empty value, so the XGBoost "
                         "serving container runs in script mode and fails importing the module '' "
                         "(ValueError: Empty module name); remove SAGEMAKER_PROGRAM to serve with the built-in "
                         "algorithm")


def run_transform(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments()
    what = f"Transform step '{context.name}'"
    arn = context.aws.arn("transform-job", name)
    context.metadata["TransformJob"] = {"Arn": arn}
    model = describe_served_model(context, arguments.get("ModelName"), what=what)
    settings = transform_settings(arguments, model, what=what)
    source = ((arguments.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    if (source.get("S3DataType") or "S3Prefix") != "S3Prefix":
        raise StepFailed(f"{what}: S3DataType '{source.get('S3DataType')}' is not supported locally (S3Prefix)")
    output_path = (arguments.get("TransformOutput") or {}).get("S3OutputPath")
    parse_s3_uri(output_path, what=f"{what} TransformOutput.S3OutputPath")
    job = JobDir(context.directory, name)
    stage_model(context, model, job, what=what)
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
        context.aws.get_file(item["bucket"], item["key"], item["input"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(download, items))
    hosts = instances.host_names((arguments.get("TransformResources") or {}).get("InstanceCount"), what=what)
    report = _serve_on_instances(context, job, hosts, model, arguments, settings, items, workers, what=what)

    def upload(pair: tuple[dict[str, str], dict[str, Any]]) -> str | None:
        item, outcome = pair
        if "error" in outcome:
            return f"s3://{item['bucket']}/{item['key']}: {outcome['error']}"
        target = join_uri(output_path, f"{item['relative']}.out")
        context.aws.upload_file(Path(item["output"]), target, what="transform output")
        timing = f" in {outcome['seconds']:.2f} s" if "seconds" in outcome else ""
        context.log.note(f"{item['relative']}: {outcome['records']} record(s){timing} -> {target}")
        _discard(Path(item["input"]), Path(item["output"]))
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        failures = [problem for problem in pool.map(upload, zip(items, report, strict=True)) if problem]
    if not context.keep_job_dirs:
        job.remove()
    if failures:
        for failure in failures:
            context.log.note(failure)
        if model.program is None:
            raise StepFailed(f"{len(failures)} of {len(objects)} input object(s) failed: {'; '.join(failures[:3])}")
        # SageMaker reports a failed framework container as an AlgorithmError; its own text points at the job's
        # logs, here the first failed object's message is kept as far as the limit allows.
        raise StepFailed(clipped_reason(f"AlgorithmError: {len(failures)} of {len(objects)} input object(s) failed: "
                                        f"{failures[0]}"))
    return StepResult(properties={**arguments, "TransformJobName": name, "TransformJobArn": arn,
                                  "TransformJobStatus": "Completed"})


def _serve_on_instances(context: StepContext, job: JobDir, hosts: list[str], model: ServedModel,
                        arguments: dict[str, Any], settings: TransformSettings, items: list[dict[str, str]],
                        workers: int, *, what: str) -> list[dict[str, Any]]:
    """The objects partitioned by key across the instances (instances.objects_of_host), each instance one serving
    process with its share; the report per object in the order of `items`."""
    shares = [instances.objects_of_host(items, instances.SHARDED_BY_S3_KEY, number, len(hosts))
              for number in range(len(hosts))]
    if len(hosts) > 1:
        context.log.note("objects per instance: " + ", ".join(f"{host} {len(share)}"
                                                              for host, share in zip(hosts, shares, strict=True)))

    def serve(host: str, share: list[dict[str, str]]) -> list[dict[str, Any]]:
        if not share:  # more instances than objects: this one idles, as on SageMaker
            return []
        objects = [{"input": item["input"], "output": item["output"]} for item in share]
        if model.program is None:
            return _serve_builtin(context, job, host, model, settings, objects, workers, what=what)
        return _serve_framework(context, job, host, model, arguments, settings, objects, what=what)

    # Framework serving processes unpack the model's code into the job's one /opt/ml/code: one at a time.
    with ThreadPoolExecutor(max_workers=len(hosts) if model.program is None else 1) as pool:
        reports = list(pool.map(serve, hosts, shares))
    by_output = {item["output"]: outcome for share, report in zip(shares, reports, strict=True)
                 for item, outcome in zip(share, report, strict=True)}
    return [by_output[item["output"]] for item in items]


def _serve_builtin(context: StepContext, job: JobDir, host: str, model: ServedModel, settings: TransformSettings,
                   objects: list[dict[str, str]], workers: int, *, what: str) -> list[dict[str, Any]]:
    """Score every staged object in one process of the serving image's runtime (its Python and xgboost load
    the model, as the container does on AWS); a report per object: records and seconds, or the error."""
    files = {"report": job.root / f"transform-report-{host}.json", "failure": job.root / f"model-failure-{host}.txt"}
    spec = {"model_dir": str(job.opt_ml / "model"), "workers": workers, "join_input": settings.join_input,
            "input_filter": settings.input_filter.expression if settings.input_filter else None,
            "output_filter": settings.output_filter.expression if settings.output_filter else None,
            "objects": objects, **{key: str(path) for key, path in files.items()}}
    code = _run_serving(context, job, host, model, batch_transform.__file__, spec, {}, what=what)
    if code == batch_transform.EXIT_MODEL_ERROR and files["failure"].is_file():
        raise StepFailed(f"{what}: model '{model.name}' ({model.model_url}): "
                         f"{files['failure'].read_text(encoding='utf-8')}")
    return _report(code, files, what=what)


def _serve_framework(context: StepContext, job: JobDir, host: str, model: ServedModel, arguments: dict[str, Any],
                     settings: TransformSettings, objects: list[dict[str, str]], *, what: str) -> list[dict[str, Any]]:
    """Serve every staged object with the model's user module in one process of the image's runtime."""
    files = {"report": job.root / f"transform-report-{host}.json",
             "failure": job.root / f"serving-failure-{host}.txt"}
    content_type, accept = content_types(arguments, model)
    max_payload = arguments.get("MaxPayloadInMB")
    spec = {"framework": framework_serving.XGBOOST if image_repository(model.image) == XGBOOST_IMAGE
            else framework_serving.SKLEARN,
            "model_dir": str(job.opt_ml / "model"), "program": model.program,
            **_code_location(job, model.environment[SUBMIT_DIRECTORY], what=what),
            "content_type": content_type, "accept": accept,
            "split_type": (arguments.get("TransformInput") or {}).get("SplitType") or "None",
            "batch_strategy": arguments.get("BatchStrategy") or "MultiRecord",
            "max_payload_mb": int(max_payload) if max_payload is not None else DEFAULT_MAX_PAYLOAD_MB,
            "assemble_with": (arguments.get("TransformOutput") or {}).get("AssembleWith") or "None",
            "join_input": settings.join_input,
            "input_filter": settings.input_filter.expression if settings.input_filter else None,
            "output_filter": settings.output_filter.expression if settings.output_filter else None,
            "objects": objects, **{key: str(path) for key, path in files.items()}}
    environment = {key: job.rewrite(value) for key, value in model.environment.items()}
    environment.update(context.aws.job_environment(network_isolation=model.network_isolation))
    code = _run_serving(context, job, host, model, framework_serving.__file__, spec, environment, what=what)
    if code == framework_serving.EXIT_SERVER_ERROR and files["failure"].is_file():
        tail = files["failure"].read_text(encoding="utf-8")
        raise StepFailed(clipped_reason(f"AlgorithmError: {what}: the serving container could not load the user "
                                        f"module {model.program!r} of model '{model.name}':\n{tail}"))
    return _report(code, files, what=what)


def _code_location(job: JobDir, submit_directory: str, *, what: str) -> dict[str, str]:
    """Where the user module comes from and where it is imported from: an S3 archive (the SDK's
    sourcedir.tar.gz) unpacked into /opt/ml/code, or a directory of the container such as /opt/ml/model/code
    (a model repacked with its code, as the SDK does for network-isolated models and pipeline model steps)."""
    if submit_directory.startswith("s3://"):
        return {"submit_directory": submit_directory, "code_dir": str(job.opt_ml / "code")}
    code_dir = str(job.host_path(submit_directory, what=f"{what} {SUBMIT_DIRECTORY}"))
    return {"submit_directory": code_dir, "code_dir": code_dir}


def _run_serving(context: StepContext, job: JobDir, host: str, model: ServedModel, program: str,
                 spec: dict[str, Any], environment: dict[str, str], *, what: str) -> int:
    job_file = job.root / f"transform-job-{host}.json"
    job_file.write_text(json.dumps(spec), encoding="utf-8")
    python = interpreter_for(model.image, what=what, note=context.log.note)
    return run_job_process([python, program, str(job_file)], env=job_process_environment(environment),
                           job=job, log=context.log, max_runtime_seconds=None,
                           stop_requested=context.stop_requested)


def _report(code: int, files: dict[str, Path], *, what: str) -> list[dict[str, Any]]:
    if code != 0 or not files["report"].is_file():
        raise StepFailed(f"{what}: the serving process exited with code {code} (see the step log)")
    return json.loads(files["report"].read_text(encoding="utf-8"))["objects"]


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
