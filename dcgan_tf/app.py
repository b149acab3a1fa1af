"""What main.py runs, from one validated Config: train mode, or test mode's
actions on a trained run in a fixed order; and the exit statuses."""

import os
import sys

import tensorflow as tf

from dcgan_tf import files
from dcgan_tf import interrupts
from dcgan_tf import metrics
from dcgan_tf import training
from dcgan_tf.commands import compare
from dcgan_tf.commands import evaluate
from dcgan_tf.commands import experiments
from dcgan_tf.commands import sample
from dcgan_tf.commands import train


def test(config, log=print):
    """Test mode: restores the run's generator and writes a sample grid; then, as
    asked, exports, visualizes, generates, scores, compares, probes D's features and
    looks for memorisation. Returns the grid."""
    if config.reads_classifier_cache:
        # Where the metrics' networks are cached: a file there is found now,
        # not after the minutes a classifier takes to train (a folder that
        # cannot be written is, before that training: reading needs no writing).
        files.check_can_make_folder(config.classifier_cache or metrics.DEFAULT_CACHE_DIR,
                                    "--classifier_cache", writable=False)
    if config.evaluate_npz:
        return evaluate.evaluate_npz(config, log)
    run = sample.load_run(config, log)
    config, model_config, paths = run.config, run.model_config, run.paths
    sample.check_actions_apply(config, model_config)
    experiments.check_applies(config, run, log)
    if config.evaluate or config.compare_with:
        evaluate.check_can_score(config, log)
    original = compare.original_of(config, model_config) if config.compare_with else None
    # Plain Python over Python values: nothing for autograph to convert (its
    # conversion of the networks was most of test mode's first trace:
    # bench/RESULTS.md, "The suite's time", 2026-12-08).
    sampler = tf.function(lambda z, y: run.generator(z, y, training=False), autograph=False)
    sample.export_sampler(config, run, log)
    path = sample.write_grid(config, sampler, run)
    log(f" [*] Wrote {path}")
    if config.visualize:
        sample.run_visualizations(config, sampler, run, log)
    if config.generate:
        sample.write_generated(config, sampler, run, log)
    if config.evaluate:
        evaluate.write_results({**evaluate.score(config, sampler, model_config, log),
                                "source": run.provenance()},
                               os.path.join(paths.sample_dir, "metrics.json"), log)
    if config.compare_with:
        compare.compare_with_original(config, sampler, run, original, log)
    if config.linear_probe:
        experiments.linear_probe(config, run, log)
    if config.nearest_neighbours:
        experiments.nearest_neighbours(config, run, sampler, log)
    return path


def obeying_the_run(config, typed, log=print):
    """`config` with the recorded values of the run it names (resume, test mode)
    for every flag not typed (run_record); as it is where there is no run yet."""
    if config.evaluate_npz:
        return config
    if config.train:
        return train.obeying_the_run(config, typed, log)
    return sample.obeying_the_run(config, typed, log)


def run(config, log=print, typed=None):
    """Runs train or test mode; failures the user can fix end the process with
    their message and status 1 (no traceback); a SIGINT / SIGTERM ends it with
    128 + the signal's number: during training after a checkpoint, in test mode
    at once, the files it was writing removed (a scheduler's SIGTERM once
    killed test mode without a word, leaving them).
    `typed`: the flags typed on the command line (main.py's), which a run that
    exists leaves as they are while its record gives the others; None: a
    Config made in code, taken as it is."""
    config.validate()
    try:
        if typed is not None:
            config = obeying_the_run(config, frozenset(typed), log)
        if config.train:
            return train.run(config, log)
        with interrupts.raised("test mode"):
            return test(config, log)
    except interrupts.Interrupted as interrupted:
        print(f" [*] {interrupted}", file=sys.stderr)
        raise SystemExit(128 + interrupted.signum) from interrupted
    except (ValueError, FileNotFoundError, training.NonFiniteLossError,
            files.OutputWriteError) as error:
        print(f"[!] {error}", file=sys.stderr)
        raise SystemExit(1) from error
    except PermissionError as error:  # e.g. test mode writing into a read-only samples folder
        print(f"[!] Cannot write {error.filename}: {error.strerror}. Make it writable, or pass"
              " another --sample_dir / --checkpoint_dir / --out_dir; nothing else was changed.",
              file=sys.stderr)
        raise SystemExit(1) from error
