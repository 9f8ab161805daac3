r"""The square activation's exact closure: the DD of σ(t) = t² is an ODE for A = E[w wᵀ].

With σ(t) = t² the network is a quadratic form, f(x) = ∫(w·x)² dρ = xᵀAx with
A = ∫w wᵀ dρ, and the teacher y = Σ_j v_j (u_j·x)² = xᵀBx + ς g with B = Σ_j v_j u_j u_jᵀ.
Gaussian fourth moments are exact (Isserlis): for symmetric D,

    E[(xᵀDx)²] = 2 tr(D²) + (tr D)²,      E[(xᵀDx) x xᵀ] = (tr D) I + 2D.

So with D = A − B the risk is R = 2 tr(D²) + (tr D)² + ς², the first variation is
Ψ(w) = E[(f − y) σ(w·x)] = wᵀ((tr D) I + 2D) w, every particle moves linearly,
dw/dt = −2(∇Ψ + λw) = −4((tr D) I + 2D) w − 2λw, and the second moment obeys

    dA/dt = −8 (tr D) A − 8 (DA + AD) − 4λA,                                    (1)

a closed ODE whatever the law ρ: the DD of the square activation has no other state.

Reduced coordinates. In the basis e_1 … e_k of the teacher subspace and its orthogonal
complement (n⊥ = d − k dimensions), rotation invariance of the complement makes
A = diag(A_m, (s/n⊥) I_{n⊥}) with A_m = ∫ m mᵀ dρ (k × k) and s = ∫ r⊥² dρ; B = diag(B_m, 0)
with B_m = Lᵀ diag(v) L (G = L Lᵀ). Then tr D = tr(A_m − B_m) + s and (1) splits into

    dA_m/dt = −8 (tr D) A_m − 8 (D_m A_m + A_m D_m) − 4λ A_m,     D_m = A_m − B_m,
    ds/dt   = −8 (tr D) s − 16 s²/n⊥ − 4λ s,                                    (2)
    R       = 2 tr(D_m²) + 2 s²/n⊥ + (tr D)² + ς²     (d = ∞: the s²/n⊥ terms vanish).

The algebraic tail. With λ = 0 and B_m positive definite, A_m → B_m exponentially while
s → 0 only like 1/t. Near the limit the fast block follows s: D_m ≈ −(τ/2) I with
τ = tr D = 2s/(k + 2) (solve D_m B_m + B_m D_m = −τ B_m). Then (2) gives
ds/dt ≈ −16 (1/(k + 2) + 1/n⊥) s², so s ≈ 1/(16 (1/(k + 2) + 1/n⊥) t), and
R − ς² ≈ 2 (1/(k + 2) + 1/n⊥) s², whence

    t² (R(t) − ς²) → (k + 2)(d − k) / (128 (d + 2))         (d = ∞: (k + 2)/128),   (3)

independent of B_m and of the initial law (as long as s(0) > 0). For k = 1, d = 3: 3/320.
From w ~ N(0, 0.5²/3 I_3) the closure's t²R(t) is below the limit by a share of 2.0e-3,
1.7e-4, 1.3e-5, 8.9e-7 and 5.0e-8 at t = 10², …, 10⁶.

Full dimension. The ODE (1) also holds for the empirical law of N neurons in R^d, whose
A = (1/N) Σ wᵢwᵢᵀ has no isotropic orthogonal block: :meth:`SquareClosure.full` takes the
teacher's d × d form B and no orthogonal part, so that gradient flow on N neurons of SGD's
own initial draw is integrated exactly (SGD differs from it by its step noise alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate


def tail_constant(units: int, dimension: float) -> float:
    r"""lim t² (R(t) − ς²) of the square activation's DD, eq. (3): (k + 2)(d − k)/(128(d + 2))."""
    k = units
    if math.isinf(dimension):
        return (k + 2) / 128.0
    return (k + 2) * (dimension - k) / (128.0 * (dimension + 2))


@dataclass(frozen=True)
class SquareClosure:
    r"""The closed ODE (2) of the square activation in the reduced coordinates.

    Parameters
    ----------
    teacher : (k, k) B_m = Lᵀ diag(v) L, the teacher's quadratic form in the basis e
    dimension : float, d (``math.inf``: the orthogonal block's own terms vanish)
    lam : float, λ ≥ 0
    label_noise : float, ς ≥ 0
    """

    teacher: np.ndarray
    dimension: float
    lam: float = 0.0
    label_noise: float = 0.0

    @classmethod
    def full(cls, teacher: np.ndarray, lam: float = 0.0, label_noise: float = 0.0) -> SquareClosure:
        """Eq. (1) on the whole d × d matrix A: ``teacher`` is B (d, d), and s ≡ 0."""
        teacher = np.asarray(teacher, float)
        return cls(teacher, float(teacher.shape[0]), lam, label_noise)

    @classmethod
    def of(cls, chol: np.ndarray, v: np.ndarray, dimension: float, lam: float = 0.0,
           label_noise: float = 0.0) -> SquareClosure:  # fmt: skip
        """From the teacher's Cholesky factor L (k, k) and second layer v (k,)."""
        return cls(chol.T @ np.diag(v) @ chol, dimension, lam, label_noise)

    @property
    def units(self) -> int:
        """k."""
        return self.teacher.shape[0]

    @property
    def inverse_orthogonal(self) -> float:
        """1/n⊥ = 1/(d − k) (0 at d = ∞, and with no orthogonal part, d = k: :meth:`full`)."""
        if math.isinf(self.dimension) or self.dimension == self.units:
            return 0.0
        return 1.0 / (self.dimension - self.units)

    @staticmethod
    def moments(theta: np.ndarray) -> tuple[np.ndarray, float]:
        """(A_m (k, k), s) of equally weighted particles θ = (m, r⊥), (M, k + 1)."""
        m, r = theta[:, :-1], theta[:, -1]
        return m.T @ m / len(theta), float(np.mean(r * r))

    def pack(self, a_m: np.ndarray, s: float) -> np.ndarray:
        """The ODE state: A_m's upper triangle (rows) then s."""
        return np.append(a_m[np.triu_indices(self.units)], s)

    def unpack(self, state: np.ndarray) -> tuple[np.ndarray, float]:
        """(A_m, s) of a packed state."""
        k = self.units
        a_m = np.zeros((k, k))
        a_m[np.triu_indices(k)] = state[:-1]
        return a_m + np.triu(a_m, 1).T, float(state[-1])

    def rhs(self, state: np.ndarray) -> np.ndarray:
        """d(A_m, s)/dt, eq. (2), packed."""
        a_m, s = self.unpack(state)
        d_m = a_m - self.teacher
        tr = float(np.trace(d_m)) + s
        da = -8.0 * tr * a_m - 8.0 * (d_m @ a_m + a_m @ d_m) - 4.0 * self.lam * a_m
        ds = -8.0 * tr * s - 16.0 * s * s * self.inverse_orthogonal - 4.0 * self.lam * s
        return self.pack(da, ds)

    def risk(self, a_m: np.ndarray, s: float) -> float:
        """R = 2 tr(D_m²) + 2 s²/n⊥ + (tr D)² + ς²."""
        d_m = a_m - self.teacher
        tr = float(np.trace(d_m)) + s
        return float(
            2.0 * np.sum(d_m * d_m) + 2.0 * s * s * self.inverse_orthogonal + tr * tr
            + self.label_noise**2
        )  # fmt: skip

    def solve(self, a_m: np.ndarray, s: float, times: np.ndarray, rtol: float = 1e-12,
              atol: float = 1e-20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Integrate (2) from (A_m, s) at t = 0 to each of ``times`` (increasing, ≥ 0).

        Returns (A_m (T, k, k), s (T,), R (T,)). LSODA: the fast block is stiff against the
        1/t tail, and the state falls to ~10⁻⁸ by t = 10⁶, hence the tiny ``atol``
        (t = 0 … 10⁶ takes ~0.4 s; 1e-16 moves t²R there by 7e-9 relative).
        """
        times = np.asarray(times, float)
        sol = integrate.solve_ivp(
            lambda _t, y: self.rhs(y), (0.0, float(times[-1])), self.pack(a_m, s),
            method="LSODA", t_eval=times, rtol=rtol, atol=atol,
        )  # fmt: skip
        if not sol.success:
            raise RuntimeError(f"the square closure's integration failed: {sol.message}")
        pairs = [self.unpack(col) for col in sol.y.T]
        a = np.array([p[0] for p in pairs])
        s_t = np.array([p[1] for p in pairs])
        return a, s_t, np.array([self.risk(*p) for p in pairs])
