"""Fixtures shared across test directories."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from batchops_core.results import ClassificationSummary

# The suite imports tests with importlib (folders are not on sys.path): add this one for run_once.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_once import build_once_in  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def classification_summaries() -> dict[str, ClassificationSummary]:
    """Realistic gate summaries by problem type: 'binary' (benign/malignant) and 'multiclass' (three iris species)."""
    document = json.loads((FIXTURES / "classification_summaries.json").read_text(encoding="utf-8"))
    return {name: ClassificationSummary(**summary) for name, summary in document.items() if not name.startswith("_")}



# ------------------------------------------------------------------------------------------- parallel runs
# `./run tests` runs the suite on pytest-xdist workers with `--dist loadscope --no-loadscope-reorder`: a test
# module (a test class, if any) is the unit of work, so a module-scoped fixture (an applied stack, a running
# emulator) is built once, on the one worker that runs the whole module; modules go to whichever worker is free,
# in collection order. tests/README.md ("Parallel runs") says how a new test joins a shared stack.


# Module fixtures that restore what build_once (below) built once per run.
RUN_WIDE_BUILDS = ("approved_stack",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: modules with a test marked slow (a Terraform apply, pipeline runs) first, so that the
    run does not end with one worker busy on a long module that started last; of the modules restoring a
    once-per-run build (RUN_WIDE_BUILDS), the first starts with the slow ones and builds it while the other
    workers run other modules, the rest come after the other slow modules and find it built instead of waiting
    for it. The sort is stable and by module: a module's tests stay together and in their order. A run in one
    process keeps the collection order."""
    if not hasattr(config, "workerinput"):
        return
    slow_modules = {item.path for item in items if item.get_closest_marker("slow") is not None}
    later_users: set[Path] = set()
    for fixture in RUN_WIDE_BUILDS:
        users = list(dict.fromkeys(item.path for item in items if fixture in getattr(item, "fixturenames", ())))
        later_users.update(users[1:])
    items.sort(key=lambda item: (item.path not in slow_modules, item.path in later_users))


# An xdist worker process finds COLUMNS=80 and LINES=24 in its environment at start-up that the run itself did not
# set; the CLI's console fixes its width from COLUMNS when it is imported, and tests that set a wide COLUMNS
# would then see wrapped tables. Each worker gets the controller's values instead (unset stays unset).
_TERMINAL_SIZE_VARIABLES = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    node.workerinput["terminal_size"] = {name: os.environ.get(name) for name in _TERMINAL_SIZE_VARIABLES}


def pytest_configure(config: pytest.Config) -> None:
    for name, value in getattr(config, "workerinput", {}).get("terminal_size", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# ------------------------------------------------------------------------------------------- built once per run
# Something expensive that tests only read (or copy before changing) is built by the first process of the run
# that needs it (tests/run_once.py): the xdist workers of one run share the parent of their base temporary
# directories. A new run starts from nothing.


@pytest.fixture(scope="session")
def build_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Callable[[Path], None]], Path]:
    """`build_once(name, build)`: the folder `name` of this run, made by `build(folder)` once for all workers."""
    base = tmp_path_factory.getbasetemp()
    run_folder = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return lambda name, build: build_once_in(run_folder / name, build)
