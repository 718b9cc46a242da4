"""tests/run_once.py: what several processes of one run ask for at the same time is built by exactly one of them,
the others get the finished result; a failed build is not reused."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from run_once import build_once_in  # tests/ is on sys.path by tests/conftest.py

PROCESSES = 4


def _slow_build(folder: Path) -> None:
    with open(folder.parent / "builds.log", "a") as log:
        log.write("built\n")
    time.sleep(0.5)  # the others arrive while this one builds
    (folder / "result.txt").write_text("complete")


def _ask(folder: str, answers: multiprocessing.Queue) -> None:
    built = build_once_in(Path(folder), _slow_build)
    answers.put((built / "result.txt").read_text())


def test_processes_asking_at_once_get_one_build_and_its_complete_result(tmp_path):
    context = multiprocessing.get_context("fork")  # separate processes, as xdist workers are
    answers = context.Queue()
    processes = [context.Process(target=_ask, args=(str(tmp_path / "shared"), answers)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    assert sorted(answers.get(timeout=5) for _ in processes) == ["complete"] * PROCESSES
    assert (tmp_path / "builds.log").read_text() == "built\n"


def test_a_failed_build_raises_to_its_asker_and_the_next_asker_builds_again(tmp_path):
    folder = tmp_path / "shared"

    def failing(target: Path) -> None:
        (target / "partial.txt").write_text("half")
        raise RuntimeError("the build broke")

    with pytest.raises(RuntimeError, match="the build broke"):
        build_once_in(folder, failing)
    assert build_once_in(folder, _slow_build) == folder
    assert sorted(path.name for path in folder.iterdir()) == ["result.txt"]  # nothing of the failed build
    assert build_once_in(folder, failing) == folder  # done: not built again
