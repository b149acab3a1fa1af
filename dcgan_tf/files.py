"""Every file of ours is written whole or not at all: under a temporary name in
its own folder, renamed over the target once complete, removed on any failure
(a full disk keeps no debris). Write failures become OutputWriteError, whose
message names the file, the cause and the fix."""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import threading
import time


class OutputWriteError(RuntimeError):
    """A file could not be written (full disk, unwritable folder); what was
    there before is unchanged."""


def folder_not_created(directory, error):
    """The error for an output folder that could not be made (`error`: the OSError)."""
    return OutputWriteError(f"Cannot create the output folder {directory}: {error.strerror}."
                            " Pass a writable --checkpoint_dir/--sample_dir/--out_dir.")


def check_can_make_folder(directory, flag, writable=True):
    """Raises OutputWriteError naming `flag` where `directory` cannot be a folder
    (a file in its place or above it) or, if `writable`, cannot be written into
    (no permission): asked before a long computation whose result goes there.
    Makes nothing."""
    blocking = file_in_the_way(directory)
    if blocking:
        raise OutputWriteError(f"{flag} {directory} cannot be a folder: {blocking} is a file."
                               f" Pass another {flag}.")
    path = _nearest_existing(directory)
    if writable and not os.access(path, os.W_OK | os.X_OK):
        raise OutputWriteError(f"{flag} {directory} cannot be written into: {path} is not"
                               f" writable. Pass another {flag}.")


def _nearest_existing(directory):
    path = os.path.abspath(directory)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def file_in_the_way(directory):
    """The file that stands where `directory` or a folder above it should be, or
    None."""
    path = _nearest_existing(directory)
    return None if os.path.isdir(path) else path


def _partial_name(path, suffix):
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.partial-{os.getpid()}{suffix}")


def _cannot_write(path, error):
    """The error for a file that could not be written, with the fix its cause asks
    for (a full disk, no permission, a file where a folder should be)."""
    fix = {errno.ENOTDIR: "A file stands where a folder of the path should be: pass another",
           errno.EEXIST: "A file stands where a folder of the path should be: pass another",
           errno.EACCES: "Pass a writable", errno.EPERM: "Pass a writable",
           errno.EROFS: "Pass a writable"}.get(error.errno, "Free disk space or pass another")
    return OutputWriteError(
        f"Could not write {path}: {error.strerror or error}. {fix}"
        " --checkpoint_dir/--sample_dir/--out_dir, then rerun the same command; nothing"
        " written before was changed.")


def remove(path):
    """Removes a file or folder of ours that is debris; never fails."""
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


class BeingWrittenError(OutputWriteError):
    """Another process is writing the same file right now."""


_HELD = threading.local()  # the lock files each thread holds


@contextlib.contextmanager
def in_turn(path, on_busy):
    """Holds `path` for this thread while it makes it (an flock on a
    `.<name>.writing` file beside it, naming the holder, removed after; held
    again by the same thread, it is already held). Where another process or
    thread holds it, `on_busy(holder)` raises, or returns once it has said so
    and this waits for the other (a download, which then finds the file made:
    fetching it together would have mixed their bytes)."""
    head, tail = os.path.split(os.path.abspath(path))
    lock_path = os.path.join(head, f".{tail}.writing")
    if not hasattr(_HELD, "paths"):
        _HELD.paths = set()
    held = _HELD.paths
    if lock_path in held:
        yield
        return
    said = False
    while True:
        os.makedirs(head, exist_ok=True)  # a holder whose download failed may have removed it
        handle = open(lock_path, "a+")  # noqa: SIM115 (held for the block)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                if not said:
                    on_busy(handle.read().strip() or "another process")
                    said = True
                fcntl.flock(handle, fcntl.LOCK_EX)
            # the lock file may have been removed by a holder that just finished
            same = os.path.samestat(os.fstat(handle.fileno()), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        except BaseException:
            handle.close()
            raise
        if same:
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        held.add(lock_path)
        yield
    finally:
        held.discard(lock_path)
        remove(lock_path)
        handle.close()


@contextlib.contextmanager
def only_writer(path):
    """Holds `path` for one writer (an flock on a `.<name>.writing` file beside
    it, removed after): a second process writing the same file at once is
    refused, naming the first, instead of one silently replacing the other."""
    def refuse(holder):
        raise BeingWrittenError(
            f"{path} is being written by {holder} right now; one would replace the"
            " other's. Wait for it to finish, or write elsewhere (another --sample_dir /"
            " --out_dir).")

    with in_turn(path, refuse):
        yield


@contextlib.contextmanager
def written_whole(path, suffix=""):
    """Yields a temporary path beside `path` to write to (a file or a folder;
    ending in `suffix`, for writers that insist on one); renames it to `path`
    when the block ends normally, removes it on any exception (SIGTERM's
    included, as the caller raises it). One process at a time writes `path`
    (only_writer)."""
    partial = _partial_name(path, suffix)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with only_writer(path):
            yield partial
            if os.path.isdir(partial) and os.path.isdir(path):
                shutil.rmtree(path)  # a folder replaces the old one whole
            os.replace(partial, path)
    except OSError as error:
        remove(partial)
        raise _cannot_write(path, error) from error
    except BaseException:
        remove(partial)
        raise


def write_text(path, text):
    """Writes `path` whole or not at all."""
    with written_whole(path) as partial:
        with open(partial, "w") as f:
            f.write(text)


def append_line(path, line):
    """Appends one line to a log of ours; a failure names the file."""
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as error:
        raise _cannot_write(path, error) from error


def history_of(path):
    """Where every report written to `path` is kept (write_report): metrics.json's
    metrics_history.jsonl, one JSON object a line."""
    return os.path.splitext(path)[0] + "_history.jsonl"


def write_report(path, report):
    """`report` (a JSON object) as the whole of `path`, the latest, and appended,
    with the time, to its history: a later report (after more training, of
    another count) replaces the file, not the one before it. Returns the
    history's path."""
    write_text(path, json.dumps(report, indent=2, sort_keys=True))
    append_line(history_of(path), json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                              **report}, sort_keys=True))
    return history_of(path)


def check_free_space(directory, needed, what, fix):
    """Refuses, before anything is written, work that needs more than the free
    space of `directory` (or its nearest existing parent)."""
    existing = os.path.abspath(directory)
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise OutputWriteError(
            f"{what} needs up to {needed / 1e9:.3g} GB, and {existing} has {free / 1e9:.3g} GB"
            f" free: {fix}")
