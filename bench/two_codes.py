"""What a code change bought: ms per iteration of one main.py training command
run from two checkouts (before and after), alternating, several rounds; the
median of the rounds' ratios (after / before), each round's two runs back to
back, so that the machine's load of the moment falls on both.

    git clone -q . /tmp/before && git -C /tmp/before checkout <commit>
    python bench/two_codes.py --before /tmp/before --after . --rounds 6 \
        --flags="--dataset mnist --model wgan --train_size 32000"

Each run is `python main.py <flags> --train --epoch <--epochs>` in a new
process with its own --out_dir, and the data of ../shared/data; its first
call's iterations (tracing included) are left out, as bench/vs_pytorch.py
leaves them out, and so are pauses (ms_per_iteration). With --epochs 2 or
more, what each epoch's end added is given too (benchlib.epoch_end_stalls).
Nothing is written: the figures are printed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from benchlib import SHARED_DATA, epoch_end_stalls, machine, training_ms_per_iteration

SKIP = 5


def run(checkout, flags, epochs):
    """(ms per iteration, [seconds each epoch's end added]) of `main.py flags
    --train` from `checkout`."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [sys.executable, "-u", os.path.join(checkout, "main.py"), *flags, "--train",
             "--epoch", str(epochs), "--data_dir", SHARED_DATA, "--out_dir", out],
            cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        raise RuntimeError(f"main.py in {checkout} failed:\n{done.stdout[-3000:]}")
    return training_ms_per_iteration(done.stdout, SKIP), epoch_end_stalls(done.stdout)


def _seconds(values):
    return ", ".join(f"{value:.2f}" for value in values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a checkout of the code before")
    parser.add_argument("--after", required=True, help="a checkout of the code after")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--flags", required=True, help="main.py's flags, --train left out")
    parser.add_argument("--epochs", type=int, default=1,
                        help="epochs each run trains; 2 or more also times their ends")
    args = parser.parse_args(argv)
    flags = args.flags.split()
    times, stalls = {"before": [], "after": []}, {"before": [], "after": []}
    for r in range(args.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        for side in order:  # alternating which goes first, round by round
            ms, ends = run(getattr(args, side), flags, args.epochs)
            times[side].append(ms)
            stalls[side] += ends
        print(f"round {r + 1}/{args.rounds}: before {times['before'][-1]:.2f} ms,"
              f" after {times['after'][-1]:.2f} ms", flush=True)
    ratios = [a / b for a, b in zip(times["after"], times["before"])]
    print(f"On {machine()}: `main.py {args.flags} --train`; ms per iteration, median of"
          f" {args.rounds} rounds: before {statistics.median(times['before']):.2f}, after"
          f" {statistics.median(times['after']):.2f}; after / before"
          f" {statistics.median(ratios):.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)})")
    if args.epochs > 1:
        for side in ("before", "after"):
            print(f"Seconds each epoch's end added beyond an iteration, {side}, in run order:"
                  f" {_seconds(stalls[side])} (total {sum(stalls[side]):.1f})")


if __name__ == "__main__":
    main()
