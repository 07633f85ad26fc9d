"""Fails for one n in four of its own (n // 8, the soak sends it every eighth): the soak's retries."""

import json
import sys

params = json.load(sys.stdin)
verdict = {"n": params["n"], "ok": (params["n"] // 8) % 4 != 0}
json.dump(verdict, sys.stdout)
sys.exit(0 if verdict["ok"] else 1)
