"""5. Start-up time of ``import gatebook`` and of the ``gatebook`` console script.

Each command is a fresh subprocess, timed from spawn to exit, interleaved round robin,
after warm-up runs (which also fill the bytecode cache). Reported raw and net of a bare
``python -c pass`` (the interpreter's own start-up).

Commands: ``python -c pass``; ``python -c "import gatebook"``; ``gatebook --help``
(the venv's console script); for context ``gatebook --version`` and
``python -c "import gatebook.store.sql"`` (what the first ``gb.init()`` imports on top).
A ``-X importtime`` run of each gatebook command lists the slowest imports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, PYTHON, child_env, parse_args, round_robin, split_wall_cpu, time_command, write_result,
)

_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_profile(argv: list[str], env: dict[str, str], top: int = 12) -> dict[str, object]:
    """Top-level packages by cumulative import time (µs) from ``-X importtime``."""
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    rows = []
    for line in proc.stderr.decode("utf-8", "replace").splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            self_us, cum_us, indent, name = int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)
            rows.append((self_us, cum_us, indent, name))
    total = sum(r[0] for r in rows)
    outer = [r for r in rows if r[2] == 1]  # modules imported directly by the command
    outer.sort(key=lambda r: -r[1])
    heaviest = sorted(rows, key=lambda r: -r[1])
    return {
        "total_import_us": total,
        "modules": len(rows),
        "top_level": [(name, cum) for _s, cum, _i, name in outer[:top]],
        "heaviest": [(name, cum) for _s, cum, _i, name in heaviest[:top]],
        "third_party": sorted({r[3].split(".")[0] for r in rows if not r[3].startswith("gatebook")
                               and r[3].split(".")[0] in _third_party()}),
    }


def _third_party() -> set[str]:
    return {"click", "rich", "sqlalchemy", "yaml", "psutil", "pydantic", "pydantic_core", "numpy",
            "typing_extensions", "greenlet", "markdown_it", "pygments", "importlib_metadata"}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 5 if args.quick else 11
    env = child_env(GATEBOOK_STORE=None, GATEBOOK_RUN_ID=None)
    cwd = args.workdir
    cmds = {
        "python_pass": [PYTHON, "-c", "pass"],
        "import_gatebook": [PYTHON, "-c", "import gatebook"],
        "gatebook_help": [GATEBOOK_EXE, "--help"],
        "gatebook_version": [GATEBOOK_EXE, "--version"],
        "import_store": [PYTHON, "-c", "import gatebook.store.sql"],
    }
    variants = {name: (lambda argv=argv: time_command(argv, env=env, cwd=cwd)) for name, argv in cmds.items()}
    times = round_robin(variants, repeats, warmup=2)
    stats, cpu = split_wall_cpu(times)
    values = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_min": s["min"] for name, s in stats.items()})
    values.update({f"{name}_cpu": s["median"] for name, s in cpu.items()})
    values["import_gatebook_net"] = values["import_gatebook"] - values["python_pass"]
    values["gatebook_help_net"] = values["gatebook_help"] - values["python_pass"]
    values["import_store_net"] = values["import_store"] - values["python_pass"]
    values["repeats"] = repeats
    profiles = {
        "import_gatebook": import_profile([PYTHON, "-X", "importtime", "-c", "import gatebook"], env),
        "gatebook_help": import_profile([PYTHON, "-X", "importtime", GATEBOOK_EXE, "--help"], env),
    }
    write_result(args.out, values, {"seconds": stats, "cpu_seconds": cpu, "importtime": profiles})


if __name__ == "__main__":
    main()
