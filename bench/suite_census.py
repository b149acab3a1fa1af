"""Where the suite's time goes, test by test: a pytest plugin that counts, in
each test, the commands it runs in its own process (app.run: trainings and
the rest, their seconds and main flags, the networks' widths among them),
the tf.function traces (count and seconds), the calls of traced functions
(seconds: a function's first call has Grappler optimize its graph), the loss
curves' plotting and the child processes it starts (their lifetimes), and
writes one JSON file per worker; then a summary of them.

    PYTHONPATH=bench python -m pytest -p suite_census --durations=0   # writes suite_census_<pid>.json
    python bench/suite_census.py suite_census_*.json                  # the summary

Each JSON file goes to $SUITE_CENSUS_DIR (default: the current folder).
Measurement only: it wraps the functions it times for the whole run.
"""

import collections
import json
import os
import subprocess
import sys
import time

_RUNS_FLAGS = ("train", "dataset", "model", "loss", "batch_size", "epoch", "output_height",
               "z_dim", "gf_dim", "gfc_dim", "train_size", "steps_per_call")
_test = {"id": None}
_rows = {}


def _row(test):
    return _rows.setdefault(test, {"runs": [], "plot_s": 0.0, "traces": 0, "trace_s": 0.0,
                                   "calls_s": 0.0, "children": []})


def _timed_app_run(run):
    def timed(config, *args, **kwargs):
        started = time.perf_counter()
        try:
            return run(config, *args, **kwargs)
        finally:
            flags = {name: getattr(config, name, None) for name in _RUNS_FLAGS}
            _row(_test["id"])["runs"].append([round(time.perf_counter() - started, 3), flags])
    return timed


def _timed_into(field, function):
    """`function`, its seconds added to the test's `field`."""
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _row(_test["id"])[field] += time.perf_counter() - started
    return timed


def _timed_traces(create):
    depth = [0]

    def timed(*args, **kwargs):  # nested traces count in the outermost one
        depth[0] += 1
        started = time.perf_counter()
        try:
            return create(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                row = _row(_test["id"])
                row["traces"] += 1
                row["trace_s"] += time.perf_counter() - started
    return timed


def _watch_children():
    start, ended = subprocess.Popen.__init__, subprocess.Popen._handle_exitstatus

    def init(self, *args, **kwargs):
        command = args[0] if args else kwargs.get("args")
        self._census = (_test["id"], time.perf_counter(),
                        " ".join(map(str, command)) if isinstance(command, (list, tuple))
                        else str(command))
        return start(self, *args, **kwargs)

    def exited(self, *args, **kwargs):
        result = ended(self, *args, **kwargs)
        census = getattr(self, "_census", None)
        if census:
            self._census = None
            test, started, command = census
            _row(test)["children"].append([round(time.perf_counter() - started, 3),
                                           command[:200]])
        return result

    subprocess.Popen.__init__, subprocess.Popen._handle_exitstatus = init, exited


def _counts(config):
    """Where tests run: a worker of xdist, or a run without workers (not
    xdist's controller, which would import TensorFlow for nothing)."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def pytest_sessionstart(session):
    if not _counts(session.config):
        return
    from tensorflow.python.eager import context  # noqa: PLC0415
    from tensorflow.python.eager.polymorphic_function import tracing_compilation  # noqa: PLC0415

    from dcgan_tf import app  # noqa: PLC0415
    from dcgan_tf import curves  # noqa: PLC0415

    app.run = _timed_app_run(app.run)
    curves.plot_losses = _timed_into("plot_s", curves.plot_losses)
    tracing_compilation._create_concrete_function = _timed_traces(  # noqa: SLF001
        tracing_compilation._create_concrete_function)  # noqa: SLF001
    context.Context.call_function = _timed_into("calls_s", context.Context.call_function)
    _watch_children()


def pytest_runtest_logstart(nodeid, location):
    _test["id"] = nodeid


def pytest_sessionfinish(session):
    if not _counts(session.config):
        return
    folder = os.environ.get("SUITE_CENSUS_DIR", ".")
    with open(os.path.join(folder, f"suite_census_{os.getpid()}.json"), "w") as out:
        json.dump(_rows, out)


def summarize(paths):
    rows = {}
    for path in paths:
        with open(path) as census:
            rows.update(json.load(census))
    runs = [run for row in rows.values() for run in row["runs"]]
    trainings = [seconds for seconds, flags in runs if flags["train"]]
    others = [seconds for seconds, flags in runs if not flags["train"]]
    children = sorted((child for row in rows.values() for child in row["children"]),
                      reverse=True)
    print(f"{len(rows)} tests with something counted")
    print(f"commands in the tests' processes: {len(trainings)} trainings, {sum(trainings):.0f} s;"
          f" {len(others)} other runs, {sum(others):.0f} s")
    print(f"tf.function traces (outermost): {sum(r['traces'] for r in rows.values())},"
          f" {sum(r['trace_s'] for r in rows.values()):.0f} s")
    print(f"calls of traced functions (their first calls optimize):"
          f" {sum(r.get('calls_s', 0.0) for r in rows.values()):.0f} s")
    print(f"loss curves plotted: {sum(r['plot_s'] for r in rows.values()):.0f} s")
    print(f"child processes: {len(children)}, {sum(seconds for seconds, _ in children):.0f} s"
          " of their lifetimes")
    for seconds, command in children[:15]:
        print(f"  {seconds:6.1f} s  {command[:110]}")
    kinds = collections.defaultdict(list)
    for seconds, flags in runs:
        kinds[(bool(flags["train"]), flags["model"] or "dcgan", flags["dataset"],
               flags["output_height"], flags.get("gf_dim"))].append(seconds)
    print("the commands by kind (train, model, data set, output size, --gf_dim): count,"
          " seconds, mean")
    for kind, times in sorted(kinds.items(), key=lambda item: -sum(item[1]))[:15]:
        print(f"  {len(times):4d} {sum(times):7.1f} s {sum(times) / len(times):5.2f} s  {kind}")


if __name__ == "__main__":
    summarize(sys.argv[1:])
