#!/bin/sh
for arg in "$@"; do
  printf '[%s]\n' "$arg"
done
echo "pack=$ST2_ACTION_PACK_NAME" >&2
