"""An execution's parameters as a StackStorm runner sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attune_executor.runners.base import RunContext
from attune_shared.parameters import complete_parameters
from attune_shared.runner_types import runner_parameter_names


@dataclass(frozen=True)
class SplitParameters:
    """The runner's parameters (``cmd``, ``env``, ``timeout``…) and the action's own."""

    runner: dict[str, Any]
    action: dict[str, Any]


def prepare(ctx: RunContext) -> SplitParameters:
    """Defaults applied (templated ones rendered), ``number`` parameters cast to floats as StackStorm
    does, split between runner and action. The runner's ``timeout`` parameter bounds the run, as
    does the execution's own timeout: the smaller wins."""
    schema = ctx.action.parameters_schema
    config = ctx.pack.config if ctx.pack else {}
    params = complete_parameters(ctx.params, schema, context={"config_context": config})
    properties = schema.get("properties") or {}
    for name, value in params.items():
        spec = properties.get(name)
        if isinstance(spec, dict) and spec.get("type") == "number" and type(value) is int:
            params[name] = float(value)
    names = runner_parameter_names(ctx.action.runner_type)
    runner = {k: v for k, v in params.items() if k in names}
    timeout = runner.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        ctx.timeout = min(ctx.timeout, float(timeout))
    return SplitParameters(runner, {k: v for k, v in params.items() if k not in names})
