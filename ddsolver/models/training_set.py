r"""Two-layer networks on a finite training set: the Wasserstein gradient flow of the risk.

A particle is θ = (b, a) ∈ R^{d+2}, a ∈ R^{d+1} acting on x̃ = (x, 1) (the bias as a constant
input); a measure of particles with masses m_j predicts

    f(x) = Σ_j m_j b_j σ(a_j·x̃)          (σ = ReLU: 2-homogeneous in θ)

and the objective is, with the output scale α (α = 1: the mean-field flow) and ℓ the loss,

    L(ρ) = (1/α²)(1/n) Σ_i ℓ(α f(x_i), y_i) + (λ/2) ∫ |θ|² dρ,
    ℓ = ½ (F − y)²  (square)   or   log(1 + e^{−yF})  (logistic).

Its Wasserstein gradient flow moves every particle with the velocity −∇_θ J'(θ) of the first
variation J'(θ) = (1/α)(1/n) Σ_i ℓ'(α f(x_i), y_i) b σ(a·x̃_i) + (λ/2)|θ|²:

    db/dt = −(1/α)(1/n) Σ_i g_i σ(a·x̃_i) − λ b,
    da/dt = −(1/α)(1/n) Σ_i g_i b σ'(a·x̃_i) x̃_i − λ a     (0 when only the output layer trains),

g_i = ℓ'(α f(x_i), y_i). The interaction is exactly of rank n: the forward pass costs
O(M n d) and each velocity O(n d) — no M² term. Along the flow dL/dt = −∫ |v|² dρ (the
energy identity, observable ``dissipation``).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from .activations import act_derivative, act_value

SQUARE, LOGISTIC = 0, 1
LOSSES = {"square": SQUARE, "logistic": LOGISTIC}


@jit
def loss_value(code, f, y):
    """ℓ(f, y)."""
    if code == SQUARE:
        return 0.5 * (f - y) * (f - y)
    z = -y * f  # log(1 + e^z), computed without overflow
    return z + math.log1p(math.exp(-z)) if z > 0.0 else math.log1p(math.exp(z))


@jit
def loss_derivative(code, f, y):
    """∂ℓ/∂f."""
    if code == SQUARE:
        return f - y
    z = y * f  # −y / (1 + e^{yf})
    if z >= 0.0:
        e = math.exp(-z)
        return -y * e / (1.0 + e)
    return -y / (1.0 + math.exp(z))


@jit_parallel
def predict(theta, masses, x, code, params, out):
    """out[i] = Σ_j m_j b_j σ(a_j·x̃_i); theta (M, d+2), masses (M,), x (n, d), out (n,)."""
    n, d = x.shape
    for i in prange(n):
        acc = 0.0
        for j in range(theta.shape[0]):
            z = theta[j, d + 1]
            for k in range(d):
                z += theta[j, 1 + k] * x[i, k]
            acc += masses[j] * theta[j, 0] * act_value(code, params, z)
        out[i] = acc


@jit_parallel
def particle_velocity(theta, x, weights, code, params, lam, train_positions, out):
    """out[j] = −(1/n) Σ_i weights_i ∂_θ[b σ(a·x̃_i)](θ_j) − λ θ_j, (M, d+2).

    ``weights`` (n,) are g_i/α; without ``train_positions`` only b moves.
    """
    n, d = x.shape
    inv_n = 1.0 / n
    for j in prange(theta.shape[0]):
        b = theta[j, 0]
        gb = 0.0
        for k in range(d + 1):
            out[j, 1 + k] = 0.0
        for i in range(n):
            z = theta[j, d + 1]
            for k in range(d):
                z += theta[j, 1 + k] * x[i, k]
            gb += weights[i] * act_value(code, params, z)
            if train_positions:
                s = weights[i] * b * act_derivative(code, params, z)
                if s != 0.0:
                    for k in range(d):
                        out[j, 1 + k] += s * x[i, k]
                    out[j, d + 1] += s
        out[j, 0] = -inv_n * gb - lam * b
        if train_positions:
            for k in range(d + 1):
                out[j, 1 + k] = -inv_n * out[j, 1 + k] - lam * theta[j, 1 + k]


def with_bias(x: np.ndarray) -> np.ndarray:
    """x̃ = (x, 1): the inputs with the bias as a constant last coordinate, (n, d + 1)."""
    return np.column_stack([np.asarray(x, float), np.ones(len(x))])


@jit
def residual_weights(code, predictions, y, alpha, out):
    """out[i] = ℓ'(α f_i, y_i)/α."""
    for i in range(y.shape[0]):
        out[i] = loss_derivative(code, alpha * predictions[i], y[i]) / alpha


@jit
def predictor_loss(code, predictions, y, alpha):
    """(1/n) Σ_i ℓ(α f_i, y_i): the loss of the predictor F = α f in its own units (the
    ``loss`` and ``test_loss`` observables, comparable across α)."""
    acc = 0.0
    for i in range(y.shape[0]):
        acc += loss_value(code, alpha * predictions[i], y[i])
    return acc / y.shape[0]


@jit
def mean_loss(code, predictions, y, alpha):
    """(1/α²)(1/n) Σ_i ℓ(α f_i, y_i): the objective's data term, :func:`predictor_loss` / α²."""
    return predictor_loss(code, predictions, y, alpha) / (alpha * alpha)


class TrainingSetFlow:
    """The flow of one training set (module docstring).

    Parameters
    ----------
    data : :class:`~ddsolver.data.TrainingSet`
    activation : σ (:class:`~ddsolver.models.activations.Activation`; ReLU is 2-homogeneous)
    loss : "square" or "logistic"
    alpha : the output scale α
    lam : weight decay λ
    train_positions : False: only b moves (the output layer)
    """

    def __init__(self, data, activation, loss: str, alpha: float, lam: float,
                 train_positions: bool):  # fmt: skip
        self.data, self.activation = data, activation
        self.loss, self.loss_code = loss, LOSSES[loss]
        self.alpha, self.lam, self.train_positions = alpha, lam, train_positions
        self._tilde = with_bias(data.x)
        self._local = threading.local()

    def predict(self, theta: np.ndarray, masses: np.ndarray, x: np.ndarray) -> np.ndarray:
        """f(x) = Σ_j m_j b_j σ(a_j·x̃) (without α), (n,): one BLAS product for the fields."""
        return self.activation(self._fields(theta, x)) @ (masses * theta[:, 0])

    def _with_bias(self, x: np.ndarray) -> np.ndarray:
        """x̃ = (x, 1), (n, d + 1) (the training points' once, at construction)."""
        return self._tilde if x is self.data.x else with_bias(x)

    def features(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """σ(a_j·x̃_i), (n, M): the features the output layer combines (fixed when only it
        trains)."""
        return self.activation(self._fields(theta, x))

    def _fields(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """z_ij = a_j·x̃_i, (n, M): x̃ against a contiguous copy of the a's (BLAS)."""
        return self._with_bias(x) @ np.ascontiguousarray(theta[:, 1:]).T

    def _buffers(self, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's (n, M) work arrays: fields, values, mask (SGD seeds run in threads)."""
        held = getattr(self._local, "buffers", None)
        if held is None or held[0].shape != (n, m):
            held = (np.empty((n, m)), np.empty((n, m)), np.empty((n, m), dtype=bool))
            self._local.buffers = held
        return held

    def velocity_compiled(self, theta, masses, x=None, y=None) -> np.ndarray:
        """:meth:`velocity` by the compiled loops (:func:`predict`, :func:`particle_velocity`):
        the twin the BLAS path is tested against."""
        x = self.data.x if x is None else x
        y = self.data.y if y is None else y
        act = self.activation
        f = np.empty(x.shape[0])
        predict(theta, masses, x, act.code, act.param_array, f)
        weights = np.empty(y.shape[0])
        residual_weights(self.loss_code, f, y, self.alpha, weights)
        out = np.empty_like(theta)
        particle_velocity(theta, x, weights, act.code, act.param_array, self.lam,
                          self.train_positions, out)  # fmt: skip
        return out

    def velocity(
        self, theta: np.ndarray, masses: np.ndarray, x: np.ndarray | None = None,
        y: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Every particle's velocity −∇J'(θ_j) on the training set (or on the points x, y),
        (M, d+2): three BLAS products of (n, M) by (n, d + 1) — forward, and back for b and a."""
        x = self.data.x if x is None else x
        y = self.data.y if y is None else y
        relu = self.activation.kind == "relu"
        if relu:  # in per-thread buffers: fresh (n, M) arrays cost page faults every call
            z, values, mask = self._buffers(x.shape[0], theta.shape[0])
            np.matmul(self._with_bias(x), np.ascontiguousarray(theta[:, 1:]).T, out=z)
            np.maximum(z, 0.0, out=values)
            np.greater(z, 0.0, out=mask)
        else:
            z = self._fields(theta, x)
            values = self.activation(z)
        weights = np.empty(y.shape[0])
        residual_weights(self.loss_code, values @ (masses * theta[:, 0]), y, self.alpha, weights)
        weights /= -y.shape[0]
        out = np.empty_like(theta)
        out[:, 0] = weights @ values - self.lam * theta[:, 0]
        if self.train_positions:
            if relu:
                gate = np.multiply(mask, weights[:, None], out=z)  # z is not needed any more
            else:
                gate = self.activation.derivative(z) * weights[:, None]
            d = x.shape[1]
            out[:, 1 : d + 1] = (gate.T @ x) * theta[:, :1]
            out[:, d + 1] = gate.sum(axis=0) * theta[:, 0]
            out[:, 1:] -= self.lam * theta[:, 1:]
        else:
            out[:, 1:] = 0.0
        return out

    def objective(self, theta: np.ndarray, masses: np.ndarray) -> float:
        """L = (1/α²)(1/n) Σ ℓ(α f(x_i), y_i) + (λ/2) ∫|θ|² dρ."""
        loss = mean_loss(self.loss_code, self.predict(theta, masses, self.data.x), self.data.y,
                         self.alpha)  # fmt: skip
        return float(loss + 0.5 * self.lam * masses @ np.einsum("jk,jk->j", theta, theta))

    def observables(self, theta: np.ndarray, masses: np.ndarray) -> dict[str, float]:
        """risk (the objective L), loss = (1/n) Σ ℓ(α f(x_i), y_i) (the predictor's loss: L's
        data term is loss/α²), test_loss (the same on the test set), test_error, margin,
        norm2 = ∫|θ|² dρ, dissipation = ∫|v|² dρ (= −dL/dt).

        margin = min_i y_i f(x_i) / ∫|b||a| dρ (the F1-norm bound) when both layers train;
        min_i y_i f(x_i) / (Σ_j m_j b_j²)^{1/2} (the ℓ2 margin on the fixed features) when
        only the output layer does."""
        data, alpha = self.data, self.alpha
        f = self.predict(theta, masses, data.x)
        loss = predictor_loss(self.loss_code, f, data.y, alpha)
        norm2 = float(masses @ np.einsum("jk,jk->j", theta, theta))
        if self.train_positions:
            scale = float(masses @ (np.abs(theta[:, 0]) * np.linalg.norm(theta[:, 1:], axis=1)))
        else:  # b moves in the metric Σ m_j db_j²: the ℓ2 margin of the fixed features
            scale = float(np.sqrt(masses @ theta[:, 0] ** 2))
        margin = float(np.min(data.y * f) / scale) if scale > 0 else math.nan
        v = self.velocity(theta, masses)
        out = {
            "risk": float(loss / (alpha * alpha) + 0.5 * self.lam * norm2),
            "loss": float(loss),
            "margin": margin,
            "norm2": norm2,
            "dissipation": float(masses @ np.einsum("jk,jk->j", v, v)),
        }
        if data.y_test.size:
            g = self.predict(theta, masses, data.x_test)
            out["test_loss"] = float(predictor_loss(self.loss_code, g, data.y_test, alpha))
            out["test_error"] = float(np.mean(np.sign(g) != np.sign(data.y_test)))
        else:
            out["test_loss"] = out["test_error"] = math.nan
        return out
