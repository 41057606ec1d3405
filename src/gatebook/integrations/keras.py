"""Keras 3: ``GatebookCallback`` logs each epoch (optionally each batch) and obeys gates.

::

    from gatebook.integrations.keras import GatebookCallback
    model.fit(x, y, epochs=10, validation_split=0.2, callbacks=[GatebookCallback()])

- ``model.fit``'s ``params`` (``epochs``, ``steps``) become params under ``keras.``;
- each epoch's logs (``loss``, ``val_loss``, compiled metrics) are written at step ``epoch + 1``,
  the epoch number Keras prints. With ``log_batches=True`` every ``batch_every``-th batch's logs are
  written too, at the global batch count, and the steps become batches: each epoch's logs are then
  written at the batch count where the epoch ended, with an ``epoch`` metric, so ``@ epoch N`` checks
  still read epochs;
- once a stop is asked for (a live gate with ``on_fail: stop``, ``gatebook stop``, a SIGTERM), the
  next batch end sets ``model.stop_training``: Keras ends the epoch, runs ``on_epoch_end`` (a
  ``ModelCheckpoint`` saves) and ``on_train_end``, and ``fit`` returns;
- ``on_train_end`` flushes. A run this process owns is finished at exit or by ``gb.finish()``; a
  run that a surrounding ``gatebook run`` owns gets its status from the wrapper.

Keras 3 on any backend; on the torch backend no TensorFlow is needed (set ``KERAS_BACKEND=torch``
before Keras is imported). ``keras`` is imported when the class is first used
(``pip install 'gatebook[keras]'``).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

from gatebook.integrations._common import RunHolder, StopCheck, require

__all__ = ["GatebookCallback"]  # noqa: F822 - built on first use by __getattr__


def __getattr__(name: str) -> Any:
    if name == "GatebookCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def _callback_class() -> type:
    keras = require(("keras",), "keras", "gatebook.integrations.keras")

    class GatebookCallback(RunHolder, keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        """A Keras callback writing to the gatebook ledger (see the module docstring).

        Args:
            name: the run's name when this callback starts the run.
            config, tags, group, parent: as for ``gb.init``.
            log_batches: also write batch logs, every ``batch_every``-th batch.
        """

        def __init__(self, name: str | None = None, *, config: Any = None, tags: Sequence[str] = (),
                     group: str | None = None, parent: str | None = None, log_batches: bool = False,
                     batch_every: int = 1) -> None:
            super().__init__()
            self._hold(name, config=config, tags=tags, group=group, parent=parent)
            self._log_batches = log_batches
            self._batch_every = max(1, int(batch_every))
            self._check = StopCheck("Keras")
            self._batches = 0  # batches seen over the whole fit (the step axis with log_batches)


        def on_train_begin(self, logs: Any = None) -> None:
            run = self._check.bind(self.run)
            params = {k: v for k, v in (self.params or {}).items() if isinstance(v, (int, float, str, bool))}
            if params:
                run.config({"keras": params})

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self._batches += 1
            if self._log_batches and logs and self._batches % self._batch_every == 0:
                self.run.log(logs, self._batches)
            if self._check(f"batch {batch + 1}"):
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if logs:
                run = self.run
                if self._log_batches:
                    run.log({**logs, "epoch": epoch + 1}, self._batches)
                else:
                    run.log(logs, epoch + 1)
            if self._check(f"epoch {epoch + 1}"):
                self.model.stop_training = True

        def on_train_end(self, logs: Any = None) -> None:
            run = self._run
            if run is not None and not run._closed:
                run.flush(timeout=30)

    GatebookCallback.__module__ = __name__
    return GatebookCallback
