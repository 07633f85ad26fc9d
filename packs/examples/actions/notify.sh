#!/bin/sh
# Parameters arrive as one JSON object on stdin; this script stays dependency-free (no jq), so
# it picks the string fields out with sed.
set -eu
params=$(cat)
field() {
    printf '%s' "$params" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}
channel=$(field channel)
severity=$(field severity)
message=$(field message)
echo "[${channel:-#ops}] ${severity:-info}: ${message} (execution ${ATTUNE_EXEC_ID:-?} of ${ATTUNE_ACTION:-examples.notify})"
