"""How a set of generated images' features compares with real images' features,
as the field measures it beside the Frechet distance (metrics.frechet_distance):

- improved precision and recall (Kynkaanniemi et al. 2019, k = 3): the share of
  generated samples inside the real samples' k-nearest-neighbour balls
  (fidelity), and of real samples inside the generated ones' (diversity);
- density and coverage (Naeem et al. 2020, k = 5): how many real balls hold a
  generated sample on average, divided by k (density: 1 where they match, can
  exceed 1), and the share of real balls that hold one at all (coverage);
  both use the real samples' balls only, so outliers among the generated ones
  do not inflate them;
- KID (Binkowski et al. 2018): the unbiased estimate of the squared MMD with
  the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, its mean and
  standard deviation over random subsets; unlike the Frechet distance it is
  unbiased for any sample size;
- the Frechet distance (Heusel et al. 2017) between Gaussians fitted to the two
  sets, and the intra-class Frechet distance: per label, between the generated images
  asked for it and the real ones of it, and the mean over labels.

Distances are computed in blocks, so 10,000 x 10,000 pairs never sit in
memory at once. A ball's radius is the distance to the k-th nearest *other*
sample of its own set, and a point counts as inside when strictly nearer, as in
the authors' code (prdc, the test oracle).
"""

import numpy as np

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
# The fewest samples every set figure can be taken of (recall's k-NN balls
# among the samples need k others each).
MIN_SAMPLES = PRECISION_RECALL_K + 1
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
BLOCK = 2048


def frechet_distance(features_a, features_b):
    """The Frechet distance between Gaussians fitted to two feature sets."""
    return frechet_distance_of_statistics(
        features_a.mean(0), np.cov(features_a, rowvar=False),
        features_b.mean(0), np.cov(features_b, rowvar=False))


def frechet_distance_of_statistics(mu_a, cov_a, mu_b, cov_b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), from means and
    covariances (published statistics are these)."""
    return FrechetReference(mu_a, cov_a).distance_of_statistics(mu_b, cov_b)


class FrechetReference:
    """A reference Gaussian for the Frechet distances of several sets to it. The
    trace of (S_r S)^1/2 is the sum of the square roots of the eigenvalues of
    S_r^1/2 S S_r^1/2 (symmetric: numpy's eigh is enough); the root of S_r, in
    2,048 dimensions most of the work, is taken once, when first needed. A set
    of n <= d features has S = B^T B with B its centred rows over sqrt(n - 1),
    and then those eigenvalues are the n x n matrix B S_r B^T's (C^T C and C C^T
    share theirs, C = B S_r^1/2): no root at all, the same figure to rounding
    (tested), a fraction of the time for the sets of a few hundred images a
    small image folder gives."""

    def __init__(self, mu, cov):
        self.mu, self.cov = np.asarray(mu, np.float64), np.asarray(cov, np.float64)
        self._sqrt_cov = None

    def _distance(self, mu, trace, middle):
        trace_sqrt = np.sum(np.sqrt(np.clip(middle, 0, None)))
        return float(np.sum((self.mu - mu) ** 2) + np.trace(self.cov) + trace - 2 * trace_sqrt)

    def distance_of_statistics(self, mu, cov):
        if self._sqrt_cov is None:
            values, vectors = np.linalg.eigh(self.cov)
            self._sqrt_cov = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        return self._distance(mu, np.trace(cov),
                              np.linalg.eigvalsh(self._sqrt_cov @ cov @ self._sqrt_cov))

    def distance(self, features):
        features = np.asarray(features, np.float64)
        mu = features.mean(0)
        if len(features) > features.shape[1]:
            return self.distance_of_statistics(mu, np.cov(features, rowvar=False))
        rows = (features - mu) / np.sqrt(len(features) - 1)
        return self._distance(mu, float(np.sum(rows * rows)),
                              np.linalg.eigvalsh(rows @ self.cov @ rows.T))


def _squared_norms(x):
    return np.einsum("ij,ij->i", x, x)


def _distance_blocks(a, b, block=BLOCK):
    """Yields (rows of a, Euclidean distances [len(rows), len(b)]) block by block."""
    b_norms = _squared_norms(b)
    for start in range(0, len(a), block):
        rows = a[start:start + block]
        squared = _squared_norms(rows)[:, None] + b_norms[None, :] - 2.0 * rows @ b.T
        yield slice(start, start + len(rows)), np.sqrt(np.clip(squared, 0.0, None))


def ball_radii(features, k):
    """Each sample's distance to its k-th nearest other sample of the same set."""
    return _ball_radii(np.asarray(features, np.float64), (k,))[k]


def _ball_radii(features, ks):
    """{k: radii} for each k of `ks`, from one pass over the pairwise distances."""
    if len(features) <= max(ks):
        raise ValueError(f"{len(features)} samples cannot have {max(ks)} nearest neighbours"
                         f" each; score at least {max(ks) + 1}.")
    radii = np.empty((len(features), len(ks)))
    for rows, distances in _distance_blocks(features, features):
        # The k+1-th smallest counts the sample itself (distance 0) first.
        radii[rows] = np.partition(distances, ks, axis=1)[:, list(ks)]
    return {k: radii[:, i] for i, k in enumerate(ks)}


def precision_recall(real, fake, k=PRECISION_RECALL_K):
    """(precision, recall): the shares of fake samples inside some real sample's
    k-NN ball, and of real samples inside some fake sample's."""
    real = np.asarray(real, np.float64)
    return _precision_recall(real, ball_radii(real, k), np.asarray(fake, np.float64), k)


def _precision_recall(real, real_radii, fake, k):
    return (_share_inside(fake, real, real_radii),
            _share_inside(real, fake, ball_radii(fake, k)))


def _share_inside(points, centres, radii):
    inside = np.zeros(len(points), bool)
    for rows, distances in _distance_blocks(points, centres):
        inside[rows] = np.any(distances < radii[None, :], axis=1)
    return float(np.mean(inside))


def density_coverage(real, fake, k=DENSITY_COVERAGE_K):
    """(density, coverage) of fake samples against the real samples' k-NN balls."""
    real = np.asarray(real, np.float64)
    return _density_coverage(real, ball_radii(real, k), np.asarray(fake, np.float64), k)


def _density_coverage(real, radii, fake, k):
    balls_holding = 0
    for _, distances in _distance_blocks(fake, real):
        balls_holding += int(np.sum(distances < radii[None, :]))
    nearest_fake = np.empty(len(real))
    for rows, distances in _distance_blocks(real, fake):
        nearest_fake[rows] = distances.min(axis=1)
    return (float(balls_holding / (k * len(fake))),
            float(np.mean(nearest_fake < radii)))


def mmd_squared_unbiased(x, y):
    """The unbiased estimate of MMD^2 between samples x [m, d] and y [n, d] with the
    cubic polynomial kernel (x.y / d + 1)^3."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d = x.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
                 + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2.0 * k_xy.mean())


def kernel_inception_distance(real, fake, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE,
                              seed=0):
    """KID: the unbiased MMD^2 over `subsets` random subsets of `subset_size` of
    each set (fewer where a set is smaller); returns (mean, standard deviation,
    the subset size used)."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError("KID needs at least 2 samples of each set.")
    rng = np.random.default_rng(seed)
    values = [mmd_squared_unbiased(real[rng.choice(len(real), size, replace=False)],
                                   fake[rng.choice(len(fake), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values)), size


def frechet_distance_by_class(real, real_labels, fake, fake_labels, classes):
    """[{label, frechet_distance}] per label that both sets have at least two
    samples of, and their mean (the intra-class Frechet distance)."""
    rows = []
    for label in range(classes):
        mine, theirs = fake[fake_labels == label], real[real_labels == label]
        distance = (frechet_distance(mine, theirs)
                    if len(mine) > 1 and len(theirs) > 1 else None)
        rows.append({"label": label, "count": int(len(mine)), "frechet_distance": distance})
    known = [row["frechet_distance"] for row in rows if row["frechet_distance"] is not None]
    return rows, (float(np.mean(known)) if known else None)


class RealSet:
    """Real features with their k-NN balls (for both k) measured once, for the set
    figures of several sets against them (a run's samples and real images)."""

    def __init__(self, real):
        self.features = np.asarray(real, np.float64)
        self.radii = _ball_radii(self.features, (PRECISION_RECALL_K, DENSITY_COVERAGE_K))

    def figures(self, fake, seed=0):
        """Every set figure of fake features against these, JSON-ready."""
        fake = np.asarray(fake, np.float64)
        precision, recall = _precision_recall(self.features, self.radii[PRECISION_RECALL_K],
                                              fake, PRECISION_RECALL_K)
        density, coverage = _density_coverage(self.features, self.radii[DENSITY_COVERAGE_K],
                                               fake, DENSITY_COVERAGE_K)
        kid, kid_std, size = kernel_inception_distance(self.features, fake, seed=seed)
        return {"precision": precision, "recall": recall, "density": density,
                "coverage": coverage, "kid": kid, "kid_std": kid_std, "kid_subset_size": size,
                "kid_subsets": KID_SUBSETS}


def figures(real, fake, seed=0):
    """Every set figure of fake features against real ones, JSON-ready."""
    return RealSet(real).figures(fake, seed)
