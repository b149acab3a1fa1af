"""What the benchmarks share: running main.py as a user does, and reading the
time per iteration from its log."""

import contextlib
import io
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
from dcgan_tf import startup  # noqa: E402 (imports nothing from TensorFlow)

SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")

# What --evaluate reports since issue 23, beside the Frechet distance.
SET_FIGURES = ("precision", "recall", "density", "coverage", "kid", "kid_std",
               "intra_class_frechet_distance")
SET_FIGURE_HEADER = ("Frechet distance | precision | recall | density | coverage |"
                     " KID ± sd | intra-class FD")


def machine():
    """The CPU a measurement ran on, as every speed claim names it: model, cores,
    the vector extensions that decide TensorFlow's kernels, and oneDNN's state
    (startup.onednn_state: on or off, and who chose)."""
    flags = startup.cpu_flags()
    has = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    # What main.py's start-up line says, asked of TensorFlow in a process started
    # as main.py starts, with this one's environment (this one may not import
    # TensorFlow).
    asked = subprocess.run(
        [sys.executable, "-c", "from dcgan_tf import startup; startup.choose_onednn();"
         " import tensorflow; print(startup.onednn_state())"], capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3"), check=False)
    onednn = asked.stdout.strip() or "oneDNN state unknown"
    extensions = ", ".join(has) or "no AVX2"
    return f"{startup.cpu_model()}, {os.cpu_count()} cores ({extensions}), {onednn}"


def set_figure_cells(scores):
    """The Frechet distance and SET_FIGURES of one metrics dict as table cells
    (SET_FIGURE_HEADER's columns; a dash where a figure does not apply)."""
    fmt = lambda v, f: "—" if v is None else f.format(v)  # noqa: E731
    # KID is in its features' units: thousands on the classifier's pre-ReLU
    # features, hundredths on Inception's; three digits either way.
    digits = lambda v: f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"  # noqa: E731
    kid = "—" if scores.get("kid") is None else (
        f"{digits(scores['kid'])} ± {digits(scores['kid_std'])}")
    return (f"{fmt(scores.get('frechet_distance'), '{:.1f}')} |"
            f" {fmt(scores.get('precision'), '{:.3f}')} | {fmt(scores.get('recall'), '{:.3f}')} |"
            f" {fmt(scores.get('density'), '{:.3f}')} | {fmt(scores.get('coverage'), '{:.3f}')} |"
            f" {kid} | {fmt(scores.get('intra_class_frechet_distance'), '{:.1f}')}")


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


def main_config(*argv):
    """The Config main.py makes of `argv` (its flags, parsed by its own code)."""
    main = _main_module()
    main.FLAGS.unparse_flags()
    main.FLAGS(["main.py", *argv])
    values, typed = main.command_line()
    return main.config_lib.of_command_line(values, typed)


def _main_module():
    """main.py as a module (importing it imports TensorFlow, once, held quiet)."""
    if REPO not in sys.path:  # once, not once per call
        sys.path.insert(0, REPO)
    import main  # noqa: PLC0415

    return main


def main_in_process(*argv, log_path=None):
    """`main_py` without a new process: the same flags parsed by main.py's own
    code and run by `dcgan_tf.app.run`, output and failures as `main_py` gives
    them. Each call starts from a cleared Keras session, as a new process would;
    what it saves is TensorFlow's import and start-up (seconds per call, which
    add up over a benchmark's hundreds of stages)."""
    import tensorflow as tf  # noqa: PLC0415

    main = _main_module()
    main.FLAGS.unparse_flags()
    main.FLAGS(["main.py", *argv])
    tf.keras.backend.clear_session()
    output = io.StringIO()
    failed = None
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            main.absl_logging.set_verbosity(main.absl_logging.WARNING)
            values, typed = main.command_line()
            main.dcgan_app.run(main.config_lib.of_command_line(values, typed), typed=typed)
        except (SystemExit, Exception) as error:  # noqa: BLE001  (reported as main_py does)
            failed = error
    if log_path:
        with open(log_path, "a") as log:
            log.write(output.getvalue())
    if failed is not None and not (isinstance(failed, SystemExit) and not failed.code):
        raise RuntimeError(f"main.py {' '.join(argv)} failed ({failed!r}):\n"
                           f"{output.getvalue()[-3000:]}") from failed
    return output.getvalue()


def iteration_seconds(output):
    """Seconds per iteration between consecutive training lines of a main.py log
    (of several runs appended: a resumed run's clock starts again)."""
    times = [(int(m.group(1)), float(m.group(2))) for m in
             re.finditer(r"^\[\s*(\d+) Epoch:.*time: ([\d.]+),", output, re.MULTILINE)]
    return [(t2 - t1) / (i2 - i1) for (i1, t1), (i2, t2) in zip(times, times[1:])
            if i2 > i1 and t2 >= t1]


def epoch_end_stalls(output):
    """Seconds each epoch's end added to a main.py training log, beyond an
    iteration: between an epoch's last line and the next epoch's first, less
    the median step (the last epoch's end has no next line to show it)."""
    lines = [(int(m.group(1)), int(m.group(2)), float(m.group(3))) for m in re.finditer(
        r"^\[\s*(\d+) Epoch:\[\s*(\d+)/.*time: ([\d.]+),", output, re.MULTILINE)]
    seconds = iteration_seconds(output)
    if not seconds:
        return []
    typical = statistics.median(seconds)
    return [t2 - t1 - typical for (i1, e1, t1), (i2, e2, t2) in zip(lines, lines[1:])
            if e2 == e1 + 1 and i2 == i1 + 1]


def ms_per_iteration(seconds):
    """The mean of `iteration_seconds` (of one or several runs), in ms, leaving
    out pauses over 20 times the median (the first trace, a checkpoint, a
    machine paused or shared): the critic schedules' iterations differ in cost
    (G updates every n_critic-th), so a median would miss them."""
    if not seconds:
        return None
    typical = statistics.median(seconds)
    return 1000 * statistics.mean(step for step in seconds if step <= 20 * typical)


def training_ms_per_iteration(output, skip=5):
    """`ms_per_iteration` of a main.py training log, its first `skip` iterations
    left out, or with several iterations per call its whole first call's (their
    times share the call's, tracing included)."""
    per_call = re.search(r"(\d+) iterations per call", output)
    return ms_per_iteration(iteration_seconds(output)[max(skip, int(per_call.group(1))
                                                          if per_call else 0):])


def export_image_folder(dataset, data_dir, target):
    """The data set's training digits as PNG files (once), for the unconditional model."""
    from PIL import Image  # noqa: PLC0415

    from dcgan_tf import data  # noqa: PLC0415

    if os.path.isdir(target) and os.listdir(target):
        return target
    os.makedirs(target, exist_ok=True)
    images, _ = data.load_idx_split(data.idx_dataset_dir(data_dir, dataset), "train")
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(target, f"{i:05d}.png"))
    return target


def latest_grid(sample_dir):
    """The run's last training sample grid (the fixed sample z)."""
    grids = sorted(f for f in os.listdir(sample_dir) if f.startswith("train_"))
    return os.path.join(sample_dir, grids[-1]) if grids else None


def checkpoint_iteration(runs, name):
    """The iteration of run `name`'s latest checkpoint (0 before its first)."""
    checkpoint = os.path.join(runs, name, "checkpoints", "checkpoint")
    if not os.path.exists(checkpoint):
        return 0
    with open(checkpoint) as f:
        return int(f.read().split('"')[1].rsplit("-", 1)[1])


# PyTorch-GAN's models that --model names (the family's networks).
FAMILY_MODELS = ("gan", "cgan", "wgan", "wgan_gp", "acgan", "lsgan")


def write_between_markers(name, text):
    """`text` into bench/RESULTS.md between <!-- name --> and <!-- /name -->
    (replacing what was there; at the end, markers and all, the first time)."""
    path = os.path.join(REPO, "bench", "RESULTS.md")
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    with open(path) as f:
        current = f.read()
    if begin in current:
        head, rest = current.split(begin, 1)
        current = head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1]
    else:
        current += f"\n{begin}\n{text}\n{end}\n"
    with open(path, "w") as f:
        f.write(current)


def side_by_side(labelled_grids, path, columns=3):
    """One picture of the sample grids, each under its loss's name."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    grids = [(label, Image.open(grid).convert("RGB")) for label, grid in labelled_grids]
    width, height = grids[0][1].size
    caption = 18
    rows = -(-len(grids) // columns)
    sheet = Image.new("RGB", (columns * (width + 8), rows * (height + caption + 8)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, grid) in enumerate(grids):
        x, y = (index % columns) * (width + 8) + 4, (index // columns) * (height + caption + 8) + 4
        draw.text((x, y + 2), label, fill="black")
        sheet.paste(grid.resize((width, height)), (x, y + caption))
    sheet.save(path)
