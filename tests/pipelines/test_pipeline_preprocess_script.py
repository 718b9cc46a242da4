"""preprocess.py run as a container runs it: validation messages, split, artefact, both modes, any schema."""

from __future__ import annotations

import json

import pytest
from step_script_support import OTHER_FEATURES, OTHER_SCHEMA, Job, other_rows, read_csv, write_rows

COLUMNS = [c["name"] for c in OTHER_SCHEMA["columns"]]
TRAIN_ARGS = ("--mode", "train", "--validation-fraction", "0.2", "--test-fraction", "0.1", "--seed", "3")


@pytest.fixture
def job(tmp_path) -> Job:
    return Job(tmp_path / "job", OTHER_SCHEMA)


@pytest.fixture
def trained(tmp_path) -> Job:
    """A training run over two files (one nested, one without the record key column, columns reordered)."""
    job = Job(tmp_path / "trained", OTHER_SCHEMA)
    rows = other_rows(60)
    write_rows(job.input("data") / "part-a.csv", rows[:40], COLUMNS)
    reordered = ["delivery_minutes", *reversed(OTHER_FEATURES)]
    write_rows(job.input("data") / "nested" / "part-b.csv", rows[40:], reordered)
    (job.input("data") / "notes.txt").write_text("not a CSV: ignored\n")
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 0, result.stderr
    return job


def test_train_mode_splits_reproducibly_into_xgboost_csvs(trained, tmp_path):
    counts = {name: len(read_csv(trained.output(name) / f"{name}.csv")) for name in ("train", "validation", "test")}
    assert counts == {"train": 42, "validation": 12, "test": 6}
    artefact = json.loads((trained.output("preprocessing") / "preprocessing.json").read_text())
    width = 1 + len(artefact["output_columns"])
    train_rows = read_csv(trained.output("train") / "train.csv")
    assert {len(row) for row in train_rows} == {width}
    assert all(float(row[0]) > 10 for row in train_rows)  # the label (minutes), not a header or a key
    # Same data and seed in another job root: byte-identical outputs.
    again = Job(tmp_path / "again", OTHER_SCHEMA)
    for source in trained.input("data").rglob("*"):
        if source.is_file():
            target = again.input("data") / source.relative_to(trained.input("data"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    assert again.run("preprocess.py", *TRAIN_ARGS).returncode == 0
    for name in ("train", "validation", "test"):
        assert (again.output(name) / f"{name}.csv").read_bytes() == (trained.output(name) / f"{name}.csv").read_bytes()


def test_train_mode_saves_the_fitted_preprocessing(trained):
    artefact = json.loads((trained.output("preprocessing") / "preprocessing.json").read_text())
    assert [f["name"] for f in artefact["features"]] == OTHER_FEATURES
    city = next(f for f in artefact["features"] if f["name"] == "city")
    assert city["categories"] == ["east", "north", "south"]
    assert artefact["output_columns"][:4] == ["distance_km", "city=east", "city=north", "city=south"]
    distance = next(f for f in artefact["features"] if f["name"] == "distance_km")
    assert 0.5 <= distance["median"] <= 20


def test_train_mode_writes_the_baseline_dataset_with_the_shared_header(trained):
    rows = read_csv(trained.output("baseline") / "baseline.csv")
    assert rows[0] == OTHER_FEATURES
    assert len(rows) == 1 + 42


def test_transform_mode_applies_the_saved_preprocessing(trained, tmp_path):
    job = Job(tmp_path / "batch", OTHER_SCHEMA)
    artefact = trained.output("preprocessing") / "preprocessing.json"
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "preprocessing.json").write_bytes(artefact.read_bytes())
    batch = [{"order_id": "901", "distance_km": "", "city": "west", "items": "2", "vehicle": "van",
              "weight_kg": "1.5"},
             {"order_id": "902", "distance_km": "4.0", "city": "north", "items": "3", "vehicle": "bike",
              "weight_kg": "9"}]
    write_rows(job.input("data") / "day1" / "batch.csv", batch, ["order_id", *OTHER_FEATURES])
    result = job.run("preprocess.py", "--mode", "transform")
    assert result.returncode == 0, result.stderr
    fitted = json.loads(artefact.read_text())
    median = fitted["features"][0]["median"]
    rows = read_csv(job.output("transform") / "day1" / "batch.csv")
    assert [row[0] for row in rows] == ["901", "902"]  # record key first, no header
    columns = fitted["output_columns"]
    first = dict(zip(columns, map(float, rows[0][1:]), strict=True))
    assert first["distance_km"] == pytest.approx(median)  # missing -> training median
    assert [first[f"city={c}"] for c in ("east", "north", "south")] == [0, 0, 0]  # unknown -> all zeros
    second = dict(zip(columns, map(float, rows[1][1:]), strict=True))
    assert second["city=north"] == 1 and second["vehicle=bike"] == 1 and second["distance_km"] == 4.0
    quality = read_csv(job.output("dataquality") / "day1" / "batch.csv")
    assert quality[0] == OTHER_FEATURES and quality[1][:2] == ["", "west"]


def test_transform_mode_writes_the_constraints_with_the_configured_drift_settings(trained, tmp_path):
    # Issue 16 item 9: the check of either engine reads comparison threshold and methods from constraints.json.
    job = Job(tmp_path / "drift", OTHER_SCHEMA)
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "p.json").write_bytes(
        (trained.output("preprocessing") / "preprocessing.json").read_bytes())
    write_rows(job.input("data") / "batch.csv", other_rows(3), ["order_id", *OTHER_FEATURES])
    baseline = {"version": 0, "features": [{"name": "city", "inferred_type": "String"}],
                "monitoring_config": {"evaluate_constraints": "Enabled", "distribution_constraints": {
                    "perform_comparison": "Enabled", "comparison_threshold": 0.1, "comparison_method": "Robust"}}}
    (job.input("baseline_constraints") / "constraints.json").parent.mkdir(parents=True)
    (job.input("baseline_constraints") / "constraints.json").write_text(json.dumps(baseline))
    result = job.run("preprocess.py", "--mode", "transform", "--comparison-threshold", "0.25",
                     "--comparison-method", "Simple", "--categorical-drift-method", "ChiSquared")
    assert result.returncode == 0, result.stderr
    written = json.loads((job.output("constraints") / "constraints.json").read_text())
    assert written["features"] == baseline["features"]
    assert written["monitoring_config"]["evaluate_constraints"] == "Enabled"
    assert written["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.25, "comparison_method": "Simple",
        "categorical_comparison_threshold": 0.25, "categorical_drift_method": "ChiSquared"}
    (job.input("baseline_constraints") / "constraints.json").unlink()
    result = job.run("preprocess.py", "--mode", "transform", "--comparison-threshold", "0.25")
    assert result.returncode == 1 and "expected one baseline constraints file" in result.message


def test_transform_mode_refuses_duplicate_record_keys(trained, tmp_path):
    job = Job(tmp_path / "dupes", OTHER_SCHEMA)
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "p.json").write_bytes(
        (trained.output("preprocessing") / "preprocessing.json").read_bytes())
    rows = other_rows(3)
    rows[2]["order_id"] = rows[0]["order_id"]
    write_rows(job.input("data") / "batch.csv", rows, ["order_id", *OTHER_FEATURES])
    result = job.run("preprocess.py", "--mode", "transform")
    assert result.returncode == 1
    assert "batch.csv:4: column 'order_id': duplicate record key '1' (also at batch.csv:2)" in result.message


def test_transform_mode_refuses_an_artefact_of_another_schema(trained, tmp_path):
    schema = json.loads(json.dumps(OTHER_SCHEMA))
    schema["columns"].insert(2, {"name": "floor", "type": "integer"})
    job = Job(tmp_path / "changed", schema)
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "p.json").write_bytes(
        (trained.output("preprocessing") / "preprocessing.json").read_bytes())
    write_rows(job.input("data") / "batch.csv", other_rows(2), ["order_id", *OTHER_FEATURES])
    result = job.run("preprocess.py", "--mode", "transform")
    assert result.returncode == 1
    assert "trained on the features distance_km, city" in result.message and "floor" in result.message


@pytest.mark.parametrize("case,expected", [
    ("missing column", "data.csv: header does not match the configured schema: missing column(s) city"),
    ("unknown column", "unknown column(s) colour"),
    ("not a number", "data.csv:3: column 'distance_km': 'far' is not a number"),
    ("not whole", "data.csv:2: column 'items': '2.5' is not a whole number"),
    ("no target", "data.csv:4: column 'delivery_minutes': empty (a value is required)"),
    ("ragged row", "data.csv:14: 3 fields, expected 7 (order_id, distance_km, city, items, vehicle, weight_kg, "
                   "delivery_minutes)"),
    ("too large", "data.csv:5: column 'weight_kg': '1e308' is too large"),
])
def test_schema_mismatch_fails_with_file_line_and_column(job, case, expected):
    rows = other_rows(12)
    columns = list(COLUMNS)
    if case == "missing column":
        columns.remove("city")
    elif case == "unknown column":
        columns.append("colour")
    elif case == "not a number":
        rows[1]["distance_km"] = "far"
    elif case == "not whole":
        rows[0]["items"] = "2.5"
    elif case == "no target":
        rows[2]["delivery_minutes"] = ""
    elif case == "too large":
        rows[3]["weight_kg"] = "1e308"
    path = write_rows(job.input("data") / "data.csv", rows, columns)
    if case == "ragged row":
        path.write_text(path.read_text() + "99,1.0,north\n")
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert expected in result.message
    assert expected in result.stderr  # also in the job log


def test_files_without_header_are_read_by_position(tmp_path):
    schema = {**OTHER_SCHEMA, "header": False}
    job = Job(tmp_path / "positional", schema)
    rows = other_rows(20)
    write_rows(job.input("data") / "with-key.csv", rows[:10], COLUMNS, header=False)
    write_rows(job.input("data") / "without-key.csv", rows[10:], COLUMNS[1:], header=False)
    assert job.run("preprocess.py", *TRAIN_ARGS).returncode == 0
    baseline = read_csv(job.output("baseline") / "baseline.csv")
    assert baseline[0] == OTHER_FEATURES  # the data-quality header convention holds without input headers
    write_rows(job.input("data") / "short.csv", rows[:2], COLUMNS[:4], header=False)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert "short.csv: line 1 has 4 fields, expected 6 or 7" in result.message


def test_too_few_rows_and_no_files_are_clear_failures(job):
    write_rows(job.input("data") / "tiny.csv", other_rows(3), COLUMNS)
    result = job.run("preprocess.py", "--mode", "train", "--validation-fraction", "0.1", "--test-fraction", "0.1",
                     "--seed", "1")
    assert result.returncode == 1 and "3 row(s) cannot be split" in result.message
    (job.input("data") / "tiny.csv").unlink()
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1 and "no CSV files in the dataset s3://" in result.message


def test_missing_schema_and_bad_arguments(job):
    write_rows(job.input("data") / "data.csv", other_rows(10), COLUMNS)
    result = job.run("preprocess.py", "--mode", "train")
    assert result.returncode == 1 and "--mode train needs --validation-fraction, --test-fraction, --seed" in \
        result.message
    job.schema = {"header": True}
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1 and "the dataset schema is not a valid schema" in result.message
    job.schema = None
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1 and "dataset_schema.json is missing (the processing input 'schema')" in \
        result.message


def test_transform_mode_in_small_chunks_gives_the_same_files(trained, tmp_path):
    outputs = {}
    for chunk_rows in ("2", "100000"):
        job = Job(tmp_path / f"chunks-{chunk_rows}", OTHER_SCHEMA)
        job.input("preprocessing").mkdir(parents=True)
        (job.input("preprocessing") / "p.json").write_bytes(
            (trained.output("preprocessing") / "preprocessing.json").read_bytes())
        write_rows(job.input("data") / "batch.csv", other_rows(7, first_key=500), ["order_id", *OTHER_FEATURES])
        result = job.run("preprocess.py", "--mode", "transform", "--chunk-rows", chunk_rows)
        assert result.returncode == 0, result.stderr
        outputs[chunk_rows] = [(job.output(name) / "batch.csv").read_bytes() for name in ("transform", "dataquality")]
    assert outputs["2"] == outputs["100000"]
    assert len(outputs["2"][0].splitlines()) == 7 and len(outputs["2"][1].splitlines()) == 8


def test_duplicate_keys_across_chunks_and_files_are_found(trained, tmp_path):
    job = Job(tmp_path / "dupes-chunks", OTHER_SCHEMA)
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "p.json").write_bytes(
        (trained.output("preprocessing") / "preprocessing.json").read_bytes())
    write_rows(job.input("data") / "a.csv", other_rows(5, first_key=1), ["order_id", *OTHER_FEATURES])
    write_rows(job.input("data") / "b.csv", other_rows(3, first_key=5), ["order_id", *OTHER_FEATURES])
    result = job.run("preprocess.py", "--mode", "transform", "--chunk-rows", "2")
    assert result.returncode == 1
    assert "b.csv:2: column 'order_id': duplicate record key '5' (also at a.csv:6)" in result.message


def test_every_problem_of_the_training_data_is_named_not_only_the_first(job):
    rows = other_rows(30)
    rows[1]["distance_km"] = "far"
    path = write_rows(job.input("data") / "data.csv", rows, COLUMNS)
    path.write_text(path.read_text() + "99,1.0,north\n98,2.0\n")
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert result.message.startswith("the training data: ")
    assert "data.csv:3: column 'distance_km': 'far' is not a number" in result.message
    assert "data.csv:32: 3 fields, expected 7" in result.message and "data.csv:33: 2 fields" in result.message


@pytest.mark.parametrize("labels,expected", [
    (lambda i: "-5", "target column 'delivery_minutes' is constant (every value is -5)"),
    (lambda i: f"{1e6 + (i % 2) * 1e-5:.5f}", "target column 'delivery_minutes' is nearly constant"),
])
def test_a_constant_target_is_refused(job, labels, expected):
    # Issue 17 item 2: constant labels trained and registered a "perfect" model (rmse 0, r2 1).
    rows = other_rows(60)
    for index, row in enumerate(rows):
        row["delivery_minutes"] = labels(index)
    write_rows(job.input("data") / "data.csv", rows, COLUMNS)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert f"the training data: data.csv: {expected}" in result.message
    assert not job.output("train").exists()


def test_a_split_whose_target_is_constant_is_refused(job):
    rows = other_rows(60)
    for row in rows[1:]:
        row["delivery_minutes"] = "30"  # one differing label: the whole file varies, the splits need not
    write_rows(job.input("data") / "data.csv", rows, COLUMNS)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert "split: target column 'delivery_minutes' is constant (every value is 30)" in result.message
    assert "(split with seed 3)" in result.message


def test_each_split_needs_enough_rows_for_the_metrics(job):
    # 12 rows at 0.1 test: one test row, on which r2 (and any deviation) is undefined.
    write_rows(job.input("data") / "data.csv", other_rows(12), COLUMNS)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert "12 row(s) cannot be split into train/validation/test" in result.message
    assert "each split gets at least 2 rows" in result.message


def test_transform_mode_refuses_a_ragged_batch_and_huge_numbers(trained, tmp_path):
    job = Job(tmp_path / "bad-batch", OTHER_SCHEMA)
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "p.json").write_bytes(
        (trained.output("preprocessing") / "preprocessing.json").read_bytes())
    rows = other_rows(6, first_key=300)
    rows[4]["distance_km"] = "-1e39"
    path = write_rows(job.input("data") / "batch.csv", rows, ["order_id", *OTHER_FEATURES])
    path.write_text(path.read_text() + "399,2.0\n")
    result = job.run("preprocess.py", "--mode", "transform", "--chunk-rows", "2")
    assert result.returncode == 1
    assert "batch.csv:6: column 'distance_km': '-1e39' is too large" in result.message
    assert "batch.csv:8: 2 fields, expected 6" in result.message


# ------------------------------------------------------------------------------------------ classification

LABELLED_SCHEMA = {**OTHER_SCHEMA, "target": "speed", "classes": ["slow", "fast"],
                   "columns": [*OTHER_SCHEMA["columns"][:-1], {"name": "speed", "type": "categorical"}]}
LABELLED_COLUMNS = [c["name"] for c in LABELLED_SCHEMA["columns"]]


def labelled_rows(count: int) -> list[dict[str, str]]:
    rows = []
    for row in other_rows(count):
        minutes = float(row.pop("delivery_minutes"))
        rows.append({**row, "speed": "slow" if minutes > 40 else "fast"})
    return rows


def test_string_labels_are_encoded_with_the_configured_classes_and_saved(tmp_path):
    job = Job(tmp_path / "labels", LABELLED_SCHEMA)
    rows = labelled_rows(60)
    write_rows(job.input("data") / "train.csv", rows, LABELLED_COLUMNS)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 0, result.stderr
    artefact = json.loads((job.output("preprocessing") / "preprocessing.json").read_text())
    assert artefact["classes"] == ["slow", "fast"]  # class index i is classes[i]
    labels = {float(row[0]) for name in ("train", "validation", "test")
              for row in read_csv(job.output(name) / f"{name}.csv")}
    assert labels == {0.0, 1.0}
    # The transform of a batch refuses a model trained for other classes.
    other = Job(tmp_path / "other-classes", {**LABELLED_SCHEMA, "classes": ["fast", "slow"]})
    other.input("preprocessing").mkdir(parents=True)
    (other.input("preprocessing") / "p.json").write_bytes(
        (job.output("preprocessing") / "preprocessing.json").read_bytes())
    write_rows(other.input("data") / "batch.csv", rows[:3], ["order_id", *OTHER_FEATURES])
    result = other.run("preprocess.py", "--mode", "transform")
    assert result.returncode == 1 and "trained for the classes ['slow', 'fast']" in result.message


def test_the_label_is_kept_in_the_data_quality_datasets_when_its_class_balance_is_reported(tmp_path):
    job = Job(tmp_path / "balance", LABELLED_SCHEMA)
    rows = labelled_rows(60)
    write_rows(job.input("data") / "train.csv", rows, LABELLED_COLUMNS)
    assert job.run("preprocess.py", *TRAIN_ARGS, "--data-quality-label", "speed").returncode == 0
    baseline = read_csv(job.output("baseline") / "baseline.csv")
    assert baseline[0] == [*OTHER_FEATURES, "speed"]
    assert {row[-1] for row in baseline[1:]} == {"slow", "fast"}  # as people wrote them, not class indices
    # A batch with labels keeps them for the check; one without (the usual case) has the features only.
    batch = Job(tmp_path / "batch", LABELLED_SCHEMA)
    batch.input("preprocessing").mkdir(parents=True)
    (batch.input("preprocessing") / "p.json").write_bytes(
        (job.output("preprocessing") / "preprocessing.json").read_bytes())
    write_rows(batch.input("data") / "labelled.csv", rows[:4], LABELLED_COLUMNS)
    write_rows(batch.input("data") / "unlabelled.csv", rows[4:8], ["order_id", *OTHER_FEATURES])
    result = batch.run("preprocess.py", "--mode", "transform", "--data-quality-label", "speed")
    assert result.returncode == 0, result.stderr
    assert read_csv(batch.output("dataquality") / "labelled.csv")[0] == [*OTHER_FEATURES, "speed"]
    assert read_csv(batch.output("dataquality") / "unlabelled.csv")[0] == OTHER_FEATURES


def test_training_labels_outside_the_classes_fail_with_file_line_and_value(tmp_path):
    job = Job(tmp_path / "labels", LABELLED_SCHEMA)
    rows = labelled_rows(30)
    rows[4]["speed"] = "medium"
    write_rows(job.input("data") / "train.csv", rows, LABELLED_COLUMNS)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1
    assert "train.csv:6: column 'speed': 'medium' is not one of the classes (slow, fast)" in result.message


def test_training_data_of_one_class_is_refused(tmp_path):
    job = Job(tmp_path / "labels", LABELLED_SCHEMA)
    rows = [{**row, "speed": "fast"} for row in labelled_rows(30)]
    write_rows(job.input("data") / "train.csv", rows, LABELLED_COLUMNS)
    result = job.run("preprocess.py", *TRAIN_ARGS)
    assert result.returncode == 1 and "target column 'speed' has one class only ('fast')" in result.message


def _transform_job(trained, root, *, host: str | None = None, hosts: int = 1) -> Job:
    """A transform-mode job over three batch files; `host` of `hosts` instances (resourceconfig.json)."""
    job = Job(root, OTHER_SCHEMA)
    job.input("preprocessing").mkdir(parents=True)
    (job.input("preprocessing") / "p.json").write_bytes(
        (trained.output("preprocessing") / "preprocessing.json").read_bytes())
    (job.input("baseline_constraints")).mkdir(parents=True)
    (job.input("baseline_constraints") / "constraints.json").write_text('{"features": []}')
    for number in range(3):
        write_rows(job.input("data") / f"part-{number}.csv", other_rows(4, first_key=100 * (number + 1)),
                   ["order_id", *OTHER_FEATURES])
    if host:
        config = job.root / "config" / "resourceconfig.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"current_host": host, "hosts": [f"algo-{n + 1}" for n in range(hosts)]}))
    return job


def _written(job: Job) -> dict[str, bytes]:
    return {path.relative_to(job.path("output")).as_posix(): path.read_bytes()
            for path in sorted(job.path("output").rglob("*")) if path.is_file()}


def test_transform_mode_on_two_instances_splits_the_batch_by_file_and_writes_each_output_once(trained, tmp_path):
    arguments = ("--mode", "transform", "--comparison-threshold", "0.2")
    alone = _transform_job(trained, tmp_path / "alone")
    assert alone.run("preprocess.py", *arguments).returncode == 0
    instances = [_transform_job(trained, tmp_path / host, host=host, hosts=2) for host in ("algo-1", "algo-2")]
    results = [job.run("preprocess.py", *arguments) for job in instances]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    first, second = (_written(job) for job in instances)
    assert not set(first) & set(second)  # no file written by both: the uploads to one prefix never clash
    assert {**first, **second} == _written(alone)  # together: exactly the single instance's outputs
    assert "constraints/constraints.json" in first  # the drift settings once, by the first instance
    assert sorted(name for name in first if name.startswith("transform/")) == ["transform/part-0.csv",
                                                                                "transform/part-2.csv"]
    assert "2 of 3 file(s) on instance 1 of 2" in results[0].stdout


def test_transform_mode_on_an_instance_without_files_writes_nothing(trained, tmp_path):
    job = _transform_job(trained, tmp_path / "idle", host="algo-4", hosts=4)
    result = job.run("preprocess.py", "--mode", "transform", "--comparison-threshold", "0.2")
    assert result.returncode == 0, result.stderr
    assert _written(job) == {}
    assert "0 of 3 file(s) on instance 4 of 4" in result.stdout
