"""Evaluate step (XGBoost image): score the test split with the trained model; write `evaluation.json` and the
registration decision `result.json`.

`evaluation.json` = `{<metrics.STATISTICS_KEYS[problem type]>: {<metric>: {"value", "standard_deviation"}}}` for
every metric of the registry's problem type (the model registry's statistics). `result.json`
(batchops_core.results.StepResult) holds the gate: `--metric`, its value, `--threshold` (the run's
RegistrationThreshold), the comparison and the outcome passed/failed by the registry's rule; the pipeline's
CheckMetric step reads the outcome. A classification model (`--problem-type binary|multiclass`, `--classes`)
adds the confusion matrix and per-class scores (results.ClassificationSummary) to the result's details; the
test split's labels are class indices (preprocess encoded them with the same classes).
Loads model files of the built-in algorithm from xgboost 1.7 (binary or pickled) and 3.x (UBJSON/JSON).
Script mode (`--entry-point`, in the framework image): the model is loaded and scored by the script's own serving
functions from the `model_code` input (its source archive), as the inference toolkit calls them: `model_fn(model_dir)`
(required), then `input_fn(<the rows as CSV>, "text/csv")` and `predict_fn(data, model)`, each the image's default
when the script has none (scikit-learn: a float32 array, `model.predict`; XGBoost: a DMatrix,
`model.predict(data, validate_features=False)`; aws/sagemaker-scikit-learn-container and
aws/sagemaker-xgboost-container `serving.py`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pickle
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

# The shared helpers and the core modules: beside this file (core: installed) locally, the processing inputs
# `steplib` and `core` in a container; the shipped core comes first so that it is the one imported.
_INPUTS = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "processing", "input")
sys.path[:0] = [os.path.join(_INPUTS, "core"), str(Path(__file__).resolve().parent), os.path.join(_INPUTS, "steplib")]
import steplib  # noqa: E402

from batchops_core import contracts, metrics, results  # noqa: E402
from batchops_core.contracts import OutputFile, Step  # noqa: E402

StepFailure = steplib.StepFailure


def extract_files(archive: Path, workdir: str) -> list[str]:
    """Unpack the plain, non-hidden files of a tar.gz that stay inside `workdir`; their names, sorted."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and not Path(m.name).name.startswith(".")
                   and ".." not in Path(m.name).parts and not Path(m.name).is_absolute()]
        if not members:
            raise StepFailure(f"{archive.name} holds no file")
        tar.extractall(workdir, members=members)  # members filtered above
    return sorted(m.name for m in members)


def load_booster(archive: Path):
    """The first non-hidden file of model.tar.gz, tried as a pickle, then as a native model (as the container does)."""
    import xgboost

    with tempfile.TemporaryDirectory(prefix="model-") as workdir:
        model_file = Path(workdir) / extract_files(archive, workdir)[0]
        try:
            with model_file.open("rb") as handle:
                booster = pickle.load(handle)  # the model this pipeline's own training step wrote
            if isinstance(booster, xgboost.Booster):
                return booster
        except Exception:  # not a pickle: a native model file
            pass
        booster = xgboost.Booster()
        try:
            booster.load_model(str(model_file))
        except xgboost.core.XGBoostError as error:
            raise StepFailure(f"cannot load the model {model_file.name} from {archive.name}: {error}") from None
        return booster


def one_archive(input_name: str, what: str) -> Path:
    archives = steplib.list_files(steplib.processing_path("input", input_name), ".tar.gz")
    if len(archives) != 1:
        raise StepFailure(f"expected one {what} under {steplib.processing_path('input', input_name)}, "
                          f"found {len(archives)}")
    return archives[0]


def decoded_features(module, framework: str, features):
    """The test features as the serving container hands them to predict_fn for a text/csv request: the script's
    input_fn over the CSV rows, else the image's default decoding (scikit-learn: a float32 array; XGBoost: a
    DMatrix), so Evaluate scores exactly what serving would predict."""
    if hasattr(module, "input_fn"):
        body = "\n".join(",".join(repr(float(value)) for value in row) for row in features)
        return module.input_fn(body, "text/csv")
    if framework == contracts.SCRIPT_FRAMEWORK_XGBOOST:
        import xgboost

        return xgboost.DMatrix(features)
    return features.astype(np.float32)


def predict_with_script(model_archive: Path, entry_point: str, framework: str, features):
    """The script's serving functions on the test features, as the framework's inference toolkit calls them:
    model_fn once, then input_fn and predict_fn (the image's defaults where the script has none)."""
    with tempfile.TemporaryDirectory(prefix="code-") as code_dir, \
            tempfile.TemporaryDirectory(prefix="model-") as model_dir:
        extract_files(one_archive(contracts.SCRIPT_CODE_INPUT, "source archive (.tar.gz)"), code_dir)
        extract_files(model_archive, model_dir)
        path = Path(code_dir) / entry_point
        if not path.is_file():
            raise StepFailure(f"the entry point {entry_point} is not in the model's source archive")
        sys.path.insert(0, code_dir)  # the script may import its neighbours, as in the container
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "model_fn"):
            raise StepFailure(f"{entry_point} defines no model_fn(model_dir): the framework container needs it "
                              "to load the model for serving")
        model = module.model_fn(model_dir)
        data = decoded_features(module, framework, features)
        if hasattr(module, "predict_fn"):
            predicted = module.predict_fn(data, model)
        elif framework == contracts.SCRIPT_FRAMEWORK_XGBOOST:
            predicted = model.predict(data, validate_features=False)
        else:
            predicted = model.predict(data)
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.shape[0] != features.shape[0]:
        raise StepFailure(f"{entry_point} predicted {predicted.shape[0]} values for {features.shape[0]} test rows")
    return predicted


def read_test_split(directory: Path):
    files = steplib.list_files(directory, ".csv")
    if not files:
        raise StepFailure(f"no test split (*.csv) under {directory}")
    parts = [np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64) for path in files]
    data = np.vstack(parts)
    if data.shape[0] == 0 or data.shape[1] < 2:
        raise StepFailure(f"the test split under {directory} has no rows or no feature columns")
    return data[:, 0], data[:, 1:]


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description="Evaluate the trained model on the test split.")
    steplib.add_gate_arguments(parser)
    parser.add_argument("--threshold", type=float, required=True, help="the run's registration threshold")
    parser.add_argument("--entry-point", help="script mode: the script (in the model_code input) that serves the model")
    parser.add_argument("--framework", choices=contracts.SCRIPT_FRAMEWORKS, default=contracts.SCRIPT_FRAMEWORK_SKLEARN,
                        help="script mode: the framework container whose serving defaults apply")
    return parser.parse_args(argv)


def decide(metric: metrics.Metric, value: float, threshold: float, rows: int,
           details: dict | None = None) -> results.StepResult:
    passed = metric.passes(value, threshold)
    verdict = "the model is registered" if passed else "the model is not registered"
    message = (f"test {metric.name} {metric.format(value)} on {rows} rows "
               f"{'meets' if passed else 'fails'} the gate {metric.describe_gate(threshold)}: {verdict}")
    return results.StepResult(step=Step.EVALUATE, outcome=results.PASSED if passed else results.FAILED,
                              message=message, metric=metric.name, value=value, threshold=threshold,
                              comparison=metric.comparison, counts={"rows": rows}, details=details or {})


def refuse(metric: metrics.Metric, reason: str, threshold: float, rows: int) -> results.StepResult:
    """A failed gate on a degenerate test split: the model is not registered."""
    return results.StepResult(step=Step.EVALUATE, outcome=results.FAILED,
                              message=f"the test split is degenerate ({reason}): {metric.name} is not a usable gate "
                                      "value, the model is not registered",
                              metric=metric.name, value=None, threshold=threshold, comparison=metric.comparison,
                              counts={"rows": rows}, details={"degenerate": reason})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gate = steplib.gate_from_arguments(args)
    metric = gate.metric
    model_archive = one_archive("model", "model.tar.gz")
    actual, features = read_test_split(steplib.processing_path("input", "test"))
    if args.entry_point:
        predicted = predict_with_script(model_archive, args.entry_point, args.framework, features)
    else:
        import xgboost

        predicted = load_booster(model_archive).predict(xgboost.DMatrix(features))
    statistics = metrics.STATISTICS_KEYS[metric.problem_type]
    degenerate = steplib.degenerate_labels(actual)
    if degenerate:  # never a pass: the gate's value would be made up or meaningless (r2 1.0 on constant labels)
        computed = {}
        try:
            computed = gate.compute_all(actual, predicted)
        except metrics.MetricError:
            pass
        steplib.write_json(steplib.processing_path("output", "evaluation", OutputFile.EVALUATION),
                           {statistics: computed})
        result = refuse(metric, degenerate, args.threshold, len(actual))
        steplib.write_step_result(result)
        print(result.message)
        return 0
    computed = steplib.compute_metrics(gate, actual, predicted, what="test split")
    steplib.write_json(steplib.processing_path("output", "evaluation", OutputFile.EVALUATION), {statistics: computed})
    summary = ", ".join(f"{name} {metrics.get(name, metric.problem_type).format(values['value'])}"
                        for name, values in computed.items())
    print(f"evaluated {len(actual)} test rows: {summary}")
    details = gate.summary(actual, predicted, computed).to_details() if gate.classes else {}
    result = decide(metric, computed[metric.name]["value"], args.threshold, len(actual), details)
    steplib.write_step_result(result)
    print(result.message)
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
