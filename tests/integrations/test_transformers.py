"""The Hugging Face Trainer hook with a real Trainer on a tiny BERT built from a config (vocab 32,
one layer; no download; CPU): ledger contents in this process, and a live gate under a real
``gatebook run`` ending training cleanly in a child process."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import gatebook as gb
from gatebook.store import open_store
from tests.helpers import write_script
from tests.integrations.gating import assert_stopped_by_gate, run_gated

pytest.importorskip("transformers")
pytest.importorskip("accelerate", reason="the Trainer needs accelerate (the 'transformers' extra installs it)")

TRAIN = textwrap.dedent('''\
    """A tiny Trainer run: a one-layer BERT classifying 16 random sequences of 8 tokens."""
    import json, sys, time

    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    from gatebook.integrations.transformers import GatebookCallback


    class Data(torch.utils.data.Dataset):
        def __init__(self, n):
            g = torch.Generator().manual_seed(0)
            self.ids = torch.randint(0, 32, (n, 8), generator=g)

        def __len__(self):
            return len(self.ids)

        def __getitem__(self, i):
            return {"input_ids": self.ids[i], "labels": int(self.ids[i][0] % 2)}


    class Slow(TrainerCallback):
        def __init__(self, sleep):
            self.sleep = sleep

        def on_step_end(self, args, state, control, **kwargs):
            time.sleep(self.sleep)

        def on_train_end(self, args, state, control, **kwargs):
            with open("train_end.json", "w") as f:
                json.dump({"step": state.global_step}, f)


    def train(out, max_steps, sleep, save="epoch"):
        torch.manual_seed(0)
        config = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=16, max_position_embeddings=16, num_labels=2)
        args = TrainingArguments(output_dir=out, report_to=[], use_cpu=True, max_steps=max_steps,
                                 per_device_train_batch_size=4, per_device_eval_batch_size=8, learning_rate=1e-3,
                                 logging_steps=1, eval_strategy="epoch" if save == "epoch" else "no",
                                 save_strategy=save, disable_tqdm=True, seed=0, hub_token="hf_secret")
        trainer = Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=Data(16),
                          eval_dataset=Data(8), callbacks=[GatebookCallback(name="hf", tags=["hf"]), Slow(sleep)])
        trainer.train()
        return trainer


    if __name__ == "__main__":
        trainer = train("out", int(sys.argv[1]), float(sys.argv[2]), save="no")
        print(f"train returned at step {trainer.state.global_step}", flush=True)
    ''')


def test_args_config_metrics_and_checkpoints_reach_the_ledger(url: str, tmp_path: Path) -> None:
    script = write_script(tmp_path, "hf_train.py", TRAIN)
    ns: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), ns)
    ns["train"](str(tmp_path / "out"), 8, 0.0)  # 2 epochs of 4 steps, an eval and a save at each epoch end
    run = gb.current()
    assert run is not None
    run_id = run.id
    gb.finish()
    with open_store(url) as store:
        rec = store.get_run(run_id)
        assert rec.status.value == "finished" and rec.name == "hf" and rec.tags == ("hf",)
        series = store.metric_series(run_id)
        assert [s for s, _v, _t in series["loss"]] == list(range(1, 9))
        assert [s for s, _v, _t in series["eval_loss"]] == [4, 8]  # once each: on_log's, not again on_evaluate
        assert [v for _s, v, _t in series["epoch"]][:4] == [0.25, 0.5, 0.75, 1.0]
        params = store.params(run_id)["api"]
        assert params["args.learning_rate"] == 1e-3 and params["args.max_steps"] == 8
        assert params["args.hub_token"] == "***" and "hf_secret" not in json.dumps(params)
        assert params["model.hidden_size"] == 8 and params["model.vocab_size"] == 32
        arts = [a for a in store.artifacts(run_id) if a.kind == "checkpoint"]
        assert [Path(a.path).name for a in arts] == ["checkpoint-4", "checkpoint-8"]
        assert all(Path(a.path).is_dir() and a.size for a in arts)


def test_a_failing_stop_gate_ends_training_cleanly(tmp_path: Path) -> None:
    script = write_script(tmp_path, "hf_train.py", TRAIN)
    proc, doc = run_gated(tmp_path, script, "200", "0.05")  # 200 steps of 50 ms if nothing stopped it
    assert_stopped_by_gate(proc, doc)
    end = json.loads((tmp_path / "train_end.json").read_text())  # the Trainer's own on_train_end ran
    assert "train returned at step" in proc.stdout
    assert 3 < end["step"] < 60, end
    # save_strategy="no": the only checkpoint is the one saved at the step the stop ended training
    assert [p.name for p in (tmp_path / "out").glob("checkpoint-*")] == [f"checkpoint-{end['step']}"]
    assert f"ending Trainer training after step {end['step']}" in proc.stderr
    assert [Path(a["path"]).name for a in doc["artifacts"] if a["kind"] == "checkpoint"] == \
        [f"checkpoint-{end['step']}"]
