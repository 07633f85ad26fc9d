"""``from st2common.runners.base_action import Action``: the base class of python-script actions."""

from __future__ import annotations

import abc
import logging
from typing import Any

from attune_st2.logs import action_logger
from attune_st2.services import PackConfig

__all__ = ["Action"]


class Action(abc.ABC):
    """Base class other Python actions inherit from: ``run(**params)`` is called with the
    action's parameters; ``self.config`` is the pack config, ``self.logger`` logs to stderr and
    ``self.action_service`` reaches the datastore."""

    description: str | None = None

    def __init__(self, config: dict[str, Any] | None = None, action_service: Any = None) -> None:
        self.action_service = action_service
        pack = getattr(action_service, "pack", "unknown")
        level = getattr(action_service, "log_level", "DEBUG")
        self.config = PackConfig(pack, config or {})
        self.logger: logging.Logger = action_logger(type(self).__name__, level)

    @abc.abstractmethod
    def run(self, **kwargs: Any) -> Any:
        """Do the work; return the result, or ``(succeeded, result)``."""
