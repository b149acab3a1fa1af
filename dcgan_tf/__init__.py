"""dcgan-tf: a faithful TensorFlow 2 port of carpedm20/DCGAN-tensorflow."""

__version__ = "0.1.0"
