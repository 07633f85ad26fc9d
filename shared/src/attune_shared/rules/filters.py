"""The Jinja filters of rule templates: StackStorm's expression functions
(:mod:`attune_shared.expression_functions`), plus ``to_complex`` for criteria patterns and
``decrypt_kv`` for datastore secrets (``docs/source/reference/jinja.rst``), and ``shell_quote``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any, Final

from jinja2 import Undefined

from attune_shared.datastore import KeyLookup, resolve_lookups
from attune_shared.expression_functions import FUNCTIONS


def to_complex(value: Any) -> str:
    """JSON text of ``value``; criteria patterns use it to keep rendered values typed."""
    return json.dumps(resolve_lookups(value))


def use_none(value: Any) -> Any:
    """A whole-string template already keeps None; kept so StackStorm rules render unchanged."""
    return value


def decrypt_kv(value: Any) -> Any:
    """The clear value of a secret datastore key (``{{ st2kv.system.token | decrypt_kv }}``)."""
    if isinstance(value, Undefined):
        str(value)  # raises, naming the key that does not exist
    if not isinstance(value, KeyLookup):
        raise ValueError(
            "decrypt_kv applies to a secret datastore key (st2kv.system.<name> or st2kv.user.<name>)"
        )
    return value.decrypt()


def shell_quote(value: Any) -> str:
    """``value`` as one shell word (``shlex.quote``): ``cmd: echo {{ message | shell_quote }}``
    passes the message as data, never as shell syntax (docs/security.md)."""
    return shlex.quote(value if isinstance(value, str) else json.dumps(value))


FILTERS: Final[dict[str, Callable[..., Any]]] = {
    **FUNCTIONS,
    "to_complex": to_complex,
    "use_none": use_none,
    "decrypt_kv": decrypt_kv,
    "shell_quote": shell_quote,
}
