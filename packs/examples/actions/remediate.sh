#!/bin/sh
# Parameters arrive as one JSON object on stdin (see notify.sh for why sed rather than jq).
set -eu
params=$(cat)
host=$(printf '%s' "$params" | sed -n 's/.*"host"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
seconds=$(printf '%s' "$params" | sed -n 's/.*"seconds"[[:space:]]*:[[:space:]]*\([0-9.]*\).*/\1/p')
exit_code=$(printf '%s' "$params" | sed -n 's/.*"exit_code"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p')
echo "remediating ${host:-unknown} (execution ${ATTUNE_EXEC_ID:-?})"
sleep "${seconds:-1}"
if [ "${exit_code:-0}" -ne 0 ]; then
    echo "remediation of ${host:-unknown} failed" >&2
    exit "$exit_code"
fi
echo "remediated ${host:-unknown}"
