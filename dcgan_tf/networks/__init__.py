"""The networks dcgan-tf trains: carpedm20's DCGAN (`carpedm20`, with the
original's TF1 layers in `tf1_layers`) and the PyTorch-GAN family's
(`pytorch_gan`, with PyTorch's layers in `torch_layers`)."""
