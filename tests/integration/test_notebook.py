"""A real notebook reads the ledger: nbclient runs it on an IPython kernel of this interpreter.

The runs are recorded by the public API in a child process; the notebook does what a person
would (``from gatebook import Ledger``) and its outputs must carry the HTML tables.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import PY, env_with

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("pandas")

KERNEL = "gatebook-test-python"


def _record_runs(root: Path) -> None:
    script = textwrap.dedent("""\
        import gatebook as gb
        for name, acc in (("base", 0.70), ("better", 0.82)):
            gb.init(name=name, config={"lr": acc / 10})
            for step in range(4):
                gb.log({"val_acc": acc * (step + 1) / 4, "loss": 1.0 / (step + 1)}, step=step)
            gb.finish()
    """)
    proc = subprocess.run([PY, "-c", script], cwd=root, env=env_with(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def _kernel_spec(where: Path) -> None:
    """A kernelspec running an IPython kernel on this interpreter (where gatebook is installed)."""
    spec = where / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gatebook tests", "language": "python"}))


def test_a_notebook_shows_the_ledger_as_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "gatebook.yaml").write_text('metrics:\n  higher_is_better: ["val_*"]\n')
    _record_runs(root)
    jupyter = tmp_path / "jupyter"
    _kernel_spec(jupyter)
    # every Jupyter and IPython directory in the temp dir: nothing read from or left in ~
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))

    cells = [
        "from gatebook import Ledger\nledger = Ledger()",
        "ledger.runs()",
        'ledger.compare(["base", "better"])',
        "df = ledger.runs().to_pandas()\nprint(list(df.columns), df['metrics.val_acc'].tolist())",
        "ledger.close()",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL, resources={"metadata": {"path": str(root)}})
    client.execute()

    def result(cell: int) -> dict[str, str]:
        outputs = [o for o in nb.cells[cell].outputs if o.output_type == "execute_result"]
        assert len(outputs) == 1, nb.cells[cell].outputs
        return dict(outputs[0].data)

    runs = result(1)
    assert "text/html" in runs and runs["text/html"].count("<tr>") == 3  # the header and one row per run
    assert ">base<" in runs["text/html"] and ">better<" in runs["text/html"] and "RunsResult" in runs["text/plain"]
    comparison = result(2)["text/html"]
    assert 'class="delta better"' in comparison and comparison.count("<svg") == 2  # val_acc and loss
    printed = "".join(o.text for o in nb.cells[3].outputs if o.output_type == "stream")
    assert printed.strip() == ("['id', 'name', 'status', 'created', 'duration', 'params.lr', 'metrics.loss', "
                               "'metrics.val_acc'] [0.7, 0.82]")
