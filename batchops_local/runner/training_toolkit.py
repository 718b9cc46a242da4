"""Script-mode training as the SageMaker framework containers run it (scikit-learn, XGBoost framework mode).

Those images start the SageMaker training toolkit, which fetches the user's source directory, installs its
`requirements.txt`, and runs the entry point with the hyperparameters as command-line arguments and the
training environment in `SM_*` variables; when the script fails it writes the error part of the script's
stderr to `/opt/ml/output/failure`, which SageMaker reports as the job's FailureReason. This file does the same
and runs as a file under the image's runtime (`python training_toolkit.py train`), like the image's entry
point, so it must stay importable on Python 3.9 with the standard library and boto3 only.

Contract source: github.com/aws/sagemaker-training-toolkit, src/sagemaker_training/ params.py (reserved
`sagemaker_*` hyperparameters), environment.py (read_hyperparameters: each value JSON-decoded when it can be;
to_env_vars: the `SM_*` names), mapping.py (to_cmd_args: sorted `--name value`; to_env_vars: strings as they
are, anything else as compact sorted JSON), process.py (the error text starts at the first stderr line naming a
Python error; duplicates dropped), errors.py (`ExecuteUserScriptError:\\nExitCode ..\\nErrorMessage ".."\\nCommand
".."`), modules.py (`python -m pip install -r requirements.txt` in the code directory).
"""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
import tarfile
import threading

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
RESERVED = (PROGRAM, SUBMIT_DIRECTORY, "sagemaker_enable_cloudwatch_metrics", "sagemaker_region",
            "sagemaker_container_log_level", "sagemaker_job_name", "default_user_module_name",
            "_tuning_objective_metric", "sagemaker_s3_output")
SAGEMAKER_PREFIX = "sagemaker_"
# A line naming one of these starts the error text: the toolkit's _PYTHON_ERRORS_, made the way its comment says
# (the built-in names containing "Error" or "Exception").
_ERROR_MARKERS = tuple(name for name in dir(builtins) if "Error" in name or "Exception" in name)
ALGORITHM_EXIT_FAILURE = 1


def base_dir() -> str:
    return os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")


def decode_hyperparameters(raw: dict) -> dict:
    decoded = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def split_hyperparameters(hyperparameters: dict) -> tuple[dict, dict, dict]:
    """(the script's own, the reserved sagemaker ones, other sagemaker_* ones = framework parameters)."""
    own = {k: v for k, v in hyperparameters.items() if k not in RESERVED and not k.startswith(SAGEMAKER_PREFIX)}
    reserved = {k: v for k, v in hyperparameters.items() if k in RESERVED}
    framework = {k: v for k, v in hyperparameters.items()
                 if k.startswith(SAGEMAKER_PREFIX) and k not in RESERVED}
    return own, reserved, framework


def to_cmd_args(hyperparameters: dict) -> list:
    args = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        if hasattr(value, "items"):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{key}" if len(key) > 1 else f"-{key}", "" if value is None else str(value)]
    return args


def _env_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def training_environment(base: str, hyperparameters: dict, resource_config: dict, input_data_config: dict) -> dict:
    """The `SM_*` variables the toolkit gives the script (environment.py to_env_vars)."""
    own, reserved, framework = split_hyperparameters(hyperparameters)
    program = str(reserved.get(PROGRAM))
    channels = {name: os.path.join(base, "input", "data", name) for name in input_data_config}
    env = {
        "hosts": resource_config["hosts"], "network_interface_name": resource_config.get("network_interface_name",
                                                                                         "eth0"),
        "hps": own, "user_entry_point": program, "framework_params": framework, "resource_config": resource_config,
        "input_data_config": input_data_config, "output_data_dir": os.path.join(base, "output", "data"),
        "channels": sorted(channels), "current_host": resource_config["current_host"],
        "current_instance_type": resource_config.get("current_instance_type", "local"),
        "module_name": program[:-3] if program.endswith(".py") else program,
        "log_level": reserved.get("sagemaker_container_log_level", 20),
        "framework_module": os.environ.get("SAGEMAKER_TRAINING_MODULE", ""),
        "input_dir": os.path.join(base, "input"), "input_config_dir": os.path.join(base, "input", "config"),
        "output_dir": os.path.join(base, "output"), "num_cpus": os.cpu_count() or 1, "num_gpus": 0,
        "model_dir": os.path.join(base, "model"),
        "module_dir": str(reserved.get(SUBMIT_DIRECTORY, os.path.join(base, "code"))),
        "user_args": to_cmd_args(own), "output_intermediate_dir": os.path.join(base, "output", "intermediate"),
    }
    env["training_env"] = dict(env)
    for name, path in channels.items():
        env[f"channel_{name}"] = path
    for key, value in own.items():
        env[f"hp_{key}"] = value
    return {f"SM_{key.upper()}": _env_value(value) for key, value in env.items()}


def error_text(stderr_lines: list) -> str:
    """The part of the script's stderr SageMaker shows: from the first line naming an error, duplicates dropped."""
    kept, started = [], False
    for line in stderr_lines:
        started = started or any(marker in line for marker in _ERROR_MARKERS)
        if started:
            text = line.strip(" :\n")
            if text and text not in kept:
                kept.append(text)
    return "\n".join(kept)


def failure_text(kind: str, exit_code: int, message: str, command: list) -> str:
    return '{}:\nExitCode {}\nErrorMessage "{}"\nCommand "{}"'.format(kind, exit_code, message, " ".join(command))


def fetch_source(module_dir: str, code_dir: str) -> None:
    """The submit directory: an `s3://.../sourcedir.tar.gz` (as the SDK uploads it) or a local directory."""
    os.makedirs(code_dir, exist_ok=True)
    if not module_dir.startswith("s3://"):
        return  # already in place (e.g. /opt/ml/code given as the directory)
    import boto3  # the framework images have it; reaches the emulator through the job's environment

    bucket, _, key = module_dir[len("s3://"):].partition("/")
    archive = os.path.join(code_dir, "..", "sourcedir.tar.gz")
    # Named explicitly: boto3 before 1.28 (the XGBoost images pin 1.17) ignores AWS_ENDPOINT_URL.
    boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None).download_file(bucket, key, archive)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():  # no member may leave the code directory
            target = os.path.realpath(os.path.join(code_dir, member.name))
            if not target.startswith(os.path.realpath(code_dir) + os.sep) or member.issym() or member.islnk():
                raise ValueError(f"source archive member {member.name!r} is not a plain file under the code directory")
        tar.extractall(code_dir)
    os.remove(archive)


def _run(command: list, cwd: str, env: dict) -> tuple[int, list]:
    """Run, echoing stdout and stderr as they come; returns the exit code and the stderr lines."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr_lines = []

    def pump(stream, sink, keep):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            sink.write(line)
            sink.flush()
            if keep is not None:
                keep.append(line)

    threads = [threading.Thread(target=pump, args=(process.stdout, sys.stdout, None)),
               threading.Thread(target=pump, args=(process.stderr, sys.stdout, stderr_lines))]
    for thread in threads:
        thread.start()
    code = process.wait()
    for thread in threads:
        thread.join()
    return code, stderr_lines


def install_requirements(code_dir: str, packages: str, env: dict) -> str:
    """`requirements.txt` of the source directory installed into `packages`; the failure text, or "" when done.

    The container installs into its own Python; the image runtime here is shared by every job, so the packages go
    to a directory of this job, which the caller puts first on the user code's path."""
    if not os.path.isfile(os.path.join(code_dir, "requirements.txt")):
        return ""
    install = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--target", packages,
               "-r", "requirements.txt"]
    code, stderr_lines = _run(install, code_dir, env)
    return "" if code == 0 else failure_text("InstallRequirementsError", code, error_text(stderr_lines), install)


def train() -> int:
    base = base_dir()
    config = os.path.join(base, "input", "config")
    with open(os.path.join(config, "hyperparameters.json")) as handle:
        hyperparameters = decode_hyperparameters(json.load(handle))
    with open(os.path.join(config, "resourceconfig.json")) as handle:
        resource_config = json.load(handle)
    with open(os.path.join(config, "inputdataconfig.json")) as handle:
        input_data_config = json.load(handle)
    failure_file = os.path.join(base, "output", "failure")
    os.makedirs(os.path.dirname(failure_file), exist_ok=True)
    for directory in ("model", os.path.join("output", "data"), os.path.join("output", "intermediate")):
        os.makedirs(os.path.join(base, directory), exist_ok=True)
    own, reserved, _framework = split_hyperparameters(hyperparameters)
    program = reserved.get(PROGRAM)
    code_dir = os.path.join(base, "code")
    try:
        if not program:
            raise ValueError(f"hyperparameter {PROGRAM} (the entry point) is missing")
        fetch_source(str(reserved.get(SUBMIT_DIRECTORY, code_dir)), code_dir)
        if not os.path.isfile(os.path.join(code_dir, str(program))):
            source = reserved.get(SUBMIT_DIRECTORY, code_dir)
            raise ValueError(f"entry point {program} is not in the source directory {source}")
    except Exception as exc:  # noqa: BLE001 - the toolkit reports any set-up error as a framework error
        with open(failure_file, "w") as handle:
            handle.write(f"Framework Error: \n{exc}")
        print(f"Reporting training FAILURE: {exc}", flush=True)
        return ALGORITHM_EXIT_FAILURE

    env = dict(os.environ)
    env.update(training_environment(base, hyperparameters, resource_config, input_data_config))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_dir, env.get("PYTHONPATH", "")) if p)
    packages = os.path.join(base, "requirements")
    problem = install_requirements(code_dir, packages, env)
    if problem:
        with open(failure_file, "w") as handle:
            handle.write(problem)
        return ALGORITHM_EXIT_FAILURE
    if os.path.isdir(packages):
        env["PYTHONPATH"] = os.pathsep.join((packages, env["PYTHONPATH"]))
    command = [sys.executable, str(program)] + to_cmd_args(own)
    code, stderr_lines = _run(command, code_dir, env)
    if code != 0:
        with open(failure_file, "w") as handle:
            handle.write(failure_text("ExecuteUserScriptError", code, error_text(stderr_lines), command))
        print("Reporting training FAILURE", flush=True)
        return ALGORITHM_EXIT_FAILURE
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["train"]:
        sys.exit("usage: training_toolkit.py train")
    sys.exit(train())
