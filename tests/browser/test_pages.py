"""The dashboard as a user sees it: Debian's Chromium on a real `gatebook ui` over a real ledger.

The runs page with 10,000 runs loads and filters; a run page draws its curves (pixels on the
canvas) with the gate's threshold line; a live run's curve grows while it runs and the stop
button stops it (the ledger says `stopped`); compare overlays two runs; a run named like an XSS
payload is shown as text. Each test saves screenshots in its temp dir (printed with -s).
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

from gatebook.project import sqlite_url
from gatebook.store import open_store
from tests.browser.conftest import log_runs
from tests.helpers import PY, env_with, invoke_json, wait_for

XSS = "<img src=x onerror=alert(1)>"
LIVE_SCRIPT = textwrap.dedent("""\
    import time
    import gatebook as gb
    gb.init(name="live", config={"lr": 0.1})
    for step in range(10_000):
        gb.log({"loss": 1.0 / (step + 1), "val_acc": min(0.99, 0.5 + step / 100)}, step=step)
        print(f"step {step}", flush=True)
        if gb.should_stop():
            print("stopping cleanly", flush=True)
            break
        time.sleep(0.1)
    gb.finish()
""")


def _painted(page: Any, selector: str) -> int:
    """How many pixels of the chart's canvas are not blank."""
    return int(page.evaluate("""(sel) => {
        const c = document.querySelector(sel + ' canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        return n;
    }""", selector))


def _no_errors(page: Any) -> None:
    assert page.console_errors == [], page.console_errors


def test_runs_page_with_10000_runs_loads_filters_and_pages(page: Any, tmp_path: Path,
                                                           ui_server: Callable[..., str]) -> None:
    from gatebook.testing.bulk import bulk_runs

    root = tmp_path / "big"
    (root / ".gatebook").mkdir(parents=True)
    store = open_store(sqlite_url(root / ".gatebook" / "ledger.db"))
    try:
        bulk_runs(store, 10_000, steps=2)
    finally:
        store.close()
    url = ui_server(root)
    page.goto(url + "/")
    assert page.text_content("#runs-count") == "10,000 runs"
    assert page.locator("#runs tbody tr").count() == 100
    assert "page 1 of 100" in page.text_content(".pager")
    page.shot("runs-10000")
    page.fill('#filters input[name="name"]', "exp-007")
    page.click('#filters button[type="submit"]')
    page.wait_for_url("**name=exp-007**")
    assert page.text_content("#runs-count") == "50 runs"
    names = page.locator("#runs tbody td.name").all_text_contents()
    assert len(names) == 50 and set(names) == {"exp-007"}
    page.click('#runs thead a:text-is("acc")')  # sort by the metric's last value
    page.wait_for_url("**sort=metric*acc**")
    values = [float(v) for v in page.locator("#runs tbody tr td:nth-child(9)").all_text_contents()]  # acc: first
    assert values == sorted(values, reverse=True) or values == sorted(values)
    page.shot("runs-filtered")
    _no_errors(page)


def test_run_page_draws_curves_with_the_gate_line(page: Any, ui_project: Path, ui_server: Callable[..., str]) -> None:
    url = ui_server(ui_project)
    page.goto(url + "/runs/alpha")
    chart = '.chart[data-key="val_acc"]'
    page.wait_for_selector(chart + '[data-points="20"]')
    assert page.get_attribute(chart, "data-lines") == "1"  # the floor gate's 0.75
    assert page.get_attribute(chart, "data-last-x") == "19"
    assert _painted(page, chart) > 500
    assert page.locator("#gates .tier-PASS").count() >= 1
    assert "val_acc >= 0.75" in page.text_content("#gates")
    page.shot("run-alpha")
    _no_errors(page)


def test_a_live_run_grows_and_the_stop_button_stops_it(page: Any, ui_project: Path,
                                                      ui_server: Callable[..., str]) -> None:
    (ui_project / "live.py").write_text(LIVE_SCRIPT)
    proc = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "live", "--", PY, "live.py"], cwd=ui_project,
                            env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: any(r["name"] == "live" for r in invoke_json("ls", cwd=ui_project)["runs"]),
                 timeout=60, what="the live run to start")
        url = ui_server(ui_project)
        page.goto(url + "/runs/live")
        chart = '.chart[data-key="loss"]'
        page.wait_for_selector(chart + "[data-last-x]")
        first = int(page.get_attribute(chart, "data-last-x") or 0)
        page.wait_for_function(f"() => Number(document.querySelector('{chart}').dataset.lastX) >= {first + 5}")
        assert _painted(page, chart) > 200
        assert "step" in page.text_content("#output")
        page.shot("live-growing")
        page.fill('#stop-form input[name="reason"]', "enough, from the browser")
        page.click("#stop-form button")
        page.wait_for_function("() => document.querySelector('#status .badge').textContent === 'stopped'",
                               timeout=20_000)
        assert "Stop requested" in page.text_content("#action-result")
        assert "enough, from the browser" in page.text_content("#reason")
        page.shot("live-stopped")
        out, _ = proc.communicate(timeout=60)
        assert "stopping cleanly" in out
        doc = invoke_json("show", "live", cwd=ui_project)
        assert doc["status"] == "stopped" and doc["reason"] == "enough, from the browser"
        _no_errors(page)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_compare_overlays_two_runs(page: Any, ui_project: Path, ui_server: Callable[..., str]) -> None:
    url = ui_server(ui_project)
    page.goto(url + "/")
    for name in ("alpha", "beta"):
        page.locator("#runs tbody tr", has_text=name).locator("input.pick").check()
    page.click("#compare-selected")
    page.wait_for_url("**/compare?runs=**")
    chart = '.chart[data-key="val_acc"]'
    page.wait_for_selector(chart + "[data-points]")
    assert page.locator(chart + " .u-legend .u-series").count() == 3  # x, alpha, beta
    assert _painted(page, chart) > 500
    assert page.locator("#comparison tbody tr").count() == 2
    page.shot("compare")
    _no_errors(page)


def test_a_run_named_like_a_script_is_shown_as_text(page: Any, ui_project: Path,
                                                    ui_server: Callable[..., str]) -> None:
    log_runs(ui_project, [(XSS, 3)])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    url = ui_server(ui_project)
    page.goto(url + "/")
    assert page.locator("#runs td.name", has_text=XSS).count() == 1
    page.locator("#runs td.name a", has_text=XSS).click()
    page.wait_for_selector('.chart[data-key="loss"][data-points]')
    assert page.text_content("#run-name") == XSS
    assert page.locator("img").count() == 0
    page.fill('#note-form input[name="text"]', "<script>alert(2)</script>")
    page.click("#note-form button")
    page.wait_for_function("() => document.querySelectorAll('#notes li').length === 1")
    assert "<script>alert(2)</script>" in page.text_content("#notes")
    page.reload()
    assert "<script>alert(2)</script>" in page.text_content("#notes")
    time.sleep(0.3)
    assert dialogs == [] and page.locator("img").count() == 0
    page.shot("xss-as-text")
    _no_errors(page)


def test_zoom_reads_the_range_at_full_resolution(page: Any, ui_project: Path, ui_server: Callable[..., str]) -> None:
    script = textwrap.dedent("""\
        import gatebook as gb
        gb.init(name="long")
        for step in range(6000):
            value = 1e6 if step == 4321 else float("nan") if step == 1234 else 1.0 / (step + 1)
            gb.log({"loss": value}, step=step)
        gb.finish()
    """)
    proc = subprocess.run([PY, "-c", script], cwd=ui_project, env=env_with(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    url = ui_server(ui_project)
    page.goto(url + "/runs/long")
    chart = '.chart[data-key="loss"]'
    page.wait_for_selector(chart + "[data-points]")
    assert int(page.get_attribute(chart, "data-points") or 0) <= 2000  # reduced to buckets...
    assert page.get_attribute(chart, "data-nan") == "1"  # ...with the NaN marked
    assert "buckets" in page.text_content(chart + " .chart-info")
    page.shot("zoom-before")
    box = page.locator(chart + " .u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.70, y)  # around the spike at step 4321 (of 6000)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.74, y, steps=5)
    page.mouse.up()
    page.wait_for_function(f"() => document.querySelector('{chart} .chart-info').textContent.includes('zoomed')")
    info = page.text_content(chart + " .chart-info")
    assert "every one drawn" in info, info  # the range whole, point by point
    zoomed = int(page.get_attribute(chart, "data-points") or 0)
    assert 100 < zoomed < 2000
    page.shot("zoom-after")
    page.dblclick(chart + " .u-over")
    page.wait_for_function(f"() => !document.querySelector('{chart} .chart-info').textContent.includes('zoomed')")
    _no_errors(page)


def test_promote_from_the_run_page_follows_the_cli_rules(page: Any, ui_project: Path,
                                                         ui_server: Callable[..., str]) -> None:
    with (ui_project / "gatebook.yaml").open("a") as f:
        f.write("aliases:\n  prod: {gates: [floor]}\n")
    url = ui_server(ui_project)
    page.goto(url + "/runs/alpha")
    page.fill('#promote-form input[name="alias"]', "prod")
    page.click("#promote-form button")
    page.wait_for_function("() => document.querySelector('#action-result').textContent.includes('@prod')")
    assert "moved" in page.text_content("#action-result") and "PASS" in page.text_content("#action-result")
    page.fill('#promote-form input[name="alias"]', "staging")
    page.click("#promote-form button")
    page.wait_for_function("() => document.querySelector('#action-result').textContent.includes('no gates')")
    assert [e for e in page.console_errors if "400 (Bad Request)" not in e] == []  # the refusal, logged by Chromium
    page.console_errors.clear()
    assert invoke_json("aliases", cwd=ui_project)["aliases"][0]["alias"] == "prod"
    page.goto(url + "/aliases")
    assert "@prod" in page.text_content("#aliases") and "moved" in page.text_content("#alias-log")
    page.shot("promoted")
    _no_errors(page)
