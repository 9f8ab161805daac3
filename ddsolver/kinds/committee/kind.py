r"""``problem.kind = "committee"``: soft committee machines at finite width, d → ∞.

A student ŷ = c Σ_k v_k g(w_k·x/√d) with K units learns a teacher y = Σ_n v*_n g(w*_n·x/√d) + ςζ
with M units from x ~ N(0, I_d). ``ddsolver run`` integrates the order-parameter ODEs of
online SGD (Q, R, v; :class:`~ddsolver.models.committee.Committee`) with
``discretisation.method = "order_parameters"``; ``ddsolver sgd`` runs the networks themselves
(:func:`~ddsolver.sgd.committee.committee_sgd_steps`), one step per 1/d of time.

The teacher's weights come from ``problem.teacher_seed`` and the student's initial weights
from ``initial.seed`` — the same for the ODE and every SGD seed, so the ODE starts from the
overlaps of the very weights SGD starts from (the SGD seeds draw only the samples). With
``problem.dimension = "inf"`` the ODE starts from the d → ∞ overlaps (Q = κ² I, R = 0, T = I).
"""

from __future__ import annotations

import math

import numpy as np

from ...limits import ODESystem
from ...models.committee import (
    RELU_POINTS,
    Committee,
    committee_drift,
    committee_error,
    committee_noise,
    output_factor,
)
from ...schedules import Schedule
from ...settings import Settings, settings
from ...sgd.committee import committee_sgd_steps, order_parameters, weights_with_overlaps
from ...sgd.network import Network
from ..base import ProblemKind
from .config import MAX_NAMED_UNITS, CommitteeSpec, given_overlaps, given_teacher_overlaps

#: Random streams of the teacher and of the student, so that equal seeds draw independent
#: weights (np.random.default_rng((seed, stream))).
TEACHER_STREAM, STUDENT_STREAM = 0, 1


def _given_overlaps(cfg: dict | Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Q, R, v) of ``initial.kind = "overlaps"``."""
    cfg = settings(cfg)
    p, init = cfg.problem, cfg.initial
    return given_overlaps(p.student_units, p.teacher_units, init.q, init.r, init.v)


def teacher_weights(cfg: dict | Settings, d: int) -> np.ndarray:
    """The teacher's w* (M, d) from ``problem.teacher_seed``: i.i.d. N(0, 1) entries
    (``gaussian``, T ≈ I) or rows with w* w*ᵀ/d = T exactly (``orthonormal``: T = I, or
    ``initial.t``)."""
    cfg = settings(cfg)
    p = cfg.problem
    rng = np.random.default_rng((p.teacher_seed, TEACHER_STREAM))
    m = p.teacher_units
    if p.teacher_weights == "gaussian":
        return rng.standard_normal((m, d))
    return weights_with_overlaps(given_teacher_gram(cfg), d, rng)


def given_teacher_gram(cfg: dict | Settings) -> np.ndarray:
    """T (M, M) the teacher is made with: ``initial.t`` with ``initial.kind = "overlaps"``
    where given, else the identity."""
    cfg = settings(cfg)
    m = cfg.problem.teacher_units
    if cfg.initial.kind != "overlaps":
        return np.eye(m)
    return given_teacher_overlaps(m, cfg.initial.t)


def initial_student(
    cfg: dict | Settings, d: int, teacher_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The student's initial (w (K, d), v (K,)) from ``initial.seed``.

    ``gaussian``: w_kj ~ N(0, κ²) (each field has standard deviation κ = initial.scale),
    v_k ~ N(a_mean, a_std²). ``overlaps``: the given Q, R exactly — w = R T⁻¹ w* plus rows
    orthogonal to the teacher with Gram d (Q − R T⁻¹ Rᵀ) — and the given v.
    """
    cfg = settings(cfg)
    init = cfg.initial
    k = cfg.problem.student_units
    rng = np.random.default_rng((init.seed, STUDENT_STREAM))
    if init.kind == "gaussian":
        w = init.scale * rng.standard_normal((k, d))
        v = init.a_mean + init.a_std * rng.standard_normal(k)
        return w, v
    q, r, v = _given_overlaps(cfg)
    t = teacher_w @ teacher_w.T / d
    coef = np.linalg.solve(t, r.T).T  # R T⁻¹, (K, M)
    residual = q - coef @ r.T
    span = np.linalg.qr(teacher_w.T)[0]  # (d, M) orthonormal basis of the teacher's span
    noise = rng.standard_normal((d, k))
    noise -= span @ (span.T @ noise)
    basis, upper = np.linalg.qr(noise)
    basis = basis * np.sign(np.diag(upper))
    values, vectors = np.linalg.eigh(0.5 * (residual + residual.T))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return coef @ teacher_w + math.sqrt(d) * root @ basis.T, v.copy()


def teacher_v(cfg: dict | Settings) -> np.ndarray:
    """v* (M,): ``problem.teacher_v``, one number for every unit or one per unit."""
    cfg = settings(cfg)
    values = np.asarray(cfg.problem.teacher_v, float)
    m = cfg.problem.teacher_units
    return np.full(m, values[0]) if values.size == 1 else values


def initial_overlaps(cfg: dict | Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Q, R, v, T) at t = 0: of the weights SGD starts from (finite d), or the d → ∞ values."""
    cfg = settings(cfg)
    d = cfg.problem.dimension
    k, m = cfg.problem.student_units, cfg.problem.teacher_units
    if math.isinf(d):
        t = given_teacher_gram(cfg)
        if cfg.initial.kind == "overlaps":
            return (*_given_overlaps(cfg), t)
        init = cfg.initial
        rng = np.random.default_rng((init.seed, STUDENT_STREAM))
        v = init.a_mean + init.a_std * rng.standard_normal(k)
        return init.scale**2 * np.eye(k), np.zeros((k, m)), v, t
    d = int(d)
    w_star = teacher_weights(cfg, d)
    w, v = initial_student(cfg, d, w_star)
    q, r, t = order_parameters(w, w_star)
    return q, r, v, t


def named_observables(q: np.ndarray, r: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """Q_k_l (k ≤ l), R_k_n and v_k, indices from 1, when K and M are at most
    :data:`MAX_NAMED_UNITS`; else the means of the diagonal and off-diagonal of Q, of R and v."""
    k, m = r.shape
    if max(k, m) > MAX_NAMED_UNITS:
        off = (q.sum() - np.trace(q)) / max(k * (k - 1), 1)
        return {"Q_diag_mean": float(np.trace(q) / k), "Q_off_mean": float(off),
                "R_mean": float(r.mean()), "v_mean": float(v.mean())}  # fmt: skip
    out = {f"Q_{a + 1}_{b + 1}": float(q[a, b]) for a in range(k) for b in range(a, k)}
    out.update({f"R_{a + 1}_{n + 1}": float(r[a, n]) for a in range(k) for n in range(m)})
    out.update({f"v_{a + 1}": float(v[a]) for a in range(k)})
    return out


class CommitteeNetwork(Network):
    """A student committee (w (K, d), v (K,)) and its teacher; one seed draws the samples."""

    coords = ("q", "v")

    def __init__(self, cfg: Settings, problem: Committee, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        d = cfg.problem.dimension
        self.teacher_w = teacher_weights(cfg, d)
        self.teacher_v = problem.teacher_v
        self.w, self.v = initial_student(cfg, d, self.teacher_w)
        self.arrays = (self.w, self.v)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        p = self.problem
        committee_sgd_steps(
            self.w, self.v, self.teacher_w, self.teacher_v, p.code, p.gain, p.c, p.eta,
            p.eta_v, p.weight_decay, p.label_noise, self.cfg.sgd.batch, k0, k1, self.rng,
        )  # fmt: skip

    def _overlaps(self) -> tuple[np.ndarray, np.ndarray]:
        q, r, _ = order_parameters(self.w, self.teacher_w)
        return q, r

    def risk(self) -> float:
        q, r = self._overlaps()
        t = self.teacher_w @ self.teacher_w.T / self.w.shape[1]
        cov = np.block([[q, r], [r.T, t]])
        p = self.problem
        return float(committee_error(p.code, p.gain, cov, p.beta(self.v)))

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"q": np.einsum("kj,kj->k", self.w, self.w) / self.w.shape[1], "v": self.v.copy()}

    def observables(self) -> dict[str, float]:
        return named_observables(*self._overlaps(), self.v)

    def snapshot_fields(self) -> dict[str, np.ndarray]:
        q, r = self._overlaps()
        return {"Q": q, "R": r, "v": self.v.copy()}


class CommitteeKind(CommitteeSpec, ProblemKind):
    """Soft committee machines: the order-parameter ODEs and online SGD in dimension d."""

    network = CommitteeNetwork

    # ------------------------------------------------------------------ config

    def memory_terms(self, cfg: Settings, verb: str) -> dict[str, float] | None:
        if verb == "sgd":
            return None
        k, m = cfg.problem.student_units, cfg.problem.teacher_units
        state = k * k + k * m + k
        fields = RELU_POINTS * (k + m) * 4 if cfg.problem.activation.kind == "relu" else 0
        terms = {"problem.student_units": 8.0 * (20 * state + 4 * (k + m) ** 2 + fields)}
        d = cfg.problem.dimension
        if not math.isinf(d):  # the teacher's weights (M, d), drawn to give T = w* w*ᵀ / d
            terms["problem.dimension"] = 8.0 * 3 * m * d
        return terms

    # ------------------------------------------------------------------ the ODEs

    def build_problem(self, cfg: Settings) -> Committee:
        p, dyn = cfg.problem, cfg.dynamics
        t = given_teacher_gram(cfg) if math.isinf(p.dimension) else _teacher_overlaps(cfg)
        return Committee(
            activation=p.activation.kind,
            teacher_overlaps=t,
            teacher_v=teacher_v(cfg),
            students=p.student_units,
            output_scale=p.output_scale,
            eta=dyn.eta,
            eta_v=dyn.eta_v,
            weight_decay=dyn.lam,
            label_noise=p.label_noise,
            noise_term=dyn.noise_term,
            noise_pairs=dyn.noise_pairs,
        )

    def describe(self, cfg: Settings) -> ODESystem:
        """The ODEs of the overlaps (Q, R, v), from their values at t = 0; ε_g and the named
        overlaps observed, the matrices saved."""
        model = self.build_problem(cfg)
        q, r, v, _ = initial_overlaps(cfg)

        def observe(state: np.ndarray, t: float) -> dict[str, float]:
            own, shared = model.noise_rates(state)
            return {
                "risk": model.error(state),
                "noise_rate_own": own,
                "noise_rate_shared": shared,
                **named_observables(*model.unpack(state)),
            }

        def snapshot(state: np.ndarray, t: float) -> dict[str, np.ndarray]:
            q, r, v = model.unpack(state)
            return {"Q": q.copy(), "R": r.copy(), "v": v.copy()}

        solver = cfg.solver
        return ODESystem(model.rhs, model.pack(q, r, v), observe, snapshot, solver.rtol,
                         solver.atol)  # fmt: skip

    def warm_up_pde(self) -> None:
        """Compile (or load) the ODE kernels (every activation shares them); the caller holds
        the compile lock."""
        cov, beta = np.eye(3) + 0.1, np.ones(3)
        committee_drift(0, 1.0, cov, beta, np.empty((2, 3)), np.empty(2))
        committee_noise(0, 1.0, cov, beta, 0.1, np.empty((2, 2)))
        committee_error(0, 1.0, cov, beta)

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        w, v, tw, tv = np.ones((2, 4)), np.ones(2), np.ones((1, 4)), np.ones(1)
        committee_sgd_steps(
            w, v, tw, tv, 0, 1.0, output_factor("none", 2), 0.5, 0.1, 0.0, 0.1, 1,
            np.int64(0), np.int64(1), rng,
        )  # fmt: skip
        committee_error(0, 1.0, np.eye(3), np.ones(3))


def _teacher_overlaps(cfg: dict | Settings) -> np.ndarray:
    """T = w* w*ᵀ/d of the teacher drawn at the config's finite d."""
    cfg = settings(cfg)
    d = int(cfg.problem.dimension)
    w_star = teacher_weights(cfg, d)
    return w_star @ w_star.T / d


KIND = CommitteeKind()
