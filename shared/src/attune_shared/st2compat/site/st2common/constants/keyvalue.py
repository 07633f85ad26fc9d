"""Datastore scope names, as StackStorm spells them."""

SYSTEM_SCOPE = "system"
FULL_SYSTEM_SCOPE = "st2kv.system"
USER_SCOPE = "user"
FULL_USER_SCOPE = "st2kv.user"
DATASTORE_KEY_SEPARATOR = ":"
