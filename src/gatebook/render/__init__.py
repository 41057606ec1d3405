"""The render layer: how gatebook's data reads to a person (times, durations, event lines).

The library (``analysis/``, ``report/``, ``gates/``, ``capture/``) returns data and formats it
through here, never through ``gatebook.cli``; the CLI parses arguments and prints what this
layer makes. ``tests/unit/test_layers.py`` pins the rule.
"""
