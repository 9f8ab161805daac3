"""Finite-width networks in the full dimension: online SGD and their exact population risk."""
