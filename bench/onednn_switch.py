"""Whether oneDNN should be the default on a CPU with AVX2 and no AVX-512
(startup.ONEDNN_ON_AVX2_ONLY_CPUS, on since 2026-12-07): issue 33's checklist
for that CPU, in one command, run from a copy of the repository (it took 62
minutes on a 2-core AVX2 EPYC, and the suite it runs reads the copy's code):

    python bench/onednn_switch.py --pytorch_gan /path/to/PyTorch-GAN --out /tmp/onednn

In order, each step's output in OUT/<step>.log, and OUT/summary.md at the end:
  faithfulness  the original-graph equivalence tests and the golden runs, one
                process (-n0), oneDNN on, at their unchanged tolerances;
  bfloat16      the bfloat16 and mixed-precision tests, oneDNN on (TensorFlow
                keeps bfloat16 on Eigen's kernels where the CPU lacks AVX-512);
  same_numbers  this CPU's snapshot with oneDNN on: a file of its own in the
                copy's tests/data/same_numbers/ (the fingerprint names oneDNN);
  speed         bench/speed.py --models mnist, oneDNN off, then on (it runs the
                original TF1 loop in its own process, on the same kernels);
  vs_pytorch    bench/vs_pytorch.py, off, then on (--no_write);
  suite         the whole suite, oneDNN on, timed (its log lists the slowest tests).
A failed check (faithfulness, bfloat16) leaves out the snapshot and the
benchmarks (there would be nothing to switch on) and times the suite with
the copy's own choice instead (what the README's test command runs there;
issue 32 asks for its time on this CPU). The switch, the snapshot's file and
the README's figures are then a commit of their own (bench/RESULTS.md, "Fast
on every CPU", says what changed with them).

--stand_in runs oneDNN's AVX2 kernels on a CPU with AVX-512
(ONEDNN_MAX_CPU_ISA=AVX2): a rehearsal, not the decision. It leaves out what
runs bfloat16 (oneDNN capped at AVX2 has no bfloat16 kernels, and TensorFlow
hands it them where the CPU has AVX512F: the process dies) - the bfloat16
tests, and speed.py, which times a bfloat16 matmul first - and the snapshot
(the fingerprint cannot tell the capped kernels apart) with the same-numbers
tests.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from dcgan_tf import startup  # noqa: E402
from vs_pytorch import checkout_commit  # noqa: E402

PRECISION_TESTS = "bfloat16 or mixed_precision or low_precision or test_precision"
STEPS = ("faithfulness", "bfloat16", "same_numbers", "speed", "vs_pytorch", "suite")
CHECKS = ("faithfulness", "bfloat16")


def commands(step, args, checks_passed=True):
    """The (label, oneDNN setting or None for the copy's own choice, argv) runs of
    one step."""
    python = sys.executable
    rounds = ["--rounds", str(args.rounds)] if args.rounds else []
    pytest = [python, "-m", "pytest", "-p", "no:warnings", "-q"]
    if step == "faithfulness":
        return [("", "1", [*pytest, "-n0", "tests/test_family_golden.py",
                           "tests/test_equivalence_original.py"])]
    if step == "bfloat16":
        return [("", "1", [*pytest, "-n0", "-k", PRECISION_TESTS])]
    if step == "same_numbers":
        return [("", "1", [python, "tests/same_numbers.py", "record", "tests/data/same_numbers"])]
    if step == "speed":
        return [(f" oneDNN {name}", setting,
                 [python, "bench/speed.py", "--models", "mnist", *rounds])
                for name, setting in (("off", "0"), ("on", "1"))]
    if step == "vs_pytorch":
        return [(f" oneDNN {name}", setting,
                 [python, "bench/vs_pytorch.py", "--pytorch_gan", args.pytorch_gan,
                  "--no_write", *rounds]) for name, setting in (("off", "0"), ("on", "1"))]
    left_out = ["-k", f"not ({PRECISION_TESTS} or same_numbers)"] if args.stand_in else []
    # The slowest tests in its log: what to cut first if the suite is over its 10 min.
    return [("", "1" if checks_passed else None, [*pytest, "--durations=60", *left_out])]


def key_lines(step, output):
    """What the summary keeps of a run's output."""
    lines = output.splitlines()
    if step in ("faithfulness", "bfloat16", "suite"):
        return [line for line in lines if re.match(r"=* ?\d+ (passed|failed|errors?)\b", line)
                or line.startswith(("FAILED", "ERROR"))][-12:]
    if step == "same_numbers":
        return lines[-1:]
    if step == "speed":
        return [line for line in lines if "ratio" in line or line.startswith("machine:")]
    return [line for line in lines if line.startswith(("|", "Run "))]


def run(step, label, setting, argv, args, summary):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    if args.stand_in:
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    name = step + label.replace(" ", "_")
    print(f"{name}: {shlex.join(argv)}", flush=True)
    started = time.time()
    with open(os.path.join(args.out, name + ".log"), "w") as log:
        done = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False)
        log.write(done.stdout)
    minutes = (time.time() - started) / 60
    summary += [f"### {step}{label} (exit {done.returncode}, {minutes:.1f} min)", "",
                f"`{'' if setting is None else f'TF_ENABLE_ONEDNN_OPTS={setting} '}"
                f"{shlex.join(argv)}`", "", "```",
                *key_lines(step, done.stdout), "```", ""]
    print(f"{name}: exit {done.returncode} in {minutes:.1f} min", flush=True)
    return done.returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pytorch_gan", help="a checkout of PyTorch-GAN (for vs_pytorch)")
    parser.add_argument("--out", required=True, help="folder for the logs and summary.md")
    parser.add_argument("--steps", default=",".join(STEPS), help="a subset of " + ",".join(STEPS))
    parser.add_argument("--rounds", type=int, default=0,
                        help="speed.py's and vs_pytorch.py's rounds (default: theirs, 4 and 3)")
    parser.add_argument("--stand_in", action="store_true",
                        help="oneDNN's AVX2 kernels on a CPU with AVX-512: a rehearsal")
    args = parser.parse_args(argv)
    steps = args.steps.split(",")
    flags = startup.cpu_flags()
    if not set(steps) <= set(STEPS):
        parser.error(f"--steps takes {', '.join(STEPS)}; got {args.steps}")
    if "avx2" not in flags:
        parser.error("this CPU has no AVX2: the switch is for CPUs with AVX2 and no AVX-512")
    if "avx512f" in flags and not args.stand_in:
        parser.error("this CPU has AVX-512, where TensorFlow turns oneDNN on itself; pass"
                     " --stand_in to rehearse with oneDNN's AVX2 kernels")
    if args.stand_in:
        steps = [s for s in steps if s not in ("bfloat16", "same_numbers", "speed")]
    if "vs_pytorch" in steps and not args.pytorch_gan:
        parser.error("vs_pytorch needs --pytorch_gan (a checkout of PyTorch-GAN), or leave it"
                     " out of --steps")
    os.makedirs(args.out, exist_ok=True)
    stand_in = " (stand-in: ONEDNN_MAX_CPU_ISA=AVX2)" if args.stand_in else ""
    summary = [f"# oneDNN on a CPU with AVX2 only{stand_in}", "",
               f"{startup.cpu_model()}, {os.cpu_count()} cores, extensions:"
               f" {', '.join(sorted(f for f in flags if f.startswith(('avx', 'fma', 'amx'))))};"
               f" {time.strftime('%Y-%m-%d %H:%M')};"
               f" code at {(checkout_commit(REPO) or 'an unversioned copy')[:7]}", ""]
    checks_passed = True
    for step in steps:
        if not checks_passed and step != "suite":
            continue
        passed = all([run(step, label, setting, argv_, args, summary)
                      for label, setting, argv_ in commands(step, args, checks_passed)])
        if step in CHECKS and not passed:
            checks_passed = False
            summary += [f"{step} failed: the snapshot and the benchmarks were left out; the"
                        " suite, if asked for, ran with the copy's own choice.", ""]
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("\n".join(summary) + "\n")
    print(os.path.join(args.out, "summary.md"))


if __name__ == "__main__":
    main()
