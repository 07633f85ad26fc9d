"""Score an alert: parameters as JSON on stdin, the result as JSON on stdout (standard library only)."""

import json
import os
import sys

SEVERITY_SCORES = {"info": 1, "warning": 5, "critical": 10}


def triage(params: dict) -> dict:
    severity = params["severity"]
    count = params.get("count", 1)
    tags = params.get("tags", [])
    score = SEVERITY_SCORES[severity] * count + (5 if "production" in tags else 0)
    reasons = [f"severity {severity} x count {count}"]
    if "production" in tags:
        reasons.append("tagged production")
    page = severity == "critical" or (severity == "warning" and count >= params.get("page_threshold", 3))
    return {
        "host": params["host"],
        "severity": severity,
        "score": score,
        "page": page,
        "reasons": reasons,
        "execution": os.environ.get("ATTUNE_EXEC_ID"),
    }


if __name__ == "__main__":
    json.dump(triage(json.load(sys.stdin)), sys.stdout)
    sys.stdout.write("\n")
