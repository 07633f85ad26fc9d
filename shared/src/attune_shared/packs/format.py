"""The pack file format: one pydantic model per kind of file. Unknown keys are errors.

These models check shape and types only; :mod:`attune_shared.packs.loader` checks refs, JSON
Schemas and files on disk, and turns each file into the row it registers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from attune_shared.models.action import OutputFormat, RunnerType
from attune_shared.models.policy import ConcurrencyMethod
from attune_shared.packs.schemas import schema_booleans
from attune_shared.yamlfile import YamlBool

#: Semantic Versioning 2.0.0 (https://semver.org), as the ``pack.version`` CHECK constraint.
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

#: Entry points of the ``builtin`` runner (run in-process by the executor).
BUILTIN_ACTIONS = ("noop", "echo", "sleep")

SensorRunnerType = Literal["builtin", "shell", "python"]

JsonObject = dict[str, Any]


def _schema_booleans(value: Any) -> Any:
    return schema_booleans(value) if isinstance(value, dict) else value


#: A JSON Schema in a pack file; YAML 1.1 booleans where it means booleans are read as such.
JsonSchema = Annotated[JsonObject, BeforeValidator(_schema_booleans)]


class PackFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PackMeta(PackFileModel):
    """``pack.yaml``."""

    ref: str
    label: str = ""
    description: str = ""
    version: str
    config_schema: JsonSchema = Field(default_factory=dict)
    config: JsonObject = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _semver(cls, value: object) -> object:
        if not isinstance(value, str) or not SEMVER_RE.match(value):
            raise ValueError(f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
        return value


class TriggerFile(PackFileModel):
    """``triggers/*.yaml``."""

    ref: str
    label: str = ""
    description: str = ""
    enabled: YamlBool = True
    parameters_schema: JsonSchema = Field(default_factory=dict)
    payload_schema: JsonSchema = Field(default_factory=dict)


class FlatParameter(BaseModel):
    """One entry of a StackStorm-style ``parameters`` map; other keys are JSON Schema keywords."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _booleans(cls, data: Any) -> Any:
        return _schema_booleans(data)


class ActionFile(PackFileModel):
    """``actions/*.yaml``. ``parameters`` (flat, StackStorm style) is an alternative to ``parameters_schema``."""

    ref: str
    label: str = ""
    description: str = ""
    runner_type: RunnerType
    entry_point: str = ""
    parameters_schema: JsonSchema | None = None
    parameters: dict[str, FlatParameter] | None = None
    output_format: OutputFormat = "text"
    timeout: int | None = Field(default=None, gt=0)
    max_retries: int = Field(default=0, ge=0)
    enabled: YamlBool = True


class SensorFile(PackFileModel):
    """``sensors/*.yaml``."""

    ref: str
    label: str = ""
    description: str = ""
    runner_type: SensorRunnerType = "builtin"
    entry_point: str = ""
    trigger_types: list[str] = Field(default_factory=list)
    enabled: YamlBool = True


class Concurrency(PackFileModel):
    limit: int = Field(gt=0)
    method: ConcurrencyMethod = "enqueue"
    group_by: list[str] = Field(default_factory=list)


class RateLimit(PackFileModel):
    max: int = Field(gt=0)
    window_seconds: int = Field(gt=0)


class PolicyFile(PackFileModel):
    """``policies/*.yaml``: at least one of ``concurrency`` and ``rate_limit``."""

    ref: str
    description: str = ""
    action: str
    enabled: YamlBool = True
    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None
