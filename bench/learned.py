"""What DCGAN learned, measured (issue 22): the DCGAN paper's experiments on runs
trained here. Trains (or resumes) each run, then runs main.py's test-mode
experiments on it: --linear_probe (10 / 100 / 1,000 labels per class),
--nearest_neighbours, and the walk, arithmetic and guided-backpropagation
pictures; collects the figures into bench/learned_results.json.

    python bench/learned.py --runs ~/runs_learned            # train what is missing, measure
    python bench/learned.py --runs ~/runs_learned --report   # the tables, from the results

The runs: carpedm20's unconditional DCGAN (the 64x64 model's family, at 28x28)
on MNIST's and Fashion-MNIST's training images written out as PNG folders (an
unconditional D: a conditional one reads the label the probe asks for), and
the family's wgan_gp (MLP critic) and lsgan (conv D) on the IDX files; the
probe reads each data set's labelled training split and scores its test split,
which none of these runs trained on. Run from a copy of the repository if you
go on editing (main.py's calls run as separate processes).
"""

import argparse
import json
import os
import sys

from benchlib import REPO, SHARED_DATA, main_py

sys.path.insert(0, os.path.join(REPO, "bench"))
RESULTS = os.path.join(REPO, "bench", "learned_results.json")
PROBE_LABELS = "10,100,1000"
NEAREST = 2000


def runs(root):
    """{name: (data flags, training flags, probe data set)}."""
    folder = lambda name: ["--dataset", f"{name}_images", "--data_dir", root,  # noqa: E731
                           "--input_fname_pattern", "*.png", "--input_height", "28",
                           "--output_height", "28"]
    idx = lambda name: ["--dataset", name, "--data_dir", SHARED_DATA]  # noqa: E731
    return {
        "dcgan_mnist": (folder("mnist"), ["--epoch", "5"], "mnist"),
        # 5 epochs of 22,699 images drawn afresh from the 60,000 each epoch: the
        # MNIST run's 1,770 iterations.
        "dcgan_fashion": (folder("fashion_mnist"), ["--epoch", "5", "--train_size", "22699"],
                          "fashion_mnist"),
        "wgan_gp_mnist": (idx("mnist") + ["--model", "wgan_gp"], ["--epoch", "30"], "mnist"),
        "wgan_gp_fashion": (idx("fashion_mnist") + ["--model", "wgan_gp"], ["--epoch", "10"],
                            "fashion_mnist"),
        "lsgan_mnist": (idx("mnist") + ["--model", "lsgan"], ["--epoch", "5"], "mnist"),
    }


def measure(name, data_flags, training_flags, probe_dataset, root, probe_labels=PROBE_LABELS):
    from benchlib import export_image_folder  # noqa: PLC0415

    for dataset in ("mnist", "fashion_mnist"):
        if f"{dataset}_images" in data_flags:
            export_image_folder(dataset, SHARED_DATA, os.path.join(root, f"{dataset}_images"))
    # The probe reads the labelled IDX files from --data_dir, beside the folders
    # (fashion_mnist is also found in Debian's package folder).
    if not os.path.exists(os.path.join(root, "mnist")):
        os.symlink(os.path.join(SHARED_DATA, "mnist"), os.path.join(root, "mnist"))
    common = [*data_flags, "--seed", "1", "--out_dir", root, "--out_name", name]
    log = os.path.join(root, f"{name}.log")
    main_py(*common, *training_flags, "--train", log_path=log)
    samples = os.path.join(root, name, "samples")
    probe_data = ["--probe_dataset", probe_dataset] if "--model" not in data_flags else []
    main_py(*common, "--linear_probe", *probe_data, "--probe_labels", probe_labels,
            "--nearest_neighbours", str(NEAREST), log_path=log)
    if name.startswith("dcgan"):
        for option in ("walk", "arithmetic", "guided_backprop"):
            main_py(*common, "--visualize", "--visualize_option", option, log_path=log)
    with open(os.path.join(samples, "linear_probe.json")) as f:
        probe = json.load(f)
    with open(os.path.join(samples, "nearest_neighbours.json")) as f:
        nearest = json.load(f)
    return {"name": name, "flags": common + training_flags, "linear_probe": probe,
            "nearest_neighbours": nearest}


def report(results):
    """The probe table (accuracy per feature source and label count) and the
    memorisation verdicts, as Markdown."""
    lines = ["| run | probe data | features | dims | 10 / class | 100 / class | 1,000 / class |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for result in results:
        probe = result["linear_probe"]
        for source in probe["sources"]:
            cells = [f"{source['by_labels'][str(n)]['accuracy']:.1%}"
                     if str(n) in source["by_labels"] else "" for n in (10, 100, 1000)]
            lines.append(f"| {result['name']} | {probe['dataset']} | {source['name']} |"
                         f" {source['dims']} | " + " | ".join(cells) + " |")
    lines += ["", "| run | space | median NN distance: samples / unseen real | near copies |"
              " P(sample closer) | verdict |", "| --- | --- | --- | --- | --- | --- |"]
    for result in results:
        if not result.get("nearest_neighbours"):  # a run measured for the probe alone
            continue
        for space, verdict in result["nearest_neighbours"]["spaces"].items():
            lines.append(f"| {result['name']} | {space} | {verdict['samples']['q50']:.3g} /"
                         f" {verdict['unseen_real']['q50']:.3g} |"
                         f" {verdict['near_copy_share']:.1%} |"
                         f" {verdict['probability_sample_closer_than_unseen']:.2f} |"
                         f" {verdict['finding'].replace('_', ' ')} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=os.path.expanduser("~/runs_learned"))
    parser.add_argument("--only", nargs="*", help="run names (default: all)")
    parser.add_argument("--probe_labels", default=PROBE_LABELS,
                        help="labels per class the probe trains on (default %(default)s)")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--results", default=RESULTS)
    args = parser.parse_args()
    results = json.load(open(args.results)) if os.path.exists(args.results) else []
    if not args.report:
        os.makedirs(args.runs, exist_ok=True)
        for name, (data_flags, training_flags, probe) in runs(args.runs).items():
            if args.only and name not in args.only:
                continue
            result = measure(name, data_flags, training_flags, probe, args.runs, args.probe_labels)
            results = [r for r in results if r["name"] != name] + [result]
            with open(args.results, "w") as f:
                json.dump(results, f, indent=1)
            print(f"{name}: measured", flush=True)
    print(report(results))


if __name__ == "__main__":
    main()
