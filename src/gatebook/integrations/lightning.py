"""PyTorch Lightning: ``GatebookLogger`` (a Lightning logger) and ``GatebookStop`` (a callback that obeys gates).

::

    from gatebook.integrations.lightning import GatebookLogger, GatebookStop
    trainer = Trainer(logger=GatebookLogger(), callbacks=[GatebookStop(), ModelCheckpoint(...)])

- hyperparameters (``save_hyperparameters()``) become params; ``log_metrics`` writes to the ledger
  at the step Lightning passes (the optimizer steps taken), ``epoch`` included; each checkpoint
  ``ModelCheckpoint`` saves becomes an artifact of kind ``checkpoint`` (its monitored value in a
  note, the best one in the summary: an artifact row has no field for it).
- ``finalize("failed")`` ends a run this process owns as ``failed`` (``interrupted`` for Ctrl-C
  or Lightning's SIGTERM exit); ``finalize("success")`` flushes and keeps the run open for a
  following ``trainer.test()``; it is finished at exit or by ``gb.finish()``. A run that a
  surrounding ``gatebook run`` owns is only flushed: the wrapper sets its status.
- ``GatebookStop``: once a stop is asked for (a live gate with ``on_fail: stop``, ``gatebook stop``,
  a SIGTERM), it sets ``trainer.should_stop`` at the next batch or epoch end, so Lightning ends
  the epoch, runs its callbacks (``ModelCheckpoint`` saves) and returns from ``fit``. It keeps
  the gate's first SIGTERM from Lightning's own handler (which would abort the loop); a second
  SIGTERM goes to Lightning as usual. Under DDP (``world_size > 1``) rank 0 asks at epoch and
  validation ends and all ranks agree (as ``EarlyStopping`` does), and Lightning keeps its SIGTERM
  handler: a gate's SIGTERM then ends ``fit`` the way Lightning ends it.

Works with ``lightning`` (``lightning.pytorch``) and ``pytorch_lightning``: the classes derive from
the ``Logger`` / ``Callback`` of each that is installed, imported when a class is first used.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from gatebook.integrations._common import RunHolder, StopCheck, attach, end, is_open, require

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.run_handle import Run

__all__ = ["GatebookLogger", "GatebookStop"]  # noqa: F822 - built on first use by __getattr__

PACKAGES = ("lightning.pytorch", "pytorch_lightning")


def __getattr__(name: str) -> Any:
    if name in __all__:
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _packages() -> list[ModuleType]:
    """Each installed Lightning flavour (``lightning.pytorch`` first); MissingExtraError if none."""
    found = [require((name,), "lightning", "gatebook.integrations.lightning")
             for name in PACKAGES if importlib.util.find_spec(name.split(".")[0]) is not None]
    return found or [require(PACKAGES, "lightning", "gatebook.integrations.lightning")]


@functools.lru_cache(maxsize=None)
def _classes() -> dict[str, type]:
    packages = _packages()
    logger_bases = tuple(importlib.import_module(f"{p.__name__}.loggers").Logger for p in packages)
    callback_bases = tuple(p.Callback for p in packages)
    rank_zero_only: Callable[[Any], Any] = importlib.import_module(
        f"{packages[0].__name__}.utilities.rank_zero").rank_zero_only

    class GatebookLogger(RunHolder, *logger_bases):  # type: ignore[misc]
        """A Lightning logger writing to the gatebook ledger (see the module docstring).

        Args:
            name: the run's name when this logger starts the run.
            config, tags, group, parent: as for ``gb.init``.
            checkpoints: record the checkpoints ``ModelCheckpoint`` saves as artifacts.
        """

        def __init__(self, name: str | None = None, *, config: Any = None, tags: Sequence[str] = (),
                     group: str | None = None, parent: str | None = None, checkpoints: bool = True) -> None:
            super().__init__()
            self._hold(name, config=config, tags=tags, group=group, parent=parent)
            self._checkpoints = checkpoints
            self._seen: set[str] = set()


        @property
        def experiment(self) -> Run:
            return self.run

        @property
        def name(self) -> str:
            return self._name or "gatebook"

        @property
        def version(self) -> str:
            if getattr(rank_zero_only, "rank", 0) != 0:  # never start a run per DDP rank
                return os.environ.get("GATEBOOK_RUN_ID", "")
            return self.run.id

        @property
        def save_dir(self) -> str | None:
            return None

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            self.run.config(params if isinstance(params, Mapping) else vars(params))

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
            run = self.run
            run.log(metrics, step)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            if self._checkpoints:
                _record_checkpoint(self.run, checkpoint_callback, self._seen)

        @rank_zero_only
        def finalize(self, status: str) -> None:
            if not is_open(self._run):
                return
            if status == "failed":
                end(self._run, sys.exc_info()[1])
            else:
                assert self._run is not None
                self._run.flush(timeout=30)

    class GatebookStop(*callback_bases):  # type: ignore[misc]
        """Ends ``fit`` cleanly at the next batch or epoch end once the run should stop."""

        def __init__(self) -> None:
            super().__init__()
            self._check = StopCheck("Lightning")
            self._before: Any = None

        def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
            if trainer.global_rank == 0:  # other ranks learn of a stop from rank 0 at epoch ends
                self._check.bind(attach())
            if threading.current_thread() is threading.main_thread():
                self._before = signal.getsignal(signal.SIGTERM)

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.world_size == 1:
                _keep_first_sigterm(self._before)

        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            if trainer.world_size == 1 and self._check(f"step {trainer.global_step}"):
                trainer.should_stop = True

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self._decide(trainer, f"epoch {trainer.current_epoch}")

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.training:
                self._decide(trainer, f"validation at step {trainer.global_step}")

        def _decide(self, trainer: Any, where: str) -> None:
            stop = self._check(where)
            if trainer.world_size > 1:  # every rank must agree, as EarlyStopping does
                stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
            if stop:
                trainer.should_stop = True

    GatebookLogger.__module__ = GatebookStop.__module__ = __name__
    return {"GatebookLogger": GatebookLogger, "GatebookStop": GatebookStop}


def _record_checkpoint(run: Run, callback: Any, seen: set[str]) -> None:
    """The file ``ModelCheckpoint`` just saved as an artifact; its monitored value as a note and
    the best checkpoint so far in the summary."""
    path = getattr(callback, "_last_checkpoint_saved", "") or ""
    paths = [path] if path else [p for p in (callback.last_model_path, callback.best_model_path,
                                             *getattr(callback, "best_k_models", {})) if p and p not in seen]
    monitor = getattr(callback, "monitor", None)
    for p in dict.fromkeys(paths):
        if not os.path.exists(p):
            continue
        seen.add(p)
        run.artifact(p, kind="checkpoint")
        score = getattr(callback, "current_score", None) if p == path else callback.best_k_models.get(p)
        if monitor and score is not None:
            run.note(f"checkpoint {os.path.basename(p)}: {monitor} = {float(score):.6g}")
    best, best_score = getattr(callback, "best_model_path", ""), getattr(callback, "best_model_score", None)
    if monitor and best and best_score is not None:
        run.summary({"checkpoint": {"monitor": monitor, "best_path": best, "best_score": float(best_score)}})


def _keep_first_sigterm(before: Any) -> None:
    """Route the first SIGTERM to ``before`` (gatebook's handler, installed by ``gb.init``: it raises
    the stop flag) instead of Lightning's, which would abort the loop; later ones go to Lightning."""
    if not callable(before) or threading.current_thread() is not threading.main_thread():
        return
    lightning_handler = signal.getsignal(signal.SIGTERM)
    if lightning_handler is before:
        return
    first = [True]

    def on_sigterm(signum: int, frame: Any) -> None:
        if first[0]:
            first[0] = False
            before(signum, frame)
        elif callable(lightning_handler):
            lightning_handler(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
