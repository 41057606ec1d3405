#!/usr/bin/env bash
# gatebook in under a minute: three real (tiny) trainings recorded in a fresh project.
#
# Run from anywhere (`make demo` runs it from the repo root). It (re)creates
# demo-project/ at the repo root -- a throw-away git repository holding a copy of
# examples/digits/train.py -- and records into that project's own ledger:
#   1. baseline       : metrics through the Python API (gb.init / gb.log / gb.summary)
#   2. wider          : a child of baseline, run from a dirty working tree (patch recorded)
#   3. lr-0.5-stdout  : a child of baseline that only prints `gatebook: {...}` lines
#   4. lr-0.002       : fails the epoch-2 gate and is stopped live (it saves its checkpoint
#                       first, via gb.should_stop())
# then judges the variants against the baseline with `gatebook gate`, asks
# `gatebook triage` what to try after the stopped one (and runs that fix), promotes to
# @champion only what passes against the holder (`gatebook aliases log champion`), compares
# every run with the baseline (`gatebook compare`), runs a 4-trial learning-rate sweep (one
# trial stopped by the gate, the rest ranked), writes the change log and an HTML report.
# The gates are in demo-project/gatebook.yaml (written below; see docs/gates.md).
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
if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("numpy") and u.find_spec("sklearn") and u.find_spec("matplotlib")))' \
    >/dev/null 2>&1; then
  echo "demo: installing the demo extras (numpy, scikit-learn, matplotlib) into $VENV ..."
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
cat > gatebook.yaml <<'EOF'
# The demo's gates (docs/gates.md).
metrics:
  primary: [val_acc, val_loss]  # the columns of compare, changelog and report
  higher_is_better: ["val_acc", "*_val_acc"]
  lower_is_better: ["*loss*"]
gates:
  epoch2:                       # judged live: a run that has not learned by epoch 2 is stopped
    on_fail: stop
    checks:
      - "val_acc >= 0.80 @ epoch 2"
    playbook:
      fixes:
        - {name: "lr 0.05", why: "a 25x larger step; the loss barely moves", set: {lr: 0.05}}
        - {name: "momentum 0.9", set: {momentum: 0.9}}
      signatures:
        - {when: "val_loss > 2.0", diagnosis: "barely learning: the loss is still near chance (2.30)"}
  promotion:                    # judged after the fact, against the baseline run
    baseline: baseline
    checks:
      - "best val_acc >= baseline - 0.5 pp"   # pp: percentage points, 0.005
      - {metric: val_loss, pass: "<= baseline", marginal: "<= baseline + 25%"}   # % of the baseline's loss
aliases:
  champion: {gates: [promotion]}  # @champion moves only to a run that passes promotion against it
EOF
git add .gitignore train.py gatebook.yaml
git commit -q -m "digits MLP: initial training script"
"$GB" init

section "run 1: baseline (metrics via the Python API)"
"$GB" run --name baseline --tag demo --gate epoch2 -- "$PY" train.py --lr 0.1 --log api

section "run 2: wider (API, from a dirty working tree)"
# An uncommitted, harmless edit: gatebook records the commit, the dirty flag and the patch.
printf '\n# demo: trying a wider hidden layer (uncommitted edit, recorded as a patch)\n' >> train.py
"$GB" run --name wider --parent baseline --tag demo -- "$PY" train.py --lr 0.1 --hidden 128 --log api

cp "$ROOT/examples/digits/train.py" train.py  # undo the edit: the tree is clean again

section "run 3: lr-0.5-stdout (no gatebook import: JSON lines on stdout only)"
"$GB" run --name lr-0.5-stdout --parent baseline --tag demo -- "$PY" train.py --lr 0.5 --log stdout

section "run 4: lr-0.002 (the epoch-2 gate fails: stopped live)"
# gatebook run exits 1 here: the command stopped cleanly (exit 0), but a gate stopped it.
# --epoch-time 0.25 paces the epochs like a bigger model's (20 epochs would take 5 s), so the
# gate stops a run still in progress: the whole digits training takes well under a second.
"$GB" run --name lr-0.002 --parent baseline --tag demo --gate epoch2 -- "$PY" train.py --lr 0.002 --epochs 20 --epoch-time 0.25 --log api \
  || echo "(gatebook run exited $?: stopped by the gate)"

section "gatebook gate: the variants against the baseline"
for run in wider lr-0.5-stdout; do
  "$GB" gate "$run" --gate promotion || echo "(gatebook gate $run exited $?)"
done

section "gatebook triage lr-0.002: why it failed, what to try next"
"$GB" triage lr-0.002

section "gatebook triage lr-0.002 --apply: run the next fix as a child run"
"$GB" triage lr-0.002 --apply || echo "(the fix's run exited $?)"

section "gatebook promote: @champion moves only to a run that passes against the holder"
"$GB" promote baseline --to champion          # the first holder: nothing to compare with yet
"$GB" promote lr-0.002 --to champion \
  || echo "(refused: exit $?; lr-0.002 was stopped by its gate, only a finished run is promoted)"
"$GB" promote wider --to champion             # judged against @champion (baseline): PASS, it moves
"$GB" promote lr-0.002-lr-0.05 --to champion \
  || echo "(refused: exit $?; the fix does not reach the champion, @champion stays on wider)"
"$GB" aliases
"$GB" aliases log champion
echo "the champion's checkpoint: $("$GB" artifacts @champion --kind checkpoint --path)"

section "gatebook ls"
"$GB" ls

section "gatebook show wider"
"$GB" show wider

section "gatebook show lr-0.002 (the gate history says why it stopped)"
"$GB" show lr-0.002

section "what just happened"
cat <<'EOF'
Five trainings of a small NumPy MLP on scikit-learn's digits ran under `gatebook run`.
Each run got its command, git commit (for `wider` also the dirty flag and the patch of
the uncommitted edit, stored as an artifact: `gatebook show wider --patch`), Python and
package versions, machine, params (from the --flags, and the whole argparse namespace
via gb.init(config=args)), the live output and per-epoch metrics.
`baseline` and `wider` logged through the Python API (gb.log, plus a checkpoint artifact
and a summary); `lr-0.5-stdout` never imports gatebook -- it just prints
`gatebook: {...}` lines, which the wrapper parses. Both variants name `baseline` as
their parent. `lr-0.002` failed the live gate `epoch2` (val_acc >= 0.80 @ epoch 2): gatebook
stopped it right after epoch 2 (it saved its checkpoint first: train.py polls gb.should_stop()), and
`gatebook triage` named the playbook's next fix, which `--apply` ran as the child
`lr-0.002-lr-0.05`. `gatebook gate RUN --gate promotion` judged the variants against the
baseline (exit 0 PASS / 1 FAIL, `--json` for scripts); `gatebook promote` moved @champion from
`baseline` to `wider` (judged against the holder) and refused the stopped run and the weaker fix,
all kept in `gatebook aliases log champion`; `gatebook compare` puts them side by side
with deltas; `gatebook sweep run sweep.yaml` ran a 4-trial grid two at a time (lr 0.002 stopped
after epoch 2 by the same gate) and ranked it; CHANGELOG.md and report.html were written from the ledger. Everything lives in
demo-project/.gatebook/ledger.db; try `cd demo-project && ../.venv/bin/gatebook show baseline --json`.
EOF

section "gatebook compare: every run against the baseline"
"$GB" compare baseline wider lr-0.5-stdout lr-0.002 lr-0.002-lr-0.05 --baseline baseline --gate promotion

section "gatebook sweep: a small learning-rate grid, 2 trials at a time, gated live"
# lr 0.002 misses the epoch-2 gate and is stopped; the others are ranked against the baseline.
cat > sweep.yaml <<SWEEP
name: lr-grid
command: $PY train.py --lr {lr} --epochs 20 --epoch-time 0.1 --log api
baseline: baseline
gates: [epoch2]
objective: val_acc
parallel: 2
grid:
  lr: [0.002, 0.05, 0.1, 0.3]
SWEEP
"$GB" sweep run sweep.yaml

section "gatebook changelog and gatebook report"
"$GB" changelog --out CHANGELOG.md
"$GB" report baseline wider lr-0.5-stdout lr-0.002 lr-0.002-lr-0.05 --baseline baseline --out report.html
echo "open $DEMO/report.html in a browser; CHANGELOG.md:"
cat CHANGELOG.md

section "gatebook ui: the same ledger in a browser"
# --get answers one request without a server: the runs page renders from this ledger.
"$GB" ui --get / > /dev/null && echo "the runs page renders ($("$GB" ui --get /api/runs | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))') runs)"
echo "see every run, curve, gate and decision live (Ctrl-C stops it):"
echo "  cd $DEMO && $GB ui"

echo
echo "demo: done; the project is in $DEMO"
