"""Every GAN system dcgan-tf trains, as data: networks + objective + schedule +
optimizer, with the few choices that tell the recipes apart. `compose` is the
one place where a `--model` and a `--loss` become the system a run trains
(gan.GAN runs any of them with one step); `check_config` applies the rules
each part declares for the flags it reads.

`dcgan` is carpedm20's recipe (its networks in networks/carpedm20.py, sigmoid
cross-entropy on logits, D once then G twice on the same z, TF1's Adam), whose
numbers the original's TF1 graphs pin. The others are PyTorch-GAN's scripts at
36d3c77 (implementations/<model>/<model>.py), whose golden runs pin theirs.
Each preset carries its script's defaults; a flag given on the command line wins.
"""

import dataclasses
import math
from typing import Callable

from dcgan_tf import data
from dcgan_tf import networks
from dcgan_tf import objectives
from dcgan_tf.stabilizers import diffaugment


@dataclasses.dataclass(frozen=True)
class Schedule:
    """What one iteration does, in order.

    first: "discriminator": D's update, then G's turn on the same z (carpedm20;
      wgan, wgan_gp), G's first update reusing D's G(z) (the same weights and z
      give the same values; G's batch norms move twice, as the original's and
      the scripts' two passes move them);
      "generator": G's turn first, then D's update on that same G(z), detached
      (gan, cgan, acgan, lsgan).
    generator_updates: G's updates in its turn, on the same z (carpedm20 runs two
      "to make sure that d_loss does not go to zero").
    n_critic: G's turn comes in iterations whose batch index within the epoch is a
      multiple of it (Goodfellow et al.'s k steps of D per step of G; the WGAN
      scripts test `i % n_critic == 0`); D updates every iteration.
    clip_value: after each D update, D's weights are clipped to [-c, c] (WGAN).
    """

    first: str = "discriminator"
    generator_updates: int = 1
    n_critic: int = 1
    clip_value: float = None

    def __post_init__(self):
        if self.first not in ("discriminator", "generator"):
            raise ValueError(f"A schedule's first update is the discriminator's or the"
                             f" generator's, not {self.first!r}.")
        if self.generator_updates < 1 or self.n_critic < 1:
            raise ValueError(f"A schedule needs at least one G update a turn and n_critic >= 1,"
                             f" got {self.generator_updates} and {self.n_critic}.")
        if self.clip_value is not None and not 0 < self.clip_value < math.inf:
            raise ValueError(f"A clip value must be positive and finite, got {self.clip_value}.")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What a user names: one `--model` (SYSTEMS), its parts as the recipe states
    them, before any flag's value is known (compose resolves it to a System)."""

    name: str
    summary: str
    networks: str              # networks.KINDS' key: carpedm20, mlp, conditional_mlp, conv, ...
    objective: Callable        # options -> objectives.Objective
    schedule: Schedule
    optimizer: str             # "adam" or "rmsprop"
    adam: str = "torch_adam"   # which Adam: PyTorch's, or TF1's ("tf1_adam") for carpedm20
    # The schedule of a --loss that brings none: the family's plain one (the
    # WGAN scripts' critic schedule belongs to their loss); None: this one.
    loss_schedule: Schedule = Schedule(first="generator")
    labels: str = "none"       # "none", "required" (a labelled data set), or "from_data"
    # The labels G is asked for: "drawn" uniformly, or the "real" batch's.
    fake_labels: str = "drawn"
    # The fixed sample batch's labels: 0, 1, ..., 9, 0, ... ("cycle"), or the
    # "first_batch"'s of the data.
    sample_labels: str = "cycle"
    # MNIST-style data as the "scripts" read it, or as the "original" does.
    data: str = "scripts"
    raw_scores: bool = True    # D's adversarial output without a sigmoid
    auxiliary_classifier: bool = False  # D has a class head with its own objective (AC-GAN)
    critic_norm: str = "batch"  # D's normalization: batch norm, or "layer" norm (the penalty's)
    penalty_share: float = None  # WGAN-GP's penalty, as a share of --lambda_gp; None: none
    normal_init: bool = False  # the script applies weights_init_normal
    samples_in_training_mode: bool = False  # the script's sample grid moves G's batch norms
    # The original's TensorBoard histograms, each iteration: z, and D's sigmoid
    # outputs d, d_. (The scripts write no TensorBoard; a histogram of the prior's
    # draws costs the MLPs 5-8% of an iteration: bench/RESULTS.md.)
    histograms: bool = False
    checkpoint_extras: tuple = ()  # what a checkpoint holds beyond networks, optimizers, counters
    # The recipe's own flag values (a flag given on the command line wins).
    defaults: dict = dataclasses.field(default_factory=dict)
    flags: tuple = ()          # optional flags it reads of its own
    # Its runs' folder name, from the config's fields, `loss` (the --loss's part)
    # and `prior` (--z_dist where it is not the recipe's own).
    run_name: str = "{dataset}_{model}.s{output_width}.z{z_dim}.b{batch_size}{loss}{prior}"


@dataclasses.dataclass(frozen=True)
class Loss:
    """One `--loss`: its objective (on D's raw outputs), and what it brings."""

    name: str
    summary: str
    objective: Callable        # options -> objectives.Objective
    schedule: Schedule = None  # its own schedule (the critic losses'), else the model's
    optimizer: str = None      # "adam" or "rmsprop"; None: the model's own
    penalty: bool = False      # WGAN-GP's gradient penalty
    critic_norm: str = "batch"
    # A --loss other than the model's own keeps G's last loss in the checkpoint.
    checkpoint_extras: tuple = ("last_g_loss",)
    run_name: str = "{name}"   # its part of the run's name
    defaults: dict = dataclasses.field(default_factory=dict)
    flags: tuple = ()


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """One player's optimizer: its kind (optim.OPTIMIZERS' key) and settings."""

    kind: str
    learning_rate: float
    beta1: float
    beta2: float


@dataclasses.dataclass(frozen=True)
class Averaging:
    """G's exponential moving average (stabilizers.ema): its decay, the G updates
    before it starts averaging (a copy until then), and what becomes of batch
    norm's moving statistics ("copied" from G, or "averaged")."""

    decay: float
    start: int = 0
    statistics: str = "copied"


@dataclasses.dataclass(frozen=True)
class System:
    """What a run trains, resolved (compose): the recipe's parts with a --loss's
    in their place and every flag's value in. Each field has one meaning."""

    name: str                  # "gan", or "gan --loss hinge"
    recipe: Recipe             # the --model it comes from (labels, data, defaults, ...)
    networks: str              # networks.KINDS' key
    objective: objectives.Objective
    schedule: Schedule
    d_optimizer: OptimizerSettings
    g_optimizer: OptimizerSettings
    raw_scores: bool
    critic_norm: str
    penalty_weight: float      # WGAN-GP's penalty's weight in D's loss; None: none
    original_loss_eval: bool   # the original's three loss evaluations after an iteration
    checkpoint_extras: tuple   # what a checkpoint holds beyond networks, optimizers, counters
    flags: tuple               # the optional flags (OPTIONAL_FLAGS) it reads
    sample_interval: int       # cgan's and acgan's training-mode sample pass: every this many
    # The stabilizers (stabilizers/): D's weights spectrally normalized; G's
    # average (None: none); the DiffAugment policy (() : none); R1's gamma (0:
    # none) and the D updates between its turns (lazy R1: scaled by it).
    spectral_norm: bool = False
    averaging: Averaging = None
    diffaugment: tuple = ()
    r1_gamma: float = 0.0
    r1_every: int = 1

    # What the recipe fixes, under the names the trainer reads.
    labels = property(lambda self: self.recipe.labels)
    data = property(lambda self: self.recipe.data)
    fake_labels = property(lambda self: self.recipe.fake_labels)
    sample_labels = property(lambda self: self.recipe.sample_labels)
    auxiliary_classifier = property(lambda self: self.recipe.auxiliary_classifier)
    normal_init = property(lambda self: self.recipe.normal_init)
    samples_in_training_mode = property(lambda self: self.recipe.samples_in_training_mode)
    histograms = property(lambda self: self.recipe.histograms)


# carpedm20's widths, and the flags only its recipe reads.
CARPEDM20_FLAGS = ("gf_dim", "df_dim", "gfc_dim", "dfc_dim", "original_loss_eval",
                   "compare_with")

# Every script's shared options: Adam 2e-4 (0.5, 0.999), batch 64, latent 100,
# 200 epochs, a sample grid every 400 batches; and what their checkpoints hold
# beyond the networks, optimizers and counters.
_SCRIPTS = dict(learning_rate=0.0002, beta1=0.5, beta2=0.999, batch_size=64, z_dim=100,
                epoch=200, sample_freq=400, z_dist="normal01")
_SCRIPTS_CHECKPOINT = ("last_g_loss", "dropout_rng")


def _plain(constructor):
    """The objective of a script that has no options."""
    return lambda options: constructor()


SYSTEMS = {
    "dcgan": Recipe(
        "dcgan", "carpedm20's DCGAN: its networks, sigmoid cross-entropy on logits, D then G"
        " twice on the same z, TF1's Adam", networks="carpedm20",
        objective=_plain(objectives.cross_entropy_on_logits),
        schedule=Schedule(first="discriminator", generator_updates=2),
        optimizer="adam", adam="tf1_adam", loss_schedule=None, labels="from_data",
        fake_labels="real", sample_labels="first_batch", data="original", histograms=True,
        flags=CARPEDM20_FLAGS,
        run_name="{dataset}_x{input_width}.z{z_dim}.{z_dist}.y{output_width}.b{batch_size}{loss}"),
    "gan": Recipe(
        "gan", "the vanilla GAN (Goodfellow et al. 2014): MLPs, binary cross-entropy",
        networks="mlp", objective=_plain(objectives.binary_cross_entropy_on_probabilities),
        schedule=Schedule(first="generator"), optimizer="adam", raw_scores=False,
        checkpoint_extras=_SCRIPTS_CHECKPOINT, defaults=dict(_SCRIPTS, output_height=28)),
    "cgan": Recipe(
        "cgan", "the conditional GAN (Mirza & Osindero 2014): MLPs with label embeddings,"
        " trained with MSE as the script does", networks="conditional_mlp",
        objective=_plain(objectives.squared_error_to_one_and_zero),
        schedule=Schedule(first="generator"), optimizer="adam", labels="required",
        samples_in_training_mode=True, checkpoint_extras=_SCRIPTS_CHECKPOINT,
        defaults=dict(_SCRIPTS, output_height=32, n_classes=10)),
    "acgan": Recipe(
        "acgan", "AC-GAN (Odena et al. 2017): conv nets, validity and class heads",
        networks="conditional_conv",
        objective=lambda options: objectives.with_auxiliary_classifier(
            objectives.binary_cross_entropy_on_probabilities()),
        schedule=Schedule(first="generator"), optimizer="adam", labels="required",
        raw_scores=False, auxiliary_classifier=True, normal_init=True,
        samples_in_training_mode=True, checkpoint_extras=_SCRIPTS_CHECKPOINT,
        defaults=dict(_SCRIPTS, output_height=32, n_classes=10)),
    "wgan": Recipe(
        "wgan", "WGAN (Arjovsky et al. 2017): the gan MLPs as a critic, weight clipping,"
        " RMSprop", networks="mlp", objective=_plain(objectives.wasserstein),
        schedule=Schedule(first="discriminator", n_critic=5, clip_value=0.01),
        optimizer="rmsprop", checkpoint_extras=_SCRIPTS_CHECKPOINT,
        defaults=dict(_SCRIPTS, learning_rate=0.00005, output_height=28, n_critic=5,
                      clip_value=0.01)),
    "wgan_gp": Recipe(
        "wgan_gp", "WGAN-GP (Gulrajani et al. 2017): the gan MLPs as a critic, gradient"
        " penalty", networks="mlp", objective=_plain(objectives.wasserstein),
        schedule=Schedule(first="discriminator", n_critic=5), optimizer="adam", penalty_share=1.0,
        checkpoint_extras=_SCRIPTS_CHECKPOINT,
        defaults=dict(_SCRIPTS, output_height=28, n_critic=5, lambda_gp=10.0)),
    "lsgan": Recipe(
        "lsgan", "LSGAN (Mao et al. 2017): conv nets, least squares to 1 and 0",
        networks="conv", objective=_plain(objectives.squared_error_to_one_and_zero),
        schedule=Schedule(first="generator"), optimizer="adam", normal_init=True,
        checkpoint_extras=_SCRIPTS_CHECKPOINT,
        defaults=dict(_SCRIPTS, output_height=32, sample_freq=1000)),
}
MODELS = tuple(SYSTEMS)

# The critic's schedule of the WGAN papers' algorithms and scripts: D first, G's
# turn every n_critic-th batch, on the same z.
_CRITIC = Schedule(first="discriminator", n_critic=5)

LOSSES = {
    "minimax": Loss("minimax", "the original GAN (Goodfellow et al. 2014): D by cross-entropy,"
                    " G minimizes log(1 - D(G(z))), the saturating form",
                    objective=lambda options: objectives.cross_entropy_on_logits(saturating=True)),
    "nonsaturating": Loss("nonsaturating", "cross-entropy, G minimizes -log D(G(z))"
                          " (carpedm20's and the GAN paper's practical form)",
                          objective=_plain(objectives.cross_entropy_on_logits),
                          checkpoint_extras=()),
    "lsgan": Loss("lsgan", "least squares (Mao et al. 2017), targets --ls_abc",
                  objective=lambda options: objectives.least_squares(*options.ls_targets),
                  flags=("ls_abc",)),
    "wgan": Loss("wgan", "Wasserstein with weight clipping (Arjovsky et al. 2017)",
                 objective=_plain(objectives.wasserstein),
                 schedule=dataclasses.replace(_CRITIC, clip_value=0.01), optimizer="rmsprop",
                 defaults=dict(learning_rate=0.00005, n_critic=5, clip_value=0.01)),
    "wgan_gp": Loss("wgan_gp", "Wasserstein with a gradient penalty (Gulrajani et al. 2017);"
                    " the critic's batch norms become layer norms",
                    objective=_plain(objectives.wasserstein), schedule=_CRITIC,
                    optimizer="adam", penalty=True, critic_norm="layer",
                    defaults=dict(learning_rate=0.0001, beta1=0.5, beta2=0.9, n_critic=5,
                                  lambda_gp=10.0)),
    "hinge": Loss("hinge", "hinge (Lim & Ye 2017; Miyato et al. 2018): D on"
                  " relu(1 -+ D), G minimizes -D(G(z))", objective=_plain(objectives.hinge)),
    "fgan": Loss("fgan", "f-GAN (Nowozin et al. 2016) for --divergence, the paper's"
                 " alternative G step",
                 objective=lambda options: objectives.f_gan(options.divergence),
                 run_name="fgan_{divergence}", flags=("divergence",)),
}

# --stabilized: the combination measured best on carpedm20's networks
# (bench/stabilizers.py; docs/stabilizers.md): each part's flag given on the
# command line wins. On Fashion-MNIST at 2,186 iterations the two time scales
# alone scored a Frechet distance of 33.0, 38.8 and 29.2 (three seeds) against
# the faithful recipe's 181.7, 159.7 and 111.0; adding spectral norm (85.3), or
# spectral norm, the hinge loss and G's average (78.9; 104.5 with one G update)
# did worse.
STABILIZED = dict(d_learning_rate=0.0004, g_learning_rate=0.0001)

# Where --stabilized was measured not to rescue a system (--model, --loss;
# bench/stabilizers.py on MNIST, docs/stabilizers.md): the flags that did
# better, what to say of them ({flags}: those flags), and where the docs give
# the runs; training with --stabilized says it (stabilized_advice). The
# Wasserstein losses lack G's updates early (one per five batches), not
# learning rates: their faithful recipes recovered by 6,120 iterations
# (coverage 0.46 wgan, 0.48 wgan_gp);
# --n_critic 1 had wgan at 0.56-0.59 by 2,040 in about the same time, and
# --n_critic 1 --g_updates 2 wgan_gp at 0.35-0.47 by 3,060 (in no less time).
# The MLP gan needed R1 and G's average on top (0.30-0.43 at 10,295).
_COLLAPSING_OBJECTIVES = "docs/stabilizers.md#objectives-that-collapse-on-carpedm20s-networks"
STABILIZED_IS_NOT_ENOUGH = {
    ("dcgan", "wgan"): (
        dict(n_critic=1), "G's few updates are what it lacks early: {flags} in place of"
        " --stabilized recovered it in a third of the iterations the faithful recipe took, in"
        " about the same time", _COLLAPSING_OBJECTIVES),
    ("dcgan", "wgan_gp"): (
        dict(n_critic=1, g_updates=2), "G's few updates are what it lacks early: a longer run"
        " recovers it; {flags} in place of --stabilized gets there in fewer"
        " iterations, not in less time", _COLLAPSING_OBJECTIVES),
    ("gan", ""): (dict(r1_gamma=100.0, ema_decay=0.999),
                  "{flags} added to it did",
                  "docs/stabilizers.md#the-familys-vanilla-mlp-gan"),
}


def stabilized_advice(config):
    """The line training logs when --stabilized trains a system it was measured
    not to rescue and the flags that did better are not all given (None
    otherwise)."""
    known = STABILIZED_IS_NOT_ENOUGH.get((config.model, config.loss))
    if not config.stabilized or known is None:
        return None
    flags, advice, docs = known
    if all(getattr(config, flag) == value for flag, value in flags.items()):
        return None
    system = f"--model {config.model}" + (f" --loss {config.loss}" if config.loss else "")
    advice = advice.format(flags=" ".join(f"--{flag} {value:g}" for flag, value in flags.items()))
    return f" [*] --stabilized did not rescue {system} on MNIST; {advice} ({docs})."


# Flags that only some systems read: one given to a system that does not read
# it is an error naming who does (every other flag applies to every system).
OPTIONAL_FLAGS = ("beta2", "clip_value", "lambda_gp", "n_classes", "ls_abc",
                  "divergence") + CARPEDM20_FLAGS


def _recipe(model, loss):
    """The model's recipe with the loss's parts in place of its own."""
    recipe = SYSTEMS[model]
    if not loss:
        return recipe
    chosen = LOSSES[loss]
    objective = chosen.objective
    if recipe.auxiliary_classifier:  # the class head keeps its objective
        objective = lambda options: objectives.with_auxiliary_classifier(  # noqa: E731
            chosen.objective(options))
    penalty_share = None
    if chosen.penalty:  # weighed with the adversarial term it is part of
        penalty_share = (objectives.AUXILIARY_CLASSIFIER_ADVERSARIAL_WEIGHT
                         if recipe.auxiliary_classifier else 1.0)
    return dataclasses.replace(
        recipe, name=f"{recipe.name} --loss {loss}", objective=objective,
        schedule=chosen.schedule or recipe.loss_schedule or recipe.schedule,
        optimizer=chosen.optimizer or recipe.optimizer, raw_scores=True,
        critic_norm=chosen.critic_norm, penalty_share=penalty_share,
        checkpoint_extras=tuple(dict.fromkeys(recipe.checkpoint_extras
                                              + chosen.checkpoint_extras)),
        flags=recipe.flags + chosen.flags)


def compose(model, loss, options):
    """The system `--model model --loss loss` trains: the model's networks and
    data, with the loss's objective and what it brings (its schedule, optimizer,
    penalty, critic norm) in place of the model's own, every setting resolved
    from `options` (the run's Config). The only place where a --loss means
    anything."""
    recipe = _recipe(model, loss)
    schedule = dataclasses.replace(
        recipe.schedule, n_critic=int(options.n_critic),
        clip_value=None if recipe.schedule.clip_value is None else float(options.clip_value))
    extras = recipe.checkpoint_extras
    if schedule.n_critic > 1:  # an iteration without G's turn logs G's last loss
        extras = tuple(dict.fromkeys(extras + ("last_g_loss",)))
    if options.g_updates is not None:
        schedule = dataclasses.replace(schedule, generator_updates=int(options.g_updates))

    def optimizer(learning_rate):  # the two time-scale rule: each player its own rate
        return OptimizerSettings(
            kind=recipe.adam if recipe.optimizer == "adam" else "torch_rmsprop",
            learning_rate=float(options.learning_rate if learning_rate is None
                                else learning_rate),
            beta1=float(options.beta1), beta2=float(options.beta2))

    return System(
        name=recipe.name, recipe=SYSTEMS[model], networks=recipe.networks,
        objective=recipe.objective(options), schedule=schedule,
        d_optimizer=optimizer(options.d_learning_rate),
        g_optimizer=optimizer(options.g_learning_rate), raw_scores=recipe.raw_scores,
        # Spectral norm is D's normalization (SNGAN's D has no other): README.
        critic_norm="none" if options.spectral_norm else recipe.critic_norm,
        penalty_weight=(None if recipe.penalty_share is None
                        else recipe.penalty_share * float(options.lambda_gp)),
        original_loss_eval=bool(options.original_loss_eval), checkpoint_extras=extras,
        flags=flags_read(model, loss), sample_interval=int(options.sample_freq),
        spectral_norm=bool(options.spectral_norm),
        averaging=(Averaging(float(options.ema_decay), int(options.ema_start))
                   if options.ema_decay else None),
        diffaugment=(diffaugment.parse(options.diffaugment) if options.diffaugment else ()),
        r1_gamma=float(options.r1_gamma), r1_every=int(options.r1_every))


def flags_read(model, loss=""):
    """The optional flags (OPTIONAL_FLAGS) that `--model model --loss loss` reads."""
    recipe = _recipe(model, loss)
    read = set(recipe.flags)
    if recipe.optimizer == "adam":
        read.add("beta2")
    if recipe.schedule.clip_value is not None:
        read.add("clip_value")
    if recipe.penalty_share is not None:
        read.add("lambda_gp")
    if recipe.labels == "required":
        read.add("n_classes")
    if loss and "original_loss_eval" in read:  # the original's own losses only
        read.remove("original_loss_eval")
    return tuple(sorted(read))


def readers_of(flag):
    """Who reads an optional flag, for error messages: models with their own
    loss, and losses that bring it to any model."""
    readers = [f"--model {model}" for model in SYSTEMS if flag in flags_read(model)]
    readers += [f"--loss {loss}" for loss in LOSSES
                if all(flag in flags_read(model, loss) for model in SYSTEMS)]
    return ", ".join(readers)


def stabilizers_name_part(options):
    """The stabilizers' part of a run's name ('' for none): ".stabilized" for
    --stabilized as it stands, else what is on: ".sn", ".ema0.999",
    ".da_color-translation", ".r1_10" (".r1_10x16" lazily)."""
    parts = []
    if options.spectral_norm:
        parts.append("sn")
    if options.ema_decay:
        parts.append(f"ema{options.ema_decay:g}")
    if options.diffaugment:
        parts.append("da_" + "-".join(diffaugment.parse(options.diffaugment)))
    if options.r1_gamma:
        parts.append(f"r1_{options.r1_gamma:g}" + (f"x{options.r1_every}"
                                                   if options.r1_every > 1 else ""))
    if options.stabilized:  # the parts it turns on are in its name
        preset = (["sn"] if STABILIZED.get("spectral_norm") else []) + (
            [f"ema{STABILIZED['ema_decay']:g}"] if STABILIZED.get("ema_decay") else [])
        parts = ["stabilized"] + [part for part in parts if part not in preset]
    return "".join(f".{part}" for part in parts)


def run_name_part(loss, options):
    """The loss's part of a run's name ('' for the model's own)."""
    return "." + LOSSES[loss].run_name.format(name=loss, divergence=options.divergence) \
        if loss else ""


# ------------------------------------------------------------ the flags' rules

def _ls_abc_rule(config):
    try:
        if len(config.ls_targets) == 3 and all(math.isfinite(t) for t in config.ls_targets):
            return
    except ValueError:
        pass
    raise ValueError(f"--ls_abc takes three numbers a,b,c (fake target, real target, G's"
                     f" target), e.g. 0,1,1 or -1,1,0; got {config.ls_abc!r}.")


def _positive(name, why):
    def rule(config):
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"--{name} must be positive ({why}), got {value}.")
        if not math.isfinite(value):
            raise ValueError(f"--{name} must be a finite number ({why}), got {value}.")
    return rule


def _rule(check, message):
    def rule(config):
        if not check(config):
            raise ValueError(message.format(c=config))
    return rule


# The value rules of the flags the systems read (checked when a system reads one).
RULES = {
    "n_critic": _rule(lambda c: c.n_critic >= 1,
                      "--n_critic must be at least 1 (G's turn comes every n_critic-th batch;"
                      " 1: every batch), got {c.n_critic}."),
    "beta2": _rule(lambda c: 0 <= c.beta2 < 1, "--beta2 must be in [0, 1), got {c.beta2}."),
    "clip_value": _positive("clip_value", "the critic's weights are clipped to [-c, c] after"
                                          " each update"),
    "lambda_gp": _rule(lambda c: 0 <= c.lambda_gp < math.inf,
                       "--lambda_gp must be at least 0 and finite (the gradient penalty's"
                       " weight; 0 turns it off), got {c.lambda_gp}."),
    "ls_abc": _ls_abc_rule,
    "divergence": _rule(lambda c: c.divergence in objectives.DIVERGENCES,
                        "Unknown --divergence={c.divergence!r}; use one of "
                        + ", ".join(objectives.DIVERGENCES) + "."),
    "n_classes": _rule(lambda c: c.n_classes == data.IDX_CLASSES,
                       "{c.dataset} has " + str(data.IDX_CLASSES) + " classes; --n_classes"
                       " must be " + str(data.IDX_CLASSES) + ", got {c.n_classes}."),
}


def check_config(config):
    """Raises ValueError, naming the fix, for a --model or --loss that does not
    exist, a flag set that the run's system cannot take, or a value the rules
    of a flag it reads refuse (the images: check_images; flags typed that it
    does not read: check_typed)."""
    if config.model not in SYSTEMS:
        raise ValueError(f"Unknown --model={config.model!r}; use one of {', '.join(MODELS)}.")
    if config.loss and config.loss not in LOSSES:
        raise ValueError(f"Unknown --loss={config.loss!r}; use one of {', '.join(LOSSES)}.")
    read = flags_read(config.model, config.loss)
    if config.loss and config.original_loss_eval:
        raise ValueError("--original_loss_eval re-runs the original's own losses; drop it"
                         " with --loss.")
    stabilizers = [name for name in ("spectral_norm", "ema_decay", "diffaugment", "r1_gamma")
                   if getattr(config, name)]
    if stabilizers and config.original_loss_eval:
        raise ValueError(f"--original_loss_eval re-runs the original's own losses, which"
                         f" {', '.join('--' + name for name in stabilizers)} change; drop it.")
    for flag in ("original_loss_eval", "compare_with"):  # set: on, whether typed or not
        if getattr(config, flag) and flag not in read:
            _refuse_unread(config, flag)
    for flag in ("n_critic",) + read:
        if flag in RULES:
            RULES[flag](config)


def check_typed(config, typed):
    """Raises ValueError, naming who reads it, for a flag typed that the run's
    system does not read."""
    read = flags_read(config.model, config.loss)
    for flag in OPTIONAL_FLAGS:
        if flag in typed and flag not in read:
            _refuse_unread(config, flag)


def _refuse_unread(config, flag):
    if flag == "compare_with":
        raise ValueError("--compare_with compares a run with an original carpedm20 TF1 run;"
                         " it needs --model dcgan.")
    if flag in CARPEDM20_FLAGS:
        raise ValueError(f"--{flag} is a flag of carpedm20's DCGAN, which --model"
                         f" {config.model} does not read; drop it (the family's sizes come"
                         " from --output_height, its widths from the script).")
    chosen = f"--model {config.model}" + (f" --loss {config.loss}" if config.loss else "")
    raise ValueError(f"--{flag} does not apply to {chosen} (it is read by"
                     f" {readers_of(flag)}); drop it.")


def check_images(config):
    """Raises ValueError, naming the fix, for images the system's networks and
    data cannot make. Train mode checks it once a run's record has given what
    the flags did not (test mode's images are the run's)."""
    recipe = _recipe(config.model, config.loss)
    labelled = data.is_idx_dataset(config.dataset)
    if recipe.labels == "required" and not labelled:
        raise ValueError(f"--model {config.model} is conditional and needs labelled data:"
                         f" --dataset mnist or fashion_mnist (an image folder such as"
                         f" {config.dataset!r} has no labels). Use an unconditional model"
                         " (gan, wgan, wgan_gp, lsgan) for a folder.")
    networks.KINDS[recipe.networks].check_images(config, labelled)
