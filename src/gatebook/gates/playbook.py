"""Playbooks: what a failed gate's diagnosis is and which fix to try next.

A gate's playbook lists **fixes** (settings to change, in the order to try them) and
**signatures** (conditions on the run's metrics that name a diagnosis, optionally
pointing at the fix to try first). A fix counts as *tried* when a child run of the
failed run (``--parent``, which ``gatebook triage --apply`` sets) carries all of its
settings in its params.

Applying a fix to a command: when the command reads a YAML or JSON config file
(``--config PATH``, ``--config=PATH``, ``-c PATH``), the file is copied under
``.gatebook/fixes/`` with the settings applied (dotted keys reach into nested
sections and list items: :func:`gatebook.config_io.set_dotted`) and the copy replaces
the path, so the original stays untouched; otherwise each setting becomes ``--key value``,
replacing ``--key value`` / ``--key=value`` (or the dashed spelling ``--lambda-con``) when
the command already has it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from gatebook.config_io import write_config_copy
from gatebook.gates.evaluate import DirectionOf, Series, holds
from gatebook.gates.spec import Fix, Gate, Signature

CONFIG_FLAGS = ("--config", "--config-file", "--config_file", "-c", "--cfg")


@dataclass(frozen=True)
class Advice:
    """What the playbook says about a run that failed a gate."""

    gate: str
    diagnoses: tuple[Signature, ...]
    fixes: tuple[tuple[Fix, bool], ...]  # (fix, tried)
    next_fix: Fix | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "diagnoses": [{"when": s.text, "diagnosis": s.diagnosis, "fix": s.fix} for s in self.diagnoses],
            "fixes": [{"name": f.name, "why": f.why, "set": f.set, "tried": tried} for f, tried in self.fixes],
            "next_fix": None if self.next_fix is None else {"name": self.next_fix.name, "why": self.next_fix.why,
                                                            "set": self.next_fix.set},
        }


def advise(gate: Gate, series: Series, tried: set[str], *, baseline: Series | None = None,
           direction_of: DirectionOf = lambda key: None) -> Advice:
    """The matching diagnoses and the next fix not yet tried (a matching signature's fix first)."""
    matched = tuple(s for s in gate.playbook.signatures
                    if holds(s.when, series, baseline, direction_of=direction_of))
    fixes = tuple((f, f.name in tried) for f in gate.playbook.fixes)
    by_name = {f.name: f for f in gate.playbook.fixes}
    next_fix = None
    for sig in matched:
        if sig.fix is not None and sig.fix not in tried:
            next_fix = by_name[sig.fix]
            break
    if next_fix is None:
        next_fix = next((f for f, was in fixes if not was), None)
    return Advice(gate.name, matched, fixes, next_fix)


def tried_fixes(fixes: Sequence[Fix], children_params: Sequence[Mapping[str, Any]]) -> set[str]:
    """Names of the fixes some child run carries all the settings of."""
    out = set()
    for fix in fixes:
        for params in children_params:
            if all(_same_setting(params.get(k, _MISSING), v) for k, v in _flat(fix.set).items()):
                out.add(fix.name)
                break
    return out


_MISSING = object()


def _same_setting(have: Any, want: Any) -> bool:
    if have is _MISSING:
        return False
    if have == want:
        return True
    try:
        a, b = float(have), float(want)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(have).strip().lower() == str(want).strip().lower()


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, full + "."))
        else:
            out[full] = value
    return out


def slug(text: str) -> str:
    """A run-name-friendly form of a fix name: ``temperature 0.05`` -> ``temperature-0.05``."""
    s = re.sub(r"[^A-Za-z0-9_.@]+", "-", text.strip()).strip("-")
    return s[:60] or "fix"


# -- applying a fix to a command ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedFix:
    argv: list[str]
    config_copy: Path | None  # the rewritten config file, when the fix went into one
    how: list[str]  # human lines: what changed where


def apply_fix(argv: Sequence[str], fix: Fix, *, cwd: Path, out_dir: Path, tag: str) -> AppliedFix:
    """``argv`` with ``fix`` applied: into a copy of its config file, else as ``--key value``."""
    settings = _flat(fix.set)
    config_at = _config_arg(argv)
    if config_at is not None:
        index, path_text, inline = config_at
        path = Path(path_text) if Path(path_text).is_absolute() else cwd / path_text
        fmt = path.suffix.lower()
        if path.is_file() and fmt in (".yaml", ".yml", ".json"):
            copy = write_config_copy(path, settings, out_dir / f"{tag}{path.suffix}")
            new = list(argv)
            if inline:
                flag = argv[index].split("=", 1)[0]
                new[index] = f"{flag}={copy}"
            else:
                new[index + 1] = str(copy)
            how = [f"{k} = {_show(v)} in {copy}" for k, v in settings.items()]
            return AppliedFix(new, copy, how)
    new = list(argv)
    how = []
    for key, value in settings.items():
        new, where = _set_flag(new, key, value)
        how.append(where)
    return AppliedFix(new, None, how)


def _config_arg(argv: Sequence[str]) -> tuple[int, str, bool] | None:
    for i, arg in enumerate(argv):
        if arg in CONFIG_FLAGS and i + 1 < len(argv):
            return i, argv[i + 1], False
        for flag in CONFIG_FLAGS:
            if flag.startswith("--") and arg.startswith(flag + "="):
                return i, arg.split("=", 1)[1], True
    return None


def _set_flag(argv: list[str], key: str, value: Any) -> tuple[list[str], str]:
    names = {f"--{key}", f"--{key.replace('_', '-')}", f"--{key.replace('-', '_')}"}
    text = _show(value)
    for i, arg in enumerate(argv):
        if arg in names:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                argv[i + 1] = text  # replaces the old value
            else:
                argv.insert(i + 1, text)
            return argv, f"{arg} {text}"
        head = arg.split("=", 1)[0]
        if "=" in arg and head in names:
            argv[i] = f"{head}={text}"
            return argv, f"{head}={text}"
    flag = f"--{key}"
    if any(a.startswith("--") and "-" in a[2:] and "_" not in a[2:] for a in argv) and "_" in key:
        flag = f"--{key.replace('_', '-')}"  # the command spells its flags with dashes
    return argv + [flag, text], f"{flag} {text} (added)"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
