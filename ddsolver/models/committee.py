r"""Soft committee machines: the Gaussian averages and the order-parameter ODEs of online SGD.

Student ŷ(x) = c Σ_k v_k g(λ_k), teacher y = Σ_n v*_n g(ν_n) + σζ, with the local fields
λ_k = w_k·x/√d, ν_n = w*_n·x/√d of x ~ N(0, I_d) and the output scale c ∈ {1, 1/K, 1/√K}.
The fields z = (λ_1..λ_K, ν_1..ν_M) are jointly Gaussian with covariance

    C = [[Q, R], [Rᵀ, T]],   Q = w wᵀ/d (K, K),  R = w w*ᵀ/d (K, M),  T = w* w*ᵀ/d (M, M).

Write the error as e = y − ŷ = Σ_p β_p g(z_p) + σζ with β = (−c v, v*) (length K + M). Online
SGD, w_k ← w_k + (η/√d) c v_k g'(λ_k) e x − (η/d) λ w_k and v_k ← v_k + (η_v/d)(c g(λ_k) e
− λ v_k), with time t = steps/d, has as d → ∞ the deterministic limit (Saad & Solla 1995;
Goldt et al. 2019)

    dR_kn/dt = η c v_k Σ_p β_p I₃(k, K+n, p) − ηλ R_kn
    dQ_kl/dt = η c [v_k Σ_p β_p I₃(k, l, p) + v_l Σ_p β_p I₃(l, k, p)] − 2ηλ Q_kl
               + η² c² v_k v_l [Σ_pq β_p β_q I₄(k, l, p, q) + σ² J₂(k, l)]
    dv_k/dt  = η_v c Σ_p β_p I₂(k, p) − η_v λ v_k

    ε_g = ½ E(ŷ − y + σζ)² = ½ Σ_pq β_p β_q I₂(p, q)

with I₂(a, b) = E g(z_a) g(z_b), I₃(a, b, c) = E g'(z_a) z_b g(z_c),
I₄(a, b, c, d) = E g'(z_a) g'(z_b) g(z_c) g(z_d), J₂(a, b) = E g'(z_a) g'(z_b). The η² line is
the SGD noise (|Δw|² of one step is O(1/d), d steps per unit time): it does not vanish.

Closed forms: for g = erf(γ·) (Saad & Solla's for γ = 1/√2, G = erf(·/√2), applied to the
covariance s²C with s = √2 γ: I₂ = I₂ᴳ, I₃ = I₃ᴳ, I₄ = s² I₄ᴳ, J₂ = s² J₂ᴳ); for g linear,
I₂ = C_ab, I₃ = C_bc, I₄ = C_cd, J₂ = 1; for ReLU, I₂ (the degree-1 arc-cosine kernel), J₂ =
(π − θ_ab)/2π, and I₃ by Gaussian integration by parts,

    I₃(a, b, c) = C_ab √(C_aa C_cc − C_ac²) / (2π C_aa) + C_bc (π − θ_ac)/(2π).

ReLU's I₄ has no closed form: the η² term E[g'_k g'_l e²] is a randomised quasi-Monte Carlo
average over the fields (:class:`FieldRule`, scrambled Sobol points fixed for the run, so the
right-hand side is a smooth function of the state); its accuracy is stated and tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._jit import jit

#: Activation codes of the committee kernels.
ERF, RELU, LINEAR = 0, 1, 2
#: config name → (code, gain γ of erf(γ t)).
ACTIVATIONS = {
    "erf_sqrt2": (ERF, 1.0 / math.sqrt(2.0)),
    "erf": (ERF, 1.0),
    "relu": (RELU, 1.0),
    "linear": (LINEAR, 1.0),
}
#: Quasi-Monte Carlo points of ReLU's η² term (2^15: relative error ≲ 1e-3, see the tests).
RELU_POINTS = 2**15
TWO_PI = 2.0 * math.pi


@jit
def g_value(code, gain, t):
    """g(t)."""
    if code == ERF:
        return math.erf(gain * t)
    if code == RELU:
        return t if t > 0.0 else 0.0
    return t


@jit
def g_derivative(code, gain, t):
    """g'(t) (ReLU: 1 for t > 0, else 0)."""
    if code == ERF:
        return 2.0 * gain / math.sqrt(math.pi) * math.exp(-gain * gain * t * t)
    if code == RELU:
        return 1.0 if t > 0.0 else 0.0
    return 1.0


@jit
def _angle(caa, cbb, cab):
    """θ = arccos(C_ab / √(C_aa C_bb)) ∈ [0, π] (π/2 for a zero variance)."""
    den = math.sqrt(caa * cbb)
    if den <= 0.0:
        return 0.5 * math.pi
    return math.acos(min(1.0, max(-1.0, cab / den)))


@jit
def avg_i2(code, s2, caa, cbb, cab):
    """I₂ = E g(a) g(b) for (a, b) of covariance [[caa, cab], [cab, cbb]]; s2 = 2γ² (erf)."""
    if code == ERF:
        caa, cbb, cab = s2 * caa, s2 * cbb, s2 * cab
        return 2.0 / math.pi * math.asin(cab / math.sqrt((1.0 + caa) * (1.0 + cbb)))
    if code == RELU:
        theta = _angle(caa, cbb, cab)
        shape = math.sin(theta) + (math.pi - theta) * math.cos(theta)
        return math.sqrt(caa * cbb) / TWO_PI * shape
    return cab


@jit
def avg_j2(code, s2, caa, cbb, cab):
    """J₂ = E g'(a) g'(b)."""
    if code == ERF:
        caa, cbb, cab = s2 * caa, s2 * cbb, s2 * cab
        return s2 * 2.0 / math.pi / math.sqrt(1.0 + caa + cbb + caa * cbb - cab * cab)
    if code == RELU:
        if caa <= 0.0 or cbb <= 0.0:
            return 0.0
        return (math.pi - _angle(caa, cbb, cab)) / TWO_PI
    return 1.0


@jit
def avg_i3(code, s2, caa, cbb, ccc, cab, cac, cbc):
    """I₃ = E g'(a) b g(c) for the fields (a, b, c) with the given covariance entries."""
    if code == ERF:
        caa, ccc, cab, cac, cbc = s2 * caa, s2 * ccc, s2 * cab, s2 * cac, s2 * cbc
        lam3 = (1.0 + caa) * (1.0 + ccc) - cac * cac
        # b enters linearly: the covariance with b is scaled by s, as is the factor g' ∝ s
        return 2.0 / math.pi / math.sqrt(lam3) * (cbc * (1.0 + caa) - cab * cac) / (1.0 + caa)
    if code == RELU:
        if caa <= 0.0:
            return 0.0
        cross = max(caa * ccc - cac * cac, 0.0)
        return (
            cab * math.sqrt(cross) / (TWO_PI * caa)
            + cbc * (math.pi - _angle(caa, ccc, cac)) / TWO_PI
        )
    return cbc


@jit
def avg_i4(code, s2, caa, cbb, ccc, cdd, cab, cac, cad, cbc, cbd, ccd):
    """I₄ = E g'(a) g'(b) g(c) g(d) (erf and linear; ReLU has no closed form)."""
    if code == LINEAR:
        return ccd
    caa, cbb, ccc, cdd = s2 * caa, s2 * cbb, s2 * ccc, s2 * cdd
    cab, cac, cad, cbc, cbd, ccd = s2 * cab, s2 * cac, s2 * cad, s2 * cbc, s2 * cbd, s2 * ccd
    lam4 = (1.0 + caa) * (1.0 + cbb) - cab * cab
    lam0 = (
        lam4 * ccd
        - cbc * cbd * (1.0 + caa)
        - cac * cad * (1.0 + cbb)
        + cab * cac * cbd
        + cab * cad * cbc
    )
    lam1 = (
        lam4 * (1.0 + ccc) - cbc * cbc * (1.0 + caa) - cac * cac * (1.0 + cbb)
        + 2.0 * cab * cac * cbc
    )  # fmt: skip
    lam2 = (
        lam4 * (1.0 + cdd) - cbd * cbd * (1.0 + caa) - cad * cad * (1.0 + cbb)
        + 2.0 * cab * cad * cbd
    )  # fmt: skip
    arg = min(1.0, max(-1.0, lam0 / math.sqrt(lam1 * lam2)))
    return s2 * 4.0 / (math.pi * math.pi) / math.sqrt(lam4) * math.asin(arg)


@jit
def committee_drift(code, gain, cov, beta, out_i3, out_i2):
    """The first-order averages of every student unit, contracted with β.

    out_i3[k, j] = Σ_p β_p I₃(k, j, p) for k < K, j < K + M; out_i2[k] = Σ_p β_p I₂(k, p).
    cov : (K+M, K+M) covariance of the fields; beta : (K+M,).

    I₃(k, j, p) = E g'(λ_k) λ_j g(λ_p) is affine in the middle field's covariances: for erf
    I₃ = A_kp s2 (C_jp (1 + s2 C_kk) − s2 C_kj C_kp) with A_kp = (2/π)/(√λ₃ (1 + s2 C_kk)),
    for ReLU I₃ = C_kj S_kp + C_jp T_kp, for linear g I₃ = C_jp. So

        out_i3[k, j] = Σ_p W_kp C_pj + b_k C_kj,

    one (K, K+M) × (K+M, K+M) product instead of K(K+M)² averages (the loop of
    :func:`committee_drift_loop`, its test twin): 11.5 ms → 1.0 ms at K = 128, M = 2.
    """
    s2 = 2.0 * gain * gain
    n_students = out_i3.shape[0]
    size = cov.shape[0]
    weights = np.zeros((n_students, size))
    diagonal = np.zeros(n_students)
    for k in range(n_students):
        acc2 = 0.0
        ckk = cov[k, k]
        for p in range(size):
            acc2 += beta[p] * avg_i2(code, s2, ckk, cov[p, p], cov[k, p])
            if code == ERF:
                caa, ccc, cac = s2 * ckk, s2 * cov[p, p], s2 * cov[k, p]
                a_kp = (
                    2.0 / math.pi / math.sqrt((1.0 + caa) * (1.0 + ccc) - cac * cac) / (1.0 + caa)
                )
                weights[k, p] = beta[p] * a_kp * s2 * (1.0 + caa)
                diagonal[k] -= beta[p] * a_kp * s2 * s2 * cov[k, p]
            elif code == RELU:
                if ckk <= 0.0:
                    continue
                cross = max(ckk * cov[p, p] - cov[k, p] * cov[k, p], 0.0)
                weights[k, p] = beta[p] * (math.pi - _angle(ckk, cov[p, p], cov[k, p])) / TWO_PI
                diagonal[k] += beta[p] * math.sqrt(cross) / (TWO_PI * ckk)
            else:
                weights[k, p] = beta[p]
        out_i2[k] = acc2
    product = np.dot(weights, np.ascontiguousarray(cov))
    for k in range(n_students):
        for j in range(size):
            out_i3[k, j] = product[k, j] + diagonal[k] * cov[k, j]


@jit
def committee_drift_loop(code, gain, cov, beta, out_i3, out_i2):
    """:func:`committee_drift` as the direct sum over (k, j, p) of :func:`avg_i3` (test twin)."""
    s2 = 2.0 * gain * gain
    n_students = out_i3.shape[0]
    size = cov.shape[0]
    for k in range(n_students):
        acc2 = 0.0
        for p in range(size):
            acc2 += beta[p] * avg_i2(code, s2, cov[k, k], cov[p, p], cov[k, p])
        out_i2[k] = acc2
        for j in range(size):
            acc3 = 0.0
            for p in range(size):
                acc3 += beta[p] * avg_i3(
                    code, s2, cov[k, k], cov[j, j], cov[p, p], cov[k, j], cov[k, p], cov[j, p]
                )
            out_i3[k, j] = acc3


@jit
def committee_noise(code, gain, cov, beta, noise_var, out):
    """out[k, l] = Σ_pq β_p β_q I₄(k, l, p, q) + σ² J₂(k, l) = E g'_k g'_l e² (erf, linear)."""
    s2 = 2.0 * gain * gain
    n_students = out.shape[0]
    size = cov.shape[0]
    for k in range(n_students):
        for m in range(k, n_students):
            acc = 0.0
            for p in range(size):
                for q in range(p, size):
                    weight = beta[p] * beta[q] * (1.0 if p == q else 2.0)
                    acc += weight * avg_i4(
                        code, s2, cov[k, k], cov[m, m], cov[p, p], cov[q, q], cov[k, m],
                        cov[k, p], cov[k, q], cov[m, p], cov[m, q], cov[p, q],
                    )  # fmt: skip
            acc += noise_var * avg_j2(code, s2, cov[k, k], cov[m, m], cov[k, m])
            out[k, m] = acc
            out[m, k] = acc


@jit
def committee_error(code, gain, cov, beta):
    """ε_g = ½ Σ_pq β_p β_q I₂(p, q) (without the label noise)."""
    s2 = 2.0 * gain * gain
    size = cov.shape[0]
    acc = 0.0
    for p in range(size):
        for q in range(size):
            acc += beta[p] * beta[q] * avg_i2(code, s2, cov[p, p], cov[q, q], cov[p, q])
    return 0.5 * acc


def _field_map(cov: np.ndarray) -> np.ndarray:
    """A square root L of a covariance (C = L Lᵀ), by eigenvalues: singular C are allowed."""
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    return vectors * np.sqrt(np.clip(values, 0.0, None))


#: The unit pairs of the η² term each ``noise_pairs`` keeps, as a (K, K) mask.
NOISE_PAIRS = {
    "all": lambda k: np.ones((k, k)),
    "own": np.eye,
    "shared": lambda k: 1.0 - np.eye(k),
}


@dataclass
class FieldRule:
    """Scrambled Sobol points of standard Gaussian fields, fixed for a run: E f(z) ≈ mean f(L u).

    Used for ReLU's η² term, which has no closed form. ``points`` (P, K+M).
    """

    size: int
    count: int = RELU_POINTS
    seed: int = 0
    points: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from scipy.special import ndtri
        from scipy.stats import qmc

        uniform = qmc.Sobol(self.size, scramble=True, seed=self.seed).random(self.count)
        self.points = ndtri(np.clip(uniform, 1e-16, 1 - 1e-16))

    def relu_noise(
        self, cov: np.ndarray, beta: np.ndarray, students: int, noise_var: float
    ) -> np.ndarray:
        """E[g'_k g'_l e²] for ReLU, (K, K): the quasi-Monte Carlo average plus σ² J₂."""
        z = self.points @ _field_map(cov).T
        err = np.maximum(z, 0.0) @ beta
        gate = (z[:, :students] > 0.0) * err[:, None]
        out = gate.T @ gate / self.count
        if noise_var > 0:
            for k in range(students):
                for m in range(students):
                    out[k, m] += noise_var * avg_j2(RELU, 2.0, cov[k, k], cov[m, m], cov[k, m])
        return out


OUTPUT_SCALES = ("none", "1/K", "1/sqrt(K)")


def output_factor(scale: str, students: int) -> float:
    """c of ŷ = c Σ v_k g(λ_k): 1, 1/K or 1/√K."""
    return {"none": 1.0, "1/K": 1.0 / students, "1/sqrt(K)": 1.0 / math.sqrt(students)}[scale]


@dataclass
class Committee:
    """The order-parameter ODEs of a soft committee machine (module docstring).

    Parameters
    ----------
    activation : "erf", "erf_sqrt2", "relu" or "linear"
    teacher_overlaps : (M, M) T = w* w*ᵀ/d
    teacher_v : (M,) second layer of the teacher v*
    students : K
    output_scale : "none", "1/K" or "1/sqrt(K)" (c = 1, 1/K, 1/√K)
    eta, eta_v : learning rates of w and of v (η_v = 0: v fixed)
    weight_decay : λ
    label_noise : σ
    noise_term : include the η² terms (the SGD noise); False is the η → 0 limit at fixed ηt
    noise_pairs : which unit pairs (k, l) of the η² term of dQ_kl to keep: "all"; "own" —
        k = l, each unit's own step noise; "shared" — k ≠ l, the noise two units share
        through the common sample (Δw_k·Δw_l ∝ g'_k g'_l e² |x|²/d, one x for both)
    """

    activation: str
    teacher_overlaps: np.ndarray
    teacher_v: np.ndarray
    students: int
    output_scale: str = "none"
    eta: float = 0.5
    eta_v: float = 0.0
    weight_decay: float = 0.0
    label_noise: float = 0.0
    noise_term: bool = True
    noise_pairs: str = "all"
    quadrature_seed: int = 0
    rule: FieldRule | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.code, self.gain = ACTIVATIONS[self.activation]
        self.teacher_overlaps = np.asarray(self.teacher_overlaps, float)
        self.teacher_v = np.asarray(self.teacher_v, float)
        self.c = output_factor(self.output_scale, self.students)
        if self.code == RELU and self.noise_term and self.eta > 0:
            self.rule = FieldRule(self.students + self.teachers, seed=self.quadrature_seed)

    @property
    def teachers(self) -> int:
        """M."""
        return self.teacher_v.size

    # ---------------------------------------------------------------- state packing

    @property
    def state_size(self) -> int:
        """K² + KM + K: Q (symmetric, stored whole), R and v."""
        k, m = self.students, self.teachers
        return k * k + k * m + k

    def pack(self, q: np.ndarray, r: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(Q, R, v) → the state vector."""
        return np.concatenate([np.ravel(q), np.ravel(r), np.ravel(v)]).astype(float)

    def unpack(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The state vector → views (Q (K, K), R (K, M), v (K,))."""
        k, m = self.students, self.teachers
        q = state[: k * k].reshape(k, k)
        r = state[k * k : k * k + k * m].reshape(k, m)
        return q, r, state[k * k + k * m :]

    def covariance(self, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """C = [[Q, R], [Rᵀ, T]], (K+M, K+M)."""
        return np.block([[q, r], [r.T, self.teacher_overlaps]])

    def beta(self, v: np.ndarray) -> np.ndarray:
        """β = (−c v, v*): e = Σ_p β_p g(z_p) + σζ."""
        return np.concatenate([-self.c * v, self.teacher_v])

    # ---------------------------------------------------------------- the ODEs

    def error(self, state: np.ndarray) -> float:
        """ε_g = ½ E(ŷ − Σ v*_n g(ν_n))² (label noise excluded)."""
        q, r, v = self.unpack(state)
        return float(committee_error(self.code, self.gain, self.covariance(q, r), self.beta(v)))

    def noise_rates(self, state: np.ndarray) -> tuple[float, float]:
        r"""The η² term's share of dε_g/dt: (own, shared), the derivatives of ε_g along the
        η² term (ηc)² v_k v_l E[g'_k g'_l e²] of dQ restricted to the unit pairs k = l and
        k ≠ l, along the ODEs as they run (whatever ``noise_pairs`` keeps). Each is one
        central difference of ε_g (four evaluations in all, at any K), with a step that
        moves Q by 1e-5 at most."""
        if not self.noise_term or self.eta <= 0:
            return 0.0, 0.0
        q, r, v = self.unpack(state)
        cov, beta = self.covariance(q, r), self.beta(v)
        noise = (self.eta * self.c) ** 2 * np.outer(v, v) * self.noise_average(cov, beta)
        k = self.students
        rates = []
        for mask in (NOISE_PAIRS["own"](k), NOISE_PAIRS["shared"](k)):
            push = np.zeros_like(cov)
            push[:k, :k] = noise * mask
            top = float(np.abs(push).max())
            if top == 0.0:
                rates.append(0.0)
                continue
            h = 1e-5 / top
            up = committee_error(self.code, self.gain, cov + h * push, beta)
            down = committee_error(self.code, self.gain, cov - h * push, beta)
            rates.append(float((up - down) / (2 * h)))
        return rates[0], rates[1]

    def noise_average(self, cov: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """E[g'_k g'_l e²] with the label noise, (K, K)."""
        noise_var = self.label_noise**2
        if self.code == RELU:
            return self.rule.relu_noise(cov, beta, self.students, noise_var)
        out = np.empty((self.students, self.students))
        committee_noise(self.code, self.gain, cov, beta, noise_var, out)
        return out

    def rhs(self, state: np.ndarray) -> np.ndarray:
        """d(Q, R, v)/dt packed like the state."""
        q, r, v = self.unpack(state)
        k = self.students
        cov, beta = self.covariance(q, r), self.beta(v)
        i3 = np.empty((k, cov.shape[0]))
        i2 = np.empty(k)
        committee_drift(self.code, self.gain, cov, beta, i3, i2)
        eta, c, lam = self.eta, self.c, self.weight_decay
        drift = eta * c * v[:, None] * i3  # [k, j] = η c v_k Σ_p β_p I₃(k, j, p)
        dq = drift[:, :k] + drift[:, :k].T - 2.0 * eta * lam * q
        if self.noise_term and eta > 0:
            noise = (eta * c) ** 2 * np.outer(v, v) * self.noise_average(cov, beta)
            dq += noise * NOISE_PAIRS[self.noise_pairs](k)
        dr = drift[:, k:] - eta * lam * r
        dv = self.eta_v * (c * i2 - lam * v)
        return self.pack(dq, dr, dv)
