"""The layering check: import-linter's contracts in pyproject.toml hold for the project, and the check fails
when one forbidden import is added (run on a temporary copy of the tree)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["batchops", "batchops_local", "pipelines", "lambdas", "batchops_core"]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# contract id -> the imports its `ignore_imports` may list: known violations to remove, each named here (none today)
KNOWN_VIOLATIONS: dict[str, set[str]] = {}


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(tree)}  # the tree's packages before the editable install's
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_the_contracts_state_the_target_layering():
    by_id = {contract["id"]: contract for contract in contracts()}
    assert by_id["layers"]["layers"] == ["batchops", "batchops_local", "pipelines | lambdas", "batchops_core"]
    assert set(by_id["lambdas"]["forbidden_modules"]) == {"batchops", "batchops_local", "pipelines"}
    assert set(by_id["core"]["forbidden_modules"]) == {"batchops", "batchops_local", "pipelines", "lambdas"}
    assert set(by_id["acyclic"]["ancestors"]) == set(PACKAGES)
    ignored = {contract["id"]: set(contract.get("ignore_imports", [])) for contract in by_id.values()}
    assert {key: value for key, value in ignored.items() if value} == KNOWN_VIOLATIONS


def test_the_project_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    analysed = re.search(r"Analyzed (\d+) files", result.stdout)
    assert analysed and int(analysed.group(1)) >= 100, result.stdout  # the whole project, not an empty graph
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout, result.stdout


def copy_tree(destination: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


@pytest.mark.parametrize("module, line, broken", [
    ("batchops_core/s3uri.py", "import batchops.generated", "batchops_core is the leaf"),
    ("lambdas/approval_trigger/handler.py", "import pipelines.definitions", "The Lambdas import nothing"),
    ("pipelines/upsert.py", "from batchops import aws_session", "Layers:"),
    ("batchops_local/runtime.py", "import batchops.report", "Layers:"),
    ("pipelines/common/__init__.py", "import pipelines.inference.pipeline", "No cycles between the subpackages"),
])
def test_the_check_fails_on_a_forbidden_import(tmp_path, module, line, broken):
    tree = copy_tree(tmp_path)
    assert lint_imports(tree).returncode == 0  # the copy itself is clean: only the added line can break it
    target = tree / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # added by the test\n", encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    broken_section = result.stdout.split("Broken contracts", 1)[-1]
    assert broken in broken_section, result.stdout
