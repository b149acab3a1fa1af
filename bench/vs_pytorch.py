"""Each family model side by side with PyTorch-GAN's own script, on this CPU, in
one run: ms per iteration of `python main.py --dataset mnist --model M --train`
against the script's training loop (bench/pytorch_gan_runner.py), alternating
one after the other, several rounds; the ratio of the two.

    python bench/vs_pytorch.py --pytorch_gan /path/to/PyTorch-GAN
    python bench/vs_pytorch.py --pytorch_gan ... --models wgan,acgan --rounds 2 --flags=--mixed_precision

PyTorch-GAN is a checkout of eriklindernoren/PyTorch-GAN (the golden runs name
the commit: 36d3c77). Torch runs in a venv of the bench's own (`--venv`, made
with `pip install torch torchvision` when absent), never in the project's
environment. Both sides: batch 64, real MNIST (../shared/data/mnist), every
thread of the machine, each run a new process whose first 5 iterations (start,
tracing, the script's first sample grid) are left out; the figure is the mean
of the rest (the critic schedules' iterations differ in cost), leaving out
pauses over 20 times the median. Data loading: out of theirs (their batches are
transformed before their loop starts, see the runner), in ours (main.py's
tf.data pipeline, prefetched, on the same cores). The table replaces the
section between the vs_pytorch markers of bench/RESULTS.md, with the machine.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

from benchlib import (REPO, SHARED_DATA, machine, main_py, ms_per_iteration,
                      training_ms_per_iteration, write_between_markers)

MODELS = ("gan", "cgan", "acgan", "wgan", "wgan_gp", "lsgan")
# Iterations per run: about 10 s per run on a 2-core machine (the MLPs' first 50,
# their first call with --steps_per_call's auto, are left out of ours).
ITERATIONS = {"gan": 250, "cgan": 220, "acgan": 30, "wgan": 250, "wgan_gp": 250, "lsgan": 30}
GOLDEN_COMMIT = "36d3c77e5ff20ebe0aeefd322326a134a279b93e"
SKIP = 5


def torch_python(venv):
    """The venv's Python, made (torch and torchvision installed) when absent."""
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"making {venv}: pip install torch torchvision (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "torch", "torchvision"],
                       check=True)
    return python


def checkout_commit(path):
    done = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def ours(model, iterations, flags, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    output = main_py("--dataset", "mnist", "--model", model, "--train", "--epoch", "1",
                     "--train_size", str(64 * iterations), "--data_dir", SHARED_DATA,
                     "--out_dir", out, *flags)
    return training_ms_per_iteration(output, SKIP)


def theirs(model, iterations, python, pytorch_gan, tmp):
    times = os.path.join(tmp, f"{model}.json")
    script = os.path.join(pytorch_gan, "implementations", model, f"{model}.py")
    done = subprocess.run(
        [python, os.path.join(REPO, "bench", "pytorch_gan_runner.py"), "--script", script,
         "--mnist", os.path.join(SHARED_DATA, "mnist"), "--iterations", str(iterations),
         "--times", times], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-3000:]}")
    with open(times) as f:
        record = json.load(f)
    return ms_per_iteration(record["seconds"][SKIP:]), record["torch"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pytorch_gan", required=True, help="a checkout of PyTorch-GAN")
    parser.add_argument("--venv", default=os.path.expanduser("~/.cache/dcgan-tf-bench/torch"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="times the iterations per run")
    parser.add_argument("--flags", default="", help="more main.py flags for ours, e.g. --xla")
    parser.add_argument("--no_write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    python = torch_python(args.venv)
    commit = checkout_commit(args.pytorch_gan)
    if commit and commit != GOLDEN_COMMIT:
        print(f"note: {args.pytorch_gan} is at {commit}, not the golden runs' {GOLDEN_COMMIT}")
    flags = args.flags.split()
    times = {m: {"ours": [], "theirs": []} for m in models}
    torch_version = None
    started = datetime.datetime.now()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for model in models:
                n = max(SKIP + 10, round(ITERATIONS[model] * args.scale))
                sides = ["ours", "theirs"] if r % 2 == 0 else ["theirs", "ours"]
                for side in sides:  # alternating which goes first, round by round
                    if side == "ours":
                        times[model]["ours"].append(ours(model, n, flags, tmp))
                    else:
                        ms, torch_version = theirs(model, n, python, args.pytorch_gan, tmp)
                        times[model]["theirs"].append(ms)
                print(f"round {r + 1}/{args.rounds} {model}: ours"
                      f" {times[model]['ours'][-1]:.1f} ms, theirs"
                      f" {times[model]['theirs'][-1]:.1f} ms", flush=True)
    rows = ["| model | ours (ms) | PyTorch-GAN (ms) | ours / theirs | per round |",
            "| --- | --- | --- | --- | --- |"]
    for model in models:
        mine, their = (statistics.median(times[model][k]) for k in ("ours", "theirs"))
        # Each round's two runs ran back to back: their ratio is what the load
        # of that moment leaves comparable.
        ratios = [a / b for a, b in zip(times[model]["ours"], times[model]["theirs"])]
        rows.append(f"| {model} | {mine:.1f} | {their:.1f} | **{statistics.median(ratios):.2f}**"
                    f" | {', '.join(f'{r:.2f}' for r in ratios)} |")
    command = "python bench/vs_pytorch.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        f"Run {started:%Y-%m-%d %H:%M} on {machine()}; Python {platform.python_version()};"
        f" torch {torch_version} in its own venv; PyTorch-GAN at {commit or 'an unversioned copy'}.",
        f"Command: `{command}`. Each run's mean ms per iteration (first {SKIP} left out; of ours,"
        " those of its first call, tracing included),"
        f" the median over {args.rounds} rounds; the ratio is the median of the rounds' ratios"
        f" (each round's two runs back to back); ours{(' with ' + args.flags) if flags else ''}"
        " includes its data pipeline, theirs does not.", "", *rows])
    print(text)
    if not args.no_write:
        write_between_markers("vs_pytorch", text)


if __name__ == "__main__":
    main()
