"""The linear L2-SVM the linear probe trains: liblinear's L2-regularised
squared-hinge SVM (scikit-learn's LinearSVC), one class against the rest,
solved in the primal by L-BFGS for all classes at once. The same solution as
LinearSVC (tests/test_paper_experiments.py checks it against LinearSVC); on
10,000 images of D's 9,216 dense features LinearSVC took minutes per C at the
C the probe needs (up to 600 s for one fit on 784 pixels in its primal, 133 s
in its dual on 9,216 features at C = 1e-4, 2-core AMD EPYC), this 13-100 s.

With fewer images than features (the probe's 10 and 100 labels per class on
D's thousands of features) the weights lie in the span of the images (the
gradient of the loss does, and the regulariser removes the rest), so the same
problem is solved on the images' coordinates in that span: n x n numbers in
place of n x d, each pass over them a fraction of the cost. The
solution is the same one (tested).

Below BLAS_THREADS_FROM input numbers the solve keeps BLAS to one thread: a
product that small costs more to split between threads than it saves, and the
L-BFGS steps' vector operations pay that cost thousands of times (2-core AMD
EPYC, the other core busy: x^T (x w) for 400 x 400 inputs 0.18 ms on one
thread, 1.13 ms on two; 10,000 x 785 14 vs 17 ms; 10,000 x 9,217 401 vs
255 ms; five fits on 80 images 0.55 s vs 0.12 s).
"""

import numpy as np
import threadpoolctl
from scipy import optimize
from sklearn import base

SVM_MAX_ITERATIONS = 500
BLAS_THREADS_FROM = 10_000_000


def _with_bias_input(features):
    """[x, 1]: liblinear's bias, an input of value 1 whose weight is regularised."""
    return np.concatenate([features, np.ones((len(features), 1), features.dtype)], axis=1)


def _solve(inputs, targets, c, max_iterations):
    """argmin over W of 0.5 |W|^2 + c sum max(0, 1 - targets * (inputs W))^2, by L-BFGS."""
    dims, classes = inputs.shape[1], targets.shape[1]

    def objective(theta):
        slack = np.maximum(0.0, 1.0 - targets * (inputs @ theta.reshape(dims, classes).astype(
            np.float32)))
        d_scores = -2.0 * c * targets * slack                       # [n, classes]
        loss = 0.5 * float(theta @ theta) + c * float(np.sum(np.square(slack, dtype=np.float64)))
        return loss, (inputs.T @ d_scores).astype(np.float64).ravel() + theta

    solution = optimize.minimize(objective, np.zeros(dims * classes), jac=True, method="L-BFGS-B",
                                 options={"maxiter": max_iterations, "gtol": 1e-6})
    return solution.x.reshape(dims, classes)


def _span_coordinates(inputs):
    """(Z, V) with inputs = Z V^T, V's orthonormal columns spanning the inputs'
    rows (from the eigenvectors of their Gram matrix; directions of no extent
    dropped)."""
    gram = inputs.astype(np.float64) @ inputs.T.astype(np.float64)
    values, vectors = np.linalg.eigh(gram)
    kept = values > values.max() * len(gram) * np.finfo(np.float64).eps
    values, vectors = values[kept], vectors[:, kept]
    return vectors * np.sqrt(values), inputs.T @ (vectors / np.sqrt(values))


class LinearL2SVM(base.ClassifierMixin, base.BaseEstimator):
    """min 0.5 |W|^2 + C sum_i,k max(0, 1 - y_ik (x_i W_k + b_k))^2 with y_ik = +1
    for the image's class and -1 for the others, the bias regularised with W as
    liblinear does (LinearSVC's objective); a scikit-learn estimator, so its
    model selection can choose C."""

    def __init__(self, C=1.0, max_iterations=SVM_MAX_ITERATIONS):  # noqa: N803 (sklearn's name)
        self.C, self.max_iterations = C, max_iterations

    def fit(self, features, labels):
        features = np.asarray(features, np.float32)
        self.classes_ = np.unique(labels)
        targets = np.where(np.asarray(labels)[:, None] == self.classes_[None, :], 1.0,
                           -1.0).astype(np.float32)
        inputs = _with_bias_input(features)
        threads = 1 if inputs.size < BLAS_THREADS_FROM else None  # None: BLAS's own count
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            if len(inputs) < inputs.shape[1]:
                coordinates, basis = _span_coordinates(inputs)
                weights = basis @ _solve(coordinates.astype(np.float32), targets, self.C,
                                         self.max_iterations)
            else:
                weights = _solve(inputs, targets, self.C, self.max_iterations)
        self.coef_, self.intercept_ = weights[:-1].T, weights[-1]
        return self

    def decision_function(self, features):
        return np.asarray(features, np.float32) @ self.coef_.T.astype(np.float32) + \
            self.intercept_.astype(np.float32)

    def predict(self, features):
        return self.classes_[np.argmax(self.decision_function(features), axis=1)]
