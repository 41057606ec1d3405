"""Aliases: names that point at one run, moved only by gated promotion, with an audit trail.

:mod:`gatebook.registry.names` (the name rule, ``@name`` refs), :mod:`gatebook.registry.promote`
(promote and rollback), :mod:`gatebook.registry.trail` (the alias list and the audit trail as data).
"""
