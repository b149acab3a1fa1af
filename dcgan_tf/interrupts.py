"""SIGINT and SIGTERM: training honours them between iterations (a checkpoint
first); other long work (writing --generate's files) stops at once, removing
what it had half written. Either way the process ends with 128 + the signal."""

import contextlib
import signal


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; `message` says what was kept."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum


@contextlib.contextmanager
def stop_requests():
    """Turns SIGINT / SIGTERM into a request the caller honours when it can
    (training: between iterations); yields the list of signals received. Only
    in the main thread, where Python can install signal handlers."""
    received = []
    with _handling(lambda signum, frame: received.append(signum)):
        yield received


@contextlib.contextmanager
def raised(what):
    """Within the block, SIGINT / SIGTERM raise Interrupted at once (the
    block's cleanup runs, e.g. files.written_whole removing a partial file).
    A signal that lands inside a C call which called back into Python (numpy
    reading a TensorFlow tensor: "returned a result with an exception set")
    comes out of that call as another error: it is the signal all the same."""
    received = []

    def interrupted(signum):
        return Interrupted(signum, f"{signal.Signals(signum).name} received: stopped {what};"
                                   " nothing half-written was kept. Rerun the same command.")

    def handler(signum, frame):
        received.append(signum)
        raise interrupted(signum)

    with _handling(handler):
        try:
            yield
        except Interrupted:
            raise
        except Exception as error:
            if received:
                raise interrupted(received[0]) from error
            raise


@contextlib.contextmanager
def _handling(handler):
    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
