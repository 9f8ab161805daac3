r"""The kernel (lazy) regime of a training-set network: tangent kernels and the linearised flow.

With the output scale α the network predicts F = α f(·; ρ), f(x) = Σ_j m_j b_j σ(a_j·x̃), and
the particles follow the flow of :mod:`ddsolver.models.training_set`. Along it

    dF(x)/dt = −(1/n) Σ_i K_ρ(x, x_i) ℓ'(F(x_i), y_i),
    K_ρ(x, x') = ∫ ∇_θ φ(θ; x)·∇_θ φ(θ; x') dρ(θ),     φ(θ; x) = b σ(a·x̃),

exactly, with the *current* ρ. The **linearised flow** freezes the kernel at ρ₀ — the limit
α → ∞ (Chizat, Oyallon & Bach 2019: ‖F_α − F_lin‖ = O(1/α) on bounded times, and for the
square loss uniformly in time):

    dF_lin(x)/dt = −(1/n) Σ_i K(x, x_i) ℓ'(F_lin(x_i), y_i),   F_lin(0) = F_α(0).

For the square loss it is linear and solved exactly by the eigendecomposition K(X, X) = Q Λ Qᵀ
(:class:`LinearisedFlow`): with u₀ = F₀(X),

    F_lin(X, t) = y + Q e^{−tΛ/n} Qᵀ (u₀ − y),
    F_lin(x, t) = F₀(x) − K(x, X) Q diag((1 − e^{−tλ_k/n})/λ_k) Qᵀ (u₀ − y),

whose t → ∞ limit is the **minimum-norm interpolant** F₀ + K(x, X) K(X, X)⁻¹ (y − u₀) (the
norm of the kernel's RKHS). For the logistic loss the n-dimensional ODE for
c(t) = ∫₀ᵗ ℓ'(F_lin(X, s), y) ds (F_lin(x, t) = F₀(x) − K(x, X) c(t)/n) is integrated once
over the whole run by DOP853 with dense output.

The tangent kernel of a finite set of particles is :func:`empirical_tangent_kernel`; for
ReLU and the standard initial laws its M → ∞ limit is :func:`tangent_kernel`, in arc-cosine
kernels of degree 1 and 0 (Cho & Saul 2009): with u = x̃, v = x̃', θ = ∠(u, v),

    E[(a·u)₊ (a·v)₊] = s² |u||v| (sin θ + (π − θ) cos θ)/(2π),
    E[1{a·u > 0} 1{a·v > 0}] = (π − θ)/(2π)

for a ~ N(0, s² I_D); a = κ û, û uniform on S^{D−1}, is the same with s² = κ²/D in the
first (the second does not depend on |a|). The indicator term carries E[b²] (u·v).
"""

from __future__ import annotations

import math

import numpy as np

from .models.training_set import LOSSES, loss_derivative, with_bias

#: Relative jitter of the minimum-norm interpolant: K(X, X) + δ I, δ = JITTER · λ_max, so an
#: (almost) singular kernel gives the interpolant of the nearby regularised problem.
JITTER = 1e-10
#: Tolerances of the logistic linearised flow's integration (its error sits far below the
#: O(1/α) gaps it is compared with).
LOGISTIC_RTOL, LOGISTIC_ATOL = 1e-10, 1e-12


def _angles(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|u_i|, |v_k| as (n1, 1), (1, n2) and the angles θ_ik ∈ [0, π], (n1, n2)."""
    nu = np.linalg.norm(u, axis=1)[:, None]
    nv = np.linalg.norm(v, axis=1)[None, :]
    cos = np.clip((u @ v.T) / (nu * nv), -1.0, 1.0)
    return nu, nv, np.arccos(cos)


def tangent_kernel(
    x1: np.ndarray, x2: np.ndarray, law: str, kappa: float, train: str = "both"
) -> np.ndarray:
    r"""The tangent kernel of the ReLU network at an infinitely wide initial law, (n1, n2).

    K(x, x') = E[(a·x̃)₊(a·x̃')₊] + E[b²] (x̃·x̃') E[1{a·x̃ > 0} 1{a·x̃' > 0}] (module docstring);
    ``train = "output"`` keeps the first term only (the random-features kernel).

    Parameters
    ----------
    x1, x2 : inputs (n1, d), (n2, d); the bias is added as the constant input x̃ = (x, 1)
    law : "gaussian" (b, a ~ N(0, κ²) entrywise) or "sphere" (a = κû, û uniform on
        S^d, b = ±κ) — ``initial.kind`` of the training-set kind
    kappa : κ (``initial.scale``)
    train : "both" or "output"
    """
    u, v = with_bias(x1), with_bias(x2)
    nu, nv, theta = _angles(u, v)
    dim = u.shape[1]
    s2 = kappa**2 if law == "gaussian" else kappa**2 / dim
    if law not in ("gaussian", "sphere"):
        raise ValueError(f"tangent_kernel: law {law!r} is not 'gaussian' or 'sphere'")
    degree1 = s2 * nu * nv * (np.sin(theta) + (math.pi - theta) * np.cos(theta)) / (2 * math.pi)
    if train == "output":
        return degree1
    degree0 = (math.pi - theta) / (2 * math.pi)
    return degree1 + kappa**2 * (u @ v.T) * degree0


def empirical_tangent_kernel(
    theta: np.ndarray,
    masses: np.ndarray,
    x1: np.ndarray,
    x2: np.ndarray,
    activation,
    train: str = "both",
) -> np.ndarray:
    r"""K_ρ(x, x') = Σ_j m_j ∇_θφ(θ_j; x)·∇_θφ(θ_j; x') for the particles θ (M, d+2), (n1, n2).

    = Σ_j m_j [σ(a_j·x̃)σ(a_j·x̃') + b_j² σ'(a_j·x̃)σ'(a_j·x̃') (x̃·x̃')] — the second term only
    when both layers train. ``activation``: an :class:`~ddsolver.models.activations.Activation`.
    """
    u, v = with_bias(x1), with_bias(x2)
    a = np.ascontiguousarray(theta[:, 1:])
    z1, z2 = u @ a.T, v @ a.T
    kernel = (activation(z1) * masses) @ activation(z2).T
    if train == "both":
        weight = masses * theta[:, 0] ** 2
        kernel += (u @ v.T) * ((activation.derivative(z1) * weight) @ activation.derivative(z2).T)
    return kernel


class LinearisedFlow:
    r"""The kernel gradient flow of a fixed tangent kernel on the training set (module docstring).

    Parameters
    ----------
    kernel : K(X, X), (n, n), symmetric positive semi-definite
    cross : K(X', X) for further points X' (test points), (n', n); may have n' = 0
    y : labels (n,)
    start, start_cross : F₀(X) (n,) and F₀(X') (n',)
    loss : "square" or "logistic"
    t_end : the logistic flow is integrated on [0, t_end] (unused for the square loss)
    """

    def __init__(
        self,
        kernel: np.ndarray,
        cross: np.ndarray,
        y: np.ndarray,
        start: np.ndarray,
        start_cross: np.ndarray,
        loss: str,
        t_end: float = 0.0,
    ):
        self.kernel = 0.5 * (kernel + kernel.T)
        self.cross, self.y = cross, np.asarray(y, float)
        self.start, self.start_cross = np.asarray(start, float), np.asarray(start_cross, float)
        self.loss = loss
        self.n = self.y.size
        self.eigenvalues, self.eigenvectors = np.linalg.eigh(self.kernel)
        self.eigenvalues = np.maximum(self.eigenvalues, 0.0)  # round-off below 0
        self.jitter = JITTER * max(float(self.eigenvalues[-1]), np.finfo(float).tiny)
        self._solution = None
        if loss == "logistic":
            self._solution = self._integrate_logistic(t_end)
        elif loss != "square":
            raise ValueError(f"LinearisedFlow: loss {loss!r} is not one of {tuple(LOSSES)}")

    @property
    def condition(self) -> float:
        """λ_max/λ_min of K(X, X) (inf when singular)."""
        low = float(self.eigenvalues[0])
        return float(self.eigenvalues[-1] / low) if low > 0 else math.inf

    def _integrate_logistic(self, t_end: float):
        from scipy.integrate import solve_ivp  # (imported here: ~0.15 s of every start-up)

        code = LOSSES["logistic"]
        k, u0, y, n = self.kernel, self.start, self.y, self.n

        def rhs(_, c):
            u = u0 - k @ c / n
            return np.array([loss_derivative(code, u[i], y[i]) for i in range(n)])

        return solve_ivp(rhs, (0.0, max(t_end, 0.0)), np.zeros(n), method="DOP853",
                         rtol=LOGISTIC_RTOL, atol=LOGISTIC_ATOL, dense_output=True)  # fmt: skip

    def _accumulated(self, t: float) -> np.ndarray:
        """c(t) = ∫₀ᵗ ℓ'(F_lin(X, s), y) ds, (n,)."""
        if self._solution is not None:
            if t > self._solution.t[-1] * (1 + 1e-12):
                raise ValueError(f"the linearised flow was integrated to {self._solution.t[-1]}")
            return self._solution.sol(t)
        lam, q = self.eigenvalues, self.eigenvectors
        rate = lam / self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(rate * t > 1e-12, -np.expm1(-rate * t) / rate, t)
        # square loss: ℓ' = F − y, whose modes decay like e^{−λt/n}
        return q @ (weight * (q.T @ (self.start - self.y)))

    def predict(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """F_lin(X, t) (n,) and F_lin(X', t) (n',)."""
        c = self._accumulated(t)
        return self.start - self.kernel @ c / self.n, self.start_cross - self.cross @ c / self.n

    def interpolant(self) -> tuple[np.ndarray, np.ndarray]:
        """The minimum-norm interpolant F₀ + K(·, X)(K(X, X) + δI)⁻¹(y − u₀) on X and X'
        (δ = :data:`JITTER`·λ_max): the square loss's t → ∞ limit."""
        lam, q = self.eigenvalues, self.eigenvectors
        coef = q @ ((q.T @ (self.y - self.start)) / (lam + self.jitter))
        return self.start + self.kernel @ coef, self.start_cross + self.cross @ coef


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(v * v))) if v.size else math.nan


class LazyComparison:
    r"""A training-set run against its linearisation, as observables.

    ``movement`` = (Σ m_j |θ_j − θ_j⁰|² / Σ m_j |θ_j⁰|²)^{1/2} always; with ``linearise`` the
    linearised flow of the run's own initial particles (:func:`empirical_tangent_kernel`, so
    that the gap measures the nonlinearity and not the width) gives

    * ``lin_gap``, ``lin_gap_test``: root mean square of F_α(t) − F_lin(t) on the training
      and the test points (F = α f, the predictor);
    * ``lin_test_error``: the linearised predictor's test error;
    * ``interp_gap`` (square loss): root mean square of F_α(t) − F_mn on the test points (the
      training points when there are none), F_mn the minimum-norm interpolant;
    * ``lin_interp_gap`` (square loss): the same for F_lin(t) — the kernel flow's own distance
      to its limit, so that an ``interp_gap`` above ``lin_gap`` reads as "the kernel flow has
      not converged yet" when this is as large, and as "the network left the kernel regime"
      when it is not;

    and the snapshots (:meth:`snapshot`) ``predictor``, ``predictor_lin`` and ``interpolant``:
    F_α(t), F_lin(t) and F_mn on those points.

    Parameters
    ----------
    flow : :class:`~ddsolver.models.training_set.TrainingSetFlow`
    theta0, masses : the initial particles (M, d+2), (M,)
    t_end : the run's end (the logistic linearised flow is integrated to it)
    linearise : compute the linearisation (O((n + n')·n·M) once)
    """

    def __init__(self, flow, theta0: np.ndarray, masses: np.ndarray, t_end: float,
                 linearise: bool):  # fmt: skip
        self.flow, self.masses = flow, masses
        self.theta0 = np.array(theta0, float)
        self._norm0 = float(masses @ np.einsum("jk,jk->j", self.theta0, self.theta0))
        self.linear = None
        if linearise:
            data = flow.data
            train = "both" if flow.train_positions else "output"
            x_all = np.concatenate([data.x, data.x_test]) if data.y_test.size else data.x
            k = empirical_tangent_kernel(self.theta0, masses, x_all, data.x, flow.activation,
                                         train)  # fmt: skip
            n = data.x.shape[0]
            f0 = flow.alpha * flow.predict(self.theta0, masses, x_all)
            self.linear = LinearisedFlow(k[:n], k[n:], data.y, f0[:n], f0[n:], flow.loss, t_end)
            self._interp = self.linear.interpolant() if flow.loss == "square" else None

    def observe(self, theta: np.ndarray, t: float) -> dict[str, float]:
        diff = theta - self.theta0
        moved = float(self.masses @ np.einsum("jk,jk->j", diff, diff))
        out = {"movement": math.sqrt(moved / self._norm0) if self._norm0 > 0 else math.nan}
        if self.linear is None:
            return out
        flow, data = self.flow, self.flow.data
        f_train = flow.alpha * flow.predict(theta, self.masses, data.x)
        lin_train, lin_test = self.linear.predict(t)
        out["lin_gap"] = _rms(f_train - lin_train)
        if data.y_test.size:
            f_test = flow.alpha * flow.predict(theta, self.masses, data.x_test)
            out["lin_gap_test"] = _rms(f_test - lin_test)
            out["lin_test_error"] = float(np.mean(np.sign(lin_test) != np.sign(data.y_test)))
        else:
            f_test = np.empty(0)
            out["lin_gap_test"] = out["lin_test_error"] = math.nan
        if self._interp is not None:
            interp_train, interp_test = self._interp
            on_test = data.y_test.size > 0
            out["interp_gap"] = _rms(f_test - interp_test if on_test else f_train - interp_train)
            out["lin_interp_gap"] = _rms(
                lin_test - interp_test if on_test else lin_train - interp_train
            )
        else:
            out["interp_gap"] = out["lin_interp_gap"] = math.nan
        return out

    def snapshot(self, theta: np.ndarray, t: float) -> dict[str, np.ndarray]:
        """F_α(t), F_lin(t) and (square loss) F_mn on the test points — the training points
        when there are none — each (n_points,); nothing without the linearisation."""
        if self.linear is None:
            return {}
        flow, data = self.flow, self.flow.data
        on_test = data.y_test.size > 0
        points = data.x_test if on_test else data.x
        lin_train, lin_test = self.linear.predict(t)
        out = {
            "predictor": flow.alpha * flow.predict(theta, self.masses, points),
            "predictor_lin": np.array(lin_test if on_test else lin_train, dtype=float),
        }
        if self._interp is not None:
            out["interpolant"] = np.array(self._interp[1 if on_test else 0], dtype=float)
        return out
