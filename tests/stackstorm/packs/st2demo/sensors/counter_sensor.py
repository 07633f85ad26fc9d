from st2reactor.sensor.base import PollingSensor


class CounterSensor(PollingSensor):
    def setup(self):
        self._logger = self.sensor_service.get_logger(name=self.__class__.__name__)

    def poll(self):
        count = int(self.sensor_service.get_value("count") or 0) + 1
        self.sensor_service.set_value("count", count)
        self._logger.info("tick %s", count)
        self.sensor_service.dispatch(trigger="st2demo.tick", payload={"count": count})

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
