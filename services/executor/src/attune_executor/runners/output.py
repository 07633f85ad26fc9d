"""Captured output: bounded reading of a stream, and parsing stdout per the action's ``output_format``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml


class Capture:
    """Reads a stream to its end, keeping the first ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False

    async def read(self, stream: asyncio.StreamReader) -> None:
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            room = self.limit - self.kept
            if room <= 0:
                self.truncated = True
                continue
            if len(chunk) > room:
                chunk, self.truncated = chunk[:room], True
            self.chunks.append(chunk)
            self.kept += len(chunk)

    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


def parse_output(output_format: str, stdout: str, *, truncated: bool = False) -> tuple[Any, str | None]:
    """``(data, error)``: stdout parsed as JSON or YAML; text (or empty stdout) gives no data."""
    if output_format == "text" or not stdout.strip():
        return None, None
    note = " (stdout was truncated at the capture limit)" if truncated else ""
    if output_format == "json":
        try:
            return json.loads(stdout), None
        except ValueError as exc:
            return None, f"output_format is json but stdout is not valid JSON: {exc}{note}"
    if output_format == "yaml":
        try:
            return yaml.safe_load(stdout), None
        except yaml.YAMLError as exc:
            return None, f"output_format is yaml but stdout is not valid YAML: {exc}{note}"
    return None, f"unknown output_format {output_format!r}"
