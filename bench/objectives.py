"""One network, every objective, measured: carpedm20's DCGAN trained with each
--loss on the same data for the same iterations, several seeds, scored by
main.py's metrics along the way (Frechet distance against iterations) and at
the end (10,000 samples).

    python bench/objectives.py --dataset mnist --iterations 2040 --stages 4 --seeds 1 2 3
    python bench/objectives.py --dataset fashion_mnist --unconditional --train_size 12800 \
        --iterations 1000 --stages 5 --seeds 1 2 3
    python bench/objectives.py --report        # the table and pictures from what is there

--dataset mnist trains the conditional MNIST DCGAN; --unconditional trains the
64x64-family (unconditional) DCGAN at 28x28 on the data set's training digits
written out as an image folder, scored without labels (classifier score and
Frechet distance by the data set's classifier, through --evaluate_npz); its
epochs draw --train_size random images of the folder afresh each time, as the
original does for folders. Each
loss runs with its own recommended settings (its --loss defaults). Training
goes in --stages equal stages (rerunning main.py resumes), each followed by a
quick score (--curve_samples) for the curve. A loss that becomes NaN or
infinite stops its run (main.py keeps the last checkpoint): that is recorded
(`diverged_at`, shown in the table) and the kept checkpoint is scored. Results go to
bench/objectives_results.json; the runs stay in --runs (a rerun resumes the
unfinished ones and skips those the results hold at their end; --rescore
scores those again); `--report` writes the table, the Frechet-distance figure and the
side-by-side sample grids from what is there. Run from a copy of the
repository if you go on editing. main.py's calls run in this process
(`benchlib.main_in_process`: the same checkpoints and scores as separate
processes, measured, in a third less time for the unconditional model's many
short calls); --subprocess runs each as its own process.
"""

import argparse
import json
import os
import re
import sys

import numpy as np

from benchlib import (REPO, SET_FIGURE_HEADER, SET_FIGURES, SHARED_DATA, checkpoint_iteration,
                      export_image_folder, iteration_seconds, latest_grid, main_in_process, main_py,
                      ms_per_iteration, set_figure_cells, side_by_side)

sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "bench", "objectives_results.json")
RESULTS_FILE = [RESULTS]  # where --report writes its figures: beside the results
RUN_MAIN = [main_in_process]  # --subprocess: main_py (a new process per call, slower)
LOSS_RUNS = {"nonsaturating": [], "minimax": [], "lsgan": [], "wgan": [], "wgan_gp": [],
             "hinge": [], "fgan_kl": ["--divergence", "kl"], "fgan_js": ["--divergence", "js"],
             "fgan_pearson": ["--divergence", "pearson"]}


def run(loss_name, seed, args, iterations_per_epoch):
    loss = "fgan" if loss_name.startswith("fgan") else loss_name
    name = f"{args.dataset}{'_uncond' if args.unconditional else ''}_{loss_name}_seed{seed}"
    common = ["--loss", loss, *LOSS_RUNS[loss_name], "--seed", str(seed), "--out_dir",
              args.runs, "--out_name", name, "--batch_size", "64"]
    if args.train_size:
        common += ["--train_size", str(args.train_size)]
    if args.unconditional:
        folder = export_image_folder(args.dataset, args.data_dir,
                                     os.path.join(args.runs, f"{args.dataset}_images"))
        data_flags = ["--dataset", os.path.basename(folder), "--data_dir",
                      os.path.dirname(folder), "--input_fname_pattern", "*.png",
                      "--output_height", "28"]
    else:
        data_flags = ["--dataset", args.dataset, "--data_dir", args.data_dir,
                      "--input_height=28", "--output_height=28"]
    curve, diverged_at = [], None
    log_path = os.path.join(args.runs, f"{name}.log")
    os.makedirs(args.runs, exist_ok=True)
    # Each stage's score is kept beside its run: a resumed run is past its
    # earlier stages, whose checkpoints are gone, so it reuses their scores.
    kept_path = os.path.join(args.runs, name, "stage_scores.json")
    kept = json.load(open(kept_path)) if os.path.exists(kept_path) else {}
    epochs_total = max(1, round(args.iterations / iterations_per_epoch))
    for stage in range(1, args.stages + 1):
        epochs = max(1, round(epochs_total * stage / args.stages))
        try:
            RUN_MAIN[0](*data_flags, *common, "--train", "--epoch", str(epochs),
                        "--ckpt_freq", "500", log_path=log_path)
        except RuntimeError as error:
            # A loss that became NaN or infinite is a result (main.py stops and
            # keeps the last checkpoint): record where, score what was kept.
            diverged = re.search(r"became \S+ at iteration (\d+)", str(error))
            if not diverged:
                raise
            diverged_at = int(diverged.group(1))
        final = diverged_at is not None or stage == args.stages
        samples = 10000 if final else args.curve_samples
        stage_iteration = epochs * iterations_per_epoch
        stage_end = f"{stage_iteration}:{samples}"
        if not final and checkpoint_iteration(args.runs, name) > stage_iteration:
            if stage_end in kept:
                curve.append(kept[stage_end])
            else:  # scored by no one before the run went past it
                print(f"{name}: no score kept for iteration {stage_iteration}; left out of its"
                      " curve", flush=True)
        else:
            kept[stage_end] = score(data_flags, common, name, args, samples, log_path)
            curve.append(kept[stage_end])
            with open(kept_path, "w") as f:
                json.dump(kept, f, indent=1)
        if final:
            break
    with open(log_path) as f:  # every stage's training lines (a rerun's too)
        seconds = iteration_seconds(f.read())
    return {"loss": loss_name, "seed": seed, "dataset": args.dataset,
            "conditional": not args.unconditional, "ms_per_iteration": ms_per_iteration(seconds),
            "diverged_at": diverged_at,
            "grid": latest_grid(os.path.join(args.runs, name, "samples")),
            "curve": curve, "final": curve[-1]}


def finished(result, key, last_iteration):
    """Whether `result` is run `key`'s (loss, seed, dataset, conditional) final
    score: at its last iteration, or where it diverged."""
    return ((result["loss"], result["seed"], result["dataset"], result["conditional"]) == key
            and (result["diverged_at"] is not None
                 or result["final"]["iteration"] == last_iteration))


def score(data_flags, common, name, args, samples, log_path):
    """The run's metrics now: --evaluate (conditional), or --generate then
    --evaluate_npz with the data set's classifier (unconditional)."""
    sample_dir = os.path.join(args.runs, name, "samples")
    if not checkpoint_iteration(args.runs, name):  # diverged before its first checkpoint
        return {"iteration": 0, "samples": 0, "label_accuracy": None, "classifier_score": None,
                "frechet_distance": None}
    cache = ["--classifier_cache", args.classifier_cache]
    if not args.unconditional:
        RUN_MAIN[0](*data_flags, *common, "--evaluate", "--metrics_samples", str(samples),
                    *cache, log_path=log_path)
        path = os.path.join(sample_dir, "metrics.json")
    else:
        RUN_MAIN[0](*data_flags, *common, "--generate", str(samples), log_path=log_path)
        npz = os.path.join(sample_dir, f"generated_{samples}.npz")
        RUN_MAIN[0]("--dataset", args.dataset, "--data_dir", args.data_dir, "--input_height=28",
                    "--output_height=28", "--evaluate_npz", npz, *cache, log_path=log_path)
        path = os.path.splitext(npz)[0] + "_metrics.json"
    with open(path) as f:
        metrics = json.load(f)
    return {"iteration": checkpoint_iteration(args.runs, name), "samples": samples,
            **{k: metrics.get(k) for k in ("label_accuracy", "classifier_score",
                                          "frechet_distance", *SET_FIGURES)}}


def report(results):
    """The table (mean and spread over seeds), the Frechet-distance figure and the
    side-by-side sample grids; returns (table, [figure paths])."""
    import matplotlib  # noqa: PLC0415
    import matplotlib.ticker  # noqa: PLC0415
    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    rows = ["| data | loss | seeds | label accuracy | classifier score | Frechet distance |"
            " ms / iteration |", "| --- | --- | --- | --- | --- | --- | --- |"]
    groups, body = {}, {}  # body: each data set's rows
    for r in results:
        groups.setdefault((r["dataset"], r["conditional"], r["loss"]), []).append(r)
    panels = sorted({r["conditional"] for r in results}, reverse=True)  # a panel for each model
    figure, axes = pyplot.subplots(1, len(panels), figsize=(7.5 * len(panels), 4.5), squeeze=False)
    axis_of = dict(zip(panels, axes[0]))
    for (dataset, conditional, loss), runs in sorted(groups.items(),
                                                     key=lambda item: row_order(*item[0])):
        cells = []
        for key, fmt in (("label_accuracy", "{:.1%}"), ("classifier_score", "{:.2f}"),
                         ("frechet_distance", "{:.0f}")):
            values = [r["final"][key] for r in runs if r["final"][key] is not None]
            cells.append("—" if not values else f"{fmt.format(np.mean(values))}"
                         f" ({fmt.format(min(values))}-{fmt.format(max(values))})")
        times = [r["ms_per_iteration"] for r in runs if r.get("ms_per_iteration")]
        cells.append(f"{np.mean(times):.0f}" if times else "—")
        diverged = [r["diverged_at"] for r in runs if r.get("diverged_at") is not None]
        note = f" (diverged: {', '.join(map(str, diverged))})" if diverged else ""
        body.setdefault((dataset, conditional), []).append(
            f"| {data_label(dataset, conditional)} | {loss}{note} |"
            f" {len(runs)} | " + " | ".join(cells) + " |")
        axis = axis_of[conditional]
        by_step = {}  # a diverged run's curve stops early: mean over the seeds still there
        for r in runs:
            for point in r["curve"]:
                if point["frechet_distance"] is not None:
                    by_step.setdefault(point["iteration"], []).append(point["frechet_distance"])
        steps = sorted(by_step)
        axis.plot(steps, [np.mean(by_step[step]) for step in steps], marker="o", label=loss)
    for (dataset, conditional), lines in body.items():
        rows += lines
        real = real_reference([r for r in results if (r["dataset"], r["conditional"]) == (
            dataset, conditional)])
        if real:  # the floor of each column
            accuracy = f"{real['label_accuracy']:.1%}" if conditional else "—"
            rows.append(f"| {data_label(dataset, conditional)} | real images (train vs test) |"
                        f" | {accuracy} | {real['classifier_score']:.2f} |"
                        f" {real['frechet_distance']:.2f} | |")
    for conditional, axis in axis_of.items():
        datasets = ", ".join(sorted({r["dataset"] for r in results
                                     if r["conditional"] == conditional}))
        title = f"{'conditional' if conditional else 'unconditional'} DCGAN, {datasets}"
        axis.set(title=title, xlabel="iteration", ylabel="Frechet distance (mean over seeds)",
                 yscale="log")
        axis.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
        if axis.lines:
            axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    base = os.path.splitext(RESULTS_FILE[0])[0]
    figure.tight_layout()
    figure.savefig(f"{base}_frechet.png", dpi=90)
    paths = [f"{base}_frechet.png"]
    for conditional in (True, False):
        # Each loss's lowest seed (the later entries of the dict win).
        chosen = {r["loss"]: r for r in sorted(results, key=lambda r: -r["seed"])
                  if r["conditional"] == conditional and r.get("grid")
                  and os.path.exists(r["grid"])}
        if chosen:
            path = f"{base}_grids_{'conditional' if conditional else 'unconditional'}.png"
            side_by_side([(loss, chosen[loss]["grid"]) for loss in LOSS_RUNS if loss in chosen],
                         path)
            paths.append(path)
    return "\n".join(rows), paths


def row_order(dataset, conditional, loss):
    """The tables' order: conditional first, then data set, each loss in LOSS_RUNS's order."""
    return (not conditional, dataset, list(LOSS_RUNS).index(loss))


def data_label(dataset, conditional):
    return dataset if conditional else f"{dataset} (unconditional)"


def set_figures_table(results):
    """Each run's final precision, recall, density, coverage, KID and intra-class
    distance (issue 23), where it has them, with real images' (train vs test)
    after each data set's runs."""
    rows = [f"| data | loss | seed | {SET_FIGURE_HEADER} |", "| --- | --- | --- |" + " --- |" * 7]
    scored = sorted((r for r in results if r["final"].get("precision") is not None),
                    key=lambda r: (*row_order(r["dataset"], r["conditional"], r["loss"]),
                                   r["seed"]))
    for key in dict.fromkeys((r["dataset"], r["conditional"]) for r in scored):
        runs = [r for r in scored if (r["dataset"], r["conditional"]) == key]
        for r in runs:
            rows.append(f"| {data_label(*key)} | {r['loss']} | {r['seed']} |"
                        f" {set_figure_cells(r['final'])} |")
        real = real_reference(runs)
        if real:
            rows.append(f"| {data_label(*key)} | real images (train vs test) | |"
                        f" {set_figure_cells(real)} |")
    return "\n".join(rows)


def per_seed_table(results):
    """Every run's own figures: the FD curve (stage scores, the last of 10,000
    samples) and the final scores."""
    rows = ["| data | loss | seed | Frechet distance along the stages | label accuracy |"
            " classifier score | ms / iteration |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(results, key=lambda r: (*row_order(r["dataset"], r["conditional"],
                                                       r["loss"]), r["seed"])):
        curve = " / ".join(f"{p['frechet_distance']:.0f}" for p in r["curve"]
                           if p["frechet_distance"] is not None)
        final = r["final"]
        accuracy = "—" if final["label_accuracy"] is None else f"{final['label_accuracy']:.2%}"
        score = "—" if final["classifier_score"] is None else f"{final['classifier_score']:.2f}"
        ms = f"{r['ms_per_iteration']:.0f}" if r.get("ms_per_iteration") else "—"
        diverged = f" (diverged at {r['diverged_at']})" if r.get("diverged_at") else ""
        rows.append(f"| {data_label(r['dataset'], r['conditional'])} | {r['loss']}{diverged} |"
                    f" {r['seed']} | {curve} | {accuracy} | {score} | {ms} |")
    return "\n".join(rows)


def real_reference(runs):
    """The classifier's figures for real training images against the test split,
    as the runs' last metrics files give them (the floor of each column)."""
    for r in runs:
        if not r.get("grid"):
            continue
        samples = os.path.dirname(r["grid"])
        for name in ("metrics.json", "generated_10000_metrics.json"):
            path = os.path.join(samples, name)
            if os.path.exists(path):
                with open(path) as f:
                    real = json.load(f).get("real")
                if real and real["num_images"] == 10000:  # not a stage's quick score
                    return real
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    parser.add_argument("--unconditional", action="store_true")
    parser.add_argument("--losses", nargs="+", default=list(LOSS_RUNS), choices=list(LOSS_RUNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--stages", type=int, default=5)
    parser.add_argument("--curve_samples", type=int, default=2000)
    parser.add_argument("--runs", default=os.path.join(os.path.dirname(REPO), "runs", "objectives"))
    parser.add_argument("--data_dir", default=SHARED_DATA)
    parser.add_argument("--classifier_cache", default=os.path.expanduser("~/.cache/dcgan-tf"))
    parser.add_argument("--train_size", type=int, default=None,
                        help="images per epoch (a quick look); default: all")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only write the table and figure")
    parser.add_argument("--rescore", action="store_true",
                        help="score runs again that the results already hold at their end")
    parser.add_argument("--subprocess", action="store_true",
                        help="run each main.py call as its own process (same numbers, slower)")
    args = parser.parse_args()
    if args.subprocess:
        RUN_MAIN[0] = main_py
    results = json.load(open(args.results)) if os.path.exists(args.results) else []
    if not args.report:
        from dcgan_tf import data  # noqa: PLC0415
        directory = data.idx_dataset_dir(args.data_dir, args.dataset)
        count = len(data.load_idx_split(directory, "train")[0])
        if not args.unconditional:  # carpedm20's MNIST model merges both splits
            images, _ = data.load_idx_dataset(directory)
            count = len(images)
        per_epoch = min(count, args.train_size or count) // 64
        last = max(1, round(args.iterations / per_epoch)) * per_epoch
        for seed in args.seeds:
            for loss in args.losses:
                key = (loss, seed, args.dataset, not args.unconditional)
                if not args.rescore and any(finished(r, key, last) for r in results):
                    print(loss, seed, "already scored at its end: skipped (--rescore redoes it)")
                    continue
                result = run(loss, seed, args, per_epoch)
                # Read again: another invocation (other seeds, run alongside) may have written.
                results = json.load(open(args.results)) if os.path.exists(args.results) else []
                results = [r for r in results if (r["loss"], r["seed"], r["dataset"],
                                                  r["conditional"]) != key] + [result]
                with open(args.results, "w") as f:
                    json.dump(results, f, indent=1)
                print(loss, seed, result["final"], flush=True)
    RESULTS_FILE[0] = args.results
    table, figures = report(results)
    print(table)
    print()
    print(per_seed_table(results))
    if any(r["final"].get("precision") is not None for r in results):
        print()
        print(set_figures_table(results))
    print("figures:", *figures)


if __name__ == "__main__":
    main()
