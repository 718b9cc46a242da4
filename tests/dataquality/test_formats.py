"""The three report files have exactly the documented Model Monitor shapes (a small shape checker per file)."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from numbers import Real
from pathlib import Path

import pytest

from pipelines.scripts import data_quality as dq

CHECK_TYPES = {"data_type_check", "completeness_check", "baseline_drift_check", "missing_column_check",
               "extra_column_check", "categorical_values_check"}


def is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_common(common: dict, item_count: int) -> None:
    assert set(common) == {"num_present", "num_missing"}
    assert is_count(common["num_present"]) and is_count(common["num_missing"])
    assert common["num_present"] + common["num_missing"] == item_count


def check_statistics_shape(document: dict) -> None:
    assert set(document) == {"version", "dataset", "features"}
    assert document["version"] == 0
    assert set(document["dataset"]) == {"item_count"} and is_count(document["dataset"]["item_count"])
    item_count = document["dataset"]["item_count"]
    for feature in document["features"]:
        assert isinstance(feature["name"], str)
        if feature["inferred_type"] in ("Integral", "Fractional"):
            assert set(feature) == {"name", "inferred_type", "numerical_statistics"}
            numbers = feature["numerical_statistics"]
            assert set(numbers) == {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
            check_common(numbers["common"], item_count)
            assert all(is_number(numbers[key]) for key in ("mean", "sum", "std_dev", "min", "max"))
            assert set(numbers["distribution"]) == {"kll"}
            kll = numbers["distribution"]["kll"]
            assert set(kll) == {"buckets", "sketch"}
            assert len(kll["buckets"]) == 10
            for bucket in kll["buckets"]:
                assert set(bucket) == {"lower_bound", "upper_bound", "count"}
                assert all(is_number(value) for value in bucket.values())
                assert bucket["lower_bound"] <= bucket["upper_bound"]
            assert set(kll["sketch"]) == {"parameters", "data"}
            assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
            assert all(isinstance(level, list) and all(is_number(v) for v in level)
                       for level in kll["sketch"]["data"])
        else:
            assert feature["inferred_type"] in ("String", "Unknown")
            assert set(feature) == {"name", "inferred_type", "string_statistics"}
            strings = feature["string_statistics"]
            assert set(strings) == {"common", "distinct_count", "distribution"}
            check_common(strings["common"], item_count)
            assert is_count(strings["distinct_count"])
            assert set(strings["distribution"]) == {"categorical"}
            for bucket in strings["distribution"]["categorical"]["buckets"]:
                assert set(bucket) == {"value", "count"}
                assert isinstance(bucket["value"], str) and is_count(bucket["count"])


def check_constraints_shape(document: dict) -> None:
    assert set(document) == {"version", "features", "monitoring_config"}
    assert document["version"] == 0
    for feature in document["features"]:
        assert set(feature) <= {"name", "inferred_type", "completeness", "num_constraints", "string_constraints",
                                "monitoringConfigOverrides"}
        assert feature["inferred_type"] in ("Integral", "Fractional", "String", "Unknown")
        assert is_number(feature["completeness"]) and 0 <= feature["completeness"] <= 1
        if "num_constraints" in feature:
            assert feature["num_constraints"].keys() == {"is_non_negative"}
            assert isinstance(feature["num_constraints"]["is_non_negative"], bool)
        if "string_constraints" in feature:
            domains = feature["string_constraints"]["domains"]
            assert domains and all(isinstance(value, str) for value in domains)
    config = document["monitoring_config"]
    assert set(config) == {"evaluate_constraints", "emit_metrics", "datatype_check_threshold",
                           "domain_content_threshold", "distribution_constraints"}
    assert config["evaluate_constraints"] in ("Enabled", "Disabled")
    assert config["emit_metrics"] in ("Enabled", "Disabled")
    distribution = config["distribution_constraints"]
    assert set(distribution) == {"perform_comparison", "comparison_threshold", "comparison_method",
                                 "categorical_comparison_threshold", "categorical_drift_method"}
    assert distribution["comparison_method"] in ("Simple", "Robust")
    assert distribution["categorical_drift_method"] in ("LInfinity", "ChiSquared")


def check_violations_shape(document: dict) -> None:
    assert set(document) == {"violations"}
    for violation in document["violations"]:
        assert set(violation) == {"feature_name", "constraint_check_type", "description"}
        assert violation["constraint_check_type"] in CHECK_TYPES
        assert isinstance(violation["feature_name"], str) and isinstance(violation["description"], str)


@pytest.fixture
def reports(tmp_path, write_csv, make_frame):
    baseline = make_frame(3000, seed=1)
    baseline["notes"] = None
    write_csv("train/data.csv", baseline)
    current = make_frame(3000, seed=9, shift=1.0, category_shares=(0.1, 0.1, 0.8))
    current = current.drop(columns=["count"])
    current["extra"] = "x"
    current.loc[current.index[:50], "colour"] = "purple"
    current.loc[current.index[:40], "weight"] = None
    current["length"] = current["length"].astype(object)
    current.loc[current.index[:30], "length"] = "n/a"
    write_csv("batch/data.csv", current)
    base = {"dataset_format": json.dumps({"csv": {"header": True}})}
    dq.run_analyzer({**base, "dataset_source": str(tmp_path / "train"), "output_path": str(tmp_path / "base")})
    dq.run_analyzer({**base, "dataset_source": str(tmp_path / "batch"), "output_path": str(tmp_path / "check"),
                     "baseline_statistics": str(tmp_path / "base/statistics.json"),
                     "baseline_constraints": str(tmp_path / "base/constraints.json")})
    return {name: json.loads((tmp_path / name).read_text()) for name in (
        "base/statistics.json", "base/constraints.json", "check/statistics.json", "check/constraints.json",
        "check/constraint_violations.json")}


def test_statistics_files_have_the_documented_shape(reports):
    check_statistics_shape(reports["base/statistics.json"])
    check_statistics_shape(reports["check/statistics.json"])
    types = {f["name"]: f["inferred_type"] for f in reports["base/statistics.json"]["features"]}
    assert types == {"colour": "String", "count": "Integral", "length": "Fractional", "weight": "Fractional",
                     "notes": "Unknown"}


def test_constraints_files_have_the_documented_shape(reports):
    check_constraints_shape(reports["base/constraints.json"])
    check_constraints_shape(reports["check/constraints.json"])


def test_violations_file_has_the_documented_shape_and_every_check_type(reports):
    document = reports["check/constraint_violations.json"]
    check_violations_shape(document)
    assert {v["constraint_check_type"] for v in document["violations"]} == CHECK_TYPES


def test_shape_checker_rejects_a_wrong_document(reports):
    broken = json.loads(json.dumps(reports["base/statistics.json"]))
    broken["features"][1]["numerical_statistics"]["distribution"]["kll"]["buckets"].pop()
    with pytest.raises(AssertionError):
        check_statistics_shape(broken)


def _is_stdlib(name: str) -> bool:
    """sys.stdlib_module_names is Python 3.10+; this test also runs in the image's Python 3.9 runtime."""
    if hasattr(sys, "stdlib_module_names"):
        return name in sys.stdlib_module_names
    if name in sys.builtin_module_names or name == "__future__":
        return True
    spec = importlib.util.find_spec(name)
    return spec is not None and "site-packages" not in str(spec.origin) and \
        not str(spec.origin).startswith(str(Path(__file__).resolve().parents[2]))


def test_module_runs_on_the_processing_image_python_and_imports_only_numpy_and_pandas():
    source = open(dq.__file__, encoding="utf-8").read()
    tree = ast.parse(source, feature_version=(3, 8))  # the scikit-learn processing image's Python
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    # The core package is imported only where the pipeline asks for result.json (it ships the `core` input);
    # everything else needs numpy and pandas alone, so the engine still runs by itself.
    assert {name for name in imported if not _is_stdlib(name)} == {"numpy", "pandas", "batchops_core"}
    lazy = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and any(isinstance(n, ast.ImportFrom) and n.module.startswith("batchops_core") for n in ast.walk(node))}
    assert lazy == {"write_step_result"}
    assert "__future__" in imported  # annotations stay unevaluated on older Pythons
