"""`gatebook import history FILE --name N`: history files a training already wrote (json.dump of a list
of rows or of a Keras-style dict of lists, JSON lines, a CSV), read as `--watch` reads them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.helpers import invoke, invoke_json, one_line_error


def ledger(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def points(tmp_path: Path, run_id: str) -> dict[str, list[tuple[int | None, float]]]:
    from gatebook.store import open_store

    with open_store(ledger(tmp_path)) as store:
        return {k: [(s, v) for s, v, _ in pts] for k, pts in store.metric_series(run_id).items()}


def test_each_shape_becomes_one_run_at_its_steps(tmp_path: Path) -> None:
    rows = [{"epoch": e, "loss": 1.0 / e, "val_acc": 0.1 * e, "lr": "1e-3"} for e in range(1, 4)]
    (tmp_path / "history.json").write_text(json.dumps(rows))
    (tmp_path / "keras.json").write_text(json.dumps({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}))
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"step": 10 * i, "loss": i}) + "\n" for i in (1, 2)))
    with open(tmp_path / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "step", "train_loss", "time"])
        writer.writerows([[0, 9, 0.8, "12:00"], [1, 19, 0.6, "12:01"]])

    doc = invoke_json("import", "history", str(tmp_path / "history.json"), "--name", "h", "--json",
                      store=ledger(tmp_path))
    assert (doc["source"], doc["name"], doc["format"], doc["created"]) == ("history", "h", "json", True)
    assert doc["points"] == 9 and doc["keys"] == ["epoch", "loss", "val_acc"]
    assert points(tmp_path, doc["id"])["val_acc"] == [(1, 0.1), (2, 0.2), (3, 0.30000000000000004)]
    keras = invoke_json("import", "history", str(tmp_path / "keras.json"), "--name", "k", "--json",
                        store=ledger(tmp_path))
    assert points(tmp_path, keras["id"]) == {"loss": [(1, 0.9), (2, 0.5)], "val_loss": [(1, 1.0), (2, 0.7)]}
    lines = invoke_json("import", "history", str(tmp_path / "log.jsonl"), "--name", "j", "--json",
                        store=ledger(tmp_path))
    assert points(tmp_path, lines["id"]) == {"loss": [(10, 1.0), (20, 2.0)]}
    table = invoke_json("import", "history", str(tmp_path / "metrics.csv"), "--name", "c", "--parent", "h",
                        "--json", store=ledger(tmp_path))
    assert points(tmp_path, table["id"]) == {"epoch": [(9, 0.0), (19, 1.0)], "train_loss": [(9, 0.8), (19, 0.6)]}
    show = invoke_json("show", "c", "--json", store=ledger(tmp_path))
    assert show["status"] == "finished" and show["parent"]["id"] == doc["id"] and "history" in show["tags"]

    compared = invoke("compare", "h", "k", "--json", store=ledger(tmp_path))  # the ledger's readers work
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "val_acc" in compared.stdout


def test_a_second_import_adds_only_the_rows_appended_since(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"step": 1, "loss": 0.9}\n{"step": 2, "loss": 0.7}\n')
    first = invoke_json("import", "history", str(path), "--name", "r", "--json", store=ledger(tmp_path))
    again = invoke_json("import", "history", str(path), "--name", "r", "--json", store=ledger(tmp_path))
    assert (again["id"], again["created"], again["points"]) == (first["id"], False, 0)
    with open(path, "a") as f:
        f.write('{"step": 3, "loss": 0.5}\n')
    third = invoke_json("import", "history", str(path), "--name", "r", "--json", store=ledger(tmp_path))
    assert (third["id"], third["points"]) == (first["id"], 1)
    assert points(tmp_path, first["id"]) == {"loss": [(1, 0.9), (2, 0.7), (3, 0.5)]}
    assert len(invoke_json("ls", "--json", store=ledger(tmp_path))["runs"]) == 1


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "words.csv").write_text("name,comment\nalpha,fine\nbeta,good\n")
    err = one_line_error(invoke("import", "history", str(tmp_path / "words.csv"), "--name", "w",
                                store=ledger(tmp_path)))
    assert "no numeric column" in err
    (tmp_path / "broken.json").write_text('[{"loss": 1}, {"loss"')
    one_line_error(invoke("import", "history", str(tmp_path / "broken.json"), "--name", "b", store=ledger(tmp_path)))
    one_line_error(invoke("import", "history", str(tmp_path / "missing.json"), "--name", "m", store=ledger(tmp_path)))
    one_line_error(invoke("import", "history", str(tmp_path), "--name", "d", store=ledger(tmp_path)))
    (tmp_path / "ok.json").write_text('[{"loss": 1}]')
    one_line_error(invoke("import", "history", str(tmp_path / "ok.json"), "--name", "o", "--parent", "nosuchrun",
                          store=ledger(tmp_path)))
    assert invoke_json("ls", "--json", store=ledger(tmp_path))["runs"] == []
