import os
import time

from st2reactor.sensor.base import Sensor


class InboxWatcher(Sensor):
    def setup(self):
        self._inbox = self.config["inbox"]
        self._seen = set()
        self._triggers = []

    def run(self):
        while True:
            for name in sorted(os.listdir(self._inbox)):
                path = os.path.join(self._inbox, name)
                if name in self._seen or not os.path.isfile(path) or name.startswith("."):
                    continue
                self._seen.add(name)
                with open(path) as handle:
                    content = handle.read()
                self.sensor_service.dispatch(
                    trigger="st2demo.file_seen", payload={"name": name, "content": content}, trace_tag=name
                )
            time.sleep(0.2)

    def cleanup(self):
        marker = os.path.join(self._inbox, ".cleaned-up")
        with open(marker, "w") as handle:
            handle.write(",".join(t["ref"] for t in self._triggers))

    def add_trigger(self, trigger):
        self._triggers.append(trigger)

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        self._triggers = [t for t in self._triggers if t["id"] != trigger["id"]]
