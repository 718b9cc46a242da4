"""Batch transform of a framework model in script mode (scikit-learn, XGBoost framework images), as their serving
stacks run it: the user module (`SAGEMAKER_PROGRAM` from `SAGEMAKER_SUBMIT_DIRECTORY`) is imported from the code
directory and its handlers serve every request: `model_fn(model_dir)` once, then per request
`input_fn(body, content_type)`, `predict_fn(data, model)`, `output_fn(prediction, accept)`, or `transform_fn(model,
body, content_type, accept)` instead of the last three. A handler the module lacks is the image's default.

Contract sources (read at these versions, the ones the images install):
- aws/sagemaker-containers v2.8.6.post2 (both images' serving stack): `_transformer.py` (Transformer: defaults,
  transform_fn exclusive with the other three, a tuple result is `(body, content type)`), `_encoders.py` (the
  CSV, JSON and NPY codecs below), `_worker.py` (Request: Content-Type defaults to application/json, the body is
  text for application/json and text/csv; Accept `*/*` or absent -> `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`, else
  application/json), `_env.py` (ServingEnv: module name = SAGEMAKER_PROGRAM without `.py`).
- aws/sagemaker-scikit-learn-container branch 1.2-1, `serving.py`: no default model_fn; default input_fn decodes
  and casts text/csv and application/json to float32; predict_fn `model.predict(data)`.
- aws/sagemaker-xgboost-container branch 1.7-1, `serving.py` and `encoder.py`: no default model_fn; default
  input_fn decodes text/csv into a DMatrix (delimiter sniffed, empty fields NaN) and nothing else locally
  (libsvm and recordio-protobuf are not reproduced); predict_fn `model.predict(data, validate_features=False)`.

Records, mini-batches, filters, joins and assembly: `transform_records` (the same rules as the built-in engine).
A handler that raises answers HTTP 500 in the container; SageMaker then fails the object (`Bad HTTP status
received from algorithm: 500`) and the job. Here the object fails with that text and the tail of the traceback.

Runs as a file in the serving image's runtime (`python framework_serving.py <job.json>`): Python 3.9, the image's
numpy and framework, the siblings `transform_records` and `training_toolkit`; the serving toolkits themselves
(sagemaker-containers, sagemaker-inference) are not installed, so a user module that imports them fails to load.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import sys
import traceback

import numpy as np

if __package__:  # imported by the harness (for its constants)
    from batchops_local.runner.training_toolkit import fetch_source, install_requirements
    from batchops_local.runner.transform_records import (
        MEGABYTE,
        ColumnFilter,
        TransformError,
        TransformSettings,
        filtered_record,
        joined_record,
        mini_batches,
        record_lines,
        split_records,
    )
else:  # run as a file in the image's runtime, next to its siblings
    from training_toolkit import fetch_source, install_requirements  # type: ignore[no-redef]
    from transform_records import (  # type: ignore[no-redef]
        MEGABYTE,
        ColumnFilter,
        TransformError,
        TransformSettings,
        filtered_record,
        joined_record,
        mini_batches,
        record_lines,
        split_records,
    )

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
UTF8_TYPES = (JSON, CSV)
SKLEARN, XGBOOST = "sklearn", "xgboost"
EXIT_SERVER_ERROR = 3  # the serving process could not start (source, requirements, module): `failure` says why
FAILURE_TAIL_LINES = 12


class UnsupportedFormatError(Exception):
    """The default codecs do not know the content type (HTTP 415 for input, 406 for output)."""


class ServingError(Exception):
    """A request the container answered with an error status; the object fails with this text."""


# ------------------------------------------------------------------ codecs (sagemaker-containers _encoders.py)


def csv_to_numpy(text, dtype=None):
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=",", quotechar='"', doublequote=True, strict=True))
        array = np.array(rows).squeeze()
        return array.astype(dtype)
    except csv.Error as exc:
        raise ValueError(f"Error while decoding csv: {exc}") from None


def array_to_csv(array_like) -> str:
    array = np.array(array_like)
    if len(array.shape) == 1:
        array = np.reshape(array, (array.shape[0], 1))
    stream = io.StringIO()
    csv.writer(stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True, strict=True) \
        .writerows(array)
    return stream.getvalue()


def array_to_json(array_like) -> str:
    def default(value):
        if hasattr(value, "tolist"):
            return value.tolist()
        return json.JSONEncoder().default(value)
    return json.dumps(array_like, default=default)


def array_to_npy(array_like) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array_like)
    return buffer.getvalue()


DECODERS = {NPY: lambda data: np.load(io.BytesIO(data), allow_pickle=True),
            CSV: csv_to_numpy,
            JSON: lambda text: np.array(json.loads(text))}
ENCODERS = {NPY: array_to_npy, CSV: array_to_csv, JSON: array_to_json}


def decode(data, content_type):
    if content_type not in DECODERS:
        raise UnsupportedFormatError(content_type)
    return DECODERS[content_type](data)


def encode(prediction, accept):
    if accept not in ENCODERS:
        raise UnsupportedFormatError(accept)
    return ENCODERS[accept](prediction)


# ------------------------------------------------------------------ the images' default handlers


def default_model_fn(model_dir):
    raise NotImplementedError("Please provide a model_fn implementation. See documentation for model_fn at "
                              "https://github.com/aws/sagemaker-python-sdk")


def sklearn_input_fn(input_data, content_type):
    array = decode(input_data, content_type)
    return array.astype(np.float32) if content_type in UTF8_TYPES else array


def sklearn_predict_fn(input_data, model):
    return model.predict(input_data)


def xgboost_input_fn(input_data, content_type):
    import xgboost as xgb  # only the XGBoost image has it

    if content_type.split(";", 1)[0].strip() != CSV:
        raise UnsupportedFormatError(content_type)
    text = input_data.decode() if isinstance(input_data, bytes) else input_data
    sniffed = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    rows = [["nan" if field == "" else field for field in line.split(delimiter)] for line in text.split("\n")]
    return xgb.DMatrix(np.array(rows).astype(None))


def xgboost_predict_fn(input_data, model):
    return model.predict(input_data, validate_features=False)


def default_output_fn(prediction, accept):
    return encode(prediction, accept), accept


DEFAULTS = {SKLEARN: {"input_fn": sklearn_input_fn, "predict_fn": sklearn_predict_fn},
            XGBOOST: {"input_fn": xgboost_input_fn, "predict_fn": xgboost_predict_fn}}


class Handlers:
    """The user module's handlers over the image's defaults (Transformer of sagemaker-containers)."""

    def __init__(self, module, framework: str, model_dir: str):
        found = {name: getattr(module, name, None) for name in ("model_fn", "input_fn", "predict_fn", "output_fn",
                                                                 "transform_fn")}
        if found["transform_fn"] and (found["input_fn"] or found["predict_fn"] or found["output_fn"]):
            raise ValueError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
        defaults = dict(DEFAULTS[framework], model_fn=default_model_fn, output_fn=default_output_fn)
        self._fns = {name: fn or defaults.get(name) for name, fn in found.items()}
        self._model_dir = model_dir
        self._model = None
        self._loaded = False

    def transform(self, body, content_type: str, accept: str):
        """One request: (response body as bytes, response content type); ServingError for an error status."""
        try:
            if not self._loaded:  # the worker loads the model on its first request
                self._model = self._fns["model_fn"](self._model_dir)
                self._loaded = True
            if self._fns["transform_fn"]:
                result = self._fns["transform_fn"](self._model, body, content_type, accept)
            else:
                try:
                    data = self._fns["input_fn"](body, content_type)
                except UnsupportedFormatError as exc:
                    raise ServingError(_status(415, f"UnsupportedFormatError: Content type {exc} is not "
                                                    "supported by this framework.")) from None
                prediction = self._fns["predict_fn"](data, self._model)
                try:
                    result = self._fns["output_fn"](prediction, accept)
                except UnsupportedFormatError as exc:
                    raise ServingError(_status(406, f"UnsupportedFormatError: Content type {exc} is not "
                                                    "supported by this framework.")) from None
        except ServingError:
            raise
        except Exception:  # noqa: BLE001 - any user error is the container's HTTP 500
            lines = traceback.format_exc().rstrip().splitlines()
            print("\n".join(lines), flush=True)  # the container logs the traceback
            raise ServingError(_status(500, "\n".join(lines[-FAILURE_TAIL_LINES:]))) from None
        return _response(result, accept)


def _status(code: int, message: str) -> str:
    return f"Bad HTTP status received from algorithm: {code}\nMessage:\n{message}"


def _response(result, accept: str):
    """A handler's result as the worker sends it: a `(body, content type)` tuple, or a body."""
    body, content_type = (result[0], result[1]) if isinstance(result, tuple) else (result, accept)
    if hasattr(body, "get_data"):  # a Flask/werkzeug Response built by the user module
        body = body.get_data()
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, (bytes, bytearray)):
        raise ServingError(_status(500, f"TypeError: the response body is a {type(body).__name__}, not str or "
                                        "bytes (output_fn must serialise the prediction)"))
    return bytes(body), content_type


# ------------------------------------------------------------------ objects


def transform_object(handlers: Handlers, job: dict, settings: TransformSettings, source: str, target: str) -> int:
    """One input object into `target` (written completely or not at all); the number of output records."""
    with open(source, "rb") as reader:
        records = split_records(reader.read(), job["split_type"])
    if settings.processes_records:
        texts = [_text(record, number) for number, record in enumerate(records, 1)]
        payloads = [filtered_record(text, settings.input_filter, number=number).encode("utf-8")
                    for number, text in enumerate(texts, 1)]
    else:
        texts, payloads = [], records
    content_type, accept = job["content_type"], job["accept"]
    pieces = []
    for batch in mini_batches(payloads, single_record=job["batch_strategy"] == "SingleRecord",
                              max_payload_bytes=job["max_payload_bytes"]):
        body = b"\n".join(payloads[i] for i in batch)
        request = body.decode("utf-8") if content_type in UTF8_TYPES else body
        response, _response_type = handlers.transform(request, content_type, accept)
        if settings.processes_records:
            predictions = record_lines(_text(response, batch[0] + 1), line=batch[0] + 1)
            if len(predictions) != len(batch):
                raise TransformError(f"records {batch[0] + 1}-{batch[-1] + 1}: the model returned "
                                     f"{len(predictions)} prediction line(s) for {len(batch)} record(s), so they "
                                     "cannot be joined to their input")
            pieces += [joined_record(texts[i], prediction, settings, number=i + 1).encode("utf-8")
                       for i, prediction in zip(batch, predictions)]  # noqa: B905 (lengths checked; 3.9)
        elif accept == CSV:  # one output record per line of a CSV response
            pieces += [line.encode("utf-8") for line in record_lines(_text(response, batch[0] + 1))]
        else:
            pieces.append(response)
    separator = b"\n" if job["assemble_with"] == "Line" else b""
    with open(target, "wb") as writer:
        for piece in pieces:
            writer.write(piece)
            if separator and not piece.endswith(separator):
                writer.write(separator)
    return len(pieces)


def _text(data: bytes, number: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TransformError(f"record {number}: not UTF-8 text ({exc.reason})") from None


# ------------------------------------------------------------------ job process (entry point)


def load_user_module(job: dict):
    """The serving environment's module: source fetched, requirements installed, imported from the code dir."""
    code_dir = job["code_dir"]
    fetch_source(job["submit_directory"], code_dir)
    packages = os.path.join(os.path.dirname(code_dir), "requirements")
    problem = install_requirements(code_dir, packages, dict(os.environ))
    if problem:
        raise RuntimeError(problem)
    for directory in (code_dir, packages):
        if os.path.isdir(directory):
            sys.path.insert(0, directory)
    program = job["program"]
    return importlib.import_module(program[:-3] if program.endswith(".py") else program)


def run_job(job: dict) -> dict:
    settings = TransformSettings(input_filter=ColumnFilter.parse(job.get("input_filter")),
                                 output_filter=ColumnFilter.parse(job.get("output_filter")),
                                 join_input=bool(job.get("join_input")))
    try:
        handlers = Handlers(load_user_module(job), job["framework"], job["model_dir"])
    except Exception:  # noqa: BLE001 - the server does not start: every request fails
        lines = traceback.format_exc().rstrip().splitlines()
        print("\n".join(lines), flush=True)
        with open(job["failure"], "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines[-FAILURE_TAIL_LINES:]))
        raise SystemExit(EXIT_SERVER_ERROR) from None
    outcomes = []
    for item in job["objects"]:
        try:
            outcomes.append({"records": transform_object(handlers, job, settings, item["input"], item["output"])})
        except (TransformError, ServingError) as exc:
            if os.path.exists(item["output"]):
                os.remove(item["output"])  # all-or-nothing per object
            outcomes.append({"error": str(exc)})
    return {"objects": outcomes}


def main(argv: list) -> int:
    if len(argv) != 2:
        print("usage: python framework_serving.py <job.json>", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    job["max_payload_bytes"] = int(job["max_payload_mb"]) * MEGABYTE
    report = run_job(job)
    with open(job["report"], "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
