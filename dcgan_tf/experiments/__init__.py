"""The DCGAN paper's experiments on a trained run (Radford, Metz, Chintala 2015,
sections 5-6), for carpedm20's networks and the family's where they mean
something:

- features.py: D's hidden layers, each max-pooled to a 4 x 4 grid and
  concatenated (the paper's feature extractor);
- linear_probe.py: a regularised linear L2-SVM on those features, against raw
  pixels, D's initial weights and a supervised network of D's architecture;
- latent_space.py: walks through random points of z (linear, and spherical for
  normal priors) and vector arithmetic on averaged exemplars;
- guided_backprop.py: guided backpropagation of D's most active last-layer
  features on real images;
- memorisation.py: each sample's nearest training images, and whether samples
  lie closer to the training set than unseen real images do;
- real_images.py: real images as the run's D sees them, and the labelled data
  the probe reads.

commands/experiments.py runs them from a Config; visualize.py draws the walks
and the arithmetic.
"""
