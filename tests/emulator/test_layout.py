"""The emulator's layout: one folder per AWS service (as moto), the launcher and shared parts at the top, every
service module listed in the README, so "where does this AWS behaviour live?" has one answer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

EMULATOR = Path(__file__).resolve().parents[2] / "batchops_local" / "emulator"
TOP_LEVEL = {"__init__", "server", "contracts", "context", "patching", "service_warmup", "persistence", "accounts",
             "policies"}
SERVICES = {"events", "awslambda", "sns", "sagemaker", "s3", "sqs", "kms"}


def service_modules(service: str) -> list[Path]:
    return sorted(path for path in (EMULATOR / service).glob("*.py") if path.name != "__init__.py")


def defines_install(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "install" for node in tree.body)


def test_only_the_launcher_and_shared_parts_are_at_the_top():
    assert {path.stem for path in EMULATOR.glob("*.py")} == TOP_LEVEL
    folders = {path.name for path in EMULATOR.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == SERVICES


def test_each_service_installs_all_of_its_patches():
    for service in SERVICES:
        package = EMULATOR / service / "__init__.py"
        assert defines_install(package), f"{service}/__init__.py has no install(patcher)"
        init_source = package.read_text(encoding="utf-8")
        for module in service_modules(service):
            if defines_install(module):
                assert f"{module.stem}.install(patcher)" in init_source, f"{service}.install skips {module.stem}"
    server = (EMULATOR / "server.py").read_text(encoding="utf-8")
    assert "for service in (events, s3, sqs, sns, awslambda, sagemaker, kms)" in server


def test_the_readme_lists_every_service_module():
    readme = (EMULATOR / "README.md").read_text(encoding="utf-8")
    for service in SERVICES:
        for module in service_modules(service):
            assert f"`{service}/{module.stem}`" in readme, f"README.md does not describe {service}/{module.stem}"


def test_importing_the_service_packages_loads_no_moto():
    code = ("import sys\n"
            + "".join(f"import batchops_local.emulator.{service}\n" for service in sorted(SERVICES))
            + "import batchops_local.emulator.events.input_transform\n"
            + "print(sorted(name for name in sys.modules if name.split('.')[0] == 'moto'))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
