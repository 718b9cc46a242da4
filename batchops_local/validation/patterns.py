"""botocore's `pattern` traits are Java regular expressions; AWS matches the whole value (Java's
`Pattern.matches`). Each pattern is translated once and cached:
- Java's \\w \\d \\s are ASCII-only (no UNICODE_CHARACTER_CLASS), Python's are Unicode: spelled out as ASCII;
- a supplementary-plane range written as UTF-16 surrogates (\\uD800\\uDC00-\\uDBFF\\uDFFF) becomes the code
  point range U+10000-U+10FFFF;
- Unicode property classes (\\p{L}, \\p{N}, ...) need the `regex` package (the standard `re` has none).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

_SURROGATE_RANGE = re.compile(r"\\uD800\\uDC00-\\uDBFF\\uDFFF", re.IGNORECASE)
_NEEDS_REGEX = re.compile(r"\\[pP]\{")
_ASCII_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0b\\f\\r"}


def _ascii_classes(pattern: str) -> str:
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped in _ASCII_CLASSES:
                body = _ASCII_CLASSES[escaped]
                out.append(body if in_class else f"[{body}]")
                if in_class and pattern[index + 2 : index + 3] == "-":  # Java: a '-' after a class is literal
                    out.append("\\-")
                    index += 1
            elif escaped.lower() in _ASCII_CLASSES and not in_class:
                out.append(f"[^{_ASCII_CLASSES[escaped.lower()]}]")
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class and out and out[-1] not in ("[", "[^"):
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def translate(pattern: str) -> str:
    return _ascii_classes(_SURROGATE_RANGE.sub(r"\\U00010000-\\U0010FFFF", pattern))


@functools.cache
def matcher(pattern: str) -> Callable[[str], bool]:
    """A function telling whether a value satisfies the pattern (a full match, like Java's matches())."""
    translated = translate(pattern)
    if _NEEDS_REGEX.search(translated):
        import regex  # in constraints.txt; Unicode property classes are not in the standard `re`

        compiled = regex.compile(translated)
        return lambda value: compiled.fullmatch(value) is not None
    compiled_re = re.compile(translated)
    return lambda value: compiled_re.fullmatch(value) is not None
