"""Sweeps: a ``sweep.yaml`` (a command, a space of params, gates, an objective) expanded
into trials that gatebook runs, gates and ranks.

:mod:`~gatebook.sweep.spec` (the sweep file), :mod:`~gatebook.sweep.space` (values and
distributions), :mod:`~gatebook.sweep.template` (the command's placeholders),
:mod:`~gatebook.sweep.plan` (trials, resume), :mod:`~gatebook.sweep.executor` (the local
scheduler), :mod:`~gatebook.sweep.prune` (the median pruner), :mod:`~gatebook.sweep.rank`
(the result), :mod:`~gatebook.sweep.ray_backend`, :mod:`~gatebook.sweep.fixes` (playbook sweeps).
Nothing is re-exported here.
"""
