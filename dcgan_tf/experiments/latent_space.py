"""Walks and arithmetic in the generator's latent space (the DCGAN paper's
figures 4, 7 and 8), on z alone: visualize.py decodes and draws them.

A walk passes through a series of random points of z (the paper's nine); its
steps are linear, or spherical (Shoemake's slerp) for a normal prior, where the
midpoint of a straight line between two typical samples has a smaller norm
than any typical sample (White 2016, "Sampling generative networks").

Arithmetic: each concept's z is the mean of its exemplars' z (the paper
averaged three, single samples being unstable), the result is the signed sum
of the means (A - B + C), and its neighbours add uniform noise of +-0.25.
"""

import dataclasses
import re

import numpy as np

from dcgan_tf import choices

INTERPOLATIONS = choices.WALK_INTERPOLATIONS
# The paper's neighbours of an arithmetic result: z + U(-0.25, 0.25).
NEIGHBOUR_SPREAD = 0.25


def interpolation_for(requested, z_dist):
    """The walk's interpolation: `auto` is spherical for a normal prior and
    linear for a uniform one; spherical on a uniform prior is refused (its arcs
    leave the prior's cube)."""
    if requested not in INTERPOLATIONS:
        raise ValueError(f"Unknown --walk_interpolation={requested!r}; use one of"
                         f" {', '.join(INTERPOLATIONS)}.")
    if requested == "auto":
        return "spherical" if z_dist == "normal01" else "linear"
    if requested == "spherical" and z_dist != "normal01":
        raise ValueError(f"--walk_interpolation spherical follows great circles, which leave"
                         f" the cube of a uniform prior (--z_dist {z_dist}); use linear (or"
                         " auto), or a run trained with --z_dist normal01.")
    return requested


def slerp(a, b, t):
    """Spherical interpolation from a [Z] to b [Z] at fractions t [T] -> [T, Z]:
    along the great circle between their directions, the norm moving linearly
    from |a| to |b| (so points of one norm keep it). Collinear points fall back
    to the straight line."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[:, None]
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / max(norm_a * norm_b, 1e-12), -1.0, 1.0)
    angle = np.arccos(cos)
    if np.sin(angle) < 1e-6:
        return (1 - t) * a + t * b
    unit_a, unit_b = a / norm_a, b / norm_b
    direction = (np.sin((1 - t) * angle) * unit_a + np.sin(t * angle) * unit_b) / np.sin(angle)
    return direction * ((1 - t) * norm_a + t * norm_b)


def interpolate(a, b, t, kind):
    """z from a to b at fractions t [T]: [T, Z] float32."""
    if kind == "spherical":
        return slerp(a, b, t).astype(np.float32)
    t = np.asarray(t, np.float64)[:, None]
    return ((1 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)).astype(
        np.float32)


def walk(points, steps, kind, closed=False):
    """The walk through points [P, Z], `steps` steps per leg: [(P - 1) * steps + 1,
    Z], or [P * steps, Z] when `closed` (back to the first point, for a loop);
    every point sits at a multiple of `steps`."""
    points = np.asarray(points)
    stops = list(points) + ([points[0]] if closed else [])
    legs = [interpolate(a, b, np.arange(steps) / steps, kind) for a, b in zip(stops, stops[1:])]
    if not closed:
        legs.append(points[-1:].astype(np.float32))
    return np.concatenate(legs)


@dataclasses.dataclass(frozen=True)
class Term:
    """One concept of an expression: its sign and its exemplars' sample numbers."""

    sign: int
    exemplars: tuple


@dataclasses.dataclass(frozen=True)
class Expression:
    """A parsed --arithmetic: its terms, and the label G is given (conditional
    models), None for the first exemplar's."""

    terms: tuple
    label: int = None

    @property
    def numbers(self):
        return sorted({n for term in self.terms for n in term.exemplars})


ARITHMETIC_HELP = choices.ARITHMETIC_HELP


def parse_arithmetic(text, pool_size):
    """--arithmetic as an Expression; ValueError naming what is wrong and the form."""
    form = f"--arithmetic takes {ARITHMETIC_HELP}"
    text = text.strip()
    expression, _, label_text = text.partition("@")
    label = None
    if label_text.strip():
        if not label_text.strip().isdigit():
            raise ValueError(f"--arithmetic={text!r}: the label after '@' must be a class number,"
                             f" got {label_text.strip()!r}. ({form}.)")
        label = int(label_text)
    pieces = re.split(r"\s*([+-])\s*", expression.strip())
    if pieces and pieces[0] == "":  # a leading sign
        pieces = pieces[1:]
    else:
        pieces = ["+"] + pieces
    terms = []
    for sign, numbers in zip(pieces[::2], pieces[1::2]):
        try:
            exemplars = tuple(int(n) for n in numbers.split(","))
        except ValueError:
            raise ValueError(f"--arithmetic={text!r}: {numbers!r} is not a list of sample"
                             f" numbers. ({form}.)") from None
        outside = [n for n in exemplars if not 0 <= n < pool_size]
        if outside:
            raise ValueError(f"--arithmetic={text!r}: sample numbers {outside} are not on the"
                             f" numbered grid (0 to {pool_size - 1}).")
        terms.append(Term(1 if sign == "+" else -1, exemplars))
    if len(pieces) % 2 or len(terms) < 2:
        raise ValueError(f"--arithmetic={text!r} needs at least two concepts. ({form}.)")
    return Expression(tuple(terms), label)


def concept_means(z_pool, expression):
    """Each term's mean z [T, Z] (float64) over its exemplars in z_pool [N, Z]."""
    z_pool = np.asarray(z_pool, np.float64)
    return np.stack([z_pool[list(term.exemplars)].mean(0) for term in expression.terms])


def evaluate(z_pool, expression):
    """(the terms' means [T, Z], the result: their signed sum [Z])."""
    means = concept_means(z_pool, expression)
    signs = np.array([term.sign for term in expression.terms], np.float64)
    return means, signs @ means


def neighbours(center, count, rng, spread=NEIGHBOUR_SPREAD):
    """`count` points z + U(-spread, spread) around center [Z]: [count, Z]."""
    center = np.asarray(center, np.float64)
    return center + rng.uniform(-spread, spread, (count, len(center)))
