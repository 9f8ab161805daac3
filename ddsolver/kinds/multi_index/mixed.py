r"""Mixed pair moments E[g(aZ₁) σ(bZ₂)], corr(Z₁, Z₂) = c: a teacher g unlike the student σ.

The multi-index potential V(w) = −Σ_j v_j E[g(<u_j, x>) σ(<w, x>)] needs the teacher's g
against the student's σ (the interaction U is the student's own, E y² the teacher's own). By
Price's theorem ∂K/∂C = E[g'(aZ₁)σ'(bZ₂)] in the covariance C = abc, and for the pairs of
{erf, relu, square} the integral over C is elementary:

* g = erf, σ = relu: E[erf'(U) 1{W > 0}] = (2/√π) E[e^{−U²} 1{W > 0}] = 1/√(π(1 + 2a²)),
  whatever C (the tilted law of W is still centred), and E erf = 0, so
  K = abc/√(π(1 + 2a²)); with the roles swapped, K = abc/√(π(1 + 2b²));
* one of them erf, the other the square: K = 0 (odd against even);
* g = relu, σ = square: E[Z₁⁺ Z₂²] = ½E[|Z₁|(c²Z₁² + (1 − c²)Z₃²)] = (1 + c²)/√(2π), so
  K = ab²(1 + c²)/√(2π); swapped, K = a²b(1 + c²)/√(2π).

Every function returns (K, ∂K/∂b, ∂K/∂c) — b is the student's scale — broadcast over a, b, c.
"""

from __future__ import annotations

import math

import numpy as np

#: The teacher–student pairs (g, σ) with a closed mixed moment here.
MIXED_PAIRS = frozenset(
    {
        ("erf", "relu"),
        ("relu", "erf"),
        ("erf", "square"),
        ("square", "erf"),
        ("relu", "square"),
        ("square", "relu"),
    }
)
SQRT_2PI = math.sqrt(2.0 * math.pi)


def mixed_pair(teacher: str, student: str, a, b, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, ∂K/∂b, ∂K/∂c) of K(a, b, c) = E[g(aZ₁)σ(bZ₂)], g of kind ``teacher``, σ of kind
    ``student``, a pair of :data:`MIXED_PAIRS`."""
    a, b, c = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (a, b, c)))
    c = np.clip(c, -1.0, 1.0)
    pair = (teacher, student)
    if pair == ("erf", "relu"):
        q = 1.0 / np.sqrt(math.pi * (1.0 + 2.0 * a * a))
        return a * b * c * q, a * c * q, a * b * q
    if pair == ("relu", "erf"):
        q = 1.0 + 2.0 * b * b
        root = np.sqrt(math.pi * q)
        return a * b * c / root, a * c / (root * q), a * b / root
    if pair in (("erf", "square"), ("square", "erf")):
        zero = np.zeros_like(a)
        return zero, zero, zero.copy()
    if pair == ("relu", "square"):
        return (a * b * b * (1.0 + c * c) / SQRT_2PI, 2.0 * a * b * (1.0 + c * c) / SQRT_2PI,
                2.0 * a * b * b * c / SQRT_2PI)  # fmt: skip
    if pair == ("square", "relu"):
        return (a * a * b * (1.0 + c * c) / SQRT_2PI, a * a * (1.0 + c * c) / SQRT_2PI,
                2.0 * a * a * b * c / SQRT_2PI)  # fmt: skip
    raise ValueError(f"no closed mixed moment for teacher {teacher!r} and student {student!r}")
