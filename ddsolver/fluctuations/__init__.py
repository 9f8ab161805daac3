"""Finite-width corrections along training: the dynamical 1/N term (:mod:`.probe`)."""
