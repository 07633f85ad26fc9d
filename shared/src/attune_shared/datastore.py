"""The datastore: keys automations read and write, as StackStorm's key-value store.

A key lives in the ``system`` scope (shared) or in one user's ``user`` scope, holds a string or
any JSON value, may be a secret (encrypted at rest with :class:`~attune_shared.secrets.SecretBox`)
and may expire (``ttl`` seconds): an expired key no longer exists for readers, and the maintenance
leader deletes it.

Templates read keys as StackStorm's do — ``{{ st2kv.system.name }}``, ``{{ st2kv.user.name }}``,
dotted names (``st2kv.system.a.b`` is the key ``a.b``), ``{{ st2kv.system.token | decrypt_kv }}``
for a secret — through :meth:`Datastore.template_context`, which loads the keys a set of templates
names in one query. A key that does not exist is an error naming it, unless the template gives a
``| default(...)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from jinja2 import StrictUndefined

from attune_shared.models import Key, KeyScope
from attune_shared.repos import KeyRepository
from attune_shared.secrets import MASK, SecretBox
from attune_shared.types import Queryable

#: The name templates read the datastore under (StackStorm's).
ROOT: Final = "st2kv"

#: ``st2kv.system.a.b`` and ``st2kv.user['a-b']``: scope, then a dotted or bracketed name.
_REFERENCE: Final = re.compile(
    r"\bst2kv\s*\.\s*(system|user)((?:\s*\.\s*[A-Za-z0-9_]+|\s*\[\s*(?:'[^']*'|\"[^\"]*\")\s*\])+)"
)
_PART: Final = re.compile(r"\.\s*([A-Za-z0-9_]+)|\[\s*(?:'([^']*)'|\"([^\"]*)\")\s*\]")


def parse_scope(text: str) -> KeyScope:
    """``system`` / ``user``, also as StackStorm writes them (``st2kv.system``, ``st2kv.user``)."""
    value = text.removeprefix(f"{ROOT}.")
    try:
        return KeyScope(value)
    except ValueError:
        raise ValueError(f"unknown datastore scope {text!r} (expected system or user)") from None


@dataclass(frozen=True)
class KeyValue:
    """A key as readers see it. ``value`` is the value (parsed JSON when it was not a string), or
    ``None`` for a secret read without decryption; ``ciphertext`` is a secret's stored form."""

    name: str
    scope: KeyScope
    user: str
    value: Any
    secret: bool
    description: str
    expires_at: datetime | None
    ciphertext: str | None = None
    is_json: bool = False

    def shown(self) -> Any:
        """The value as shown to people: a secret not decrypted is :data:`MASK`."""
        return MASK if self.secret and self.value is None else self.value


class Datastore:
    """Reads and writes keys through ``db``, with ``box`` for secrets."""

    def __init__(self, db: Queryable, box: SecretBox) -> None:
        self.repo = KeyRepository(db)
        self.box = box

    async def get(
        self, name: str, *, scope: KeyScope = KeyScope.SYSTEM, user: str = "", decrypt: bool = False
    ) -> KeyValue | None:
        row = await self.repo.get(scope, _owner(scope, user), name)
        return None if row is None else self.read(row, decrypt=decrypt)

    async def set(
        self,
        name: str,
        value: Any,
        *,
        scope: KeyScope = KeyScope.SYSTEM,
        user: str = "",
        secret: bool = False,
        ttl: float | None = None,
        description: str = "",
    ) -> KeyValue:
        """Create or replace a key (a replacement without ``ttl`` never expires, as in StackStorm)."""
        is_json = not isinstance(value, str)
        text = json.dumps(value, separators=(",", ":")) if is_json else value
        row = await self.repo.put(
            {
                "name": name,
                "scope": scope,
                "owner": _owner(scope, user),
                "value": self.box.encrypt(text) if secret else text,
                "encrypted": secret,
                "is_json": is_json,
                "description": description,
                "expires_at": None if ttl is None else datetime.now(UTC) + timedelta(seconds=ttl),
            }
        )
        return self.read(row, decrypt=False)

    async def delete(self, name: str, *, scope: KeyScope = KeyScope.SYSTEM, user: str = "") -> bool:
        return await self.repo.delete(scope, _owner(scope, user), name)

    async def list(
        self,
        *,
        prefix: str | None = None,
        scope: KeyScope | None = None,
        user: str | None = None,
        after: str | None = None,
        limit: int = 100,
        decrypt: bool = False,
    ) -> list[KeyValue]:
        owner = None if user is None else _owner(scope or KeyScope.USER, user)
        rows = await self.repo.list(scope=scope, owner=owner, prefix=prefix, after=after, limit=limit)
        return [self.read(row, decrypt=decrypt) for row in rows]

    def read(self, row: Key, *, decrypt: bool) -> KeyValue:
        """A stored row as a :class:`KeyValue` (decrypting a secret only when asked).

        :raises SecretDecryptError: a secret encrypted with another key.
        """
        value: Any = None
        if not row.encrypted or decrypt:
            text = self.box.decrypt(row.value) if row.encrypted else row.value
            value = json.loads(text) if row.is_json else text
        return KeyValue(
            name=row.name,
            scope=row.scope,
            user=row.owner,
            value=value,
            secret=row.encrypted,
            description=row.description,
            expires_at=row.expires_at,
            ciphertext=row.value if row.encrypted else None,
            is_json=row.is_json,
        )

    async def template_context(self, sources: Iterable[Any], *, user: str) -> dict[str, Any]:
        """``{"st2kv": ...}`` for rendering ``sources`` (strings, or dicts and lists of them): every
        key they name is loaded now, in one query; ``user`` owns the ``st2kv.user`` scope."""
        wanted = {(scope, _owner(scope, user), name) for scope, name in references(sources)}
        rows = await self.repo.get_by_names(wanted)
        keys = {(k[0], k[2]): self.read(row, decrypt=False) for k, row in rows.items()}
        return {ROOT: _Root(keys, self.box)}


def references(sources: Iterable[Any]) -> set[tuple[KeyScope, str]]:
    """The ``(scope, name)`` of every key the templates in ``sources`` may read: for
    ``st2kv.system.a.b`` both ``a`` and ``a.b`` (a dotted name is tried at each level)."""
    found: set[tuple[KeyScope, str]] = set()
    for text in _strings(sources):
        if ROOT not in text:
            continue
        for match in _REFERENCE.finditer(text):
            parts = [m.group(1) or m.group(2) or m.group(3) or "" for m in _PART.finditer(match.group(2))]
            scope = KeyScope(match.group(1))
            for end in range(1, len(parts) + 1):
                found.add((scope, ".".join(parts[:end])))
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _strings(item)


def _owner(scope: KeyScope, user: str) -> str:
    return user if scope is KeyScope.USER else ""


class KeyLookup:
    """``st2kv.<scope>.<name>`` inside a template: a key's value where one exists, and a step
    towards longer dotted names."""

    def __init__(
        self, keys: Mapping[tuple[KeyScope, str], KeyValue], box: SecretBox, scope: KeyScope, name: str
    ):
        self._keys = keys
        self._box = box
        self._scope = scope
        self._name = name

    @property
    def reference(self) -> str:
        return f"{ROOT}.{self._scope}.{self._name}"

    def key(self) -> KeyValue | None:
        return self._keys.get((self._scope, self._name))

    def resolve(self) -> Any:
        """The key's value (a secret's ciphertext, as StackStorm renders it without ``decrypt_kv``).

        :raises KeyError: naming the key when it does not exist.
        """
        key = self.key()
        if key is None:
            raise KeyError(f"datastore key {self.reference} does not exist")
        return key.ciphertext if key.secret else key.value

    def decrypt(self) -> Any:
        """A secret's clear value (``| decrypt_kv``); a plain key's value as it is."""
        key = self.key()
        if key is None:
            raise KeyError(
                f'Referenced datastore item "{self.reference}" doesn\'t exist or it contains an empty string'
            )
        if not key.secret:
            return key.value
        assert key.ciphertext is not None
        text = self._box.decrypt(key.ciphertext)
        return json.loads(text) if key.is_json else text

    def __getattr__(self, part: str) -> Any:
        if part.startswith("_"):
            raise AttributeError(part)
        return _step(self._keys, self._box, self._scope, f"{self._name}.{part}")

    def __getitem__(self, part: str) -> Any:
        return _step(self._keys, self._box, self._scope, f"{self._name}.{part}")

    def __str__(self) -> str:
        value = self.resolve()
        return value if isinstance(value, str) else json.dumps(value)

    def __repr__(self) -> str:
        return f"<{self.reference}>"


class _Scope:
    def __init__(
        self, keys: Mapping[tuple[KeyScope, str], KeyValue], box: SecretBox, scope: KeyScope
    ) -> None:
        self._keys, self._box, self._scope = keys, box, scope

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _step(self._keys, self._box, self._scope, name)

    def __getitem__(self, name: str) -> Any:
        return _step(self._keys, self._box, self._scope, name)


class _Root:
    def __init__(self, keys: Mapping[tuple[KeyScope, str], KeyValue], box: SecretBox) -> None:
        self.system = _Scope(keys, box, KeyScope.SYSTEM)
        self.user = _Scope(keys, box, KeyScope.USER)


def _step(keys: Mapping[tuple[KeyScope, str], KeyValue], box: SecretBox, scope: KeyScope, name: str) -> Any:
    """The lookup of ``name``: a plain key's value itself (so filters and operators see it as it
    is); a :class:`KeyLookup` for a secret (``| decrypt_kv``) or a step towards a longer dotted name;
    otherwise an undefined value naming the key (so ``| default(...)`` applies)."""
    key = keys.get((scope, name))
    deeper = any(s is scope and n.startswith(f"{name}.") for s, n in keys)
    if key is not None and not key.secret and not deeper:
        return key.value
    if key is not None or deeper:
        return KeyLookup(keys, box, scope, name)
    return StrictUndefined(hint=f"datastore key {ROOT}.{scope}.{name} does not exist")


def resolve_lookups(value: Any) -> Any:
    """``value`` with every :class:`KeyLookup` replaced by its key's value (whole-expression
    templates keep the value's type)."""
    if isinstance(value, KeyLookup):
        return value.resolve()
    if isinstance(value, dict):
        return {k: resolve_lookups(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_lookups(v) for v in value]
    return value
