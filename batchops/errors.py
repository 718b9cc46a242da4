"""The one base class of user errors: problems the person at the keyboard can fix from the message alone.

The CLI prints a `UserError` as one line on stderr and exits 2. Everything else that escapes a command is a
bug or an unexpected failure and keeps its traceback (exit 1). Raise a `UserError` subclass deliberately where
the cause is known (a bad argument, a missing input file, a missing resource, a refused input); never catch
broad built-in exceptions to turn them into one.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment; the message says what and where, in one line."""
