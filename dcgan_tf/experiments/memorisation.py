"""Has the generator memorised its training images? Each sample's nearest
training images, and the distribution of those distances against the same
distances of real images the model never trained on: a model that memorises
makes samples closer to its training images than unseen real images are.

Unseen real images are the held-out test split where the run trained without
it; where it trained on every real image there is (carpedm20's MNIST merges
train and test; an image folder has no split), each real image's distance to
the *other* training images stands in for it (leave-one-out: for images drawn
independently, the distance of one of N to the other N - 1 is distributed as
a new image's distance to N - 1 of them).
"""

import numpy as np

NEIGHBOURS = 5
# Unseen real images the samples are compared with, where there are so many,
# and the fewest a verdict is given on.
UNSEEN_REAL = 1000
MIN_UNSEEN_REAL = 100
# The fewest samples a verdict is given on: of fewer, one near copy by chance
# is more than NEAR_COPY_EXCESS times the near-copy share of a model that
# generalises (of 100, six are: chance 0.06%).
MIN_SAMPLES = 100
# A sample closer to the training set than all but this share of unseen real
# images is a near copy ...
NEAR_COPY_QUANTILE = 0.01
# ... and a model making more than this many times that share of them copies.
NEAR_COPY_EXCESS = 5.0


def _top_k_merge(best_d, best_i, distances, indices, k):
    """The k smallest of the kept (best_d, best_i) and a new chunk's, per row,
    ties to the earlier column: a stable sort's first k. Found by a partition
    (a full sort of each chunk's row was most of the search's time); a row
    whose k-th value ties with one the partition left out is sorted whole."""
    d = np.concatenate([best_d, distances], axis=1)
    i = np.concatenate([best_i, indices], axis=1)
    if d.shape[1] <= k:
        order = np.argsort(d, axis=1, kind="stable")
    else:
        chosen = np.sort(np.argpartition(d, k - 1, axis=1)[:, :k], axis=1)  # column order
        chosen_d = np.take_along_axis(d, chosen, 1)
        order = np.take_along_axis(chosen, np.argsort(chosen_d, axis=1, kind="stable"), 1)
        kth = chosen_d.max(axis=1, keepdims=True)
        tied = np.sum(d == kth, axis=1) != np.sum(chosen_d == kth, axis=1)
        if tied.any():
            order[tied] = np.argsort(d[tied], axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)


def nearest(queries, reference_chunks, k=NEIGHBOURS, query_indices=None):
    """The k nearest reference rows of each query row by Euclidean distance.

    queries [n, D]; reference_chunks: an iterable of [m, D] arrays (streamed, so
    the reference set need not fit in memory); query_indices [n]: where each
    query sits in the reference set, excluded from its own neighbours
    (leave-one-out). Returns (distances [n, k] float64, indices [n, k] int64),
    nearest first; distances in float64 from |q|^2 + |r|^2 - 2 q.r, clipped at 0."""
    queries = np.asarray(queries, np.float64).reshape(len(queries), -1)
    query_norms = np.sum(queries ** 2, axis=1)[:, None]
    best_d = np.full((len(queries), 0), np.inf)
    best_i = np.zeros((len(queries), 0), np.int64)
    offset = 0
    for chunk in reference_chunks:
        chunk = np.asarray(chunk, np.float64).reshape(len(chunk), -1)
        squared = query_norms + np.sum(chunk ** 2, axis=1)[None, :] - 2.0 * queries @ chunk.T
        distances = np.sqrt(np.clip(squared, 0.0, None))
        indices = np.broadcast_to(np.arange(offset, offset + len(chunk)), distances.shape)
        if query_indices is not None:
            distances = np.where(indices == np.asarray(query_indices)[:, None], np.inf,
                                 distances)
        best_d, best_i = _top_k_merge(best_d, best_i, distances, indices, k)
        offset += len(chunk)
    if best_d.shape[1] < k:
        raise ValueError(f"The reference set has {offset} images; {k} nearest neighbours"
                         " need more.")
    return best_d, best_i


def closer_than_unseen(sample_distances, real_distances):
    """P(a sample's nearest-neighbour distance < an unseen real image's), ties
    counted half (the Mann-Whitney statistic): 0.5 means samples are as close to
    the training set as unseen real images; above, closer."""
    s = np.asarray(sample_distances, np.float64)
    r = np.sort(np.asarray(real_distances, np.float64))
    below = np.searchsorted(r, s, side="left")
    equal = np.searchsorted(r, s, side="right") - below
    greater = len(r) - below - equal   # real distances above the sample's
    return float(np.mean((greater + 0.5 * equal) / len(r)))


def verdict(sample_distances, real_distances):
    """The report of the distance distributions, and which finding it is.

    sample_distances [n, k], real_distances [m, k]: each sample's and each unseen
    real image's k nearest training images' distances, nearest first. Two
    things can fool a nearest-neighbour test, so each is checked before a
    verdict is given:
    - too few unseen real images (MIN_UNSEEN_REAL): their 1% quantile is then
      their smallest distance, chance; too few samples (MIN_SAMPLES): one near
      copy by chance is then a large share; "undetermined";
    - samples like an average of the data (a young or collapsed generator's
      grey blur) sit nearer every training image than real images do, but no
      nearer their nearest than their k-th: nearest / k-th nearest ("how
      much nearer one training image is than the others") tells a copy (near
      0) from an average (near 1). Near copies must be near one image: close
      and as distinct as the nearest 1% of unseen real images are."""
    s, r = np.asarray(sample_distances, np.float64), np.asarray(real_distances, np.float64)
    k = s.shape[1]
    s_ratio, r_ratio = _distinctness(s), _distinctness(r)
    s, r = s[:, 0], r[:, 0]
    report = {"samples": _summary(s), "unseen_real": _summary(r),
              "samples_nearest_over_kth": _summary(s_ratio),
              "unseen_real_nearest_over_kth": _summary(r_ratio),
              "probability_sample_closer_than_unseen": closer_than_unseen(s, r)}
    if len(r) < MIN_UNSEEN_REAL:
        return {"finding": "undetermined", **report, "verdict": (
            f"undetermined: only {len(r)} unseen real images to compare with, and the test"
            f" needs at least {MIN_UNSEEN_REAL} (a 1% quantile of fewer is chance)")}
    if len(s) < MIN_SAMPLES:
        return {"finding": "undetermined", **report, "verdict": (
            f"undetermined: only {len(s)} samples, and the test needs at least {MIN_SAMPLES}"
            " (among fewer, one near copy by chance would pass for memorising); pass"
            f" --nearest_neighbours {MIN_SAMPLES} or more")}
    threshold = float(np.quantile(r, NEAR_COPY_QUANTILE))
    ratio_threshold = float(np.quantile(r_ratio, NEAR_COPY_QUANTILE))
    near_copies = float(np.mean((s < threshold) & (s_ratio < ratio_threshold)))
    report.update(near_copy_threshold=threshold, near_copy_distinctness=ratio_threshold,
                  near_copy_share=near_copies)
    closer = np.median(s) < np.median(r)
    distinct = np.median(s_ratio) <= np.median(r_ratio)
    if near_copies > NEAR_COPY_EXCESS * NEAR_COPY_QUANTILE:
        finding = "copies"
        words = (f"memorising: {near_copies:.1%} of samples are nearer one training image than"
                 f" {1 - NEAR_COPY_QUANTILE:.0%} of unseen real images are (a model that"
                 f" generalises makes about {NEAR_COPY_QUANTILE:.0%})")
    elif closer and distinct:
        finding = "closer_than_unseen"
        words = ("closer to the training images than unseen real images are (median"
                 f" {np.median(s):.4g} vs {np.median(r):.4g}): a sign of memorisation")
    elif closer:
        finding = "average_not_copies"
        words = ("no sign of memorisation, and a sign the generator has not learned the data:"
                 " samples are nearer the training images than unseen real images are (median"
                 f" {np.median(s):.4g} vs {np.median(r):.4g}) but about as near their"
                 f" {k}th-nearest as their nearest (median nearest / {k}th"
                 f" {np.median(s_ratio):.3f} vs"
                 f" {np.median(r_ratio):.3f}): like an average of many images, not a copy of"
                 " one (--evaluate scores them)")
    else:
        finding = "no_sign_of_memorisation"
        words = ("no sign of memorisation: samples are no closer to the training images than"
                 f" unseen real images are (median {np.median(s):.4g} vs {np.median(r):.4g})")
    return {"finding": finding, "verdict": words, **report}


def _distinctness(distances):
    """Nearest over k-th nearest distance, per row (1 where all are 0)."""
    kth = distances[:, -1]
    return np.where(kth > 0, distances[:, 0] / np.where(kth > 0, kth, 1.0), 1.0)


def _summary(distances):
    quantiles = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95)
    return {"count": int(len(distances)), "mean": float(np.mean(distances)),
            **{f"q{int(q * 100):02d}": float(np.quantile(distances, q)) for q in quantiles},
            "min": float(np.min(distances)), "max": float(np.max(distances))}
