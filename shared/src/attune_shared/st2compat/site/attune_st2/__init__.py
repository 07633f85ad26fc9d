"""The wrappers Attune runs pack code in (not part of StackStorm's API)."""
