"""`batchops dev`: contributor chores. `dev regenerate` rewrites the files generated from core definitions."""

from __future__ import annotations

import typer

from batchops.cli._base import command, console, err_console, group

dev_app = group("dev", "Contributor chores: regenerate the files generated from core definitions.")


@command(dev_app, "regenerate")
def regenerate(check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 listing stale files.")
               ) -> None:
    """Rewrite the generated files (batchops/generated.py) that differ from what the core says now."""
    from batchops import generated

    if check:
        stale = generated.stale()
        for path in stale:
            err_console.print(f"stale: {path} (run `batchops dev regenerate`)", markup=False)
        if stale:
            raise typer.Exit(1)
        console.print(f"{len(generated.GENERATED)} generated file(s) up to date")
        return
    written = generated.write_all()
    for path in written:
        console.print(f"written: {path}", markup=False)
    if not written:
        console.print("nothing to regenerate")
