"""The networks dcgan-tf trains: carpedm20's DCGAN (`dcgan_tf.models`) and the
PyTorch-GAN family's (`pytorch_gan`), with PyTorch's layers in `torch_layers`."""
