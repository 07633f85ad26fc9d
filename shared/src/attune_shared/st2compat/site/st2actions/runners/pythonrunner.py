"""StackStorm's older import path of the action base class."""

from st2common.runners.base_action import Action

__all__ = ["Action"]
