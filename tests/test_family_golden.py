"""The family against golden runs of PyTorch-GAN's own scripts
(../shared/reference/pytorch-gan: read its README). Each test loads a script's
initial weights into our networks, replays its recorded batches and random
draws through our trainer, and compares every loss the script backpropagated
and every weight and batch-norm statistic it ended with.

Tolerances: float rounding (rtol 1e-5, atol 1e-6 against each tensor's scale),
except the biases that feed a batch norm directly: their gradient is zero up to
rounding, and Adam's g / (sqrt(v) + eps) turns that rounding into steps of up
to the learning rate, so they are held to lr x G's updates (named below).
"""

import json
import os

import numpy as np
import pytest

from conftest import SHARED_DIR, require_shared
from dcgan_tf import family_trainer
from dcgan_tf import systems
from dcgan_tf.networks import pytorch_gan
from dcgan_tf.networks import torch_layers

GOLDEN_DIR = os.path.join(SHARED_DIR, "reference", "pytorch-gan")
RTOL, ATOL = 1e-5, 1e-6
# Biases right before a BatchNorm over the same features (PyTorch state_dict names).
ZERO_GRADIENT_BIASES = {
    "gan": ("G/model.2.bias", "G/model.5.bias", "G/model.8.bias"),
    "cgan": ("G/model.2.bias", "G/model.5.bias", "G/model.8.bias"),
    "wgan": ("G/model.2.bias", "G/model.5.bias", "G/model.8.bias"),
    "wgan_gp": ("G/model.2.bias", "G/model.5.bias", "G/model.8.bias"),
    "acgan": ("G/conv_blocks.2.bias", "G/conv_blocks.6.bias"),
    "lsgan": ("G/conv_blocks.1.bias", "G/conv_blocks.5.bias"),
}


def golden(name):
    require_shared(GOLDEN_DIR)
    with open(os.path.join(GOLDEN_DIR, "golden.json")) as f:
        record = json.load(f)["systems"][name]
    inputs = np.load(os.path.join(GOLDEN_DIR, f"{name}_inputs.npz"))
    final = np.load(os.path.join(GOLDEN_DIR, f"{name}_final.npz"))
    return record, inputs, final


def state(npz, prefix):
    return {key[len(prefix):]: npz[key] for key in npz.files if key.startswith(prefix)}


def trainer_for(name, record):
    options = record["options"]
    system = systems.SYSTEMS[name]
    config = pytorch_gan.FamilyModelConfig(
        name, options["img_size"], options["channels"], options["latent_dim"],
        options.get("n_classes", 0) if system.conditional else 0)
    trainer = family_trainer.FamilyTrainer(
        config, options["lr"], options.get("b1", 0.5), options.get("b2", 0.999),
        options["batch_size"], seed=0, n_critic=options.get("n_critic"),
        clip_value=options.get("clip_value"), sample_interval=options["sample_interval"])
    trainer.set_dropout(False)  # the golden runs made dropout an identity
    return trainer


def replay(name):
    """Runs the golden iterations through our trainer; returns (our losses in
    backward() order, our final state as {'G/<key>': array, 'D/<key>': array})."""
    record, inputs, _ = golden(name)
    trainer = trainer_for(name, record)
    torch_layers.load_torch_state(trainer.generator, state(inputs, "init/G/"))
    torch_layers.load_torch_state(trainer.discriminator, state(inputs, "init/D/"))
    batch = record["options"]["batch_size"]
    classes = trainer.model_config.n_classes
    images = np.transpose(inputs["batches/images"], (0, 2, 3, 1))  # NCHW -> NHWC
    labels = inputs["batches/labels"]
    draws = [(key.split("_", 1)[1], inputs[key]) for key in sorted(inputs.files)
             if key.startswith("draws/")]
    losses = []
    for i in range(record["iterations"]):
        rows = slice(batch * i, batch * (i + 1))
        y = np.eye(classes, dtype=np.float32)[labels[rows]] if classes else None
        z = draws.pop(0)[1].astype(np.float32)
        fake_labels = alpha = None
        if classes:
            fake_labels = np.eye(classes, dtype=np.float32)[draws.pop(0)[1]]
        if trainer.system.has_penalty:
            alpha = draws.pop(0)[1].astype(np.float32)
        result = trainer.step_with_draws(images[rows], y, z, fake_labels, alpha, i)
        if trainer.schedule.generator_first:
            losses += [float(result["g_loss"]), float(result["d_loss"])]
        else:
            losses.append(float(result["d_loss"]))
            if i % trainer.schedule.n_critic == 0:
                losses.append(float(result["g_loss"]))
        if trainer.system.samples_in_training_mode and i % record["options"][
                "sample_interval"] == 0:
            kind, sample_z = draws.pop(0)  # the script's sample_image draw, 10 x 10 noise
            assert kind == "normal" and sample_z.shape == (100, trainer.model_config.z_dim)
            trainer.script_sample_pass(sample_z.astype(np.float32))
    assert draws == []  # every recorded draw was used, in order
    ours = {f"G/{k}": v for k, v in torch_layers.to_torch_state(trainer.generator).items()}
    ours.update({f"D/{k}": v for k, v in torch_layers.to_torch_state(trainer.discriminator).items()})
    return np.array(losses), ours, trainer


@pytest.mark.parametrize("name", list(systems.SYSTEMS))
def test_family_model_reproduces_its_script(name):
    record, _, final = golden(name)
    losses, ours, trainer = replay(name)
    assert len(losses) == record["losses_backpropagated"]
    np.testing.assert_allclose(losses, final["losses"], rtol=RTOL, atol=ATOL)
    theirs = state(final, "final/")
    assert sorted(ours) == sorted(theirs)
    g_updates = sum(1 for i in range(record["iterations"]) if i % trainer.schedule.n_critic == 0)
    bias_bound = record["options"]["lr"] * g_updates
    worst = {}
    for key, expected in theirs.items():
        gap = np.abs(ours[key].astype(np.float64) - expected)
        scale = max(1.0, float(np.abs(expected).max()))
        worst[key] = float(gap.max()) / scale
        bound = bias_bound if key in ZERO_GRADIENT_BIASES[name] else RTOL
        if "num_batches_tracked" in key:
            bound = 0.0
        assert gap.max() <= bound * scale + (0 if bound == 0.0 else ATOL), (key, gap.max(), bound)
    others = {k: v for k, v in worst.items() if k not in ZERO_GRADIENT_BIASES[name]}
    largest = max(others, key=others.get)
    print(f"{name}: largest loss difference {np.abs(losses - final['losses']).max():.3g};"
          f" largest tensor difference (relative to max(1, |value|)) {largest}"
          f" {others[largest]:.3g}; batch-normed biases up to"
          f" {max(worst[k] for k in ZERO_GRADIENT_BIASES[name]):.3g}")
