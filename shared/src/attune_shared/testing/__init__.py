"""Test support: the pytest plugin (real servers) and helpers to run services as processes."""
