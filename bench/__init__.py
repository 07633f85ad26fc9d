"""The pipeline benchmark: `uv run python -m bench [--events N] [--executors K] [--json PATH]`."""
