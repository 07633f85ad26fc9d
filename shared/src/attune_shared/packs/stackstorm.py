"""StackStorm's pack files, as StackStorm writes them: one pydantic model per kind of file.

A file is read in StackStorm's form when it has StackStorm's identifying key (``name`` in
``pack.yaml``, actions, triggers and policies; ``class_name`` in sensors; ``policy_type`` in
policies). Keys StackStorm exports and ignores on import (``id``, ``uid``, ``ref``…) are accepted.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from attune_shared.packs.format import JsonSchema
from attune_shared.yamlfile import YamlBool

JsonObject = dict[str, Any]

#: StackStorm's pack ref pattern (``[a-z0-9_]+``); this project's own also allows ``-``.
STACKSTORM_PACK_REF: Final = re.compile(r"^[a-z0-9_]+$")
#: Packs StackStorm reserves; a pack installed here cannot take these names either.
RESERVED_PACKS: Final = frozenset({"_global", "packs"})
#: The shortest poll interval StackStorm allows, in seconds.
MIN_POLL_INTERVAL: Final = 4


def is_stackstorm(kind: str, data: dict[str, Any]) -> bool:
    """Whether a file of ``kind`` (``pack``, ``trigger``, ``action``, ``sensor``, ``policy``) is written
    in StackStorm's form."""
    if kind == "sensor":
        return "class_name" in data
    if kind == "policy":
        return "policy_type" in data
    return "name" in data


class St2File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # exported by StackStorm, ignored on import
    id: str | None = None
    uid: str | None = None
    ref: str | None = None
    metadata_file: str | None = None
    pack: str | None = None


class St2Pack(BaseModel):
    """``pack.yaml``. StackStorm allows keys of its own beyond these."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    ref: str | None = None
    description: str
    version: str
    author: str
    email: str | None = None
    keywords: list[str] = Field(default_factory=list)
    contributors: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    python_versions: list[str] = Field(default_factory=lambda: ["2", "3"])
    stackstorm_version: str | None = None
    system: JsonObject = Field(default_factory=dict)
    files: list[str] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        # StackStorm reads `version: 0.2` (a YAML number) as 0.2.0
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and re.fullmatch(r"\d+\.\d+", value):
            value = f"{value}.0"
        return value

    @field_validator("python_versions", mode="before")
    @classmethod
    def _python_versions(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value


class St2TriggerType(St2File):
    """A trigger type: ``triggers/*.yaml``, or an item of a sensor's ``trigger_types``."""

    name: str
    description: str = ""
    parameters_schema: JsonSchema = Field(default_factory=dict)
    payload_schema: JsonSchema = Field(default_factory=dict)
    tags: list[Any] = Field(default_factory=list)


class NotifyRoute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str | None = None
    data: JsonObject = Field(default_factory=dict)
    routes: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)


class Notify(BaseModel):
    """StackStorm's ``notify``: what to announce on ``core.st2.generic.notifytrigger`` when an action ends."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    on_complete: NotifyRoute | None = Field(default=None, alias="on-complete")
    on_success: NotifyRoute | None = Field(default=None, alias="on-success")
    on_failure: NotifyRoute | None = Field(default=None, alias="on-failure")


class St2Action(St2File):
    """``actions/*.yaml``."""

    name: str
    runner_type: str
    description: str = ""
    enabled: YamlBool = True
    entry_point: str = ""
    parameters: dict[str, JsonObject] = Field(default_factory=dict)
    output_schema: JsonSchema = Field(default_factory=dict)
    notify: Notify | None = None
    tags: list[Any] = Field(default_factory=list)


class St2Sensor(St2File):
    """``sensors/*.yaml``: a Python class in ``entry_point`` (relative to the YAML file's directory)."""

    class_name: str
    entry_point: str
    name: str | None = None
    description: str = ""
    enabled: YamlBool = True
    poll_interval: int | None = Field(default=None, ge=MIN_POLL_INTERVAL)
    trigger_types: list[St2TriggerType | str] = Field(default_factory=list)


PolicyType = Literal["action.concurrency", "action.concurrency.attr", "action.retry"]


class St2Policy(St2File):
    """``policies/*.yaml``."""

    name: str
    description: str = ""
    enabled: YamlBool = True
    resource_ref: str
    policy_type: PolicyType
    parameters: JsonObject = Field(default_factory=dict)


class ConcurrencyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: int = Field(gt=0)
    action: Literal["delay", "cancel"] = "delay"
    attributes: list[str] = Field(default_factory=list)


class RetryParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_on: Literal["failure", "timeout"]
    max_retry_count: int = Field(default=2, ge=0, le=5)
    delay: float = Field(default=0, ge=0, le=120)
