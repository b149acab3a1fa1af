"""The linear L2-SVM the linear probe trains: liblinear's L2-regularised
squared-hinge SVM (scikit-learn's LinearSVC), one class against the rest,
solved in the primal by L-BFGS for all classes at once. The same solution as
LinearSVC (tests/test_paper_experiments.py checks it against LinearSVC); on
10,000 images of D's 9,216 dense features LinearSVC took minutes per C at the
C the probe needs (up to 600 s for one fit on 784 pixels in its primal, 133 s
in its dual on 9,216 features at C = 1e-4, 2-core AMD EPYC), this 13-100 s.
"""

import numpy as np
from scipy import optimize
from sklearn import base

SVM_MAX_ITERATIONS = 500


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
        dims, classes = features.shape[1], len(self.classes_)

        def objective(theta):
            weights = theta.reshape(dims + 1, classes).astype(np.float32)
            slack = np.maximum(0.0, 1.0 - targets * (features @ weights[:-1] + weights[-1]))
            d_scores = -2.0 * self.C * targets * slack                       # [n, classes]
            gradient = np.concatenate([features.T @ d_scores, d_scores.sum(0, keepdims=True)])
            loss = 0.5 * float(theta @ theta) + self.C * float(np.sum(np.square(
                slack, dtype=np.float64)))
            return loss, gradient.astype(np.float64).ravel() + theta

        solution = optimize.minimize(objective, np.zeros((dims + 1) * classes), jac=True,
                                     method="L-BFGS-B",
                                     options={"maxiter": self.max_iterations, "gtol": 1e-6})
        weights = solution.x.reshape(dims + 1, classes)
        self.coef_, self.intercept_ = weights[:-1].T, weights[-1]
        return self

    def decision_function(self, features):
        return np.asarray(features, np.float32) @ self.coef_.T.astype(np.float32) + \
            self.intercept_.astype(np.float32)

    def predict(self, features):
        return self.classes_[np.argmax(self.decision_function(features), axis=1)]
