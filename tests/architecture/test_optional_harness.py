"""The local harness is optional: the product imports and installs without it, and a command that needs it says
how to install it.

Each check runs in a subprocess whose imports of the `local` extra's and the test tools' modules fail (a meta-path
finder raising ImportError), as on a machine with `pip install batchops` only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import batchops_local

ROOT = Path(__file__).resolve().parents[2]
# the `local` extra's modules and the test tools: none may be needed by the product
BLOCKED = sorted({*batchops_local.LOCAL_EXTRA_MODULES, "moto", "xgboost", "jsonschema", "yaml", "pytest", "sklearn"})
PRODUCT_MODULES = [
    "batchops.cli",
    "batchops.terraform",
    "pipelines.definitions",
    "pipelines.upsert",
    "lambdas.notification.handler",
    "lambdas.approval_trigger.handler",
    "lambdas.retrain_trigger.handler",
]

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set({blocked!r})
    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: not installed in this test")
            return None
    sys.meta_path.insert(0, Blocker())
""").format(blocked=BLOCKED)


def run_blocked(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code), *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300)


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_blocker_blocks():
    result = run_blocked("""
        for name in BLOCKED:
            try:
                __import__(name)
            except ImportError:
                continue
            raise SystemExit(f"{name} was importable")
    """)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_product_imports_without_the_harness_or_test_tools():
    result = run_blocked("""
        import importlib, json
        for module in sys.argv[1:]:
            importlib.import_module(module)
        print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)))
    """, *PRODUCT_MODULES)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_starting_the_harness_without_the_extra_says_how_to_install_it(tmp_path):
    result = run_blocked("""
        from batchops_local import LocalExtraMissing, runtime
        for start in (runtime.start_local_aws, runtime.start_background):
            try:
                start(sys.argv[1])
            except LocalExtraMissing as error:
                print(error)
            else:
                raise SystemExit(f"{start.__name__} started without the local extra")
        try:
            from batchops_local.emulator import Emulator
        except LocalExtraMissing as error:
            print(error)
    """, str(tmp_path))
    assert result.returncode == 0, result.stderr
    messages = result.stdout.splitlines()
    assert len(messages) == 3, result.stdout
    for message in messages:
        assert "install it with: pip install 'batchops[local]'" in message
        assert "moto[server]" in message and "xgboost-cpu" in message
    assert not (tmp_path / "emulator.json").exists()  # no background process was started


def test_a_harness_command_without_the_extra_is_one_line_and_exit_2(tmp_path):
    result = run_blocked("""
        from batchops.cli import main
        sys.argv = ["batchops", "emulator", "up"]
        main()
    """, env={"BATCHOPS_HOME": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "pip install 'batchops[local]'" in result.stderr, result.stderr


def test_the_runtime_dependencies_leave_the_harness_and_test_tools_to_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = requirement_names(project["dependencies"])
    local = requirement_names(project["optional-dependencies"]["local"])
    dev = requirement_names(project["optional-dependencies"]["dev"])
    assert runtime.isdisjoint({"moto", "xgboost", "xgboost-cpu", "jsonschema", "pyyaml", "croniter", "psutil",
                               "pytest", "ruff", "import-linter", "scikit-learn"}), runtime
    assert {"moto", "xgboost-cpu", "croniter", "psutil"} <= local
    assert {requirement_names([name]).pop() for name in batchops_local.LOCAL_EXTRA_MODULES.values()} <= local
    assert {"pytest", "ruff", "import-linter", "jsonschema", "pyyaml"} <= dev
    assert 'install --quiet -c constraints.txt -e ".[local,dev]"' in (ROOT / "run").read_text(encoding="utf-8")


def test_every_pinned_requirement_is_in_the_constraints_at_the_same_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    frozen = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            frozen[name.lower().replace("_", "-")] = version
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?==([^\s;]+)", requirement.split("#")[0].strip())
        if match:
            name, version = match.group(1).lower().replace("_", "-"), match.group(2)
            assert frozen.get(name) == version, f"{requirement}: constraints.txt has {frozen.get(name)}"
