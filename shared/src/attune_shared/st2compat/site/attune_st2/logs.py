"""Loggers of actions and sensors: to stderr, which the parent keeps."""

from __future__ import annotations

import logging
import sys

#: StackStorm's extra level, below DEBUG.
AUDIT = 5
logging.addLevelName(AUDIT, "AUDIT")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def action_logger(class_name: str, level: str) -> logging.Logger:
    """``actions.python.<Class>``, as StackStorm names it."""
    return _logger(f"actions.python.{class_name}", level)


def sensor_logger(name: str) -> logging.Logger:
    return _logger(name, "DEBUG")


def _logger(name: str, level: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.getLevelName(level.upper()) if isinstance(level, str) else level)
    return logger
