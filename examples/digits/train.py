"""A small, real training run for the gatebook demo: a NumPy MLP on sklearn's digits.

One hidden layer (ReLU), softmax cross-entropy, mini-batch SGD with optional momentum,
on the 8x8 digits bundled with scikit-learn (~1800 samples, no download). Runs in a
couple of seconds on a laptop CPU and is deterministic for a given --seed.

Metrics can be reported two ways:

  --log api     gatebook's Python API (gb.init / gb.log / gb.artifact / gb.summary)
  --log stdout  plain `gatebook: {...}` JSON lines on stdout, no gatebook import at all
  --log both    both of the above (under `gatebook run` every point is then recorded twice)

Examples:

  gatebook run --name baseline -- python train.py --lr 0.1
  gatebook run --name wider -- python train.py --hidden 128
  gatebook run --name big-lr -- python train.py --lr 0.5 --log stdout
  gatebook run --name slow --gate epoch2 -- python train.py --lr 0.002 --epochs 20 --epoch-time 0.25

The whole training takes well under a second, faster than any live gate could react; a run
meant to be stopped mid-way (the demo's lr 0.002) paces its epochs with --epoch-time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a one-hidden-layer NumPy MLP on sklearn's digits.")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate [0.1]")
    p.add_argument("--hidden", type=int, default=64, help="hidden units [64]")
    p.add_argument("--epochs", type=int, default=8, help="epochs [8]")
    p.add_argument("--batch-size", type=int, default=32, help="mini-batch size [32]")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum; 0 is plain SGD [0.0]")
    p.add_argument("--val-frac", type=float, default=0.2, help="fraction held out for validation [0.2]")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, init and shuffling [0]")
    p.add_argument("--log", choices=("api", "stdout", "both"), default="api",
                   help="how to report metrics: gatebook API, `gatebook:` stdout lines, or both [api]")
    p.add_argument("--epoch-time", type=float, default=0.0,
                   help="make each epoch last at least this many seconds, as a bigger model's would, so "
                        "live gates have a run to stop mid-way; 0 trains flat out [0]")
    p.add_argument("--out", default="outputs/", help="directory for the checkpoint .npz [outputs/]")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.hidden < 1 or args.batch_size < 1:
        p.error("--epochs, --hidden and --batch-size must be positive")
    if args.epoch_time < 0:
        p.error("--epoch-time must be 0 or more")
    if not 0.0 < args.val_frac < 1.0:
        p.error("--val-frac must be between 0 and 1")
    return args


# -- data ---------------------------------------------------------------------------------

def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's bundled digits as (X: 1797x64 floats 0..16, y: 1797 ints); no download.

    Reads the CSV that ships inside scikit-learn (the file `load_digits()` reads) without
    importing sklearn itself, whose import (scipy, pandas...) costs more than the whole
    training; falls back to `sklearn.datasets.load_digits()` if the file is not there.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is not None and spec.origin:
        csv = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
        if os.path.isfile(csv):
            data = np.loadtxt(csv, delimiter=",")
            if data.ndim == 2 and data.shape[1] == 65:
                return data[:, :-1], data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data, digits.target


def load_data(seed: int, val_frac: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    raw_x, raw_y = load_digits_arrays()
    x = (raw_x / 16.0).astype(np.float64)  # pixel values are 0..16
    y = raw_y.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = int(round(len(x) * val_frac))
    val, train = order[:n_val], order[n_val:]
    # standardize with the training split's statistics only
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0) + 1e-6
    x = (x - mean) / std
    return x[train], y[train], x[val], y[val]


# -- model --------------------------------------------------------------------------------

def init_params(n_in: int, n_hidden: int, n_out: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "W1": rng.normal(0.0, math.sqrt(2.0 / n_in), size=(n_in, n_hidden)),  # He init for ReLU
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0.0, math.sqrt(1.0 / n_hidden), size=(n_hidden, n_out)),
        "b2": np.zeros(n_out),
    }


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activations and class log-probabilities."""
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    logits = h @ params["W2"] + params["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)  # stable log-softmax (NaN stays NaN)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return h, logp


def loss_and_grads(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
                   ) -> tuple[float, dict[str, np.ndarray]]:
    n = len(x)
    h, logp = forward(params, x)
    loss = float(-logp[np.arange(n), y].mean())
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
    dh = dlogits @ params["W2"].T
    dh[h <= 0.0] = 0.0
    grads = {
        "W2": h.T @ dlogits,
        "b2": dlogits.sum(axis=0),
        "W1": x.T @ dh,
        "b1": dh.sum(axis=0),
    }
    return loss, grads


def evaluate(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (NaN weights give NaN loss, not an exception)."""
    _, logp = forward(params, x)
    loss = float(-logp[np.arange(len(x)), y].mean())
    acc = float((logp.argmax(axis=1) == y).mean())
    return loss, acc


# -- reporting ----------------------------------------------------------------------------

class Reporter:
    """Sends metrics to gatebook's API, to `gatebook:` stdout lines, or both.

    In stdout mode gatebook is never imported: the lines are all `gatebook run` needs.
    """

    def __init__(self, mode: str, args: argparse.Namespace) -> None:
        self.api = mode in ("api", "both")
        self.stdout = mode in ("stdout", "both")
        self.gb = None
        if self.api:
            import gatebook as gb

            self.gb = gb
            self.run = gb.init(name=None, config=args)

    def run_id(self) -> str | None:
        """The gatebook run this process records to, if any (read from the wrapper's
        environment in stdout mode, so gatebook still is not imported)."""
        if self.gb is not None and self.run.owner:  # a run gb.init() created itself
            return self.run.id
        return os.environ.get("GATEBOOK_RUN_ID") or None  # set by `gatebook run`

    def epoch(self, metrics: dict[str, float]) -> None:
        if self.gb is not None:
            self.gb.log({k: v for k, v in metrics.items() if k != "epoch"}, step=int(metrics["epoch"]))
        if self.stdout:
            # json.dumps writes NaN/Infinity for non-finite floats, which gatebook accepts
            print("gatebook: " + json.dumps(metrics), flush=True)

    def should_stop(self) -> bool:
        """True once a gate of `gatebook run --gate` failed or `gatebook stop` was run."""
        return self.gb is not None and self.gb.should_stop()

    def finish(self, ckpt: str, summary: dict[str, float]) -> None:
        if self.gb is not None:
            self.gb.artifact(ckpt, kind="checkpoint")
            self.gb.summary(summary)
            self.gb.finish()


def fmt(v: float) -> str:
    """4 decimals for ordinary values; scientific notation once a run blows up."""
    return f"{v:.4f}" if math.isfinite(v) and abs(v) < 1e4 else f"{v:.3g}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    x_tr, y_tr, x_val, y_val = load_data(args.seed, args.val_frac)
    rng = np.random.default_rng(args.seed + 1)
    params = init_params(x_tr.shape[1], args.hidden, 10, rng)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    reporter = Reporter(args.log, args)
    print(f"digits: {len(x_tr)} train / {len(x_val)} val samples, {x_tr.shape[1]} features; "
          f"MLP {x_tr.shape[1]}-{args.hidden}-10, lr={args.lr}, momentum={args.momentum}, "
          f"batch={args.batch_size}, seed={args.seed}", flush=True)

    best_val_acc = -1.0
    val_acc = float("nan")
    # overflow in a diverging run is expected; don't spam warnings, just report NaN
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, args.epochs + 1):
            epoch_started = time.perf_counter()
            order = rng.permutation(len(x_tr))
            total, seen = 0.0, 0
            for start in range(0, len(order), args.batch_size):
                idx = order[start:start + args.batch_size]
                loss, grads = loss_and_grads(params, x_tr[idx], y_tr[idx])
                total += loss * len(idx)
                seen += len(idx)
                for k in params:
                    velocity[k] = args.momentum * velocity[k] - args.lr * grads[k]
                    params[k] += velocity[k]
            train_loss = total / seen
            val_loss, val_acc = evaluate(params, x_val, y_val)
            if not math.isfinite(train_loss):
                train_loss = float("nan")
            if not math.isfinite(val_loss):
                val_loss = float("nan")
            if val_acc > best_val_acc:
                best_val_acc = val_acc
            reporter.epoch({"epoch": epoch, "loss": train_loss, "val_loss": val_loss, "val_acc": val_acc})
            print(f"epoch {epoch:>2}/{args.epochs}  loss {fmt(train_loss)}  val_loss {fmt(val_loss)}  "
                  f"val_acc {val_acc:.4f}", flush=True)
            pause = args.epoch_time - (time.perf_counter() - epoch_started)
            while pause > 0 and not reporter.should_stop():  # a stop request ends the wait early
                time.sleep(min(pause, 0.05))
                pause = args.epoch_time - (time.perf_counter() - epoch_started)
            if reporter.should_stop():  # stop cleanly: the checkpoint below is still saved
                print(f"stopping after epoch {epoch}: {reporter.gb.current().stop_reason}", flush=True)
                break

    os.makedirs(args.out, exist_ok=True)
    # one checkpoint per recorded run, so a later run does not overwrite an earlier one's
    run_id = reporter.run_id()
    ckpt = os.path.join(args.out, f"digits_mlp-{run_id}.npz" if run_id else "digits_mlp.npz")
    np.savez(ckpt, **params, hidden=args.hidden, lr=args.lr, seed=args.seed, epochs=args.epochs)
    summary = {"best_val_acc": best_val_acc, "final_val_acc": val_acc}
    reporter.finish(ckpt, summary)
    print(f"saved {ckpt}; best val_acc {best_val_acc:.4f}, final val_acc {val_acc:.4f} "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
