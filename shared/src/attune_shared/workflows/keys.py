"""``st2kv()`` for the workflow engine: the conductor is pure and synchronous, so a key it reads
is loaded on demand (:class:`~attune_shared.workflows.errors.KeyNeeded`, then the step is
repeated with the key given), and read as StackStorm's ``st2kv`` reads it."""

from __future__ import annotations

import json
from typing import Any

from attune_shared.constants import SYSTEM_USER
from attune_shared.datastore import Datastore, KeyValue
from attune_shared.models import KeyScope
from attune_shared.workflows.errors import ExpressionEvaluationException, KeyNeeded

_SYSTEM_PREFIX = "system."


class StepKeys:
    """The datastore keys one transaction's steps have read (``None``: the key does not exist)."""

    def __init__(self, datastore: Datastore) -> None:
        self.datastore = datastore
        self.loaded: dict[tuple[str, str, str], KeyValue | None] = {}

    async def load(self, need: KeyNeeded) -> None:
        scope, owner, name = need.key
        self.loaded[need.key] = await self.datastore.get(name, scope=KeyScope(scope), user=owner)

    def __call__(self, key: str, decrypt: bool, has_default: bool, default: Any, user: str | None) -> Any:
        """``st2kv(key, decrypt=, default=)``: ``system.<name>`` is a system key, anything else
        the workflow user's; a missing key is its default when one is given."""
        if key.startswith(_SYSTEM_PREFIX):
            wanted = (str(KeyScope.SYSTEM), "", key.removeprefix(_SYSTEM_PREFIX))
        else:
            wanted = (str(KeyScope.USER), user or SYSTEM_USER, key)
        if wanted not in self.loaded:
            raise KeyNeeded(*wanted)
        found = self.loaded[wanted]
        stored = wanted[2] if not wanted[1] else f"{wanted[1]}:{wanted[2]}"
        if found is None:
            if has_default:
                return default
            raise ExpressionEvaluationException(
                f'The key "{stored}" does not exist in the StackStorm datastore.'
            )
        if not found.secret:
            if decrypt:
                raise ExpressionEvaluationException(
                    f'The key "{stored}" is not a secret: it cannot be decrypted.'
                )
            return found.value
        if not decrypt:
            return found.ciphertext
        assert found.ciphertext is not None
        text = self.datastore.box.decrypt(found.ciphertext)
        return json.loads(text) if found.is_json else text
