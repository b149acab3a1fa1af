"""One training per run: a lock in the run folder, taken before anything else
is written there and held until the training ends.

The lock is an advisory `fcntl.flock` on `<run>/training.lock`, which holds
who took it (process id, host, start time, command). The kernel drops the
lock when its process ends however it ends (SIGKILL, a crash), so a lock whose
holder is gone is taken over, with a message naming the former holder; power
loss leaves no lock at all. Test mode takes no lock: it only reads.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys

from dcgan_tf import files

LOCK_NAME = "training.lock"


class RunLockedError(ValueError):
    """Another process is training this run."""


def _holder_of(path):
    try:
        with open(path) as f:
            return json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None


def _described(holder):
    return (f"process {holder.get('pid')} on {holder.get('host')}, started"
            f" {holder.get('started')}: {holder.get('command')}")


def training_now(run_dir):
    """Who trains the run in `run_dir` now, described, or None: a process of this
    host that its lock file names and that still runs (read only, no lock
    taken: test mode's question; a holder on another host is not known)."""
    holder = _holder_of(os.path.join(run_dir, LOCK_NAME))
    if not isinstance(holder, dict) or holder.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(holder.get("pid")), 0)
    except PermissionError:
        pass  # running, as another user
    except (OSError, TypeError, ValueError):
        return None
    return _described(holder)


@contextlib.contextmanager
def held(run_dir, log=print):
    """Holds the lock of the run in `run_dir` (created if need be) while the
    block runs; raises RunLockedError, having written nothing, when another
    process holds it. Folders this call created and nothing else wrote into
    are removed again on the way out (a failed first start leaves none)."""
    created = []  # the folders this call creates, deepest first
    folder = os.path.abspath(run_dir)
    while not os.path.isdir(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    path = os.path.join(run_dir, LOCK_NAME)
    while True:
        try:
            os.makedirs(run_dir, exist_ok=True)
            handle = open(path, "a+")
        except OSError as error:
            raise files.folder_not_created(run_dir, error) from error
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            break
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break  # locked, and still the run's lock file (not one removed meanwhile)
        handle.close()
    if handle.closed:
        holder = _holder_of(path)
        who = _described(holder) if holder else "another process"
        pid = holder.get("pid") if holder else "<pid>"
        raise RunLockedError(
            f"The run in {run_dir} is being trained by {who}. Two trainings of one run would"
            f" overwrite each other's checkpoints. Wait for it to finish (test mode works on the"
            f" run meanwhile), stop it (kill {pid}: it saves a checkpoint first), or pass"
            " --out_name to train a new run.") from None
    try:
        former = _holder_of(path)
        if former:  # it ended without releasing (killed, crashed): its lock is ours now
            log(f" [!] Took over the lock of {_described(former)}, which is no longer running.")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}))
        handle.flush()
        yield path
    finally:
        handle.seek(0)
        handle.truncate()  # released cleanly: nobody to take over from
        if created and os.listdir(run_dir) == [LOCK_NAME]:
            with contextlib.suppress(OSError):
                os.remove(path)  # while still held: a waiter re-checks the inode
                for folder in created:  # those still empty (nothing else wrote there)
                    os.rmdir(folder)
        handle.close()  # closing drops the flock
