"""``self.action_service`` and ``self.sensor_service``: the datastore, dispatch, loggers, config."""

from __future__ import annotations

import logging
from typing import Any

from attune_st2.channel import Channel
from attune_st2.logs import sensor_logger

SYSTEM_SCOPES = ("system", "st2kv.system")


class PackConfig(dict):  # type: ignore[type-arg]
    """The pack config; a missing key names the pack and the key (``.get()`` is safe)."""

    def __init__(self, pack: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.pack = pack

    def __missing__(self, key: str) -> Any:
        raise KeyError(
            f'Config for pack "{self.pack}" is missing key "{key}". Make sure that the config file '
            f"exists and that it contains this key."
        )


class KeyValue:
    """One listed datastore item."""

    def __init__(self, name: str, value: str, secret: bool) -> None:
        self.name = name
        self.value = value
        self.secret = self.encrypted = secret
        self.scope = "st2kv.system"

    def __repr__(self) -> str:
        return f"KeyValuePair(name={self.name!r})"


class DatastoreMethods:
    """``get_value``, ``set_value``, ``delete_value``, ``list_values``: StackStorm's signatures."""

    def __init__(self, channel: Channel, pack: str, class_name: str, logger: logging.Logger) -> None:
        self._channel = channel
        self._prefix = f"{pack}.{class_name}:"
        self._logger = logger

    def _name(self, name: str, local: bool) -> str:
        return f"{self._prefix}{name}" if local else name

    @staticmethod
    def _check_scope(scope: str) -> None:
        if scope not in SYSTEM_SCOPES:
            raise ValueError(f"Scope {scope} is unsupported.")

    def list_values(
        self, local: bool = True, prefix: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[KeyValue]:
        full = self._name(prefix or "", local)
        items = [KeyValue(**item) for item in self._channel.request("kv.list", prefix=full)]
        end = None if limit is None else offset + limit
        return items[offset:end]

    def get_value(self, name: str, local: bool = True, scope: str = "system", decrypt: bool = False) -> Any:
        self._check_scope(scope)
        try:
            return self._channel.request("kv.get", name=self._name(name, local), decrypt=decrypt)
        except Exception as exc:
            self._logger.debug("Unable to retrieve key %s: %s", name, exc)
            return None

    def set_value(
        self,
        name: str,
        value: Any,
        ttl: int | None = None,
        local: bool = True,
        scope: str = "system",
        encrypt: bool = False,
    ) -> bool:
        self._check_scope(scope)
        self._channel.request(
            "kv.set", name=self._name(name, local), value=str(value), ttl=ttl, encrypt=encrypt
        )
        return True

    def delete_value(self, name: str, local: bool = True, scope: str = "system") -> bool:
        self._check_scope(scope)
        try:
            return bool(self._channel.request("kv.delete", name=self._name(name, local)))
        except Exception as exc:
            self._logger.debug("Unable to delete key %s: %s", name, exc)
            return False

    def get_user_info(self) -> dict[str, Any]:
        return {"username": "stanley", "rbac": {"is_admin": True, "enabled": False, "roles": []}}


class ActionService(DatastoreMethods):
    """What a python-script action gets as ``self.action_service``."""

    def __init__(
        self, channel: Channel, pack: str, class_name: str, log_level: str, logger: logging.Logger
    ) -> None:
        super().__init__(channel, pack, class_name, logger)
        self.pack = pack
        self.log_level = log_level

    @property
    def datastore_service(self) -> ActionService:
        return self


class SensorService(DatastoreMethods):
    """What a sensor gets as ``self.sensor_service``."""

    def __init__(self, channel: Channel, pack: str, class_name: str) -> None:
        self._logger_name = f"SensorWrapper.{pack}.{class_name}"
        super().__init__(channel, pack, class_name, sensor_logger(self._logger_name))

    def get_logger(self, name: str) -> logging.Logger:
        logger: logging.Logger = sensor_logger(f"{self._logger_name}.{name}")
        return logger

    def dispatch(
        self, trigger: Any, payload: dict[str, Any] | None = None, trace_tag: str | None = None
    ) -> None:
        """Send a trigger instance: it becomes an event once the trigger accepts its payload."""
        self._channel.request(
            "dispatch", trigger=_trigger_ref(trigger), payload=payload or {}, trace_tag=trace_tag
        )

    def dispatch_with_context(
        self, trigger: Any, payload: dict[str, Any] | None = None, trace_context: Any = None
    ) -> None:
        trace_tag = getattr(trace_context, "trace_tag", None) or (
            trace_context.get("trace_tag") if isinstance(trace_context, dict) else None
        )
        self.dispatch(trigger, payload, trace_tag)


def _trigger_ref(trigger: Any) -> str:
    if isinstance(trigger, dict):
        return str(trigger.get("type") or trigger.get("ref"))
    return str(trigger)
