"""`python -m batchops.cli` = `batchops` (for wrappers that hold an interpreter rather than the console script)."""

from batchops.cli import main

main()
