"""Orquesta's inline ``key=value`` parameters (``core.echo message="hi" count=3``).

A regex scan, as Orquesta's: text that is no ``key=value`` pair is ignored, and a bare word is
no value (``cmd=date`` parses nothing). Values, in priority order: ``[...]`` (to the last ``]``),
``"..."``, ``'...'``, a float, an int, ``true``/``false`` (any case), ``null``, ``<% %>``,
``{{ }}``. Quoted values stay strings (except a quoted ``{...}``, which is JSON); anything else
is JSON-decoded when it can be.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

_BRACKETS: Final = r"\[.*\]\s*"
_DOUBLE_QUOTED: Final = r"\"[^\"]*\"\s*"
_SINGLE_QUOTED: Final = r"'[^']*'\s*"
_VALUE: Final = "|".join(
    (
        _BRACKETS,
        _DOUBLE_QUOTED,
        _SINGLE_QUOTED,
        r"[-]?\d*\.\d+",
        r"[-]?\d+",
        r"(?i:true)",
        r"(?i:false)",
        r"null",
        r"<%.*?%>",
        r"{{.*?}}",
    )
)
_PAIR: Final = re.compile(rf"([\w]+)=({_VALUE})")
_QUOTED: Final = (re.compile(_DOUBLE_QUOTED), re.compile(_SINGLE_QUOTED))


def _value(text: str) -> Any:
    text = text.strip()
    quoted = any(pattern.search(text) for pattern in _QUOTED)
    text = re.sub('"$', "", re.sub('^"', "", text))
    text = re.sub("'$", "", re.sub("^'", "", text))
    if quoted and not (text[:1] == "{" and text[-1:] == "}"):
        return text
    try:
        return json.loads(text.lower() if text.lower() in ("true", "false") else text)
    except ValueError:
        return text


def parse_pairs(text: Any) -> list[tuple[str, Any]]:
    """The ``(key, value)`` pairs in ``text``, in order (nothing for a non-string)."""
    if not isinstance(text, str) or not text:
        return []
    return [(key, _value(value)) for key, value in _PAIR.findall(text)]
