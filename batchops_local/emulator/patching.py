"""Revertible monkeypatches of private moto names (moto is pinned to 5.2.5 for exactly this reason).

The emulator applies its patches when it starts and removes them when it stops, so code in the same
process that uses plain `moto.mock_aws` (unit tests of the Lambda handlers, for instance) sees stock moto.
"""

from __future__ import annotations

import threading
from typing import Any

_MISSING = object()


class Patcher:
    def __init__(self) -> None:
        self._originals: list[tuple[Any, str, Any]] = []
        self._lock = threading.Lock()

    def replace(self, owner: Any, name: str, replacement: Any) -> Any:
        """Set `owner.name` to `replacement`; return what was there (None if it did not exist)."""
        with self._lock:
            original = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
            if original is _MISSING and hasattr(owner, name):
                original = getattr(owner, name)  # inherited attribute: restored by deleting ours
                self._originals.append((owner, name, _MISSING))
            else:
                self._originals.append((owner, name, original))
            setattr(owner, name, replacement)
            return None if original is _MISSING else original

    def restore_all(self) -> None:
        with self._lock:
            while self._originals:
                owner, name, original = self._originals.pop()
                if original is _MISSING:
                    try:
                        delattr(owner, name)
                    except AttributeError:
                        pass
                else:
                    setattr(owner, name, original)
