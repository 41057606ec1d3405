#!/usr/bin/env bash
# gatebook in under a minute: three real (tiny) trainings recorded in a fresh project.
#
# Run from anywhere (`make demo` runs it from the repo root). It (re)creates
# demo-project/ at the repo root -- a throw-away git repository holding a copy of
# examples/digits/train.py -- and records into that project's own ledger:
#   1. baseline       : metrics through the Python API (gb.init / gb.log / gb.summary)
#   2. wider          : a child of baseline, run from a dirty working tree (patch recorded)
#   3. lr-0.5-stdout  : a child of baseline that only prints `gatebook: {...}` lines
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
GB="$VENV/bin/gatebook"
DEMO="$ROOT/demo-project"

section() { printf '\n== %s ==\n' "$*"; }

if [[ ! -x "$PY" || ! -x "$GB" ]]; then
  echo "demo: $VENV is missing or gatebook is not installed in it; run \`make venv\` first" >&2
  exit 2
fi
# find_spec, not import: importing sklearn alone takes seconds
if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("numpy") and u.find_spec("sklearn")))' \
    >/dev/null 2>&1; then
  echo "demo: installing the demo extras (numpy, scikit-learn) into $VENV ..."
  (cd "$ROOT" && "$PY" -m pip install -q -e '.[demo]')
fi

# The demo must use its own ledger, whatever the caller's environment says.
unset GATEBOOK_STORE GATEBOOK_RUN_ID GATEBOOK_DIR GATEBOOK_MODE || true

section "setting up $DEMO"
rm -rf "$DEMO"
mkdir -p "$DEMO"
cp "$ROOT/examples/digits/train.py" "$DEMO/train.py"
cd "$DEMO"
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
git init -q
git config user.name "gatebook demo"
git config user.email "demo@gatebook.invalid"
git config commit.gpgsign false
printf 'outputs/\n__pycache__/\n' > .gitignore
git add .gitignore train.py
git commit -q -m "digits MLP: initial training script"
"$GB" init

section "run 1: baseline (metrics via the Python API)"
"$GB" run --name baseline --tag demo -- "$PY" train.py --lr 0.1 --log api

section "run 2: wider (API, from a dirty working tree)"
# An uncommitted, harmless edit: gatebook records the commit, the dirty flag and the patch.
printf '\n# demo: trying a wider hidden layer (uncommitted edit, recorded as a patch)\n' >> train.py
"$GB" run --name wider --parent baseline --tag demo -- "$PY" train.py --lr 0.1 --hidden 128 --log api

cp "$ROOT/examples/digits/train.py" train.py  # undo the edit: the tree is clean again

section "run 3: lr-0.5-stdout (no gatebook import: JSON lines on stdout only)"
"$GB" run --name lr-0.5-stdout --parent baseline --tag demo -- "$PY" train.py --lr 0.5 --log stdout

section "gatebook ls"
"$GB" ls

section "gatebook show wider"
"$GB" show wider

section "gatebook show lr-0.5-stdout"
"$GB" show lr-0.5-stdout

section "what just happened"
cat <<'EOF'
Three trainings of a small NumPy MLP on scikit-learn's digits ran under `gatebook run`.
Each run got its command, git commit (for `wider` also the dirty flag and the patch of
the uncommitted edit, stored as an artifact: `gatebook show wider --patch`), Python and
package versions, machine, params (from the --flags, and the whole argparse namespace
via gb.init(config=args)), the live output and per-epoch metrics.
`baseline` and `wider` logged through the Python API (gb.log, plus a checkpoint artifact
and a summary); `lr-0.5-stdout` never imports gatebook -- it just prints
`gatebook: {...}` lines, which the wrapper parses. Both variants name `baseline` as
their parent. Everything lives in demo-project/.gatebook/ledger.db; try
`cd demo-project && ../.venv/bin/gatebook show baseline --json`.
EOF

section "final val_acc (from gatebook show RUN --json)"
SHOWN="$(mktemp -d)"
trap 'rm -rf "$SHOWN"' EXIT
for run in baseline wider lr-0.5-stdout; do
  "$GB" show "$run" --json > "$SHOWN/$run.json"
done
"$PY" - "$SHOWN" baseline wider lr-0.5-stdout <<'EOF'
import json
import sys

print(f"{'run':<16} {'via':<7} {'parent':<10} {'epochs':>6} {'final val_acc':>14} {'best val_acc':>13}")
for name in sys.argv[2:]:
    with open(f"{sys.argv[1]}/{name}.json") as fh:
        run = json.load(fh)
    acc = run.get("metrics", {}).get("val_acc", {})
    values = [acc.get("last"), acc.get("max")]
    final, best = (float(v) if v is not None else float("nan") for v in values)  # NaN may be a string
    via = "api" if run.get("summary") else "stdout"
    parent = (run.get("parent") or {}).get("name") or "-"
    print(f"{name:<16} {via:<7} {parent:<10} {acc.get('last_step') or 0:>6} {final:>14.4f} {best:>13.4f}")
EOF
echo
echo "demo: done; the project is in $DEMO"
