"""Fixtures come from the attune_shared.testing.plugin pytest plugin (loaded in pyproject addopts)."""
