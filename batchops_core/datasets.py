"""What a dataset is, by its S3 keys: one CSV object, or a folder of part files completed by a trigger file.

Shared by the EventBridge rules (terraform/modules/events, through terraform/contracts.json), the step scripts
(shipped as a core module: standard library only, Python 3.9), `batchops data drop` and the notification Lambda.

- A single-object dataset is a key under the data prefix ending in `.csv`: it starts a run on its own.
- A folder dataset is the folder of a trigger key `<prefix>/<folder>/<trigger file>`: the trigger starts one run
  over every part file of the folder (`.csv.gz`; hidden names, starting with `_` or `.`, are skipped).
- EventBridge matches a field against one list of alternative filters, and its wildcard `*` also matches `/`
  ("Content filtering in Amazon EventBridge event patterns"): no pattern can say "a .csv key that is not inside
  a folder". So part files must not end in `.csv` (plain `.csv` parts would each start a run as a single object):
  they are gzip-compressed `.csv.gz` (Spark: `compression=gzip`; `batchops data drop` compresses them itself).
  A folder holding a `.csv` object is an error of the folder run, naming the object.
"""

from __future__ import annotations

SINGLE_OBJECT_SUFFIX = ".csv"
PART_SUFFIX = ".csv.gz"
HIDDEN_PREFIXES = ("_", ".")  # Hadoop/Spark markers and temporary files (`_SUCCESS`, `_committed_*`, `.tmp`)
DEFAULT_TRIGGER_FILE = "_SUCCESS"
# The single object's results name inside a folder dataset's mirrored results folder.
FOLDER_RESULTS_NAME = "predictions.csv"


# "The object key name is a sequence of Unicode characters with UTF-8 encoding of up to 1,024 bytes long"
# (Amazon S3 User Guide, "Naming Amazon S3 objects").
MAX_KEY_BYTES = 1024
RESULTS_PREDICTION_COLUMN = "prediction"
RESULTS_VERSION_COLUMN = "model_package_version"


def results_columns(record_key: str, prediction_columns: tuple[str, ...] = (RESULTS_PREDICTION_COLUMN,)) -> list[str]:
    """The header of a published results CSV: the record key, the prediction (a classification model's predictions
    as LabelPredictions names them: the label column, then the class probabilities), and the model package version
    that scored the batch."""
    return [record_key, *prediction_columns, RESULTS_VERSION_COLUMN]


def trigger_folder(key: str, trigger_file: str) -> str | None:
    """`a/b/<trigger>` -> `a/b/` (the folder's key prefix); None for any other key."""
    suffix = "/" + trigger_file
    if key.endswith(suffix) and len(key) > len(suffix):
        return key[: -len(trigger_file)]
    return None


def dataset_key(key: str, trigger_file: str) -> str:
    """The dataset a started run works on: the folder of a trigger key (no trailing '/'), else the key itself."""
    folder = trigger_folder(key, trigger_file)
    return folder.rstrip("/") if folder is not None else key


def is_hidden(name: str) -> bool:
    return name.startswith(HIDDEN_PREFIXES)


def part_problem(name: str) -> str | None:
    """Why the object `name` (a file name inside a folder dataset) cannot be a part file; None if it can."""
    lower = name.lower()
    if lower.endswith(PART_SUFFIX):
        return None
    if lower.endswith(SINGLE_OBJECT_SUFFIX):
        return (f"'{name}' ends in {SINGLE_OBJECT_SUFFIX}: such an object starts a run of its own; "
                f"write the parts of a folder dataset as {PART_SUFFIX}")
    return f"'{name}' is not a {PART_SUFFIX} part file (hidden names starting with _ or . are skipped)"


def relative_key(key: str, prefix: str) -> str | None:
    """`<prefix>/<rest>` -> `<rest>`; None when the key is not under the prefix."""
    base = prefix.rstrip("/") + "/"
    return key[len(base):].strip("/") if key.startswith(base) else None


def results_key(dataset: str, *, folder: bool, inference_prefix: str, results_prefix: str) -> str | None:
    """Where the predictions of the batch `dataset` (a dataset_key) are published, mirroring its key:
    `<inference>/d/batch.csv` -> `<results>/d/batch.csv`; a folder `<inference>/d/batch` ->
    `<results>/d/batch/predictions.csv`. None when the batch is not under the inference prefix."""
    relative = relative_key(dataset, inference_prefix)
    if not relative:
        return None
    base = results_prefix.rstrip("/") + "/" + relative
    return f"{base}/{FOLDER_RESULTS_NAME}" if folder else base
