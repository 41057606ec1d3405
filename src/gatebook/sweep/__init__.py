"""Sweeps: a ``sweep.yaml`` (a command, a space of params, gates, an objective) expanded
into trials that gatebook runs, gates and ranks.

:mod:`gatebook.sweep.spec` holds the file's model, its validation (errors name file, line
and field) and its expansion into :class:`~gatebook.sweep.spec.Trial` objects.
"""
