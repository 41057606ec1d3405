"""`gatebook plot` and `gatebook report` on real runs recorded by the API in a project with gates.

The commands run in this process (``invoke``: the CLI's ``main`` under Click's CliRunner), but for
the test without matplotlib, which needs a fresh interpreter (a real ``gatebook`` process)."""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, invoke, one_line_error

pytest.importorskip("matplotlib")

GATEBOOK_YAML = """\
metrics:
  higher_is_better: ["val_*"]
  lower_is_better: ["*loss*"]
  primary: [val_acc]
gates:
  epoch2:
    checks: ["val_acc >= 0.50 @ epoch 2"]
    playbook:
      fixes: [{name: "higher lr", why: "too slow", set: {lr: 0.05}}]
  validation:
    checks:
      - {metric: val_acc, pass: ">= 0.80", marginal: ">= 0.70"}
      - "loss < 10"
  deployment:
    baseline: base
    checks: ["val_acc >= baseline + 0.01"]
"""

MAKE_RUNS = textwrap.dedent('''\
    import math
    import gatebook as gb

    def make(name, lr, nan_from=None, note=None):
        gb.init(name=name, config={"lr": lr, "optim": {"name": "adam"}}, group="sweep", tags=["t"])
        for epoch in range(1, 9):
            loss = 2.0 * math.exp(-lr * 10 * epoch)
            gb.log({"epoch": epoch, "loss": math.nan if nan_from and epoch >= nan_from else loss,
                    "val_acc": 1 - loss / 2.5}, step=epoch)
        if note:
            gb.note(note)
        gb.summary({"best_val_acc": 1 - loss / 2.5})
        gb.finish()

    make("base", 0.05)
    make("fast", 0.1, note="converges <b>fast</b> & | pipes")
    make("slow", 0.01)
    make("diverged", 0.3, nan_from=6)
''')

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    (root / "make_runs.py").write_text(MAKE_RUNS)
    proc = subprocess.run([PY, "make_runs.py"], cwd=root, env=env_with(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return root


def test_plot_draws_one_chart_per_metric_with_thresholds(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "charts"
    proc = invoke("plot", "base", "fast", "slow", "-m", "val_acc", "-m", "loss", "--out", f"{out}/", "--json",
              cwd=project)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["files"] == [str(out / "plot-val_acc.png"), str(out / "plot-loss.png")]
    assert doc["metrics"] == ["val_acc", "loss"]
    assert [r["name"] for r in doc["runs"]] == ["base", "fast", "slow"]
    for path in doc["files"]:
        assert png_size(Path(path).read_bytes()) == (900, 500)
    acc, loss = doc["charts"]
    assert acc["direction"] == "higher" and acc["yscale"] == "linear" and len(acc["runs"]) == 3
    by_check = {(t["gate"], t["band"], t["value"]): t for t in acc["thresholds"]}
    assert by_check[("epoch2", "pass", 0.5)]["at"] == 2.0
    assert by_check[("validation", "pass", 0.8)]["at"] is None
    assert ("validation", "marginal", 0.7) in by_check
    deploy = next(t for t in acc["thresholds"] if t["gate"] == "deployment")  # vs the gate's baseline: base
    assert deploy["value"] == pytest.approx(1 - 2.0 * 2.718281828459045 ** (-4.0) / 2.5 + 0.01)
    assert loss["direction"] == "lower" and loss["yscale"] == "log"  # 1.2 .. 0.0007: three decades
    assert [t["check"] for t in loss["thresholds"]] == ["loss < 10"]


def test_html_report_is_self_contained(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = invoke("report", "--group", "sweep", "--out", str(out), "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["file"] == str(out) and doc["format"] == "html" and doc["images"] == []
    assert doc["title"] == "Report: group sweep"
    assert doc["baseline"]["name"] == "base"  # the deployment gate's baseline
    assert doc["gates"] == ["epoch2", "validation", "deployment"] and doc["skipped_gates"] == []
    verdicts = {r["name"]: r["verdict"] for r in doc["runs"]}
    assert verdicts == {"base": "FAIL", "fast": "PASS", "slow": "FAIL", "diverged": "FAIL"}
    assert doc["metrics"] == ["val_acc", "loss"]  # primary, then the gates' metrics

    page = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    for data in images:
        assert png_size(base64.b64decode(data)) == (900, 500)
    # the comparison, with the baseline first and a verdict column per gate
    comparison = page.split('<table class="comparison">', 1)[1].split("</table>", 1)[0]
    assert comparison.index("base") < comparison.index("fast")
    assert "<th>gate deployment</th>" in comparison and "tier-FAIL" in comparison
    # the verdict table of each run, provenance, params and escaped notes
    assert page.count('<table class="verdicts">') == 4
    assert "<code>val_acc &gt;= 0.50 @ epoch 2</code>" in page
    assert "val_acc 0.345015 &lt; 0.50 at epoch 2" in page
    assert 'next fix: &quot;higher lr&quot;' in page
    assert "make_runs.py" in page and "<code>optim.name</code>" in page
    assert "converges &lt;b&gt;fast&lt;/b&gt; &amp; | pipes" in page


def test_markdown_report_links_its_images(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "sweep report.md"
    proc = invoke("report", "base", "fast", "--gate", "validation", "--baseline", "fast", "--metric", "loss",
              "--out", str(out), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(out)]
    text = out.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["sweep%20report_files/loss.png"]
    assert png_size((out.parent / "sweep report_files" / "loss.png").read_bytes()) == (900, 500)
    assert text.startswith("# Report: base, fast\n")
    assert "## Comparison" in text and "| fast (baseline) |" in text
    assert "| validation | `loss < 10` |" in text
    assert "converges \\<b>fast\\</b> & \\| pipes" in text


def test_plot_text_output_is_the_paths_and_nan_runs_are_drawn(project: Path, tmp_path: Path) -> None:
    proc = invoke("plot", "--group", "sweep", "-m", "loss", "--yscale", "linear", cwd=tmp_path,
                  store=f"sqlite:///{project}/.gatebook/ledger.db")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(tmp_path / "plot-loss.png")]  # default: plot-<metric>.png here
    assert png_size((tmp_path / "plot-loss.png").read_bytes()) == (900, 500)


def test_bad_input_is_one_line_exit_2(project: Path, tmp_path: Path) -> None:
    err = one_line_error(invoke("plot", "nope", "-m", "loss", cwd=project))
    assert "no run matches 'nope'" in err
    err = one_line_error(invoke("plot", "base", "fast", "-m", "val_accc", cwd=project))
    assert "none of the 2 selected runs logged it" in err and "val_acc" in err
    err = one_line_error(invoke("plot", "base", "-m", "best_val_acc", cwd=project))
    assert "only a summary value" in err
    (tmp_path / "afile").write_text("")
    err = one_line_error(invoke("plot", "base", "-m", "loss", "--out", str(tmp_path / "afile" / "x.png"), cwd=project))
    assert "afile is not a directory" in err
    err = one_line_error(invoke("report", "base", "--out", str(tmp_path / "afile" / "r.html"), cwd=project))
    assert "afile is not a directory" in err
    err = one_line_error(invoke("report", "base", "--out", "r.pdf", cwd=project))
    assert "a report is a .html or a .md file" in err
    err = one_line_error(invoke("plot", "base", "-m", "loss", "--out", "x.jpg", cwd=project))
    assert ".png, .svg or .pdf" in err
    err = one_line_error(invoke("report", "base", "--gate", "nope", "--out", str(tmp_path / "r.md"), cwd=project))
    assert "unknown gate 'nope'" in err
    assert not (tmp_path / "r.md").exists()
    assert not list(project.glob("*.png"))


def test_without_matplotlib_the_commands_say_which_extra(project: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    env = env_with(PYTHONPATH=str(tmp_path / "shadow"))
    for args in (("plot", "base", "-m", "loss"), ("report", "base")):
        err = one_line_error(gb(*args, cwd=project, env=env))
        assert err == ("gatebook: error: plotting needs the 'matplotlib' package; "
                       "install it with: pip install 'gatebook[plot]'")
