"""Hugging Face ``Trainer``: ``GatebookCallback`` records the training and obeys gates.

::

    from gatebook.integrations.transformers import GatebookCallback
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GatebookCallback()])

- at ``on_train_begin``: ``args.to_sanitized_dict()`` becomes params under ``args.`` (tokens
  redacted) and the model's ``config.to_dict()`` under ``model.``;
- ``on_log`` writes the logs (``loss``, ``learning_rate``, ``grad_norm``, ``epoch``, eval metrics)
  at ``state.global_step``; ``on_evaluate`` adds the eval metrics ``on_log`` did not already carry;
- ``on_save``: the checkpoint directory (``OUTPUT_DIR/checkpoint-STEP``) becomes an artifact of kind
  ``checkpoint``; with ``metric_for_best_model`` the best checkpoint and its metric go to the summary;
- once a stop is asked for (a live gate with ``on_fail: stop``, ``gatebook stop``, a SIGTERM), the
  next ``on_step_end`` sets ``control.should_training_stop`` (and ``control.should_save``, so the
  Trainer writes a checkpoint of the step it stopped at): the Trainer leaves its loop and runs
  ``on_train_end`` as after a normal end;
- ``on_train_end`` flushes. A run this process owns stays open for a following
  ``trainer.evaluate()`` and is finished at exit or by ``gb.finish()``; a run that a surrounding
  ``gatebook run`` owns gets its status from the wrapper.

Only the main process (``state.is_world_process_zero``) writes. ``transformers`` is imported when
the class is first used (``pip install 'gatebook[transformers]'``; its Trainer also needs
``accelerate``).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Sequence

from gatebook.integrations._common import RunHolder, StopCheck, require

__all__ = ["GatebookCallback"]  # noqa: F822 - built on first use by __getattr__


def __getattr__(name: str) -> Any:
    if name == "GatebookCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def _callback_class() -> type:
    callbacks = require(("transformers.trainer_callback",), "transformers", "gatebook.integrations.transformers")

    class GatebookCallback(RunHolder, callbacks.TrainerCallback):  # type: ignore[misc,name-defined]
        """A ``TrainerCallback`` writing to the gatebook ledger (see the module docstring).

        Args:
            name: the run's name when this callback starts the run.
            config, tags, group, parent: as for ``gb.init``.
            checkpoints: record saved checkpoints as artifacts.
            save_on_stop: ask the Trainer to save a checkpoint at the step a stop ends training.
        """

        def __init__(self, name: str | None = None, *, config: Any = None, tags: Sequence[str] = (),
                     group: str | None = None, parent: str | None = None, checkpoints: bool = True,
                     save_on_stop: bool = True) -> None:
            self._hold(name, config=config, tags=tags, group=group, parent=parent)
            self._checkpoints = checkpoints
            self._save_on_stop = save_on_stop
            self._check = StopCheck("Trainer")
            self._last_log: tuple[int, Any] = (-1, ())
            self._stop_saved = False


        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            run = self._check.bind(self.run)
            if not state.is_world_process_zero:
                return
            params: dict[str, Any] = {"args": args.to_sanitized_dict()}
            config = getattr(model, "config", None)
            if config is not None and hasattr(config, "to_dict"):
                params["model"] = config.to_dict()
            run.config(params)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and state.is_world_process_zero:
                run = self.run
                run.log(logs, state.global_step)
                self._last_log = (state.global_step, logs)

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
            if not metrics or not state.is_world_process_zero:
                return
            step, logged = self._last_log
            fresh = {k: v for k, v in metrics.items() if step != state.global_step or k not in logged}
            if fresh:
                self.run.log(fresh, state.global_step)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not (self._checkpoints and state.is_world_process_zero):
                return
            path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            if os.path.isdir(path):
                self.run.artifact(path, kind="checkpoint")
            if state.best_metric is not None and state.best_model_checkpoint:
                self.run.summary({"checkpoint": {"monitor": args.metric_for_best_model,
                                                 "best_path": os.path.abspath(state.best_model_checkpoint),
                                                 "best_score": float(state.best_metric)}})

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self._check(f"step {state.global_step}"):
                self._stop(control)

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # a stop that arrived during the epoch's last step is seen here: the Trainer's save
            # after on_epoch_end keeps the checkpoint of that step all the same
            if self._check(f"step {state.global_step} (the end of epoch {state.epoch:g})"):
                self._stop(control)

        def _stop(self, control: Any) -> None:
            control.should_training_stop = True
            if self._save_on_stop and not self._stop_saved:  # one checkpoint for the stop, not one per hook
                self._stop_saved = True
                control.should_save = True

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            run = self._run
            if run is not None and not run._closed:
                run.flush(timeout=30)

    GatebookCallback.__module__ = __name__
    return GatebookCallback
