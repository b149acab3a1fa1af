"""When the GAN collapses, measured (issue 32): carpedm20's conditional DCGAN
trained with each stabilizer alone, with --stabilized, and with --stabilized
--diffaugment, beside the faithful recipe, for the same iterations, several
seeds, on MNIST and Fashion-MNIST, on all the data and on a few thousand
images (--train_size, where D memorises); each run scored by main.py's
--evaluate (10,000 samples: label accuracy, Frechet distance, precision,
recall, density, coverage, KID), with its time per iteration.

    python bench/stabilizers.py --dataset fashion_mnist --iterations 2000 --seeds 1 2 3
    python bench/stabilizers.py --dataset fashion_mnist --train_size 2000 \\
        --variants faithful diffaugment stabilized stabilized_diffaugment --seeds 1 2 3
    python bench/stabilizers.py --losses lsgan wgan wgan_gp --variants faithful stabilized_parts
    python bench/stabilizers.py --dataset mnist --model gan --iterations 10295 \\
        --variants faithful stabilized_parts
    python bench/stabilizers.py --report

Each variant is a list of main.py's flags (VARIANTS); the design choices
behind the stabilizers' defaults are variants too (DESIGN: D's batch norms kept
under spectral norm, G's average of batch-norm statistics instead of copies),
made by composing the system with that one choice changed (this process runs
main.py's code: benchlib.main_in_process). Results go to --results
(bench/stabilizers_results.json); the runs stay in --runs, and a rerun skips
what the results hold. Run from a copy of the repository if you go on
editing (autograph and the in-process runs read its source).
"""

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time

import numpy as np

from benchlib import (FAMILY_MODELS, REPO, SET_FIGURE_HEADER, SET_FIGURES, SHARED_DATA,
                      checkpoint_iteration, iteration_seconds, latest_grid, machine, main_config,
                      main_in_process, ms_per_iteration, set_figure_cells, side_by_side,
                      write_between_markers)

sys.path.insert(0, REPO)
RESULTS = os.path.join(REPO, "bench", "stabilizers_results.json")
POLICY = "color,translation,cutout"
VARIANTS = {
    "faithful": [],
    "spectral_norm": ["--spectral_norm"],
    "ema": ["--ema_decay", "0.999"],
    "diffaugment": ["--diffaugment", POLICY],
    "r1": ["--r1_gamma", "1"],
    "ttur": ["--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    "g_updates_1": ["--g_updates", "1"],
    "hinge": ["--loss", "hinge"],
    "stabilized": ["--stabilized"],
    "stabilized_diffaugment": ["--stabilized", "--diffaugment", POLICY],
    # Gentler policies for 28x28 images (cutout blanks a quarter of the image).
    "stabilized_translation": ["--stabilized", "--diffaugment", "translation"],
    "stabilized_translation_cutout": ["--stabilized", "--diffaugment", "translation,cutout"],
    # --stabilized's parts as flags (for --losses: with each loss given).
    "stabilized_parts": ["--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    # The pilots' first --stabilized (SNGAN's and StudioGAN's parts, the two time
    # scales, one G update), and it with carpedm20's two G updates.
    "sn_hinge_ema_ttur_g1": ["--spectral_norm", "--loss", "hinge", "--ema_decay", "0.999",
                             "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001",
                             "--g_updates", "1"],
    "sn_hinge_ema_ttur": ["--spectral_norm", "--loss", "hinge", "--ema_decay", "0.999",
                          "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    # The two time scales with one other part: which part helps, which hurts.
    "ttur_spectral_norm": ["--spectral_norm", "--d_learning_rate", "0.0004",
                           "--g_learning_rate", "0.0001"],
    "ttur_ema": ["--ema_decay", "0.999", "--d_learning_rate", "0.0004",
                 "--g_learning_rate", "0.0001"],
    "ttur_r1": ["--r1_gamma", "1", "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    # The Wasserstein losses' five D updates per G turn, with the two time scales
    # instead (Heusel et al.: the rule replaces D's extra updates).
    "ttur_n_critic_1": ["--n_critic", "1", "--d_learning_rate", "0.0004",
                        "--g_learning_rate", "0.0001"],
    "ttur_r1_ema": ["--r1_gamma", "1", "--ema_decay", "0.999", "--d_learning_rate", "0.0004",
                    "--g_learning_rate", "0.0001"],
    "ttur_r10_ema": ["--r1_gamma", "10", "--ema_decay", "0.999", "--d_learning_rate", "0.0004",
                     "--g_learning_rate", "0.0001"],
    "sn_ttur_r10_ema": ["--spectral_norm", "--r1_gamma", "10", "--ema_decay", "0.999",
                        "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    "ttur_diffaugment": ["--diffaugment", POLICY, "--d_learning_rate", "0.0004",
                         "--g_learning_rate", "0.0001"],
    # The Wasserstein losses' G turns: one D update per turn (no two time scales),
    # G twice a turn (carpedm20's schedule), G's average.
    "n_critic_1": ["--n_critic", "1"],
    "n_critic_1_g_updates_2": ["--n_critic", "1", "--g_updates", "2"],
    "ttur_n_critic_1_g_updates_2": ["--n_critic", "1", "--g_updates", "2",
                                    "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    "n_critic_1_g_updates_2_ema": ["--n_critic", "1", "--g_updates", "2", "--ema_decay", "0.999"],
    "ttur_n_critic_1_ema": ["--n_critic", "1", "--ema_decay", "0.999",
                            "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    # The MLP gan: R1 and G's average without the two time scales, or with G twice.
    "r10_ema": ["--r1_gamma", "10", "--ema_decay", "0.999"],
    "ttur_r10_ema_g_updates_2": ["--r1_gamma", "10", "--ema_decay", "0.999", "--g_updates", "2",
                                 "--d_learning_rate", "0.0004", "--g_learning_rate", "0.0001"],
    # The MLP gan: a stronger R1 (its D has no normalization of its own).
    "ttur_r30_ema": ["--r1_gamma", "30", "--ema_decay", "0.999", "--d_learning_rate", "0.0004",
                     "--g_learning_rate", "0.0001"],
    "ttur_r100_ema": ["--r1_gamma", "100", "--ema_decay", "0.999", "--d_learning_rate", "0.0004",
                      "--g_learning_rate", "0.0001"],
    # WGAN: spectral norm as the critic's Lipschitz bound (clipping stays, at
    # --clip_value; on normalized weights it only bounds their shape).
    "spectral_norm_n_critic_1": ["--spectral_norm", "--n_critic", "1"],
    # Small data: a D twice as wide (carpedm20's conditional D has 11 and 74
    # filters) that can memorise, with and without DiffAugment.
    "stabilized_wide_d": ["--stabilized", "--df_dim", "128"],
    "stabilized_wide_d_translation": ["--stabilized", "--df_dim", "128", "--diffaugment",
                                      "translation"],
    # Design choices behind --stabilized (DESIGN below).
    "spectral_norm_with_batch_norm": ["--spectral_norm"],
    "ema_averaged_statistics": ["--ema_decay", "0.999"],
}


@contextlib.contextmanager
def design_choice(variant):
    """The one choice a DESIGN variant changes, for the runs of this process:
    spectral norm keeping D's batch norms; G's average averaging batch-norm
    statistics instead of copying them."""
    from dcgan_tf import systems  # noqa: PLC0415

    original = systems.compose

    def keeping_batch_norm(model, loss, options):
        system = original(model, loss, options)
        return dataclasses.replace(system, critic_norm=systems._recipe(model, loss).critic_norm)

    def averaging_statistics(model, loss, options):
        system = original(model, loss, options)
        return dataclasses.replace(system, averaging=dataclasses.replace(
            system.averaging, statistics="averaged"))

    patched = {"spectral_norm_with_batch_norm": keeping_batch_norm,
               "ema_averaged_statistics": averaging_statistics}.get(variant)
    if patched:
        systems.compose = patched
    try:
        yield
    finally:
        systems.compose = original


def epochs_of(args):
    """The whole epochs nearest --iterations (at least one)."""
    return max(1, round(args.iterations / args.per_epoch))


def run(variant, loss, seed, args):
    """Trains one run to --iterations (resuming what is there), then scores it."""
    size = f"_n{args.train_size}" if args.train_size else ""
    model = f"_{args.model}" if args.model else ""
    name = f"{args.dataset}{size}{model}_{loss or 'own'}_{variant}_seed{seed}"
    networks = (["--model", args.model] if args.model
                else ["--input_height=28", "--output_height=28"])
    flags = ["--dataset", args.dataset, "--data_dir", args.data_dir, *networks,
             "--seed", str(seed), "--out_dir", args.runs, "--out_name",
             name, "--batch_size", "64", *VARIANTS[variant]]
    if loss:
        flags += ["--loss", loss]
    if args.train_size:
        flags += ["--train_size", str(args.train_size)]
    os.makedirs(args.runs, exist_ok=True)
    log_path = os.path.join(args.runs, f"{name}.log")
    epochs = epochs_of(args)
    diverged = None
    with design_choice(variant):
        try:
            main_in_process(*flags, "--train", "--epoch", str(epochs), "--ckpt_freq", "500",
                            "--sample_freq", "500", log_path=log_path)
        except RuntimeError as error:  # a run that became NaN is a result: score what is kept
            if "became" not in str(error) and "NaN or inf" not in str(error):
                raise
            diverged = str(error).splitlines()[0][-300:]
        scores = {"iteration": checkpoint_iteration(args.runs, name)}
        if scores["iteration"]:
            main_in_process(*flags, "--evaluate", "--metrics_samples", "10000",
                            "--classifier_cache", args.classifier_cache, log_path=log_path)
            with open(os.path.join(args.runs, name, "samples", "metrics.json")) as f:
                metrics = json.load(f)
            scores.update({key: metrics.get(key) for key in
                           ("label_accuracy", "classifier_score", "frechet_distance",
                            *SET_FIGURES)})
            scores["real"] = {key: metrics["real"].get(key) for key in
                              ("label_accuracy", "frechet_distance", *SET_FIGURES)}
    with open(log_path) as f:
        seconds = iteration_seconds(f.read())
    return {"dataset": args.dataset, "train_size": args.train_size, "model": args.model or None,
            "loss": loss, "variant": variant, "seed": seed,
            "iterations": epochs * args.per_epoch,
            "machine": machine(),
            "ms_per_iteration": ms_per_iteration(seconds), "diverged": diverged,
            "grid": latest_grid(os.path.join(args.runs, name, "samples")), "final": scores}


def costs(variants, rounds, block):
    """Each variant's time per iteration against the faithful recipe's, side by
    side in this process: carpedm20's conditional MNIST DCGAN (batch 64) built
    once per variant, blocks of `block` iterations in turn, round after round,
    on the same batches; each block's median. Returns {variant: [ms per round]}."""
    import tempfile  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    from dcgan_tf import networks, systems, training  # noqa: PLC0415
    from dcgan_tf.commands import train  # noqa: PLC0415

    rng = np.random.default_rng(0)
    reals = tf.constant(rng.uniform(0, 1, (block, 1, 64, 28, 28, 1)).astype(np.float32))
    ys = tf.constant(np.eye(10, dtype=np.float32)[rng.integers(0, 10, (block, 1, 64))])
    steps, times = {}, {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as logs:
        for variant in variants:
            config = main_config("--dataset", "mnist", "--input_height=28",
                                 "--output_height=28", "--batch_size", "64", "--seed", "1",
                                 "--train", *VARIANTS[variant])
            with design_choice(variant):
                system = systems.compose(config.model, config.loss, config)
            model_config = networks.KINDS[system.networks].config_of(
                config, 1, 10, system.critic_norm)
            gan = train.make_gan(config, system, model_config)
            writer = tf.summary.create_file_writer(os.path.join(logs, variant))
            steps[variant] = training.LoggedSteps(gan, writer, (0, 1), False)
            for i in range(2):  # traced and warm
                float(steps[variant](reals[i], ys[i])["d_loss"][0])
        for _ in range(rounds):
            for variant in variants:
                seconds = []
                for i in range(block):
                    started = time.perf_counter()
                    float(steps[variant](reals[i], ys[i])["d_loss"][0])
                    seconds.append(time.perf_counter() - started)
                times[variant].append(1000 * float(np.median(seconds)))
    return times


def costs_table(times):
    faithful = times["faithful"]
    rows = ["| variant | ms / iteration (median of rounds) | x faithful | per round |",
            "| --- | --- | --- | --- |"]
    for variant, ms in times.items():
        ratios = [a / b for a, b in zip(ms, faithful)]
        rows.append(f"| {variant} | {np.median(ms):.0f} | **{np.median(ratios):.2f}** |"
                    f" {', '.join(f'{r:.2f}' for r in ratios)} |")
    return "\n".join(rows)


def key_of(result):
    return (result["dataset"], result["train_size"], result.get("model"), result["loss"],
            result["variant"], result["seed"], result["iterations"])


def group_of(result):
    """The runs one table compares: data, size, networks, loss and budget."""
    return (result["dataset"], result["train_size"] or 0, result.get("model") or "",
            result["loss"] or "", result["iterations"])


def _longer_budget(group, groups):
    """'' for a table's first budget, else its iterations (a name's suffix)."""
    shortest = min(g[4] for g in groups if g[:4] == group[:4])
    return "" if group[4] == shortest else f"_{group[4]}it"


def _mean(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    spread = f" ({fmt.format(min(values))}-{fmt.format(max(values))})" if len(values) > 1 else ""
    return fmt.format(np.mean(values)) + spread


def report(results):
    """A table per data set and size: each variant's means over seeds (range),
    time per iteration against the faithful recipe's; and every run's figures."""
    lines = []
    groups = {}
    for r in results:
        groups.setdefault(group_of(r), {}).setdefault(r["variant"], []).append(r)
    for (dataset, size, model, loss, iterations), variants in sorted(groups.items()):
        faithful = [r["ms_per_iteration"] for r in variants.get("faithful", [])
                    if r.get("ms_per_iteration")]
        networks = f"--model {model}" if model else "carpedm20's DCGAN"
        lines += [f"#### {dataset}, {size or 'all'} images, {networks},"
                  f" --loss {loss or '(its own)'}, {iterations:,} iterations", "",
                  "| variant | seeds | iterations | label accuracy | Frechet distance |"
                  " precision | recall | density | coverage | KID | ms / iteration (x faithful)"
                  " |", "| --- |" + " --- |" * 10]
        for variant in VARIANTS:
            runs = variants.get(variant)
            if not runs:
                continue
            final = [r["final"] for r in runs]
            times = [r["ms_per_iteration"] for r in runs if r.get("ms_per_iteration")]
            ratio = (f" (x{np.mean(times) / np.mean(faithful):.2f})" if times and faithful
                     else "")
            diverged = sum(1 for r in runs if r.get("diverged"))
            lines.append(
                f"| {variant}{f' ({diverged} diverged)' if diverged else ''} | {len(runs)} |"
                f" {runs[0]['iterations']} |"
                f" {_mean([f.get('label_accuracy') for f in final], '{:.1%}')} |"
                f" {_mean([f.get('frechet_distance') for f in final], '{:.1f}')} |"
                + "".join(f" {_mean([f.get(k) for f in final], '{:.3f}')} |"
                          for k in ("precision", "recall", "density", "coverage"))
                + f" {_mean([f.get('kid') for f in final], '{:,.0f}')} |"
                f" {f'{np.mean(times):.0f}' if times else '—'}{ratio} |")
        real = next((r["final"]["real"] for runs in variants.values() for r in runs
                     if r["final"].get("real")), None)
        if real:
            lines.append(f"| real images (train vs test) | | |"
                         f" {_mean([real.get('label_accuracy')], '{:.1%}')} |"
                         f" {_mean([real.get('frechet_distance')], '{:.1f}')} |"
                         + "".join(f" {_mean([real.get(k)], '{:.3f}')} |"
                                   for k in ("precision", "recall", "density", "coverage"))
                         + f" {_mean([real.get('kid')], '{:,.0f}')} | |")
        lines.append("")
    lines += ["| data | images | model | loss | variant | seed | " + SET_FIGURE_HEADER + " |",
              "| --- | --- | --- | --- | --- | --- |" + " --- |" * 7]
    for r in sorted(results, key=lambda r: (*group_of(r), list(VARIANTS).index(r["variant"]),
                                            r["seed"])):
        lines.append(f"| {r['dataset']} | {r['train_size'] or 'all'} |"
                     f" {r.get('model') or 'DCGAN'} | {r['loss'] or '—'} |"
                     f" {r['variant']} | {r['seed']} | {set_figure_cells(r['final'])} |")
    return "\n".join(lines)


def pictures(results, path):
    """The first seed's last sample grid of each variant, side by side, per table
    (data set, size, networks, loss and budget)."""
    written = []
    groups = {group_of(r) for r in results}
    for group in sorted(groups):
        dataset, size, model, loss, _ = group
        chosen = {}
        for r in sorted(results, key=lambda r: -r["seed"]):
            if group_of(r) == group and r.get("grid") and os.path.exists(r["grid"]):
                chosen[r["variant"]] = r
        if chosen:
            target = f"{path}_{dataset}_{size or 'all'}{f'_{model}' if model else ''}" \
                     f"_{loss or 'own'}{_longer_budget(group, groups)}.png"
            side_by_side([(v, chosen[v]["grid"]) for v in VARIANTS if v in chosen], target,
                         columns=4)
            written.append(target)
    return written


# The README's picture: (data set, images) -> the rows, each (variant, its label).
SEEDS_PICTURES = {("fashion_mnist", None): (("faithful", "faithful"), ("ttur", "--stabilized"))}


def seeds_pictures(results, path):
    """Per SEEDS_PICTURES entry measured: each row's variant's last grid for
    every seed, seed by seed, a row per variant (carpedm20's networks)."""
    written = []
    for (dataset, size), rows in SEEDS_PICTURES.items():
        chosen = {(r["variant"], r["seed"]): r["grid"] for r in results
                  if group_of(r)[:4] == (dataset, size or 0, "", "") and r.get("grid")
                  and os.path.exists(r["grid"])}
        seeds = sorted({seed for (variant, seed) in chosen if variant == rows[0][0]})
        if not seeds or any((variant, seed) not in chosen for variant, _ in rows
                            for seed in seeds):
            continue
        target = f"{path}_{dataset}_{size or 'all'}_seeds.png"
        side_by_side([(f"{label}, seed {seed}", chosen[(variant, seed)])
                      for variant, label in rows for seed in seeds], target,
                     columns=len(seeds))
        written.append(target)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=("mnist", "fashion_mnist"))
    parser.add_argument("--variants", nargs="+", default=["faithful", "spectral_norm", "ema",
                                                          "diffaugment", "r1", "ttur",
                                                          "g_updates_1", "stabilized",
                                                          "stabilized_diffaugment"],
                        choices=list(VARIANTS))
    parser.add_argument("--model", default="", choices=("", *FAMILY_MODELS),
                        help="a family model's networks (default: carpedm20's DCGAN)")
    parser.add_argument("--losses", nargs="+", default=[""],
                        help="--loss of each run (empty: the model's own)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--train_size", type=int, default=None,
                        help="a few thousand images, where D memorises; default: all")
    parser.add_argument("--runs", default=os.path.join(os.path.dirname(REPO), "runs",
                                                       "stabilizers"))
    parser.add_argument("--data_dir", default=SHARED_DATA)
    parser.add_argument("--classifier_cache", default=os.path.expanduser("~/.cache/dcgan-tf"))
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only write the tables and pictures")
    parser.add_argument("--write_results", action="store_true",
                        help="the tables into bench/RESULTS.md, between <!-- stabilizers --> marks")
    parser.add_argument("--costs", action="store_true",
                        help="only time each of --variants against faithful, side by side")
    parser.add_argument("--rounds", type=int, default=5, help="--costs: rounds of blocks")
    parser.add_argument("--block", type=int, default=10, help="--costs: iterations a block")
    args = parser.parse_args()
    if args.costs:
        variants = ["faithful"] + [v for v in args.variants if v != "faithful"]
        print(f"{machine()}; python bench/stabilizers.py {' '.join(sys.argv[1:])}")
        print(costs_table(costs(variants, args.rounds, args.block)))
        return

    def load():
        return json.load(open(args.results)) if os.path.exists(args.results) else []

    results = load()
    if not args.report:
        from dcgan_tf import data  # noqa: PLC0415
        directory = data.idx_dataset_dir(args.data_dir, args.dataset)
        if args.model:  # the scripts' training split, the last batch kept
            count = len(data.load_idx_split(directory, "train")[0])
            args.per_epoch = -(-min(count, args.train_size or count) // 64)
        else:  # the original's both splits, the last partial batch left out
            count = len(data.load_idx_dataset(directory)[0])
            args.per_epoch = min(count, args.train_size or count) // 64
        for seed in args.seeds:
            for loss in args.losses:
                for variant in args.variants:
                    key = (args.dataset, args.train_size, args.model or None, loss, variant,
                           seed, epochs_of(args) * args.per_epoch)
                    if any(key_of(r) == key for r in results):
                        print(*key, "already measured: skipped", flush=True)
                        continue
                    result = run(variant, loss, seed, args)
                    results = [r for r in load() if key_of(r) != key] + [result]
                    with open(args.results, "w") as f:
                        json.dump(results, f, indent=1)
                    print(*key, result["final"].get("frechet_distance"), flush=True)
    text = report(results)
    print(text)
    if args.write_results:
        write_between_markers("stabilizers", text)
    stem = os.path.splitext(args.results)[0]
    print("pictures:", *pictures(results, stem), *seeds_pictures(results, stem))


if __name__ == "__main__":
    main()
