"""Our port against the original TF1 graphs (../shared/reference/carpedm20-tf1).

Each test starts both sides from one checkpoint the original graph wrote
(its own initializers, saved by its own saver), loaded into our models by name,
and compares what they compute. Both sides run the same kernels (FusedBatchNorm,
Conv2D, ApplyAdam) on the same inputs in the same order, so the only possible
difference is floating-point summation order; measured on this project's CI
machine the difference is exactly 0.0 everywhere, after one iteration and
after ten. The tolerances (1e-5 on outputs, 1e-6 on every variable after one
iteration, 1e-5 after ten) leave room for a machine whose kernels sum in
another order, and are 20x tighter than one Adam step (lr = 2e-4), so a single
wrong update anywhere would fail them. Where a gradient is zero up to rounding,
Adam turns the rounding into steps whose size and sign are noise: there the
bound is how far Adam's steps can move a variable at all (tests/adam_bounds.py),
and Adam's slots there hold that rounding: their bound is how large it can be
(tests/original_graph.py, OriginalGraph.cancellation_noise).
"""

import types

import numpy as np
import pytest
import tensorflow as tf

import adam_bounds
import make
from conftest import MNIST_DIR, REFERENCE_DIR, require_shared
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import gan as gan_lib
from dcgan_tf import tf1_checkpoint
from dcgan_tf.networks import carpedm20
from original_graph import LOSSES, OriginalGraph

# Its tests share an expensive module fixture: one worker runs them all.
pytestmark = pytest.mark.xdist_group("equivalence_original")

OUTPUT_TOLERANCE = 1e-5
ONE_ITERATION_TOLERANCE = 1e-6
# Losses computed after a G update: G's state differs beyond rounding at 64x64
# (see G_64_PERCENTILE); measured 9.2e-5 after one iteration. After several
# iterations (measured: 8.9e-4 after ten, MNIST). At 64x64 Adam feeds rounding
# back chaotically, so the iterations compared there are those where rounding
# stays well inside the bound and a port error does not: measured on a 2-core
# AMD EPYC (AVX2), our start perturbed by 1e-7 relative (three draws), the
# largest loss difference over iterations 1-3 was 0.0145 (over 1-5: 0.049, and
# one unperturbed run of five out of a few reached 0.057), while a learning
# rate 5% off or beta1 0.55 for 0.5 gave 0.19-0.28 within iterations 2-3.
LOSS_AFTER_G_TOLERANCE = {"mnist": OUTPUT_TOLERANCE, "celebA": 5e-4}
SEVERAL_ITERATIONS_LOSS_TOLERANCE = {"mnist": 5e-3, "celebA": 5e-2}
GRAPH_NAMES = ["mnist", "celebA"]
# The iterations the module's fixture runs, compared after the first and the
# last: MNIST's ten are CI's several-iteration check. At 64x64 an iteration of
# the full-width networks takes 7-10 s a side on the 2-core AVX2 EPYC, so CI
# compares its first iteration (every variable) and -m slow the first three.
ITERATIONS = {"mnist": 10, "celebA": 1}
SEVERAL_ITERATIONS_64 = 3
OUTPUT_SIZE = {"mnist": 28, "celebA": 64}


def our_variables(gan):
    """All of our state under the original's names (the TF1 checkpoint keys)."""
    variables = carpedm20.variables_by_original_name(gan.generator, gan.discriminator)
    for attribute, (beta1, beta2) in tf1_checkpoint.OPTIMIZER_POWER_NAMES.items():
        optimizer = getattr(gan, attribute)
        variables.update(optimizer.slots_by_original_name)
        variables[beta1], variables[beta2] = optimizer.beta1_power, optimizer.beta2_power
    return variables


def batches(name, count, seed=0):
    """`count` (real, z, y) batches of 64: real MNIST digits for the MNIST graph,
    uniform noise images in [-1, 1] for the 64x64 one."""
    rng = np.random.default_rng(seed)
    if name == "mnist":
        images, labels = data.load_idx_dataset(require_shared(MNIST_DIR))
    for i in range(count):
        z = rng.uniform(-1, 1, (64, 100)).astype(np.float32)
        if name == "mnist":
            chunk = slice(64 * i, 64 * (i + 1))
            real = images[chunk].astype(np.float32) / 255.0
            yield real, z, np.eye(10, dtype=np.float32)[labels[chunk]]
        else:
            yield rng.uniform(-1, 1, (64, 64, 64, 3)).astype(np.float32), z, None


@pytest.fixture(scope="module", params=GRAPH_NAMES)
def pair(request, tmp_path_factory):
    """The original graph and our GAN, and the TF1 checkpoint both start from."""
    name = request.param
    require_shared(REFERENCE_DIR)
    original = OriginalGraph(REFERENCE_DIR, name, seed=1)
    original.initialize()
    folder = tmp_path_factory.mktemp(name)
    path = original.save(str(folder / "model.b64"), step=1)
    # Each test starts both sides from the same complete state, Adam's included
    # (the original's saver leaves Adam out of the 64x64 checkpoint).
    everything = original.save_everything(str(folder / "everything" / "model.b64-1"))
    config = tf1_checkpoint.infer_model_config(path, OUTPUT_SIZE[name])
    gan = make.gan(config, batch_size=64)

    def reset(*gans):
        original.restore_everything(everything)
        for each in gans or (gan,):
            tf1_checkpoint.load_into_gan(everything, each)

    reset()
    return types.SimpleNamespace(name=name, original=original, gan=gan, path=path, reset=reset,
                                 model_config=config)


def max_differences(original, gan):
    ours = our_variables(gan)
    return {name: float(np.abs(value - ours[name].numpy()).max())
            for name, value in original.values().items()}


def test_every_original_variable_has_our_counterpart_with_its_shape(pair):
    ours = our_variables(pair.gan)
    theirs = {name: tuple(v.shape.as_list()) for name, v in pair.original.variables.items()}
    assert {name: tuple(v.shape.as_list()) for name, v in ours.items()} == theirs
    trainable = [v for m in (pair.gan.generator, pair.gan.discriminator)
                 for v in m.trainable_variables]
    original_trainable = [v for v in pair.original.graph.get_collection("trainable_variables")]
    assert (sum(int(np.prod(v.shape)) for v in trainable)
            == sum(int(np.prod(v.shape.as_list())) for v in original_trainable))


def test_sampler_matches_original(pair):
    pair.reset()
    _, z, y = next(batches(pair.name, 1))
    expected = pair.original.run(pair.original.sampler_output, z=z, y=y)
    np.testing.assert_allclose(pair.gan.sample(z, y).numpy(), expected,
                               rtol=0, atol=OUTPUT_TOLERANCE)


def test_discriminator_logits_and_losses_match_original(pair):
    pair.reset()
    real, z, y = next(batches(pair.name, 1))
    o = pair.original
    fetched = o.run({"real": o.real_logits, "fake": o.fake_logits, "G": o.g_output, **LOSSES},
                    real=real, z=z, y=y)
    gan = pair.gan
    real_logits = gan.discriminator(real, y, training=True)
    fake = gan.generator(z, y, training=True)
    fake_logits = gan.discriminator(fake, y, training=True)
    ours = gan.objective.discriminator(real_logits, fake_logits, y, y)
    ours.update(real=real_logits, fake=fake_logits, G=fake,
                g_loss=gan.objective.generator(fake_logits, y))
    for key, expected in fetched.items():
        np.testing.assert_allclose(np.asarray(ours[key]), expected, rtol=0,
                                   atol=OUTPUT_TOLERANCE, err_msg=key)


LEARNING_RATE = 2e-4
# Updates per iteration of each network: the original runs g_optim twice.
UPDATES = {"discriminator": 1, "generator": 2}
# Biases that feed a batch norm over the same channels: the norm subtracts their
# effect, so their gradient is zero up to rounding, and Adam's step turns that
# rounding into steps of noise size and sign. Each side's steps move such a bias
# by at most Adam's largest travel (tests/adam_bounds.py: one step from the start
# state, 1 lr; two, 2.054 lr), so the sides differ by at most twice that
# (measured on an AMX Xeon: g_h3/biases 4.11e-4, one side's two steps in one
# direction). That holds for rounding on any CPU; a port error shows in the
# other variables, held to rounding. (The 64x64 g_h0_lin/bias is not one: it is
# reshaped to 4x4 positions before g_bn0, which removes only its per-channel
# mean.) The moving means of the norms right after them take in the bias, and
# are held to the same bound.
ZERO_GRADIENT_BIASES = {
    "mnist": ("g_h0_lin/bias", "g_h1_lin/bias", "g_h2/biases", "d_h1_conv/biases",
              "d_h2_lin/bias"),
    "celebA": ("g_h1/biases", "g_h2/biases", "g_h3/biases", "d_h1_conv/biases",
               "d_h2_conv/biases", "d_h3_conv/biases")}
NORMS_AFTER_THEM = {"mnist": ("g_bn0", "g_bn1", "g_bn2", "d_bn1", "d_bn2"),
                    "celebA": ("g_bn1", "g_bn2", "g_bn3", "d_bn1", "d_bn2", "d_bn3")}
# 64x64: Adam's first steps amplify last-bit differences of every gradient
# element within a few epsilon (1e-8) of zero, and at 64x64 the nets have many;
# G's second update then runs on those. After one iteration on this project's
# AVX-512 CI machine about half of g_h0_lin's elements differ by more than
# rounding (largest 7.8e-4: two opposite 2-step trajectories; G's Adam slots by
# 0.6% of their largest value), while a missing, doubled or wrong update moves
# nearly every element by about lr. So there every tensor outside the named
# biases is held at its 90th percentile: weights and moving averages to lr / 4,
# Adam slots to 3% of their largest value (measured: 0.96%, g_bn0/gamma).
G_64_PERCENTILE, G_64_TOLERANCE, G_64_SLOT_TOLERANCE = 90, LEARNING_RATE / 4, 3e-2


BETA1, BETA2 = 0.5, 0.999


def cancelled_layers(graph):
    """Each named bias -> the batch norm over its channels (its network's)."""
    network = {"g": "generator", "d": "discriminator"}
    return {f"{network[bias[0]]}/{bias}": f"{network[bias[0]]}/{norm}"
            for bias, norm in zip(ZERO_GRADIENT_BIASES[graph], NORMS_AFTER_THEM[graph])}


def noise_slot_bounds(noise):
    """Per channel, how far the sides' Adam slots of the named biases may differ
    after one iteration. Each slot is a weighted sum of its network's gradients
    in the iteration (D one, G two), and each of those is rounding noise on
    either side, within the bound the original's run gives (`noise`: per update,
    bias -> per channel; OriginalGraph.cancellation_noise). Ours sums the same
    terms over nearly the same states (at 64x64 G's second update starts from
    weights up to 7.8e-4 apart, see G_64_PERCENTILE, which moves a sum of
    65,536 magnitudes far less than the margin below), so m = (1 - b1) sum_t
    b1^(T-t) g_t differs by at most twice the weighted bounds, and v = (1 - b2)
    sum_t b2^(T-t) g_t^2, at least 0 on both sides, by at most the weighted
    squares.
    Measured (64x64, three seeds, Eigen's kernels and oneDNN's AVX-512 and AVX2
    ones, on an AVX-512 EPYC): one side's gradient reached at most 0.38 of its
    bound (at N = 1,024 positions), at 64x64's g_h3 (N = 65,536) 0.006."""
    steps_of = {"discriminator": noise[:1], "generator": noise[1:]}
    bounds = {}
    for steps in steps_of.values():
        last = len(steps) - 1
        for bias in steps[0]:
            bounds[bias + "/Adam"] = sum(2 * (1 - BETA1) * BETA1 ** (last - t) * step[bias]
                                         for t, step in enumerate(steps))
            bounds[bias + "/Adam_1"] = sum((1 - BETA2) * BETA2 ** (last - t) * step[bias] ** 2
                                           for t, step in enumerate(steps))
    return bounds


def tolerance(graph, name, original_value):
    """What one iteration of main.py may leave between the sides in variable `name`."""
    parts = name.split("/")
    if name.endswith(ZERO_GRADIENT_BIASES[graph]) or (
            name.endswith("/moving_mean") and parts[1] in NORMS_AFTER_THEM[graph]):
        # From the start state (beta powers at beta1, beta2): steps 1, 2, ...
        return 2 * LEARNING_RATE * adam_bounds.largest_adam_travel(1, UPDATES[parts[0]], BETA1,
                                                                   BETA2)
    if name.endswith("/Adam"):  # (the named biases' slots: noise_slot_bounds)
        # m = (1 - beta1) g: a large sum's rounding, relative to its size
        return ONE_ITERATION_TOLERANCE * max(1.0, float(np.abs(original_value).max()))
    return ONE_ITERATION_TOLERANCE


def iteration_differences(pair, iterations):
    """Runs `iterations` of the original and of main.py's iteration (given the
    original's z) from one start; returns, after the first iteration and after
    the last, (their losses, ours, {variable: |a - b| elementwise}, the
    original's values then, before, the first iteration's noise_slot_bounds)."""
    pair.reset()
    before = dict(pair.original.values())
    theirs, ours, after = [], [], []
    for real, z, y in batches(pair.name, iterations):
        if not theirs:  # the slots' bounds are for the first iteration
            first = pair.original.iteration(real, z, y, cancelled_layers(pair.name))
            slot_bounds = noise_slot_bounds(first.pop("noise"))
            theirs.append(first)
        else:
            theirs.append(pair.original.iteration(real, z, y))
        result = pair.gan.step(real, y, gan_lib.Draws(z), 0)
        ours.append({k: float(result[k]) for k in ("d_loss", "g_loss")})
        if len(ours) in (1, iterations):
            mine, values = our_variables(pair.gan), pair.original.values()
            gaps = {name: np.abs(value - mine[name].numpy()) for name, value in values.items()}
            after.append((theirs[:], ours[:], gaps, values, before, slot_bounds))
    return after[0], after[-1]


@pytest.fixture(scope="module")
def iterations(pair):
    """One run of the iterations compared in CI: the state after its first
    iteration and after its last (the first is the one-iteration comparison)."""
    return iteration_differences(pair, ITERATIONS[pair.name])


def test_one_iteration_matches_original_in_every_variable(iterations, pair):
    """main.py's iteration (D, G, G, sharing the D update's G(z)) against the
    original's, in every variable: weights, batch-norm moving averages, Adam
    slots and powers; to float rounding, except as said above."""
    theirs, ours, gaps, after, _, slot_bounds = iterations[0]
    assert abs(ours[0]["d_loss"] - theirs[0]["d_loss"]) <= OUTPUT_TOLERANCE
    assert abs(ours[0]["g_loss"] - theirs[0]["g_loss"]) <= LOSS_AFTER_G_TOLERANCE[pair.name]
    named = lambda n: tolerance(pair.name, n, 0.0) > ONE_ITERATION_TOLERANCE  # noqa: E731
    # Slots of the named biases hold rounding noise (g ~ 0): held to its bound.
    assert len(slot_bounds) == 2 * len(ZERO_GRADIENT_BIASES[pair.name])
    assert set(slot_bounds) <= set(gaps)
    noise = {n: float((gaps[n] / np.maximum(slot_bounds[n], 1e-30)).max()) for n in slot_bounds}
    worst = max(noise, key=noise.get)
    print(f"{pair.name}: largest Adam slot difference of the named biases, as a fraction of"
          f" its bound: {worst} {noise[worst]:.3g}")
    assert noise[worst] <= 1.0, {n: f for n, f in noise.items() if f > 1.0}
    loose = {n for n in gaps if pair.name == "celebA" and not named(n) and n not in noise}
    over = {n: (float(g.max()), tolerance(pair.name, n, after[n])) for n, g in gaps.items()
            if n not in loose and n not in noise and g.max() > tolerance(pair.name, n, after[n])}
    if pair.name == "mnist":
        worst = max((n for n in gaps if not named(n) and n not in noise),
                    key=lambda n: gaps[n].max())
        print(f"mnist: largest difference outside the named biases: {worst}"
              f" {gaps[worst].max():.3g}")
    assert not over, over
    percentiles = {}
    for n in loose:
        scale = float(np.abs(after[n]).max()) if "/Adam" in n else 1.0
        bound = G_64_SLOT_TOLERANCE if "/Adam" in n else G_64_TOLERANCE
        percentiles[n] = float(np.percentile(gaps[n], G_64_PERCENTILE)) / scale / bound
    if percentiles:
        worst = max(percentiles, key=percentiles.get)
        print(f"64x64: largest {G_64_PERCENTILE}th percentile, as a fraction of its bound:"
              f" {worst} {percentiles[worst]:.3g}")
        assert percentiles[worst] <= 1.0, percentiles


@pytest.mark.parametrize("pair", ["mnist"], indirect=True)
def test_several_iterations_stay_together(iterations, pair):
    """From the second iteration on, the differences above feed back through both
    networks (Adam amplifies them where gradients are near zero), so the two runs
    are held to what shows a training trajectory: every iteration's losses, the
    beta powers (exact), and the median weight (measured after ten MNIST
    iterations: 3.3e-5, where a missing update moves the median by ~lr)."""
    assert_trajectories_stay_together(pair.name, iterations[-1])


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["celebA"], indirect=True)
def test_several_iterations_stay_together_at_64x64(pair):
    """The test above on the 64x64 graph, its first three iterations."""
    assert_trajectories_stay_together(pair.name,
                                      iteration_differences(pair, SEVERAL_ITERATIONS_64)[-1])


def assert_trajectories_stay_together(name, last):
    theirs, ours, gaps, _, _, _ = last
    assert len(ours) > 1
    loss_gaps = [abs(a[k] - b[k]) for a, b in zip(theirs, ours) for k in a]
    print(f"{name}: largest loss difference over {len(ours)} iterations: {max(loss_gaps):.3g}")
    assert max(loss_gaps) <= SEVERAL_ITERATIONS_LOSS_TOLERANCE[name]
    powers = [n for n in gaps if "_power" in n]
    assert len(powers) == 4 and all(gaps[n].max() == 0.0 for n in powers)
    weights = np.concatenate([g.ravel() for n, g in gaps.items()
                              if "/Adam" not in n and "moving_" not in n])
    print(f"{name}: median weight difference {np.median(weights):.3g}")
    assert np.median(weights) <= LEARNING_RATE / 2


def test_the_iterations_moved_every_variable(iterations):
    """The comparison means something: weights, moving averages, Adam slots and beta
    powers all changed from their starting values on the original's side."""
    _, _, _, after, before, _ = iterations[-1]
    unmoved = [name for name, value in after.items() if np.array_equal(value, before[name])]
    assert unmoved == []


def test_original_loss_eval_is_the_only_difference_in_moving_averages(pair):
    """Our default logs the update's own losses; the original re-evaluates three
    losses after each iteration in training mode. With --original_loss_eval we
    do the same and match the moving averages too; without it, the moving
    averages differ by exactly those extra passes. MNIST only: at 64x64 G's
    state after an iteration differs beyond rounding (see G_64_PERCENTILE), and
    the extra passes run through G."""
    if pair.name == "celebA":
        pytest.skip("64x64: G's state after an iteration is compared statistically above")
    evaluating = make.gan(pair.model_config, batch_size=64, original_loss_eval=True)
    pair.reset(pair.gan, evaluating)
    (real, z, y), = batches(pair.name, 1)
    o = pair.original
    o.iteration(real, z, y)
    evaluated = {"d_loss_fake": o.run("Mean_1:0", z=z, y=y),
                 "d_loss_real": o.run("Mean:0", real=real, z=z, y=y),
                 "g_loss": o.run("Mean_2:0", z=z, y=y)}
    within = lambda gan: {n: d for n, d in max_differences(o, gan).items()  # noqa: E731
                          if "moving_" in n and d > tolerance(pair.name, n, 0.0)}
    pair.gan.step(real, y, gan_lib.Draws(z), 0)
    assert within(pair.gan)  # without the evaluations, the averages differ
    ours = evaluating.step(real, y, gan_lib.Draws(z), 0)
    print("--original_loss_eval, largest loss difference:",
          max(abs(float(ours[key]) - expected) for key, expected in evaluated.items()))
    for key, expected in evaluated.items():
        np.testing.assert_allclose(float(ours[key]), expected, atol=OUTPUT_TOLERANCE)
    assert within(evaluating) == {}


# CI: MNIST (the conditional sampler's two inputs); 64x64 with -m slow, three
# iterations of the original's full-width networks at batch 64 (its sampler and
# its training are in CI above).
@pytest.mark.parametrize("pair", ["mnist", pytest.param("celebA", marks=pytest.mark.slow)],
                         indirect=True)
def test_export_from_an_original_checkpoint_matches_the_original_sampler(pair, tmp_path):
    """The original graph trains three iterations and saves, as the original's
    code does; main.py's --export of that folder serves the original's images."""
    pair.reset()
    for real, z, y in batches(pair.name, 3, seed=5):
        pair.original.iteration(real, z, y)
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    pair.original.save(str(folder / "model.b64"), step=3)
    size = OUTPUT_SIZE[pair.name]
    flags = dict(dataset=pair.name, input_height=size, output_height=size,
                 checkpoint_dir=str(folder), sample_dir=str(tmp_path / "samples"), export=True)
    app.run(config_lib.Config(**flags), log=lambda line: None)
    _, z, y = next(batches(pair.name, 1, seed=9))
    expected = pair.original.run(pair.original.sampler_output, z=z, y=y)
    serve = tf.saved_model.load(str(folder / "export_b64")).signatures["serving_default"]
    feeds = {"z": tf.constant(z)} if y is None else {"z": tf.constant(z), "y": tf.constant(y)}
    np.testing.assert_allclose(serve(**feeds)["images"].numpy(), expected, rtol=0,
                               atol=OUTPUT_TOLERANCE)
    # and for a batch size the original graph never saw
    assert serve(**{k: v[:5] for k, v in feeds.items()})["images"].shape[0] == 5
