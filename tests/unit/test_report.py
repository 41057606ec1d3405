"""Charts and reports, in process: curves, thresholds, scales, file names, Markdown / HTML rendering."""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gatebook.errors import MissingExtraError, UsageError
from gatebook.gates.setup import BaselineData
from gatebook.gates.spec import GateSpec
from gatebook.report import build, write
from gatebook.report.blocks import Bullets, Details, Heading, Image, Para, Report, Span, Table
from gatebook.report.charts import (
    Chart,
    Curve,
    Threshold,
    gate_thresholds,
    run_labels,
    slug,
    unique_slugs,
)
from gatebook.report.html import render_html
from gatebook.report.markdown import render_markdown
from gatebook.report.plot import choose_scale

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def gate(name: str, *checks: Any, baseline: str | None = None) -> Any:
    return GateSpec(checks=list(checks), baseline=baseline).to_gate(name)


# -- curves ------------------------------------------------------------------------------------------


def test_curve_sorts_by_step_and_breaks_on_nan_and_inf() -> None:
    curve = Curve("r", "r", ((3, 0.3), (1, 0.1), (2, math.nan), (4, math.inf)))
    xs, ys, indexed, bad = curve.xy()
    assert xs == [1.0, 2.0, 3.0, 4.0] and not indexed
    assert ys[0] == 0.1 and math.isnan(ys[1]) and ys[2] == 0.3 and math.isnan(ys[3])
    assert bad == [2.0, 4.0]
    assert curve.finite_values() == [0.3, 0.1]


def test_curve_without_steps_uses_the_point_number() -> None:
    xs, ys, indexed, bad = Curve("r", "r", ((None, 5.0), (None, 4.0), (None, math.nan))).xy()
    assert (xs, indexed, bad) == ([1.0, 2.0, 3.0], True, [3.0])


def test_run_labels_add_a_short_id_when_names_repeat() -> None:
    runs = [SimpleNamespace(id="6aaaaaaaaaa", name="exp"), SimpleNamespace(id="6bbbbbbbbbb", name="exp"),
            SimpleNamespace(id="6cccccccccc", name=None), SimpleNamespace(id="6dddddddddd", name="base")]
    assert run_labels(runs) == {"6aaaaaaaaaa": "exp (6aaaaaa)", "6bbbbbbbbbb": "exp (6bbbbbb)",
                                "6cccccccccc": "6cccccccccc", "6dddddddddd": "base"}


def test_slugs_are_file_safe_and_distinct() -> None:
    assert slug("val/loss") == "val_loss" and slug("r@5") == "r_5" and slug("../..") == "metric"
    assert unique_slugs(["val/loss", "val_loss", "VAL_LOSS"]) == {
        "val/loss": "val_loss", "val_loss": "val_loss-2", "VAL_LOSS": "VAL_LOSS-3"}


def test_scale_is_log_only_for_positive_values_spanning_two_decades() -> None:
    def chart(*values: float) -> Chart:
        return Chart("m", [Curve("r", "r", tuple((i, v) for i, v in enumerate(values)))])

    assert choose_scale(chart(2.0, 1.0, 0.5, 0.1)) == "linear"  # 20x
    assert choose_scale(chart(2.0, 0.2, 0.02)) == "log"  # 100x
    assert choose_scale(chart(2.0, 0.001, math.nan, math.inf)) == "log"  # NaN / inf ignored
    assert choose_scale(chart(100.0, 0.0, 0.001)) == "linear"  # a zero: no log
    assert choose_scale(chart(100.0, -1.0, 0.001), "log") == "log"  # asked for, and some values are positive
    assert choose_scale(chart(-1.0, -2.0), "log") == "linear"  # nothing to draw on a log axis
    assert choose_scale(chart(2.0, 0.001), "linear") == "linear"


# -- thresholds --------------------------------------------------------------------------------------


def test_numeric_thresholds_bands_between_and_at_epoch() -> None:
    gates = [gate("epoch2", "val_acc >= 0.50 @ epoch 2"),
             gate("v", {"metric": "val_acc", "pass": ">= 0.80", "marginal": ">= 0.70"}, "loss < 10"),
             gate("range", "val_acc between 0.6 and 0.9", "mean of last 3 val_acc > 35%")]
    found, skipped = gate_thresholds(gates, "val_acc")
    assert skipped == []
    got = [(t.gate, t.value, t.at, t.band, t.label) for t in found]
    assert got == [
        ("epoch2", 0.5, 2.0, "pass", "epoch2: val_acc >= 0.50 @ epoch 2"),
        ("v", 0.8, None, "pass", "v: val_acc >= 0.80 (pass)"),
        ("v", 0.7, None, "marginal", "v: val_acc >= 0.70 (marginal)"),
        ("range", 0.6, None, "pass", "range: val_acc between 0.6 and 0.9"),
        ("range", 0.9, None, "pass", ""),  # the upper bound: one legend entry for both lines
        ("range", 0.35, None, "pass", "range: mean of last 3 val_acc > 35%"),
    ]
    loss, _ = gate_thresholds(gates, "loss")
    assert [(t.value, t.check) for t in loss] == [(10.0, "loss < 10")]


def test_baseline_thresholds_need_a_baseline() -> None:
    gates = [gate("deploy", "r@5 >= baseline + 0.10", "latency_ms no worse than baseline")]
    found, skipped = gate_thresholds(gates, "r@5")
    assert found == [] and len(skipped) == 1 and "--baseline" in skipped[0]
    base = BaselineData(label="DIRECT", series={"r@5": [(1, 0.42)], "latency_ms": [(1, 10.0)]})
    found, skipped = gate_thresholds(gates, "r@5", baselines={"deploy": base})
    assert skipped == [] and len(found) == 1
    assert found[0].value == pytest.approx(0.52)
    assert found[0].label == "deploy: r@5 >= baseline + 0.10 (=\u00a00.52)"
    found, _ = gate_thresholds(gates, "latency_ms", baselines={"deploy": base},
                               direction_of=lambda k: "lower")
    assert [t.value for t in found] == [10.0]


def test_at_epoch_follows_an_epoch_axis() -> None:
    from gatebook.report.charts import _at_step

    at = SimpleNamespace(unit="epoch", n=2)
    assert _at_step(at, None) == 2
    assert _at_step(at, [(100, 1.0, 0.0), (200, 2.0, 0.0), (300, 3.0, 0.0)]) == 200
    assert _at_step(SimpleNamespace(unit="step", n=7), [(100, 1.0, 0.0)]) == 7


# -- drawing (matplotlib) ------------------------------------------------------------------------------


def test_draw_writes_a_png_of_the_documented_size(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from gatebook.report.plot import draw, render_png

    chart = Chart("val_loss", [Curve("a", "a", ((1, 1.0), (2, math.nan), (3, 0.001))),
                               Curve("b", "b (baseline)", ((1, 2.0), (2, 0.5)), baseline=True)],
                  [Threshold("g", "val_loss < 0.5", "g: val_loss < 0.5", 0.5),
                   Threshold("g", "val_loss < 0.9 @ epoch 2", "g: val_loss < 0.9 @ epoch 2", 0.9, at=2.0),
                   Threshold("guard", "val_loss < 1e9", "guard: val_loss < 1e9", 1e9)], direction="lower")
    path = tmp_path / "c.png"
    with open(path, "wb") as fh:
        assert draw(chart, fh) == "log"
    assert png_size(path.read_bytes()) == (900, 500)
    data, scale = render_png(chart, yscale="linear")
    assert scale == "linear" and png_size(data) == (900, 500)
    assert render_png(chart)[0] == render_png(chart)[0]  # deterministic: no timestamp in the file
    empty, _ = render_png(Chart("m", []))
    assert png_size(empty) == (900, 500)


def test_thresholds_far_from_the_curves_are_listed_not_drawn() -> None:
    from gatebook.report.plot import _visible

    chart = Chart("loss", [Curve("a", "a", ((1, 0.5), (2, 0.3)))],
                  [Threshold("g", "loss < 10", "g: loss < 10", 10.0), Threshold("g", "loss < 0.4", "x", 0.4)])
    near, far = _visible(chart, "linear")
    assert [t.value for t in near] == [0.4] and [t.value for t in far] == [10.0]


def test_missing_matplotlib_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from gatebook.report.plot import require_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingExtraError) as info:
        require_matplotlib()
    assert info.value.exit_code == 2
    assert str(info.value) == ("plotting needs the 'matplotlib' package; "
                               "install it with: pip install 'gatebook[plot]'")


# -- rendering ----------------------------------------------------------------------------------------


def sample_report() -> Report:
    png = PNG_MAGIC + b"fake"
    return Report("Report: a | b", [
        Para(["2 runs, baseline ", Span("base", bold=True)], muted=True),
        Heading(2, "Comparison", "comparison"),
        Table(["run", "val_loss ↓"], [[["exp|1", Span(" (baseline)", cls="muted")], Span("0.5", bold=True)],
                                      ["<script>alert(1)</script>",
                                       [Span("0.4"), Span(" (-0.1)", cls="delta better")]]],
              ["l", "r"]),
        Image("val_loss.png", "val_loss by step", png, 900, 500),
        Bullets(["a note with *stars* and _under_ and a_b", [Span("2026", cls="muted"), " text"]]),
        Details("params (30)", [Table(["param", "value"], [[Span("a`b", code=True), "1"]])]),
        Para("# not a heading"),
    ])


def test_markdown_escapes_text_and_links_images_relatively() -> None:
    md = render_markdown(sample_report(), "my report_files")
    lines = md.splitlines()
    assert lines[0] == "# Report: a \\| b"
    assert "| exp\\|1 (baseline) | **0.5** |" in lines
    assert "|---|---:|" in lines
    assert "| \\<script>alert(1)\\</script> | 0.4 (-0.1) |" in lines
    assert "![val_loss by step](my%20report_files/val_loss.png)" in lines
    assert "- a note with \\*stars\\* and \\_under\\_ and a_b" in lines  # val_loss-like words stay readable
    assert "**params (30)**" in lines and "| ``a`b`` | 1 |" in lines
    assert "\\# not a heading" in lines
    assert lines[2] == "_2 runs, baseline **base**_"


def test_html_is_escaped_and_self_contained() -> None:
    page = render_html(sample_report())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<title>Report: a | b</title>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert '<img class="chart" alt="val_loss by step" width="900" height="500" src="data:image/png;base64,' in page
    assert '<td class="r"><strong>0.5</strong></td>' in page
    assert "<details><summary>params (30)</summary>" in page
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)


def test_write_report_md_writes_images_next_to_it(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "r.md"
    written = write.write_report(sample_report(), out)
    assert written == {"file": str(out.resolve()), "format": "md",
                       "images": [str((tmp_path / "sub" / "r_files" / "val_loss.png").resolve())]}
    assert (tmp_path / "sub" / "r_files" / "val_loss.png").read_bytes().startswith(PNG_MAGIC)
    assert "](r_files/val_loss.png)" in out.read_text()
    html_out = write.write_report(sample_report(), tmp_path / "r.html")
    assert html_out["format"] == "html" and html_out["images"] == []
    assert not (tmp_path / "r_files").exists()


def test_report_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="a report is a .html or a .md file"):
        write.report_format(Path("r.txt"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="afile is not a directory"):
        write.write_report(sample_report(), tmp_path / "afile" / "r.html")
    write.ensure_parent(tmp_path / "new" / "dir" / "x.png")
    assert (tmp_path / "new" / "dir").is_dir()


def test_setup_gates_leaves_out_gates_it_cannot_judge() -> None:
    from gatebook.project_config import ProjectConfig

    pconf = ProjectConfig(gates={"plain": {"checks": ["loss < 1"]},
                                 "vs": {"checks": ["acc >= baseline"]},
                                 "declared": {"baseline": "nowhere", "checks": ["acc >= baseline"]}})

    class Store:
        def resolve_run(self, ref: str) -> Any:
            from gatebook.errors import NotFoundError

            raise NotFoundError(f"no run matches {ref!r}")

    gating, skipped = build.setup_gates(Store(), pconf, (), None)
    assert [g.name for g in gating.gates] == ["plain"]
    assert skipped[0].startswith("gate vs: compares with a baseline and none is set")
    assert skipped[1].startswith("gate declared: its baseline 'nowhere': no run matches")
    assert build.setup_gates(Store(), ProjectConfig(), (), None) == (None, [])
    with pytest.raises(UsageError, match="compares with a baseline"):
        build.setup_gates(Store(), pconf, ("vs",), None)


def test_cli_module_does_not_import_matplotlib() -> None:
    import subprocess

    code = ("import sys, gatebook.cli.report, gatebook.report.plot, gatebook.report.build, gatebook.report.write; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
