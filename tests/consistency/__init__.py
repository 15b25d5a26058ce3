"""Consistency suite: every registered backend against the numpy reference.

A package so that pytest puts ``tests/`` on ``sys.path`` (for ``model_fixtures``) and imports
these modules under unique names."""
