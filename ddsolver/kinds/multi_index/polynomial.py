r"""The Hermite-polynomial teacher's config string, read without evaluating it.

Terms joined by + or −, each an optional number times factors joined by ``*``; a factor is
``z<l>`` (h_1(z_l)) or ``h<n>(z<l>)``, 1 ≤ l ≤ k, each l at most once in a term (z1*z1 is no
Hermite monomial: write h2(z1)). Imports no kernel: the config check uses it.
"""

from __future__ import annotations

import re

import numpy as np

#: Highest total degree |α| of a term.
MAX_DEGREE = 12
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_FACTOR = re.compile(r"^(?:z(\d+)|h(\d+)\(z(\d+)\))$")


class PolynomialError(ValueError):
    """A polynomial string that is not a sum of Hermite monomials; the message says why."""


def parse_polynomial(text: str, units: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponents α (T, k) and coefficients c (T,) of a polynomial string (see module doc).

    Repeated monomials are summed; terms whose coefficients cancel are kept (c = 0).
    Raises :class:`PolynomialError` naming the offending piece.
    """
    body = text.replace(" ", "")
    if not body:
        raise PolynomialError("is empty")
    pieces = [p for p in re.split(r"(?<![eE])(?=[+-])", body) if p]  # a sign starts a term
    terms: dict[tuple[int, ...], float] = {}
    for signed in pieces:
        sign = -1.0 if signed.startswith("-") else 1.0
        piece = signed[1:] if signed[0] in "+-" else signed
        if not piece:
            raise PolynomialError(f"has a sign with no term after it: {text!r}")
        coef = 1.0
        factors = piece.split("*")
        if re.fullmatch(_NUMBER, factors[0]):
            coef = float(factors.pop(0))
        alpha = [0] * units
        for factor in factors:
            match = _FACTOR.match(factor)
            if match is None:
                raise PolynomialError(
                    f"term {piece!r}: unknown factor {factor!r} (allowed: a number first, then "
                    "z<l> or h<n>(z<l>), joined by *)"
                )
            degree, index = (1, match[1]) if match[1] else (int(match[2]), match[3])
            index = int(index)
            if not 1 <= index <= units:
                raise PolynomialError(f"term {piece!r}: z{index} is not one of z1 … z{units}")
            if alpha[index - 1]:
                raise PolynomialError(
                    f"term {piece!r}: z{index} appears twice (a product of two h's of one z is no "
                    "Hermite monomial; write h<n>(z<l>))"
                )
            alpha[index - 1] = degree
        if sum(alpha) > MAX_DEGREE:
            raise PolynomialError(f"term {piece!r}: degree {sum(alpha)} > {MAX_DEGREE}")
        key = tuple(alpha)
        terms[key] = terms.get(key, 0.0) + sign * coef
    exps = np.array(list(terms), dtype=np.int64).reshape(len(terms), units)
    return exps, np.array(list(terms.values()))
