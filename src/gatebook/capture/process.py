"""Run a command as a supervised child: its own process group, live output, signals.

The child runs in a new session (so its whole process tree can be signalled as one
group), with its stdout and stderr on pipes that two reader threads copy to our
terminal and hand to a callback. A tiny watchdog process holds a pipe from us: if
this process dies (even by SIGKILL), the pipe closes and the watchdog stops the
child's group, so a child never runs on unrecorded.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Sequence

_WATCHDOG = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
pgid, grace = int(sys.argv[1]), float(sys.argv[2])
data = sys.stdin.buffer.read()
if data.endswith(b"done"):
    sys.exit(0)
def alive():
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False
if alive():
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        pass
    end = time.monotonic() + grace
    while alive() and time.monotonic() < end:
        time.sleep(0.05)
    if alive():
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
"""

OutputCallback = Callable[[str, str], None]
"""on_output(stream, text): ``stream`` is ``stdout`` or ``stderr``; text is decoded UTF-8."""


@dataclass(frozen=True)
class ChildExit:
    returncode: int
    """The child's exit status; for a child killed by a signal, 128 + the signal number."""
    signal: int | None
    """The signal that killed the child, if any."""


class Child:
    """A running child command. Create with :meth:`start`."""

    def __init__(self, proc: subprocess.Popen[bytes], watchdog: subprocess.Popen[bytes] | None,
                 readers: list[threading.Thread]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.pgid = proc.pid  # start_new_session: the child leads its own group
        self._watchdog = watchdog
        self._readers = readers
        self.signals_sent: list[int] = []
        self._kill_timer: threading.Timer | None = None
        self._output_closed = threading.Event()
        self._open_readers = len(readers)
        self._readers_lock = threading.Lock()

    @classmethod
    def start(cls, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
              on_output: OutputCallback | None = None, echo: bool = True,
              stop_grace: float = 10.0) -> "Child":
        """Start ``argv``; raises OSError when it cannot be executed."""
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
            start_new_session=True, bufsize=0,
        )
        watchdog = None
        try:
            watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(proc.pid), str(stop_grace)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:  # pragma: no cover - no second process; the run is marked lost instead
            watchdog = None
        child = cls(proc, watchdog, [])
        child._open_readers = 2

        def pump(pipe: BinaryIO | None, name: str, sink: BinaryIO | None) -> None:
            try:
                _pump(pipe, name, sink, on_output)
            finally:
                child._reader_ended()

        for name, pipe, sink in (("stdout", proc.stdout, _sink(sys.stdout) if echo else None),
                                 ("stderr", proc.stderr, _sink(sys.stderr) if echo else None)):
            th = threading.Thread(target=pump, args=(pipe, name, sink), name=f"gatebook-{name}", daemon=True)
            child._readers.append(th)
            th.start()
        return child

    def _reader_ended(self) -> None:
        with self._readers_lock:
            self._open_readers -= 1
            if self._open_readers <= 0:
                self._output_closed.set()

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking as soon as the command has ended (its output closed and
        the process exited), so the end of a run is recorded at once whatever the flush interval."""
        deadline = time.monotonic() + seconds
        if self._readers and not self._output_closed.is_set():
            self._output_closed.wait(seconds)
        left = deadline - time.monotonic()
        if left > 0:
            try:
                self.proc.wait(left)
            except subprocess.TimeoutExpired:
                pass

    def send(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group."""
        self.signals_sent.append(sig)
        try:
            os.killpg(self.pgid, sig)
        except OSError:
            pass

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, then SIGKILL after ``grace`` seconds if still running."""
        self.send(signal.SIGTERM)
        if self._kill_timer is None:
            self._kill_timer = threading.Timer(grace, self._kill_if_running)
            self._kill_timer.daemon = True
            self._kill_timer.start()

    def _kill_if_running(self) -> None:
        if self.proc.poll() is None:
            self.send(signal.SIGKILL)

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> ChildExit:
        """Wait for the child and for its output to be fully read."""
        code = self.proc.wait(timeout)
        for th in self._readers:
            th.join()
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        self._release_watchdog()
        if code < 0:
            return ChildExit(128 - code, -code)
        return ChildExit(code, None)

    def _release_watchdog(self) -> None:
        wd = self._watchdog
        if wd is None or wd.stdin is None:
            return
        try:
            wd.stdin.write(b"done")
            wd.stdin.close()
        except OSError:
            pass
        try:
            wd.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            wd.kill()

    def readers_done(self) -> bool:
        return not any(th.is_alive() for th in self._readers)


def _sink(stream: object) -> BinaryIO | None:
    buf = getattr(stream, "buffer", None)
    return buf if buf is not None else None


def _pump(pipe: BinaryIO | None, name: str, sink: BinaryIO | None, on_output: OutputCallback | None) -> None:
    if pipe is None:  # pragma: no cover
        return
    fd = pipe.fileno()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    read = os.read
    while True:
        try:
            data = read(fd, 65536)
        except InterruptedError:  # pragma: no cover
            continue
        except OSError:
            break
        if not data:
            break
        if sink is not None:
            try:
                sink.write(data)
                sink.flush()
            except (OSError, ValueError):
                sink = None  # our terminal went away: keep recording
        if on_output is not None:
            text = decoder.decode(data)
            if text:
                on_output(name, text)
    if on_output is not None:
        tail = decoder.decode(b"", final=True)
        if tail:
            on_output(name, tail)
    try:
        pipe.close()
    except OSError:  # pragma: no cover
        pass


def on_signals(handler: Callable[[int], None]) -> dict[int, Any]:
    """Ctrl-C, SIGTERM and SIGHUP to ``handler(signum)`` (main thread only: elsewhere nothing
    is installed); returns the previous handlers for :func:`restore_signals`."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, lambda signum, _frame: handler(signum))
    return previous


def restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
