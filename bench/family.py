"""The family, measured: every --model trained on MNIST for the same number of
iterations through main.py itself, then scored by `main.py --evaluate` (10,000
samples, balanced labels for the conditional models): label accuracy where
there are labels, classifier score, Frechet distance; with ms per iteration;
and, since issue 23, precision, recall, density, coverage, KID and the
intra-class Frechet distance (`--set_figures`: the table of those).

    python bench/family.py --epochs 29 --seeds 1 2          # 29 x 355 = 10,295 iterations
    python bench/family.py --models gan wgan --epochs 1 --seeds 1   # a quick look

Each run keeps its folder in --runs (rerunning resumes or, when finished, only
re-scores). Results go to bench/family_results.json (a rerun replaces its
model and seed's row) and the table is printed; bench/RESULTS.md and the README
quote them. Run it from a copy of the
repository when you go on editing (autograph reads the source when it traces).
"""

import argparse
import json
import os
import re
import time

from benchlib import FAMILY_MODELS as MODELS
from benchlib import (REPO, SET_FIGURE_HEADER, SET_FIGURES, SHARED_DATA, iteration_seconds, main_py,
                      ms_per_iteration, set_figure_cells)
RESULTS = [os.path.join(REPO, "bench", "family_results.json")]  # --results


def run(model, seed, epochs, runs_dir, data_dir, classifier_cache):
    name = f"mnist_{model}_seed{seed}"
    common = ["--dataset", "mnist", "--model", model, "--data_dir", data_dir,
              "--out_dir", runs_dir, "--out_name", name, "--seed", str(seed)]
    log_path = os.path.join(runs_dir, f"{name}.log")
    os.makedirs(runs_dir, exist_ok=True)
    start = time.time()
    output = main_py(*common, "--train", "--epoch", str(epochs), "--ckpt_freq", "2000",
                     log_path=log_path)
    main_py(*common, "--evaluate", "--metrics_samples", "10000", "--classifier_cache",
            classifier_cache, log_path=log_path)
    with open(os.path.join(runs_dir, name, "samples", "metrics.json")) as f:
        scores = json.load(f)
    final = re.findall(r"Training done: (\d+) iterations", output)
    return {"model": model, "seed": seed, "epochs": epochs,
            "iterations": int(final[-1]) if final else None,
            "ms_per_iteration": ms_per_iteration(iteration_seconds(output)),
            "wall_minutes": (time.time() - start) / 60,
            "label_accuracy": scores.get("label_accuracy"),
            "classifier_score": scores["classifier_score"],
            "frechet_distance": scores["frechet_distance"],
            **{k: scores.get(k) for k in SET_FIGURES},
            "real": {k: scores["real"].get(k) for k in ("classifier_score", "frechet_distance",
                                                        "label_accuracy") + SET_FIGURES}}


def set_figures_table(results):
    """Precision, recall, density, coverage, KID and the intra-class distance of
    the runs that have them, with real digits' (train vs test) last."""
    rows = [f"| model | seed | {SET_FIGURE_HEADER} |", "| --- | --- |" + " --- |" * 7]
    scored = [r for r in results if r.get("precision") is not None]
    # Real digits' intra-class distance comes with a conditional run's scores.
    real = next((r["real"] for r in scored if r["real"].get("intra_class_frechet_distance")),
                scored[0]["real"] if scored else None)
    for r in scored + [dict(real, model="real digits", seed="")][:len(scored)]:
        rows.append(f"| {r['model']} | {r['seed']} | {set_figure_cells(r)} |")
    return "\n".join(rows)


def table(results):
    rows = ["| model | seed | iterations | ms / iteration | label accuracy | classifier score"
            " | Frechet distance |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        accuracy = "—" if r["label_accuracy"] is None else f"{100 * r['label_accuracy']:.2f}%"
        rows.append(f"| {r['model']} | {r['seed']} | {r['iterations']} |"
                    f" {r['ms_per_iteration']:.1f} | {accuracy} | {r['classifier_score']:.3f} |"
                    f" {r['frechet_distance']:.2f} |")
    return "\n".join(rows)


def summary(results):
    """Each model's mean over its seeds, each seed's figure in brackets."""
    rows = ["| model | seeds | ms / iteration | label accuracy | classifier score |"
            " Frechet distance |", "| --- | --- | --- | --- | --- | --- |"]
    for model in MODELS:
        runs = sorted((r for r in results if r["model"] == model), key=lambda r: r["seed"])
        if not runs:
            continue

        def cell(key, fmt, runs=runs):
            values = [r[key] for r in runs]
            if values[0] is None:
                return "—"
            each = " / ".join(fmt.format(v) for v in values)
            return f"{fmt.format(sum(values) / len(values))} ({each})" if len(runs) > 1 else each
        rows.append(f"| {model} | {len(runs)} | {cell('ms_per_iteration', '{:.0f}')} |"
                    f" {cell('label_accuracy', '{:.1%}')} | {cell('classifier_score', '{:.2f}')}"
                    f" | {cell('frechet_distance', '{:.0f}')} |")
    real = results[0]["real"]
    rows.append(f"| real digits (train vs test) | | | {real['label_accuracy']:.2%} |"
                f" {real['classifier_score']:.2f} | {real['frechet_distance']:.2f} |")
    return "\n".join(rows)


def from_logs(results, runs_dir):
    """The results with ms per iteration read again from the runs' kept logs."""
    for r in results:
        path = os.path.join(runs_dir, f"mnist_{r['model']}_seed{r['seed']}.log")
        if os.path.exists(path):
            with open(path) as f:
                r["ms_per_iteration"] = ms_per_iteration(iteration_seconds(f.read()))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--epochs", type=int, default=29)
    parser.add_argument("--runs", default=os.path.join(REPO, "runs", "family"))
    parser.add_argument("--data_dir", default=SHARED_DATA)
    parser.add_argument("--classifier_cache", default=os.path.expanduser("~/.cache/dcgan-tf"))
    parser.add_argument("--report", action="store_true",
                        help="only print the tables of bench/family_results.json (ms per"
                             " iteration read again from the logs in --runs)")
    parser.add_argument("--results", default=RESULTS[0])
    args = parser.parse_args()
    RESULTS[0] = args.results
    if args.report:
        results = from_logs(json.load(open(RESULTS[0])), args.runs)
        print(table(sorted(results, key=lambda r: (r["seed"], MODELS.index(r["model"])))))
        print()
        print(summary(results))
        if any(r.get("precision") is not None for r in results):
            print()
            print(set_figures_table(results))
        return
    results = []
    # Seed by seed, so that a cut-short session still has every model once.
    for seed in args.seeds:
        for model in args.models:
            result = run(model, seed, args.epochs, args.runs, args.data_dir,
                         args.classifier_cache)
            results.append(result)
            print(table([result]).splitlines()[-1], flush=True)
            previous = json.load(open(RESULTS[0])) if os.path.exists(RESULTS[0]) else []
            kept = [r for r in previous if (r["model"], r["seed"]) != (model, seed)]
            with open(RESULTS[0], "w") as f:
                json.dump(kept + [result], f, indent=1)
    print(table(results))


if __name__ == "__main__":
    main()
