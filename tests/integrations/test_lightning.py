"""Lightning hooks with a real Trainer on a tiny model (CPU, a few steps): ledger contents in this
process, and a live gate under a real ``gatebook run`` ending ``fit`` cleanly in a child process."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

import gatebook as gb
from gatebook.store import open_store
from tests.helpers import PY, env_with, invoke, invoke_json, wait_for, write_script
from tests.integrations.gating import assert_stopped_by_gate, run_gated

pytest.importorskip("lightning")

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*(GPU available|TPU available|HPU available|LeafSpec).*"),
]

TRAIN = textwrap.dedent('''\
    """A tiny Lightning training: y = x @ w on random data, 8 batches an epoch."""
    import json, sys, time

    import torch
    from lightning.pytorch import Callback, LightningModule, Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    from gatebook.integrations.lightning import GatebookLogger, GatebookStop


    class Tiny(LightningModule):
        def __init__(self, lr=0.05, width=4, sleep=0.0):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(width, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("loss", loss, on_step=True, on_epoch=False)
            time.sleep(self.hparams.sleep)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


    class MarkEnd(Callback):
        def on_train_end(self, trainer, pl_module):
            with open("train_end.json", "w") as f:
                json.dump({"step": trainer.global_step, "epoch": trainer.current_epoch}, f)


    def train(epochs, sleep, root):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(32, 4, generator=g)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        data = DataLoader(TensorDataset(x, y), batch_size=4)
        ckpt = ModelCheckpoint(dirpath=f"{root}/ckpt", monitor="loss", mode="min", save_top_k=2,
                               filename="e{epoch}-loss{loss:.4f}", auto_insert_metric_name=False)
        trainer = Trainer(max_epochs=epochs, logger=GatebookLogger(name="lit", tags=["lightning"]),
                          callbacks=[GatebookStop(), ckpt, MarkEnd()], log_every_n_steps=1,
                          accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
                          default_root_dir=root)
        trainer.fit(Tiny(sleep=sleep), data)
        return trainer, ckpt


    if __name__ == "__main__":
        trainer, _ = train(int(sys.argv[1]), float(sys.argv[2]), ".")
        print(f"fit returned at step {trainer.global_step}", flush=True)
    ''')


def test_metrics_params_and_checkpoints_reach_the_ledger(url: str, tmp_path: Path) -> None:
    script = write_script(tmp_path, "lit_train.py", TRAIN)
    ns: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), ns)  # the same module a child would run
    trainer, ckpt = ns["train"](2, 0.0, str(tmp_path))
    run = gb.current()
    assert run is not None and trainer.global_step == 16
    run_id = run.id
    gb.finish()
    with open_store(url) as store:
        rec = store.get_run(run_id)
        assert rec.status.value == "finished" and rec.name == "lit" and rec.tags == ("lightning",)
        series = store.metric_series(run_id)
        # one point per optimizer step, at Lightning's step (0-based: logged before the step counter moves)
        assert [s for s, _v, _t in series["loss"]] == list(range(16))
        assert [v for _s, v, _t in series["epoch"]] == [0.0] * 8 + [1.0] * 8
        assert store.params(run_id)["api"] == {"lr": 0.05, "width": 4, "sleep": 0.0}
        arts = [a for a in store.artifacts(run_id) if a.kind == "checkpoint"]
        assert sorted(Path(a.path).name[:3] for a in arts) == ["e0-", "e1-"]  # one per epoch, as saved
        assert all(a.sha256 and a.size for a in arts)
        assert str(Path(ckpt.best_model_path).resolve()) in {a.path for a in arts}
        notes = [n.text for n in store.notes(run_id)]
        assert len(notes) == 2 and all(n.startswith("checkpoint e") and " loss = " in n for n in notes)
        best = store.summary(run_id)["checkpoint"]
        assert best["monitor"] == "loss" and Path(best["best_path"]) == Path(ckpt.best_model_path)
        assert best["best_score"] == pytest.approx(float(ckpt.best_model_score))


def test_a_failing_stop_gate_ends_fit_cleanly(tmp_path: Path) -> None:
    script = write_script(tmp_path, "lit_train.py", TRAIN)
    proc, doc = run_gated(tmp_path, script, "20", "0.05")  # 160 steps of 50 ms if nothing stopped it
    assert_stopped_by_gate(proc, doc)
    end = json.loads((tmp_path / "train_end.json").read_text())  # Lightning's own on_train_end ran
    assert "fit returned at step" in proc.stdout
    assert 3 < end["step"] < 40 and end["epoch"] < 5, end  # stopped soon after step 3, not at the end
    ckpts = sorted((tmp_path / "ckpt").glob("*.ckpt"))
    assert ckpts, "ModelCheckpoint saved nothing"
    assert any(f"e{end['epoch'] - 1}-" in c.name for c in ckpts), (ckpts, end)  # saved by the epoch that stopped
    assert "ending Lightning training after step" in proc.stderr
    assert max(s for s, _v in doc_points(doc, "loss")) < 40
    assert any(a["kind"] == "checkpoint" for a in doc["artifacts"])


def doc_points(doc: dict, key: str) -> list[tuple[int, float]]:
    m = doc["metrics"][key]
    return [(int(p[0]), float(p[1])) for p in m["points"]] if "points" in m else [(int(m["last_step"]), m["last"])]


def test_gatebook_stop_from_another_shell_ends_an_api_run_cleanly(tmp_path: Path) -> None:
    """No supervisor: `gatebook stop` records the stop and sends SIGTERM to the process itself;
    GatebookStop keeps that SIGTERM from Lightning's handler, so fit ends and saves."""
    script = write_script(tmp_path, "lit_train.py", TRAIN)
    url = f"sqlite:///{tmp_path}/ledger.db"
    with open_store(url) as store:  # the ledger exists before the child opens it
        child = subprocess.Popen([PY, str(script), "200", "0.02"], cwd=tmp_path, env=env_with(url),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with open_store(url) as store:
            run_id = wait_for(lambda: next((r.id for r in store.list_runs() if store.metric_stats([r.id])[r.id]),
                                           None), timeout=120, what="the run's first points")
        stop = invoke("stop", run_id, "--reason", "enough of this", "--grace", "30", cwd=tmp_path, store=url)
        assert stop.returncode == 0, stop.stderr
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err[-4000:]  # fit returned and the script ended by itself
    assert "fit returned at step" in out and "enough of this: ending Lightning training after" in err
    end = json.loads((tmp_path / "train_end.json").read_text())
    assert end["epoch"] < 100 and list((tmp_path / "ckpt").glob(f"e{end['epoch'] - 1}-*.ckpt"))
    doc = invoke_json("show", run_id, cwd=tmp_path, store=url)
    assert doc["status"] == "stopped" and doc["reason"] == "enough of this", doc


def test_the_same_classes_serve_a_pytorch_lightning_trainer(url: str, tmp_path: Path) -> None:
    pl = pytest.importorskip("pytorch_lightning")
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from gatebook.integrations.lightning import GatebookLogger, GatebookStop

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: list, batch_idx: int) -> torch.Tensor:
            loss = self.layer(batch[0]).pow(2).mean()
            self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    logger, stop = GatebookLogger(name="pl"), GatebookStop()
    assert isinstance(logger, pl.loggers.Logger) and isinstance(stop, pl.Callback)
    trainer = pl.Trainer(max_epochs=1, logger=logger, callbacks=[stop, pl.callbacks.ModelCheckpoint(dirpath="ck")],
                         log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Tiny(), DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4))
    run_id = logger.version
    gb.finish()
    with open_store(url) as store:
        assert [s for s, _v, _t in store.metric_series(run_id)["loss"]] == [0, 1]
        assert [Path(a.path).name for a in store.artifacts(run_id) if a.kind == "checkpoint"] == ["epoch=0-step=2.ckpt"]
