"""Built once per test run, for every process of it: `build_once_in(folder, build)`.

The first process that asks for `folder` builds it with `build(folder)` under an exclusive lock on a file beside
it; the others wait on that lock and then reuse the result. xdist workers are separate processes, so a module
fixture cannot share memory with another worker: a folder on disk and `fcntl.flock` (released when the file
closes, also when the process dies) are all it takes.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_once_in(folder: Path, build: Callable[[Path], None]) -> Path:
    """`folder`, built by `build(folder)` unless a process completed it already. A build that fails leaves no
    result: its error goes to the test that asked, and the next one to ask builds again (as it would have built
    its own)."""
    done = folder.with_name(f"{folder.name}.done")
    with _exclusive(folder.with_name(f"{folder.name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed or interrupted build left
            folder.mkdir(parents=True)
            build(folder)
            done.touch()
    return folder
