"""Runs one of PyTorch-GAN's own scripts, unchanged, for a few iterations and
writes the time of each iteration of its training loop. Run by
bench/vs_pytorch.py with the Python of a venv that has torch and torchvision
(never the project's own environment):

    <venv>/bin/python bench/pytorch_gan_runner.py --script <PyTorch-GAN>/implementations/wgan/wgan.py \
        --mnist ../shared/data/mnist --iterations 100 --times out.json

What is timed is the script's loop body, batch to batch: the DataLoader the
script builds is wrapped so that its first `--iterations` batches are read and
transformed (resize, ToTensor, Normalize) once, before the loop starts; the
loop then gets them from memory and the clock reads at each `next`. So data
loading is out of their time (our side's tf.data pipeline runs inside ours,
prefetched on the same two cores: the comparison favours them). Everything
else the loop does each iteration is in: both updates, the `.item()` reads and
the print, the script's sample grid every `--sample_interval` batches.

The script finds MNIST where it looks for it (`../../data/mnist/MNIST/raw`,
relative to its working directory), in a temporary folder made from our IDX
files, so torchvision never downloads."""

import argparse
import gzip
import json
import os
import runpy
import shutil
import sys
import tempfile
import time

import torch
import torch.utils.data

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def mnist_where_the_script_looks(root, mnist):
    """Makes root/a/b (the script's working directory) and root/data/mnist/MNIST/raw
    with our IDX files uncompressed, as torchvision's MNIST reads them."""
    raw = os.path.join(root, "data", "mnist", "MNIST", "raw")
    os.makedirs(raw)
    for name in IDX_FILES:
        source = os.path.join(mnist, name + ".gz")
        with gzip.open(source) as packed, open(os.path.join(raw, name), "wb") as out:
            shutil.copyfileobj(packed, out)
    work = os.path.join(root, "a", "b")
    os.makedirs(work)
    return work


def timed_loader(iterations, stamps):
    """A stand-in for torch.utils.data.DataLoader that holds the real loader's
    first `iterations` batches and stamps the clock as each is taken."""
    real_loader = torch.utils.data.DataLoader

    class TimedLoader:
        def __init__(self, *args, **kwargs):
            loader = real_loader(*args, **kwargs)
            self.length = len(loader)
            self.batches = []
            for batch in loader:
                self.batches.append(batch)
                if len(self.batches) == iterations:
                    break

        def __len__(self):
            return self.length  # the log line's "[Batch i/len]", as the script prints it

        def __iter__(self):
            for batch in self.batches:
                stamps.append(time.perf_counter())
                yield batch
            stamps.append(time.perf_counter())

    return TimedLoader


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", required=True)
    parser.add_argument("--mnist", required=True, help="folder of MNIST's four IDX .gz files")
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--times", required=True, help="JSON file for the seconds per iteration")
    args, script_args = parser.parse_known_args()
    script, times_path = os.path.abspath(args.script), os.path.abspath(args.times)
    torch.set_num_threads(args.threads)
    stamps = []
    torch.utils.data.DataLoader = timed_loader(args.iterations, stamps)
    with tempfile.TemporaryDirectory() as root:
        os.chdir(mnist_where_the_script_looks(root, os.path.abspath(args.mnist)))
        sys.argv = [script, "--n_epochs", "1", *script_args]
        runpy.run_path(script, run_name="__main__")
    seconds = [b - a for a, b in zip(stamps, stamps[1:])]
    with open(times_path, "w") as out:
        json.dump({"seconds": seconds, "torch": torch.__version__,
                   "threads": torch.get_num_threads()}, out)


if __name__ == "__main__":
    main()
