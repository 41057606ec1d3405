"""Preflight checks: is everything in place before a (long, costly) command starts?

The checks are the ``preflight:`` list of ``gatebook.yaml`` (see
:class:`gatebook.project_config.PreflightCheck`); this package runs them and builds the
verdict, with no CLI. Every check runs (no short circuit), in the order declared, and
gives PASS or FAIL with a one-line detail; the verdict is FAIL when any check fails.

- ``path_exists: TEMPLATE``: the path exists (file, directory, or anything else).
- ``free_disk_gb: N`` (with ``path:``, default ``.``): at least N GiB (2**30 bytes, as
  ``df -h`` counts) free for unprivileged users on the file system holding ``path``; a
  path that does not exist yet is measured at its nearest existing parent.
- ``gpu: true``: at least one NVIDIA GPU is visible (``nvidia-smi``, else NVML, as the
  provenance sees them), narrowed by ``CUDA_VISIBLE_DEVICES`` when it is set;
  ``gpu: false``: no GPU is visible (a CPU-only job kept off GPU machines).
- ``git_clean: true``: the git work tree holding the cwd has no uncommitted change to a
  tracked file (staged or not); untracked files are not looked at. Not a git repository,
  or no git, is a FAIL.
- ``command: "CMD ARGS"``: CMD run with :func:`shlex.split` (no shell), stdin closed,
  in the cwd, exits 0 within ``timeout_s`` (default 60). A non-zero exit FAILs with its
  code and the last line of its stderr (else stdout); on timeout its process group is
  killed and the check FAILs.

Templates (``path_exists``, ``path``, each word of ``command``) may hold ``{param}``
placeholders (the grammar of :mod:`gatebook.placeholders`), filled from the params of the
command about to run: its ``--key value`` / ``--key=value`` arguments, as typed (dashes in
keys become underscores), over the values of its ``--config`` file (dotted keys). A
placeholder with no such param makes its check FAIL, naming the param. ``{{`` and ``}}``
are literal braces; a brace that starts no ``{param}`` (``{}``, ``{"a": 1}``) is kept as
written. Relative paths are relative to the current directory (the command's cwd), ``~`` is
expanded.

Modules: :mod:`~gatebook.preflight.checks` (the check functions),
:mod:`~gatebook.preflight.run` (the project's checks loaded and run for a command:
templates filled, results, the verdict and its JSON document).
"""

from __future__ import annotations

from gatebook.preflight.checks import (
    GIB,
    check_command,
    check_free_disk,
    check_git_clean,
    check_gpu,
    check_path_exists,
    visible_gpus,
)
from gatebook.preflight.run import (
    CheckResult,
    PreflightReport,
    check_command_line,
    check_name,
    command_values,
    fill,
    fill_command,
    load_checks,
    placeholders,
    report_doc,
    run_check,
    run_preflight,
)

__all__ = [
    "GIB", "CheckResult", "PreflightReport", "check_command", "check_command_line", "check_free_disk",
    "check_git_clean", "check_gpu", "check_name", "check_path_exists", "command_values", "fill", "fill_command",
    "load_checks", "placeholders", "report_doc", "run_check", "run_preflight", "visible_gpus",
]
