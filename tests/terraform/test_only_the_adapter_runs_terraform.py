"""Every Terraform command of the project goes through batchops/terraform.py: no other file under scripts/ or
batchops/ runs the `terraform` binary.

A static scan looks at shell command positions and at Python process calls. `terraform version` stays allowed:
it probes which binary is installed (`batchops ci install-terraform`, like ./run's prerequisite check) and runs no
Terraform operation. tests/ci/test_ci_terraform_wrappers.py checks the same at run time: there every
`terraform` process of the wrappers is a child of the adapter.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "batchops" / "terraform.py"
SCANNED_DIRS = ("scripts", "batchops")
ALLOWED_SUBCOMMANDS = {"version"}

# `terraform` (or `.../terraform`, or a quoted one) where a shell expects a command: line start, after a
# separator or an opening `$(`, `{`, `(`, or after a keyword or prefix command.
_SHELL_COMMAND = re.compile(
    r"""(?:^|[;&|({`]|\$\(|\b(?:then|do|else|exec|command|time|env|sudo|xargs)\s)\s*
        ["']?(?:[\w.${}/-]*/)?terraform["']?(?=\s|$|\))(?P<rest>.*)""",
    re.VERBOSE)
_PROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "system", "popen", "getoutput",
                  "getstatusoutput", "execv", "execvp", "execve", "execvpe", "execl", "execlp", "spawnv", "spawnvp"}


def _first_word(rest: str) -> str:
    words = [w for w in rest.split() if not w.startswith("-")]
    return words[0].strip("\"'") if words else ""


def shell_invocations(text: str) -> list[str]:
    """Lines of shell code that run terraform with anything but an allowed subcommand."""
    found = []
    for line in text.splitlines():
        code = re.sub(r"(^|\s)#.*$", "", line)  # comments mention commands without running them
        for match in _SHELL_COMMAND.finditer(code):
            if _first_word(match.group("rest")) not in ALLOWED_SUBCOMMANDS:
                found.append(line.strip())
                break
    return found


def _names_terraform(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and (
        node.value == "terraform" or node.value.endswith("/terraform") or node.value.startswith("terraform "))


def _subcommand(args: list[ast.expr]) -> str:
    for arg in args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            words = [w for w in arg.value.split() if w != "terraform" and not w.startswith("-")]
            if words:
                return words[0]
    return ""


def python_invocations(text: str) -> list[str]:
    """Process calls whose command is the terraform binary, other than allowed subcommands."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in _PROCESS_CALLS:
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            elements = arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg]
            if elements and _names_terraform(elements[0]) and _subcommand(elements) not in ALLOWED_SUBCOMMANDS:
                found.append(f"line {node.lineno}: {ast.unparse(node)[:120]}")
    return found


def _is_shell(path: Path) -> bool:
    if path.suffix in (".sh", ".bash"):
        return True
    try:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    except (UnicodeDecodeError, OSError):
        return False
    return path.suffix == "" and first.startswith("#!") and re.search(r"\b(ba)?sh\b", first) is not None


def scanned_files() -> list[Path]:
    files = []
    for directory in SCANNED_DIRS:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path != ADAPTER and (
                    path.suffix == ".py" or _is_shell(path)):
                files.append(path)
    return files


def test_no_file_but_the_adapter_runs_terraform() -> None:
    files = scanned_files()
    # The scan sees the CI wrappers and the CLI (infra commands, the pinned-Terraform installer).
    scanned = {str(p.relative_to(ROOT)) for p in files}
    assert {"scripts/ci/common.sh", "scripts/ci/plan.sh", "batchops/cli/ci.py", "batchops/cli/infra.py"} <= scanned
    offenders = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = python_invocations(text) if path.suffix == ".py" else shell_invocations(text)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}, "run these through batchops/terraform.py (the `batchops infra` commands)"


@pytest.mark.parametrize("line", [
    'terraform -chdir="$TF_ROOT" plan -out=x',
    'tf() { terraform -chdir="$TF_ROOT" "$@"; }',
    'out="$(terraform show -json plan)"',
    "  exec terraform apply plan.tfplan",
    "if true; then terraform destroy -auto-approve; fi",
    '"$dir/terraform" init -backend=false',
    "command terraform fmt -check",
])
def test_the_shell_scan_finds_terraform_commands(line: str) -> None:
    assert shell_invocations(line) == [line.strip()]


@pytest.mark.parametrize("line", [
    "# terraform plan is run by the adapter",
    'say "terraform plan ($env)"',
    'echo "==> terraform fmt -check"',
    'tf_version="$(terraform version -json)"',
    'terraform_adapter "$env" plan --out "$out/plan.tfplan"',
    "export TF_DATA_DIR=.local/terraform/prod/data",
])
def test_the_shell_scan_leaves_other_lines_alone(line: str) -> None:
    assert shell_invocations(line) == []


def test_the_python_scan_finds_process_calls_of_terraform() -> None:
    code = ('import os, subprocess\n'
            'subprocess.run(["terraform", "plan", "-out=x"], check=True)\n'
            'subprocess.Popen(("/usr/bin/terraform", "-chdir=terraform", "apply"))\n'
            'os.system("terraform destroy -auto-approve")\n'
            'subprocess.run(["terraform", "version"])\n'
            'print("run terraform plan first")\n')
    found = python_invocations(code)
    assert [entry.split(":")[0] for entry in found] == ["line 2", "line 3", "line 4"]
