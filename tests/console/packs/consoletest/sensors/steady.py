import time

from st2reactor.sensor.base import Sensor


class Steady(Sensor):
    def setup(self):
        pass

    def run(self):
        while True:
            time.sleep(1)

    def cleanup(self):
        pass

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass
