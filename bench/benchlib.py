"""What the benchmarks share: running main.py as a user does, and reading the
time per iteration from its log."""

import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def main_py(*argv, log_path=None):
    """Runs `python -u main.py argv`; returns its output (also appended to
    `log_path`), or raises with the output's end if it fails."""
    command = [sys.executable, "-u", os.path.join(REPO, "main.py"), *argv]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log_path:
        with open(log_path, "a") as log:
            log.write(done.stdout)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}")
    return done.stdout


def iteration_seconds(output):
    """Seconds per iteration between consecutive training lines of a main.py log
    (of several runs appended: a resumed run's clock starts again)."""
    times = [(int(m.group(1)), float(m.group(2))) for m in
             re.finditer(r"^\[\s*(\d+) Epoch:.*time: ([\d.]+),", output, re.MULTILINE)]
    return [(t2 - t1) / (i2 - i1) for (i1, t1), (i2, t2) in zip(times, times[1:])
            if i2 > i1 and t2 >= t1]


def ms_per_iteration(seconds):
    """The mean of `iteration_seconds` (of one or several runs), in ms, leaving
    out pauses over 20 times the median (the first trace, a checkpoint, a
    machine paused or shared): the critic schedules' iterations differ in cost
    (G updates every n_critic-th), so a median would miss them."""
    if not seconds:
        return None
    typical = statistics.median(seconds)
    return 1000 * statistics.mean(step for step in seconds if step <= 20 * typical)
