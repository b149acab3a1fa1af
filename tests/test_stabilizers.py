"""The stabilizers (issue 32), each against a reference computed another way:
spectral norm against the SVD and Miyato et al.'s power iteration written out,
G's average against its definition, DiffAugment against numbers the authors'
own code made (tests/data/diffaugment_golden.npz: bench/diffaugment_golden.py),
R1 against its gradient taken directly; then each as a part of systems
(flags, run names, records), trained, resumed exactly, sampled by test mode."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import fakes
import make
from conftest import cpu_only
from helpers import ALL_STABILIZERS, SMALLEST_FLAGS, TINY_MODEL, checkpoint_values
from dcgan_tf import checkpoints
from dcgan_tf import networks
from dcgan_tf import objectives
from dcgan_tf import systems
from dcgan_tf.networks import carpedm20
from dcgan_tf.networks import pytorch_gan
from dcgan_tf.networks import tf1_layers
from dcgan_tf.networks import torch_layers
from dcgan_tf.stabilizers import diffaugment
from dcgan_tf.stabilizers import ema
from dcgan_tf.stabilizers import spectral_norm

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                      "diffaugment_golden.npz")
CONDITIONAL = carpedm20.ModelConfig(28, 28, 1, y_dim=10, **TINY_MODEL)


def quiet(line):
    del line


# ----------------------------------------------------------------- spectral norm

def _numpy_power_step(matrix, u):
    """Miyato et al.'s Algorithm 1 in numpy, W_m = M^T: v = M u / |M u|,
    u = M^T v / |M^T v|, sigma = v^T M u."""
    v = matrix @ u
    v /= np.linalg.norm(v) + spectral_norm.EPSILON
    u = matrix.T @ v
    u /= np.linalg.norm(u) + spectral_norm.EPSILON
    return u, v, float(v @ matrix @ u)


@pytest.mark.parametrize("layer", [lambda: tf1_layers.Conv2D(3, 16, "conv"),
                                   lambda: tf1_layers.Linear(40, 7, "linear"),
                                   lambda: torch_layers.Conv2d(2, 8, 3, 2, 1, "c", "c"),
                                   lambda: torch_layers.Linear(30, 12, "l", "l")])
def test_the_singular_value_is_the_svds_and_each_step_the_papers(layer):
    tf.random.set_seed(1)
    layer = layer()
    weight = getattr(layer, spectral_norm.WEIGHTS[type(layer)])
    normalization = spectral_norm.SpectralNorm(weight)
    matrix = np.reshape(weight.numpy(), (-1, weight.shape[-1])).astype(np.float64)
    u = normalization.u.numpy().astype(np.float64)
    for _ in range(3):  # each step as the paper's, to float32 rounding
        normalization.power_iteration()
        u, v, sigma = _numpy_power_step(matrix, u)
        np.testing.assert_allclose(normalization.u.numpy(), u, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(normalization.v.numpy(), v, rtol=1e-4, atol=1e-6)
        assert float(normalization.sigma(weight)) == pytest.approx(sigma, rel=1e-5)
    for _ in range(500):
        normalization.power_iteration()
    largest = np.linalg.svd(matrix, compute_uv=False)[0]
    assert float(normalization.sigma(weight)) == pytest.approx(largest, rel=1e-3)
    # The weight the layer uses: W / sigma, whose largest singular value is 1.
    normalized = np.reshape(normalization(weight).numpy(), matrix.shape)
    assert np.linalg.svd(normalized, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("kind,config", [
    ("carpedm20", dataclasses.replace(CONDITIONAL, critic_norm="none", spectral_norm=True)),
    ("carpedm20", carpedm20.ModelConfig(16, 16, 3, critic_norm="none", spectral_norm=True,
                                        **TINY_MODEL)),
    ("mlp", pytorch_gan.FamilyModelConfig("gan", 28, 1, spectral_norm=True)),
    ("conditional_mlp", pytorch_gan.FamilyModelConfig("cgan", 32, 1, n_classes=10,
                                                      spectral_norm=True)),
    ("conditional_conv", pytorch_gan.FamilyModelConfig("acgan", 16, 1, n_classes=10,
                                                       spectral_norm=True)),
])
def test_every_dense_and_conv_layer_of_every_kinds_d_is_normalized(kind, config):
    generator, discriminator = networks.build(kind, config, 0, tf.random.Generator.from_seed(1),
                                              critic_norm="none")
    layers = [m for m in discriminator.submodules if type(m) in spectral_norm.WEIGHTS]
    assert layers and all(layer.spectral_norm is not None for layer in layers)
    assert not spectral_norm.of(generator)  # G keeps its weights as they are
    assert not networks.batch_norms(discriminator)  # spectral norm is D's normalization
    names = {v.name for v in discriminator.non_trainable_variables}
    assert {n.split("/spectral_norm/")[1] for n in names if "/spectral_norm/" in n} == {"u:0",
                                                                                       "v:0"}


def test_d_updates_move_u_and_v_once_and_inference_leaves_them():
    gan = make.gan(dataclasses.replace(CONDITIONAL, critic_norm="none", spectral_norm=True),
                   batch_size=8, spectral_norm=True)
    first = gan.spectral_norms[0]
    before = first.u.numpy().copy()
    images = tf.random.uniform((8, 28, 28, 1))
    y = tf.one_hot(tf.range(8), 10)
    gan.discriminator(images, y, training=False)
    np.testing.assert_array_equal(first.u.numpy(), before)  # a forward pass moves nothing
    matrix = np.reshape(first.weight.numpy(), (-1, first.weight.shape[-1])).astype(np.float64)
    expected, _, _ = _numpy_power_step(matrix, before.astype(np.float64))
    gan.train_step(images, y)  # carpedm20: one D update, two G updates
    np.testing.assert_allclose(first.u.numpy(), expected, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------- G's average

def test_the_average_follows_its_definition_with_its_warm_up():
    tf.random.set_seed(3)
    generator, _ = carpedm20.build_models(CONDITIONAL)
    tf.random.set_seed(3)
    averaged, _ = carpedm20.build_models(CONDITIONAL)
    average = ema.ExponentialMovingAverage(generator, averaged, decay=0.9, start=2)
    expected = [v.numpy().astype(np.float64) for v in generator.trainable_variables]
    rng = np.random.default_rng(0)
    for update in range(5):
        for variable in generator.variables:  # a G update (weights and statistics move)
            variable.assign_add(rng.normal(0, 0.1, variable.shape).astype(np.float32))
        average.update()
        decay = 0.9 if update >= 2 else 0.0  # a copy before `start` updates
        expected = [decay * e + (1 - decay) * v.numpy()
                    for e, v in zip(expected, generator.trainable_variables)]
        for value, variable in zip(expected, averaged.trainable_variables):
            np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)
        statistics = [v for v in generator.variables if not v.trainable]
        copies = [v for v in averaged.variables if not v.trainable]
        for source, copy in zip(statistics, copies):  # batch-norm statistics: copied
            np.testing.assert_array_equal(copy.numpy(), source.numpy())
    assert int(average.updates) == 5


def test_training_updates_the_average_after_each_g_update():
    gan = make.gan(CONDITIONAL, batch_size=8, ema_decay=0.5, ema_start=0)
    images, y = tf.random.uniform((8, 28, 28, 1)), tf.one_hot(tf.range(8), 10)
    gan.train_step(images, y)
    assert int(gan.ema.updates) == 2  # carpedm20's two G updates an iteration
    gan = make.gan(CONDITIONAL, batch_size=8, ema_decay=0.5, ema_start=0, g_updates=3)
    gan.train_step(images, y)
    assert int(gan.ema.updates) == 3
    assert int(gan.g_optimizer.beta1_power.numpy() ** 0 + 0) == 1
    assert float(gan.g_optimizer.beta1_power) == pytest.approx(0.5 ** 4)  # three G steps


# ----------------------------------------------------------------- DiffAugment

def _golden_cases():
    golden = np.load(GOLDEN)
    for number, case in enumerate(json.loads(str(golden["index"]))):
        draws = [golden[f"case{number}/draw{i}"] for i in range(case["draws"])]
        yield case["policy"], golden[f"case{number}/x"], draws, golden[f"case{number}/output"]


@pytest.mark.parametrize("case", range(5))
def test_diffaugment_equals_the_authors_code_given_its_random_numbers(case):
    policy, x, drawn, output = list(_golden_cases())[case]
    ours = diffaugment.transform(tf.constant(x), diffaugment.parse(policy),
                                 [tf.constant(d) for d in drawn])
    np.testing.assert_allclose(ours.numpy(), output, rtol=0, atol=1e-6)
    # Our draws: the authors' order, shapes, types and ranges.
    mine = diffaugment.draws(tf.random.Generator.from_seed(0), diffaugment.parse(policy),
                             tf.constant(x))
    assert [(d.shape, d.dtype) for d in mine] == [(d.shape, d.dtype) for d in
                                                  map(tf.constant, drawn)]


def test_diffaugment_is_differentiable_and_keeps_a_models_range():
    x = tf.Variable(tf.random.uniform((3, 16, 16, 1)))  # the conditional DCGAN's [0, 1]
    with tf.GradientTape() as tape:
        y = diffaugment.augment(x, ("color", "translation"), tf.random.Generator.from_seed(2),
                                (0.0, 1.0))
        total = tf.reduce_sum(y)
    gradient = tape.gradient(total, x)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0
    # Mapped to [-1, 1] and back: with no transform drawn a change, the same images.
    same = diffaugment.augment(x, ("cutout",), tf.random.Generator.from_seed(2), (0.0, 1.0))
    kept = tf.abs(same - x) < 1e-6
    assert 0.5 < float(tf.reduce_mean(tf.cast(kept, tf.float32))) < 1.0  # a quarter cut out


@pytest.mark.parametrize("policy,words", [("colour", "--diffaugment takes transforms"),
                                          ("color,color", "each once"), ("", "takes")])
def test_a_policy_that_is_no_policy_is_named(policy, words):
    with pytest.raises(ValueError, match=words):
        diffaugment.parse(policy)


# ----------------------------------------------------------------- R1

def test_r1_is_the_squared_gradient_norm_on_real_images_taken_directly():
    layer = tf1_layers.Linear(12, 1, "d")
    critic = lambda images, labels, training: layer(tf.reshape(images, [-1, 12])) ** 3  # noqa: E731
    real = tf.random.uniform((5, 2, 2, 3))
    penalty = float(objectives.r1_penalty(critic, real))
    norms = []
    for row in range(5):
        with tf.GradientTape() as tape:
            one = real[row:row + 1]
            tape.watch(one)
            score = critic(one, None, True)
        norms.append(float(tf.reduce_sum(tape.gradient(score, one) ** 2)))
    assert penalty == pytest.approx(np.mean(norms), rel=1e-5)


def test_d_adds_gamma_over_two_r1_and_lazily_every_kth_update():
    images, y = tf.random.uniform((8, 28, 28, 1)), tf.one_hot(tf.range(8), 10)
    gan = make.gan(CONDITIONAL, batch_size=8, r1_gamma=4.0, r1_every=2)
    first = gan.train_step(images, y)  # iteration 0: R1's turn, weighted gamma / 2 * 2
    second = gan.train_step(images, y)  # iteration 1: none
    assert float(first["r1_penalty"]) > 0 and float(second["r1_penalty"]) == 0.0
    np.testing.assert_allclose(
        float(first["d_loss"]),
        float(first["d_loss_real"] + first["d_loss_fake"]) + 4.0 * float(first["r1_penalty"]),
        rtol=1e-5)


# ----------------------------------------------------------------- as parts of a system

def test_the_two_time_scales_and_gs_updates_are_each_players_own():
    system = systems.compose("dcgan", "", make.config(d_learning_rate=4e-4,
                                                      g_learning_rate=1e-4, g_updates=1))
    assert (system.d_optimizer.learning_rate, system.g_optimizer.learning_rate) == (4e-4, 1e-4)
    assert system.schedule.generator_updates == 1
    unset = systems.compose("gan", "", make.config("gan", learning_rate=3e-4))
    assert unset.d_optimizer.learning_rate == unset.g_optimizer.learning_rate == 3e-4
    assert unset.schedule.generator_updates == 1  # the scripts' own


def test_stabilized_brings_its_parts_and_a_part_typed_wins(parsed_flags):
    config = parsed_flags("--dataset=mnist", "--input_height=28", "--output_height=28",
                          "--stabilized", "--g_learning_rate=0.0002")
    assert (config.d_learning_rate, config.g_learning_rate) == (4e-4, 2e-4)
    assert config.run_name() == "mnist_x28.z100.uniform_signed.y28.b64.stabilized"
    system = systems.compose(config.model, config.loss, config)
    assert (system.d_optimizer.learning_rate, system.g_optimizer.learning_rate) == (4e-4, 2e-4)
    # The rest is carpedm20's recipe: its loss, D's batch norms, two G updates, no average.
    assert (config.loss, system.critic_norm, system.schedule.generator_updates,
            system.averaging) == ("", "batch", 2, None)
    with_parts = parsed_flags("--dataset=mnist", "--input_height=28", "--output_height=28",
                              "--stabilized", "--spectral_norm", "--ema_decay=0.999")
    assert with_parts.run_name() == "mnist_x28.z100.uniform_signed.y28.b64.stabilized.sn.ema0.999"
    plain = parsed_flags("--dataset=mnist", "--spectral_norm", "--diffaugment=color,cutout",
                         "--r1_gamma=10", "--r1_every=4", "--ema_decay=0.99")
    assert plain.run_name() == ("mnist_x108.z100.uniform_signed.y64.b64"
                                ".sn.ema0.99.da_color-cutout.r1_10x4")


@pytest.mark.parametrize("argv,words", [
    (["--ema_start=10"], "--ema_start sets --ema_decay's part"),
    (["--r1_every=4"], "--r1_every sets --r1_gamma's part"),
    (["--ema_decay=1"], "--ema_decay must be in [0, 1)"),
    (["--r1_gamma=-1"], "--r1_gamma must be a number >= 0"),
    (["--g_updates=0"], "--g_updates must be at least 1"),
    (["--d_learning_rate=0"], "--d_learning_rate must be a positive number"),
    (["--diffaugment=flip"], "--diffaugment takes transforms from color, translation, cutout"),
    (["--train", "--raw_generator"], "--raw_generator is for test mode"),
    (["--spectral_norm", "--original_loss_eval"], "--original_loss_eval re-runs the original"),
])
def test_stabilizer_flags_that_cannot_work_are_refused(parsed_flags, argv, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace(")", r"\)")):
        parsed_flags("--dataset=mnist", "--input_height=28", "--output_height=28", *argv)


@pytest.fixture
def digits(tmp_path):
    fakes.make_mnist(str(tmp_path / "data" / "mnist"), n_train=40, n_test=8)
    return ["--dataset=mnist", f"--data_dir={tmp_path / 'data'}", "--input_height=28",
            "--output_height=28", f"--out_dir={tmp_path / 'out'}", "--batch_size=8", "--seed=5",
            *SMALLEST_FLAGS]


def test_every_part_at_once_trains_resumes_exactly_and_samples_the_average(
        main_in_process, digits, tmp_path):
    """Two epochs straight, or one and then one more resumed: the same checkpoint
    (spectral norms' u and v, G's average, the augmentations' random stream and
    R1's turn all resume where they were). Test mode samples the average."""
    main_in_process(*digits, *ALL_STABILIZERS, "--train", "--epoch=2", "--out_name=straight",
                    log=quiet)
    main_in_process(*digits, *ALL_STABILIZERS, "--train", "--epoch=1", "--out_name=resumed",
                    log=quiet)
    lines = []
    main_in_process(*digits, "--train", "--epoch=2", "--out_name=resumed", log=lines.append)
    assert any("resuming after iteration 6" in line for line in lines), lines  # record obeyed
    out = tmp_path / "out"
    straight, resumed = (checkpoint_values(str(out / name / "checkpoints" / "model.b8-12"))
                         for name in ("straight", "resumed"))
    assert straight.keys() == resumed.keys()
    assert any("spectral_norm/u" in name for name in straight)
    assert any(name.startswith("ema_generator/") for name in straight)
    for name, value in straight.items():
        if not name.startswith("save_counter"):  # the resumed run saved once more
            np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    record = json.loads((out / "resumed" / "checkpoints" / "model.json").read_text())
    assert record["networks"]["spectral_norm"] and record["stabilizers"]["ema_decay"] == 0.9
    # Test mode: the average, said; --raw_generator: the trained G.
    lines = []
    main_in_process(*digits, "--out_name=resumed", "--generate=8", log=lines.append)
    assert any("Sampling G's average (--ema_decay 0.9)" in line for line in lines), lines
    with np.load(out / "resumed" / "samples" / "generated_8.npz") as arrays:
        averaged = arrays["images"]
    # Its outputs apart: they overwrote the average's (the same names).
    lines = []
    main_in_process(*digits, "--out_name=resumed", "--generate=8", "--raw_generator", "--export",
                    log=lines.append)
    raw = out / "resumed" / "samples" / "raw_generator"
    assert f" [*] Sampling the trained G, as asked (--raw_generator): its outputs go to {raw}" \
        " (exports: *_raw_generator), apart from the average's" in lines, lines
    with np.load(raw / "generated_8.npz") as arrays:
        assert not np.array_equal(arrays["images"], averaged)
    with np.load(out / "resumed" / "samples" / "generated_8.npz") as arrays:
        np.testing.assert_array_equal(arrays["images"], averaged)
    exported = out / "resumed" / "checkpoints" / "export_b8_raw_generator" / "provenance.json"
    assert json.loads(exported.read_text())["generator"] == "trained"


def test_a_stabilizer_the_run_did_not_train_with_is_refused_on_resume(main_in_process, digits,
                                                                      capsys):
    main_in_process(*digits, "--train", "--epoch=1", "--out_name=plain", log=quiet)
    with pytest.raises(SystemExit):
        main_in_process(*digits, "--train", "--epoch=2", "--out_name=plain", "--spectral_norm",
                        log=quiet)
    assert ("was trained with --nospectral_norm (these flags: --spectral_norm). Drop"
            " --spectral_norm to resume it" in capsys.readouterr().err)
    with pytest.raises(SystemExit):  # no average to skip
        main_in_process(*digits, "--out_name=plain", "--raw_generator", log=quiet)
    assert "keeps no average (it trained without --ema_decay)" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the flag as it would be typed, 0 not 0.0
        main_in_process(*digits, "--out_name=plain", "--ema_decay=0.9", log=quiet)
    assert ("was trained with --ema_decay 0 (these flags: --ema_decay 0.9). Drop --ema_decay 0.9"
            " to use it" in capsys.readouterr().err)


def test_a_small_data_set_without_diffaugment_is_told_what_to_watch_and_add(main_in_process,
                                                                          digits):
    """The count is what D sees (--train_size's, not the files'); a run that
    augments already, or a data set of SMALL_DATA_SET images or more, hears nothing."""
    lines = []
    main_in_process(*digits, "--train", "--epoch=1", "--train_size=8", log=lines.append)
    advice = [line for line in lines
              if "Add --diffaugment translation once D's loss falls toward 0" in line]
    assert len(advice) == 1 and advice[0].startswith(" [*] 8 training images"), lines
    assert any(line.startswith(" [*] Training done: 1 iteration;") for line in lines), lines
    lines = []
    main_in_process(*digits, "--train", "--epoch=1", "--diffaugment=translation",
                    "--out_name=augmented", log=lines.append)
    assert any("Training done" in line for line in lines), lines
    assert not any("Add --diffaugment" in line for line in lines), lines
    assert diffaugment.small_data_advice(diffaugment.SMALL_DATA_SET - 1, ()) is not None
    assert diffaugment.small_data_advice(diffaugment.SMALL_DATA_SET, ()) is None


def test_train_size_of_a_data_set_drawn_anew_each_epoch_is_not_taken_for_a_small_one(
        main_in_process, digits, tmp_path):
    """The family's data (and an image folder) draw --train_size's share anew
    each epoch, so the run trains on every image: the advice counted
    --train_size's, and nothing said the share was not one set."""
    lines = []
    main_in_process("--dataset=mnist", f"--data_dir={tmp_path / 'data'}", "--model=gan",
                    f"--out_dir={tmp_path / 'out'}", "--batch_size=8", "--seed=5", "--train",
                    "--epoch=1", "--train_size=8", log=lines.append)
    assert " [*] --train_size 8: each epoch trains on 8 images drawn anew from the 40, as the" \
        " original does with an image folder, so over its epochs the run trains on all 40;" \
        " --train_size keeps one set of images only for carpedm20's model on MNIST-style" \
        " data. To train on 8 images, give a data set of those alone (a folder of them, or" \
        " their IDX files in <another --data_dir>/mnist/)." in lines, lines
    assert any(line.startswith(" [*] 40 training images (fewer than 10,000)") for line in lines)


def test_stabilized_names_what_rescued_the_systems_it_does_not(main_in_process, digits):
    """Where --stabilized was measured not to stop the collapse (the
    Wasserstein losses on carpedm20's networks, the MLP gan), training names the
    flags that did better; with them given, on the faithful recipe, or where
    --stabilized is enough, nothing is said."""
    lines = []
    main_in_process(*digits, "--train", "--epoch=1", "--stabilized", "--loss=wgan_gp",
                    log=lines.append)
    assert [line for line in lines if "--stabilized did not" in line] == [
        " [*] --stabilized did not rescue --model dcgan --loss wgan_gp on MNIST; G's few"
        " updates are what it lacks early: a longer run recovers it; --n_critic 1 --g_updates 2"
        " in place of --stabilized gets there in fewer iterations, not in less time"
        " (docs/stabilizers.md#objectives-that-collapse-on-carpedm20s-networks)."], lines

    def advice(model="dcgan", **flags):
        return systems.stabilized_advice(make.config(model, **flags))

    assert ": --n_critic 1 in place of --stabilized" in advice(stabilized=True, loss="wgan")
    assert "; --r1_gamma 100 --ema_decay 0.999 added to it did (" in advice("gan",
                                                                           stabilized=True)
    assert advice("gan", stabilized=True, r1_gamma=100.0) is not None  # half of it
    assert advice(stabilized=True, loss="wgan_gp", n_critic=1, g_updates=2) is None
    assert advice("gan", stabilized=True, r1_gamma=100.0, ema_decay=0.999) is None
    assert advice(loss="wgan_gp") is None
    assert advice(stabilized=True) is None
    assert advice(stabilized=True, loss="lsgan") is None


# CI: acgan (conv networks, a class head); an MLP of the family trains with every
# part in CI mirrored (tests/test_distribute.py), gan with -m slow.
@pytest.mark.parametrize("model", [pytest.param("gan", marks=pytest.mark.slow), "acgan"])
def test_the_family_trains_with_the_parts_it_can_take(main_in_process, digits, model):
    family = [a for a in digits if not a.startswith(("--input_height", "--output_height",
                                                     "--z_dim", "--gf_dim", "--df_dim",
                                                     "--gfc_dim", "--dfc_dim"))]
    size = ["--output_height=16"] if model == "acgan" else []  # (acgan's default: 32)
    gan = main_in_process(*family, f"--model={model}", *size, *ALL_STABILIZERS, "--train",
                          "--epoch=1", log=quiet)
    assert gan.spectral_norms and gan.ema is not None and int(gan.iteration) == 5
    assert not checkpoints.non_finite({"state": gan.discriminator.variables})


# Every part on 2 replicas: tests/test_distribute.py (the replicas' copies in
# CI; through main.py, resumed and served, with -m slow).


@cpu_only
def test_every_part_trains_in_bfloat16_keeping_its_state_in_float32(main_in_process, digits,
                                                                     tmp_path):
    gan = main_in_process(*digits, *ALL_STABILIZERS, "--mixed_precision", "--train", "--epoch=1",
                          "--out_name=mixed", log=quiet)
    assert gan.compute_dtype == tf.bfloat16
    state = [*gan.spectral_norms[0].variables, *gan.averaged_generator.variables]
    assert all(v.dtype == tf.float32 for v in state)
    assert not checkpoints.non_finite({"state": state})
