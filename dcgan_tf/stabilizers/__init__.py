"""What users reach for when a GAN collapses, each a small part of any system
(composed in systems.compose, named by one flag):

- spectral_norm: D's weights divided by their largest singular value
  (Miyato et al. 2018);
- ema: an exponential moving average of G's weights, for sampling;
- diffaugment: the same differentiable augmentations of every image D sees,
  real and fake, in both players' updates (Zhao et al. 2020);
and, in objectives.py beside WGAN-GP's penalty, R1 (Mescheder et al. 2018).
The two time-scale update rule and G's updates per D update are settings of
the system itself (systems.compose).
"""
