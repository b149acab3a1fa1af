"""The names main.py's flags choose among, importable without TensorFlow:
main.py defines and parses its flags, and prints --help, before it imports
TensorFlow (about 7 s on the slowest CPU met), so a typed flag's mistake or a
look at the flags takes a second. The modules that give these names meaning
take them from here (latent, visualize, experiments.latent_space) or hold a
registry under the same names (systems.SYSTEMS, systems.LOSSES,
objectives.DIVERGENCES: tests/test_cli.py holds them to these)."""

# --model: carpedm20's DCGAN, then the PyTorch-GAN systems.
MODELS = ("dcgan", "gan", "cgan", "acgan", "wgan", "wgan_gp", "lsgan")
# --loss: the objectives any model's networks can train with.
LOSSES = ("minimax", "nonsaturating", "lsgan", "wgan", "wgan_gp", "hinge", "fgan")
# --divergence: --loss fgan's f-divergences.
DIVERGENCES = ("kl", "reverse_kl", "pearson", "hellinger", "js", "gan")
# --z_dist: the prior of z.
Z_DISTRIBUTIONS = ("uniform_signed", "uniform_unsigned", "normal01")
# --visualize_option: those drawn from G alone, then those that read D too.
GENERATOR_VISUALIZATIONS = ("0", "1", "2", "3", "4", "class_grid", "label_interpolation",
                            "walk", "arithmetic")
DISCRIMINATOR_VISUALIZATIONS = ("guided_backprop",)
VISUALIZATIONS = GENERATOR_VISUALIZATIONS + DISCRIMINATOR_VISUALIZATIONS
# --walk_interpolation
WALK_INTERPOLATIONS = ("auto", "linear", "spherical")
# --arithmetic's form, in --help and in the error that refuses a malformed one.
ARITHMETIC_HELP = ("concepts of exemplars from the numbered grid, joined by + and -, e.g."
                   " '3,17,42 - 5,9,11 + 8,21,30'; conditional models decode the result with"
                   " the label after '@' ('... @7'), or else the first exemplar's")
