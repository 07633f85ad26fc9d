"""``from st2reactor.sensor.base import Sensor, PollingSensor``: the base classes of pack sensors."""

from __future__ import annotations

import abc
import time
from typing import Any

__all__ = ["BaseSensor", "PollingSensor", "Sensor"]


class BaseSensor(abc.ABC):
    """Not instantiated directly: subclass :class:`Sensor` or :class:`PollingSensor`."""

    def __init__(self, sensor_service: Any, config: dict[str, Any] | None = None) -> None:
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config or {}
        self.config = self._config

    @abc.abstractmethod
    def setup(self) -> None:
        """Initialization, before :meth:`run`."""

    @abc.abstractmethod
    def run(self) -> None:
        """Run the sensor (blocks)."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Release what :meth:`setup` took; called when the sensor stops."""

    @abc.abstractmethod
    def add_trigger(self, trigger: dict[str, Any]) -> None:
        """A rule now uses one of this sensor's trigger types (with these parameters)."""

    @abc.abstractmethod
    def update_trigger(self, trigger: dict[str, Any]) -> None:
        """Such a trigger changed."""

    @abc.abstractmethod
    def remove_trigger(self, trigger: dict[str, Any]) -> None:
        """No rule uses such a trigger any more."""


class Sensor(BaseSensor):
    """A passive sensor: :meth:`run` runs its own loop."""

    @abc.abstractmethod
    def run(self) -> None:
        """Run the sensor (blocks)."""


class PollingSensor(BaseSensor):
    """An active sensor: :meth:`poll` is called every ``poll_interval`` seconds."""

    def __init__(
        self, sensor_service: Any, config: dict[str, Any] | None = None, poll_interval: float = 5
    ) -> None:
        super().__init__(sensor_service=sensor_service, config=config)
        self._poll_interval = poll_interval

    @abc.abstractmethod
    def poll(self) -> None:
        """Look at the outside world once; dispatch what is new."""

    def run(self) -> None:
        while True:
            self.poll()
            time.sleep(self._poll_interval)

    def get_poll_interval(self) -> float:
        return self._poll_interval

    def set_poll_interval(self, poll_interval: float) -> None:
        self._poll_interval = poll_interval
