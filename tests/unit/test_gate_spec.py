"""Gate files: the issue's example loads as written; errors name file, line, field, form;
playbooks: tried fixes, next fix, applying a fix to a command or a config file copy."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from gatebook.errors import ConfigError, UsageError
from gatebook.gates.playbook import advise, apply_fix, slug, tried_fixes
from gatebook.gates.spec import Fix, select_gates
from gatebook.project_config import load_project_config

EXAMPLE = textwrap.dedent("""\
    metrics:
      higher_is_better: ["val_*", "r@*", "mrr*", "hota", "margin", "cos_*"]
      lower_is_better: ["*loss*", "latency*", "p95*"]
    gates:
      epoch2:
        on_fail: stop
        checks:
          - "val_cosine >= 0.50 @ epoch 2"
        playbook:
          fixes:
            - {name: "temperature 0.05", why: "sharper distribution", set: {temperature: 0.05}}
            - {name: "more contrastive weight", set: {lambda_con: 0.85, lambda_ar: 0.15}}
          signatures:
            - {when: "contain50 >= 0.60 and r5 < 0.40", diagnosis: "ranking issue: tune the reranker"}
      validation:
        checks:
          - {metric: margin, pass: ">= 0.20", marginal: ">= 0.10"}
          - {metric: cos_next, pass: ">= 0.45", marginal: ">= 0.35"}
          - "cos_anchor >= 0.05"
      deployment:
        baseline: DIRECT
        checks:
          - "r@5 >= baseline + 0.10"
          - "mrr@10 >= baseline + 0.05"
          - "latency_ms no worse than baseline"
    """)


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "gatebook.yaml").write_text(text)
    return tmp_path


def test_the_issue_example_loads_as_written(tmp_path: Path) -> None:
    conf = load_project_config(write(tmp_path, EXAMPLE))
    gates = {g.name: g for g in select_gates(conf.gates, [], conf.source)}
    assert list(gates) == ["epoch2", "validation", "deployment"]
    assert gates["epoch2"].on_fail == "stop" and gates["validation"].on_fail == "warn"
    assert str(gates["epoch2"].checks[0]) == "val_cosine >= 0.50 @ epoch 2"
    assert str(gates["validation"].checks[0]) == "margin >= 0.20, marginal >= 0.10"
    assert gates["deployment"].baseline == "DIRECT" and gates["deployment"].uses_baseline
    assert [f.name for f in gates["epoch2"].playbook.fixes] == ["temperature 0.05", "more contrastive weight"]
    assert conf.metrics.direction("latency_ms") == "lower"


def test_pyproject_tool_gatebook_works_too(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.gatebook.metrics]
        lower_is_better = ["*loss*"]
        [tool.gatebook.gates.smoke]
        checks = ["val_loss <= 0.5"]
        """))
    conf = load_project_config(tmp_path)
    assert [str(g.checks[0]) for g in select_gates(conf.gates, ["smoke"], conf.source)] == ["val_loss <= 0.5"]


@pytest.mark.parametrize("bad, where, words", [
    # a typo in a field name: the line, the field, the allowed fields
    ("gates:\n  g:\n    on_fial: stop\n    checks: ['x > 1']\n", ":3", ["unknown field 'gates.g.on_fial'", "on_fail"]),
    # an unknown comparator in a check string: the check's line, the column, the forms
    ("gates:\n  g:\n    checks:\n      - 'x > 1'\n      - 'val_cosine >> 0.5'\n", ":5",
     ["gates.g.checks.1", "val_cosine >> 0.5", "comparator"]),
    # a typo inside the tiered form
    ("gates:\n  g:\n    checks:\n      - {metric: m, pas: '>= 1'}\n", ":4",
     ["pas", "allowed here: metric, pass, marginal"]),
    ("gates:\n  g:\n    on_fail: explode\n    checks: ['x > 1']\n", ":3", ["on_fail", "'stop' or 'warn'"]),
    ("gates:\n  g:\n    checks: []\n", ":3", ["checks"]),
    ("gates:\n  g:\n    checks: ['x > 1']\n    playbook:\n      signatures:\n        - {when: 'a >', diagnosis: d}\n",
     ":6", ["when", "cannot parse"]),
    ("gates:\n  g:\n    checks: ['x > 1']\n    playbook:\n      fixes:\n        - {name: a, set: {}}\n", ":6",
     ["set"]),
    ("gates:\n  'bad name!':\n    checks: ['x > 1']\n", "", ["gate name"]),
    ("metrics:\n  higher_is_beter: ['a']\n", ":2", ["higher_is_better"]),
])
def test_errors_name_file_line_field_and_form(tmp_path: Path, bad: str, where: str, words: list[str]) -> None:
    write(tmp_path, bad)
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path)
    text = str(info.value)
    assert f"gatebook.yaml{where}" in text, text
    for word in words:
        assert word in text, text
    assert "\n" not in text


def test_unknown_gate_names_the_declared_ones(tmp_path: Path) -> None:
    conf = load_project_config(write(tmp_path, EXAMPLE))
    with pytest.raises(UsageError) as info:
        select_gates(conf.gates, ["epoch3"], conf.source)
    assert "unknown gate 'epoch3'" in str(info.value) and "epoch2" in str(info.value)
    with pytest.raises(ConfigError):
        select_gates({}, [], None)


def test_playbook_next_fix_skips_tried_ones_and_prefers_a_signatures_fix(tmp_path: Path) -> None:
    conf = load_project_config(write(tmp_path, EXAMPLE))
    gate = select_gates(conf.gates, ["epoch2"], conf.source)[0]
    series = {"contain50": [(1, 0.7)], "r5": [(1, 0.3)], "val_cosine": [(2, 0.2)]}
    first = advise(gate, series, set())
    assert first.next_fix is not None and first.next_fix.name == "temperature 0.05"
    assert [s.diagnosis for s in first.diagnoses] == ["ranking issue: tune the reranker"]
    tried = tried_fixes(gate.playbook.fixes, [{"temperature": "0.05", "lr": 1}, {"lambda_con": 0.85}])
    assert tried == {"temperature 0.05"}  # the second child lacks lambda_ar: not tried
    second = advise(gate, series, tried)
    assert second.next_fix is not None and second.next_fix.name == "more contrastive weight"
    assert advise(gate, series, {"temperature 0.05", "more contrastive weight"}).next_fix is None
    assert json.dumps(second.to_dict())


def test_apply_fix_to_arguments(tmp_path: Path) -> None:
    fix = Fix(name="more contrastive weight", set={"lambda_con": 0.85, "lambda_ar": 0.15, "temperature": 0.05})
    argv = ["python", "train.py", "--lambda-con", "0.5", "--temperature=0.07", "--epochs", "3"]
    applied = apply_fix(argv, fix, cwd=tmp_path, out_dir=tmp_path / "fixes", tag="t")
    assert applied.argv == ["python", "train.py", "--lambda-con", "0.85", "--temperature=0.05", "--epochs", "3",
                            "--lambda-ar", "0.15"]
    assert applied.config_copy is None and len(applied.how) == 3
    assert slug("more contrastive weight") == "more-contrastive-weight"


def test_apply_fix_to_a_config_file_copy(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  temperature: 0.07\n  depth: 4\nlr: 0.001\n")
    fix = Fix(name="t", set={"model.temperature": 0.05, "lr": 0.01})
    applied = apply_fix(["python", "train.py", "--config", "cfg.yaml"], fix, cwd=tmp_path,
                        out_dir=tmp_path / ".gatebook" / "fixes", tag="run-t")
    assert applied.config_copy is not None and applied.argv[-1] == str(applied.config_copy)
    data = yaml.safe_load(applied.config_copy.read_text())
    assert data == {"model": {"temperature": 0.05, "depth": 4}, "lr": 0.01}
    assert yaml.safe_load(cfg.read_text())["model"]["temperature"] == 0.07  # the original is untouched
    jcfg = tmp_path / "c.json"
    jcfg.write_text(json.dumps({"temperature": 0.07}))
    applied = apply_fix(["python", "t.py", "--config=c.json"], Fix(name="t", set={"temperature": 0.05}),
                        cwd=tmp_path, out_dir=tmp_path / "fx", tag="j")
    assert applied.argv[-1].startswith("--config=") and json.loads(applied.config_copy.read_text()) == {  # type: ignore[union-attr]
        "temperature": 0.05}
