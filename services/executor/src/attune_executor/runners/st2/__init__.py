"""StackStorm's runner types: local-shell-cmd and -script, python-script, http-request, noop.

Each takes its runner parameters apart from the action's own (StackStorm's split), applies
StackStorm's casting, and returns StackStorm's result shape (plus ``duration_ms`` and the flags).
"""
