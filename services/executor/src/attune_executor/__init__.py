"""The executor service: rules -> enforcements -> executions -> action runs."""

__version__ = "0.1.0"
