from greetings import shout
from st2common.runners.base_action import Action


class Hello(Action):
    def run(self, name, fail=False, token=None):
        self.logger.info("saying hello to %s", name)
        previous = self.action_service.get_value("last")
        self.action_service.set_value("last", name)
        print("printed to stdout")
        result = {
            "message": shout(f"{self.config['greeting']} {name}"),
            "previous": previous,
            "token_length": len(token or ""),
            "has_api_token": bool(self.config.get("api_token")),
        }
        if fail:
            return (False, result)
        return result
