"""`batchops`: the one command for every role (platform team, data engineer, data scientist, reviewer, CI).

Every command takes the environment from `--env` (default `local`, or `BATCHOPS_ENV`) and keeps local state in
`--home` (default `BATCHOPS_HOME`, else `<repo>/.local`). `local` talks to the emulator started by
`batchops emulator up`; other environments use the normal AWS credential chain. One module per command group;
the error policy (user error: one line, exit 2; unexpected: traceback, exit 1) is in `_base`.
"""

from __future__ import annotations

from batchops.cli import ci, config, data, dev, infra, local, models, pipelines, reporting, runs  # noqa: F401
from batchops.cli._base import app

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="batchops")


if __name__ == "__main__":
    main()
