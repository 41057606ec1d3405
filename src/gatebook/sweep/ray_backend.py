"""The Ray backend of ``gatebook sweep run --backend ray``: each trial is a Ray task.

The task runs exactly the local runner's wrapper command line (``python -m gatebook run --quiet
--json ... -- ARGV``, see :func:`gatebook.sweep.executor.wrapper_argv`) as a subprocess on whichever
node Ray picks, in the sweep file's directory, with ``GATEBOOK_STORE`` set to the ledger URL, and
returns the wrapper's exit code and output (its ``--json`` document). So runs, live gates and
pruning (a ``stop`` event in the ledger) work as with local trials. The scheduler loop, progress,
pruner and result are :class:`gatebook.sweep.executor.SweepRunner`'s; only the launcher differs.

- Resources: each task asks for the sweep file's ``resources: {cpus, gpus}`` (default 1 CPU, no
  GPU; fractions allowed). Ray sets ``CUDA_VISIBLE_DEVICES``. A request no node of the cluster can
  meet is refused at connect time (exit 2) instead of queueing forever.
- Interrupt (Ctrl-C / SIGTERM of the sweep): the driver cannot signal a wrapper on another node,
  so for each running trial it records an interrupt request in the ledger (a ``stop`` event with
  ``interrupt: true``, reason :data:`INTERRUPT_REASON`): the trial's wrapper interrupts its command
  as a Ctrl-C would and the run ends ``interrupted``, as with local trials. Then
  ``ray.cancel(ref, force=False)`` drops tasks not started yet (and, where Ray delivers it, the
  task's KeyboardInterrupt forwards SIGINT to its wrapper). ``force=True`` is not used: it kills
  the Ray worker and would leave the wrapper (in its own session) running unstopped.
- The ``python`` of the wrapper is the Ray worker's interpreter (which must have gatebook), and the
  sweep file's directory must exist on every node (a shared filesystem).
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from gatebook.errors import ConfigError, MissingExtraError, UsageError
from gatebook.sweep.plan import Plan, TrialState

if TYPE_CHECKING:
    from gatebook.store.base import Store

GRACE = 20.0  # seconds a task waits for its interrupted wrapper before insisting
POLL = 0.1  # the task's wrapper poll period (s): lets a cancel's KeyboardInterrupt in
INTERRUPT_REASON = "sweep interrupted"
INTERRUPTER = "gatebook sweep (ray backend)"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def import_ray() -> Any:
    """The ``ray`` module, or MissingExtraError (exit 2) when it is not installed."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError("ray", "ray", "the Ray backend") from None
    return ray


def run_trial(cmd_tail: list[str], env: dict[str, str], cwd: str, grace: float = GRACE) -> dict[str, Any]:
    """The body of a trial's Ray task: run ``python CMD_TAIL`` (the wrapper), return its result.

    Stdlib only. Returns ``{"exit_code", "stdout", "stderr", "node"}``.
    """
    import signal
    import subprocess
    import sys
    import tempfile

    cmd = [sys.executable, *cmd_tail]
    full = {k: v for k, v in os.environ.items() if k != "GATEBOOK_RUN_ID"}
    full.update(env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=full, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        except OSError as exc:
            return {"exit_code": 127, "stdout": "", "stderr": f"cannot start the wrapper in {cwd}: {exc}",
                    "node": socket.gethostname()}
        sent = 0
        deadline = None
        while True:
            try:
                while proc.poll() is None:
                    if deadline is not None and time.monotonic() > deadline:
                        if sent < 2:
                            sent += 1
                            os.kill(proc.pid, signal.SIGINT)
                            deadline = time.monotonic() + grace
                        else:
                            os.killpg(proc.pid, signal.SIGKILL)
                            deadline = None
                    time.sleep(POLL)
                break
            except KeyboardInterrupt:  # ray.cancel(force=False): stop the wrapper like a Ctrl-C
                if sent < 2 and proc.poll() is None:
                    sent += 1
                    try:
                        os.kill(proc.pid, signal.SIGINT)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + grace
        texts = []
        for f in (out, err):
            f.seek(0)
            texts.append(f.read().decode("utf-8", "replace"))
    return {"exit_code": proc.returncode, "stdout": texts[0], "stderr": texts[1], "node": socket.gethostname()}


def is_local_address(address: str | None) -> bool:
    """True when ADDRESS names this machine (None / ``auto`` / ``local`` count as local)."""
    if not address or address in ("auto", "local"):
        return True
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host in _LOCAL_HOSTS:
        return True
    try:
        return host in {socket.gethostname(), socket.getfqdn()} or socket.gethostbyname(host).startswith("127.")
    except OSError:
        return False


class RayLauncher:
    """Runs trials as Ray tasks (see the module doc); ``connect()`` before use, ``close()`` after."""

    def __init__(self, plan: Plan, store: Store, *, address: str | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.ray = import_ray()
        if plan.gpus is not None:
            raise UsageError("--backend ray schedules GPUs itself: leave out --gpus / the sweep's gpus:")
        self.plan = plan
        self.store = store
        self.address = address
        self.say = say or (lambda line: None)
        self.num_cpus = float(plan.spec.resources.cpus)
        self.num_gpus = float(plan.spec.resources.gpus)
        self._remote: Any = None
        self.connected = False
        self.nodes = 0

    # -- the cluster
    def connect(self) -> None:
        """Connect to ``address`` (else ``RAY_ADDRESS``), or start a local Ray in this process."""
        import logging

        ray = self.ray
        opts: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.address:
                ray.init(address=self.address, **opts)
            elif os.environ.get("RAY_ADDRESS"):
                ray.init(**opts)
            else:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **opts)
        except Exception as exc:  # ConnectionError, RuntimeError, ...: one line, exit 2
            where = self.address or os.environ.get("RAY_ADDRESS") or "a local Ray"
            raise ConfigError(f"--backend ray: cannot start or reach {where}: {type(exc).__name__}: {exc}",
                              hint="check --address / RAY_ADDRESS and that the cluster is up") from None
        self.connected = True
        alive = [n for n in ray.nodes() if n.get("Alive")]
        self.nodes = len(alive)
        self._check_fits([dict(n.get("Resources") or {}) for n in alive])
        address = self.address or os.environ.get("RAY_ADDRESS")
        if self.plan.store_url.startswith("sqlite:") and (self.nodes > 1 or not is_local_address(address)):
            self.say(f"warning: the ledger is SQLite ({self.plan.store_url}) but the Ray cluster "
                     f"{'has ' + str(self.nodes) + ' nodes' if self.nodes > 1 else 'is at ' + str(address)}: "
                     "trials on other machines cannot reach it; use a PostgreSQL store (--store postgresql://...)")
        self._remote = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)(run_trial)
        self.say(f"ray: {self.nodes} node(s), {self.num_cpus:g} CPU and {self.num_gpus:g} GPU per trial")

    def _check_fits(self, nodes: list[dict[str, float]]) -> None:
        """ConfigError (exit 2) when no node has the CPUs and GPUs a trial asks for: Ray would
        queue such a task forever."""
        if any(n.get("CPU", 0) >= self.num_cpus and n.get("GPU", 0) >= self.num_gpus for n in nodes):
            return
        big = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
        raise ConfigError(f"--backend ray: each trial asks for {self.num_cpus:g} CPU and {self.num_gpus:g} GPU, and "
                          f"no node of the Ray cluster has that (the largest has {big.get('CPU', 0):g} CPU, "
                          f"{big.get('GPU', 0):g} GPU)",
                          hint="lower resources: in the sweep file, or add a node that has them")

    def close(self) -> None:
        if self.connected:
            self.connected = False
            self.ray.shutdown()

    # -- the launcher protocol of SweepRunner
    def start(self, state: TrialState, opts: Any) -> None:
        from gatebook.sweep.executor import wrapper_argv

        assert self._remote is not None, "connect() first"
        # argv[0] is this machine's python: the task uses its node's interpreter instead
        env = {"GATEBOOK_STORE": opts.store, **dict(opts.env)}
        state.handle = self._remote.remote(wrapper_argv(opts)[1:], env, str(opts.cwd or self.plan.workdir))

    def poll(self, state: TrialState) -> dict[str, Any] | None:
        ray = self.ray
        ready, _ = ray.wait([state.handle], timeout=0)
        if not ready:
            return None
        try:
            res = ray.get(state.handle)
        except Exception as exc:  # cancelled, worker died, node lost: the ledger says what happened
            return self._from_ledger(state, exc)
        return wrapper_document(int(res["exit_code"]), str(res["stdout"]), str(res["stderr"]))

    def interrupt(self, states: Sequence[TrialState]) -> None:
        from gatebook.gates.live import record_stop

        for state in states:
            run_id = state.run_id or self._run_id_of(state)
            if run_id is not None:
                try:
                    record_stop(self.store, run_id, INTERRUPT_REASON, by=INTERRUPTER, interrupt=True)
                except Exception as exc:  # the ledger is busy: cancelling is all that is left
                    self.say(f"warning: could not record the stop of {state.name}: {exc}")
            if state.handle is not None:
                try:
                    self.ray.cancel(state.handle, force=False)
                except Exception:  # pragma: no cover - already ended
                    pass

    def _runs_of(self, state: TrialState) -> list[Any]:
        from gatebook.store.base import RunQuery
        from gatebook.sweep.plan import SWEEP_TAG, trial_tag

        try:
            runs = self.store.list_runs(RunQuery(group=self.plan.name, tags=(SWEEP_TAG, trial_tag(state.fingerprint)),
                                                 sort="created"))
        except Exception:
            return []
        return [r for r in runs if r.created_at >= state.started_at - 5]

    def _run_id_of(self, state: TrialState) -> str | None:
        runs = self._runs_of(state)
        return runs[-1].id if runs else None

    def _from_ledger(self, state: TrialState, exc: BaseException) -> dict[str, Any]:
        """A task without a result: its run's record, as the wrapper's ``--json`` document would be."""
        message = f"ray task: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        runs = self._runs_of(state)
        if not runs:
            return {"error": message, "exit_code": 1}
        run = runs[-1]
        return {"id": run.id, "status": run.status.value, "reason": run.reason or message,
                "exit_code": run.exit_code}


def wrapper_document(code: int, out_text: str, err_text: str) -> dict[str, Any]:
    """The ``--json`` document a wrapper process printed, or ``{"error": ...}`` when it printed none
    (it did not get to record a run: a bad command line, a crash)."""
    import json

    text = out_text.strip()
    if text:
        try:
            doc = json.loads(text.splitlines()[-1])
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("status"):
            return doc
    lines = [ln for ln in err_text.strip().splitlines() if ln.strip()]
    return {"error": lines[-1] if lines else f"gatebook run exited {code}", "exit_code": code}
