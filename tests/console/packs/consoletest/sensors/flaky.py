import time

from st2reactor.sensor.base import Sensor


class Flaky(Sensor):
    def setup(self):
        pass

    def run(self):
        time.sleep(0.3)
        raise RuntimeError("the upstream feed went away")

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
