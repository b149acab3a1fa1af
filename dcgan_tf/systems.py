"""The GAN systems `--model` names: each is networks + objective + update
schedule + optimizers, composed here, in one place, as data.

`dcgan` is carpedm20's recipe (networks `models.py`, sigmoid cross-entropy on
logits, D then G twice, TF1's Adam; trained by `training.GANTrainer`, whose
numbers the original's TF1 graphs pin). The others are PyTorch-GAN's scripts
at 36d3c77 (implementations/<model>/<model>.py), trained by
`family_trainer.FamilyTrainer` from the parts named below. Each preset also
carries its script's defaults; a flag given on the command line wins.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Schedule:
    """What one iteration does, in order.

    generator_first: the G update first, then the D update on that same G(z),
      detached (gan, cgan, acgan, lsgan); else the critic's update first, on a
      detached G(z), and the G update on a new forward pass of the same z
      (wgan, wgan_gp).
    n_critic: the G update runs in iterations whose batch index within the
      epoch is a multiple of it (the scripts test `i % n_critic == 0`).
    clip_value: after each D update, D's parameters are clipped to [-c, c].
    """

    generator_first: bool
    n_critic: int = 1
    clip_value: float = None


@dataclasses.dataclass(frozen=True)
class System:
    """One `--model`: which networks, objective, schedule and optimizer."""

    name: str
    summary: str
    networks: str            # "mlp", "conditional_mlp", "conv", "conditional_conv"
    objective: str           # a key of objectives.SYSTEM_OBJECTIVES
    schedule: Schedule
    optimizer: str           # "adam" (torch.optim.Adam) or "rmsprop" (torch.optim.RMSprop)
    normal_init: bool        # the script applies weights_init_normal
    defaults: dict           # the script's options, under our flag names
    options: tuple = ()      # the family flags that apply: n_critic, clip_value, ...
    # The script's sample grid runs G in training mode (moving its batch-norm
    # averages) every sample interval: cgan and acgan.
    samples_in_training_mode: bool = False

    @property
    def conditional(self):
        return self.networks.startswith("conditional")

    @property
    def has_penalty(self):
        return self.objective == "wasserstein_gp"


# Every script's shared options: Adam 2e-4 (0.5, 0.999), batch 64, latent 100,
# 200 epochs, a sample grid every 400 batches.
_COMMON = dict(learning_rate=0.0002, beta1=0.5, beta2=0.999, batch_size=64, z_dim=100,
               epoch=200, sample_freq=400, z_dist="normal01")

SYSTEMS = {
    "gan": System(
        "gan", "the vanilla GAN (Goodfellow et al. 2014): MLPs, binary cross-entropy",
        networks="mlp", objective="bce", schedule=Schedule(generator_first=True),
        optimizer="adam", normal_init=False, defaults=dict(_COMMON, output_height=28),
        options=("beta2",)),
    "cgan": System(
        "cgan", "the conditional GAN (Mirza & Osindero 2014): MLPs with label embeddings,"
        " trained with MSE as the script does", networks="conditional_mlp", objective="mse",
        schedule=Schedule(generator_first=True), optimizer="adam", normal_init=False,
        defaults=dict(_COMMON, output_height=32, n_classes=10), options=("beta2", "n_classes"),
        samples_in_training_mode=True),
    "acgan": System(
        "acgan", "AC-GAN (Odena et al. 2017): conv nets, validity and class heads",
        networks="conditional_conv", objective="acgan", schedule=Schedule(generator_first=True),
        optimizer="adam", normal_init=True, defaults=dict(_COMMON, output_height=32, n_classes=10),
        options=("beta2", "n_classes"), samples_in_training_mode=True),
    "wgan": System(
        "wgan", "WGAN (Arjovsky et al. 2017): the gan MLPs as a critic, weight clipping,"
        " RMSprop", networks="mlp", objective="wasserstein",
        schedule=Schedule(generator_first=False, n_critic=5, clip_value=0.01),
        optimizer="rmsprop", normal_init=False,
        defaults=dict(_COMMON, learning_rate=0.00005, output_height=28, n_critic=5,
                      clip_value=0.01), options=("n_critic", "clip_value")),
    "wgan_gp": System(
        "wgan_gp", "WGAN-GP (Gulrajani et al. 2017): the gan MLPs as a critic, gradient"
        " penalty", networks="mlp", objective="wasserstein_gp",
        schedule=Schedule(generator_first=False, n_critic=5), optimizer="adam",
        normal_init=False, defaults=dict(_COMMON, output_height=28, n_critic=5, lambda_gp=10.0),
        options=("beta2", "n_critic", "lambda_gp")),
    "lsgan": System(
        "lsgan", "LSGAN (Mao et al. 2017): conv nets, least squares to 1 and 0",
        networks="conv", objective="mse", schedule=Schedule(generator_first=True),
        optimizer="adam", normal_init=True,
        defaults=dict(_COMMON, output_height=32, sample_freq=1000), options=("beta2",)),
}

MODELS = ("dcgan",) + tuple(SYSTEMS)
# Flags only the family reads, and the carpedm20 flags the family does not.
FAMILY_FLAGS = ("beta2", "n_critic", "clip_value", "lambda_gp", "n_classes")
DCGAN_ONLY_FLAGS = ("gf_dim", "df_dim", "gfc_dim", "dfc_dim", "original_loss_eval", "crop",
                    "input_height", "input_width", "xla", "sync_bn", "mixed_precision")


def schedule_of(system, n_critic=None, clip_value=None):
    """The system's schedule with the run's --n_critic / --clip_value."""
    changes = {}
    if n_critic is not None and system.schedule.n_critic != 1:
        changes["n_critic"] = n_critic
    if clip_value is not None and system.schedule.clip_value is not None:
        changes["clip_value"] = clip_value
    return dataclasses.replace(system.schedule, **changes)


@dataclasses.dataclass(frozen=True)
class Loss:
    """One `--loss`: the objective (objectives.for_loss), the schedule it asks for,
    its optimizer and defaults, and the flags it reads."""

    name: str
    summary: str
    critic_schedule: bool = False  # D every iteration, G when batch index % n_critic == 0
    optimizer: str = None          # None: the model's own; "adam" or "rmsprop"
    defaults: dict = dataclasses.field(default_factory=dict)
    options: tuple = ()


LOSSES = {
    "minimax": Loss("minimax", "the original GAN (Goodfellow et al. 2014): D by cross-entropy,"
                    " G minimizes log(1 - D(G(z))), the saturating form"),
    "nonsaturating": Loss("nonsaturating", "cross-entropy, G minimizes -log D(G(z))"
                          " (carpedm20's and the GAN paper's practical form)"),
    "lsgan": Loss("lsgan", "least squares (Mao et al. 2017), targets --ls_abc",
                  options=("ls_abc",)),
    "wgan": Loss("wgan", "Wasserstein with weight clipping (Arjovsky et al. 2017)",
                 critic_schedule=True, optimizer="rmsprop",
                 defaults=dict(learning_rate=0.00005, n_critic=5, clip_value=0.01),
                 options=("n_critic", "clip_value")),
    "wgan_gp": Loss("wgan_gp", "Wasserstein with a gradient penalty (Gulrajani et al. 2017);"
                    " the critic's batch norms become layer norms",
                    critic_schedule=True, optimizer="adam",
                    defaults=dict(learning_rate=0.0001, beta1=0.5, beta2=0.9, n_critic=5,
                                  lambda_gp=10.0),
                    options=("n_critic", "lambda_gp", "beta2")),
    "hinge": Loss("hinge", "hinge (Lim & Ye 2017; Miyato et al. 2018): D on"
                  " relu(1 -+ D), G minimizes -D(G(z))"),
    "fgan": Loss("fgan", "f-GAN (Nowozin et al. 2016) for --divergence, the paper's"
                 " alternative G step", options=("divergence",)),
}
# Flags read only by some models or losses: who reads each is checked.
OPTIONAL_FLAGS = FAMILY_FLAGS + ("ls_abc", "divergence")


def applicable_flags(model, loss):
    """The optional flags that `--model` with `--loss` (empty: its own) reads."""
    flags = set(SYSTEMS[model].options) if model in SYSTEMS else set()
    if loss:
        flags |= set(LOSSES[loss].options)
    return flags


def readers_of(flag):
    """Who reads an optional flag, for error messages."""
    readers = [f"--model {m}" for m, s in SYSTEMS.items() if flag in s.options]
    readers += [f"--loss {n}" for n, l in LOSSES.items() if flag in l.options]
    return ", ".join(readers)
