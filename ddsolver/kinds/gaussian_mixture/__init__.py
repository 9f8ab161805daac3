r"""``problem.kind = "gaussian_mixture"``: Gaussian clusters with labels (XOR by default).

The package: ``config.py`` (its config section), ``moments.py`` (the biased Gaussian moments
of σ), ``model.py`` (the reduced flow in (a, m, r⊥)), ``sgd.py`` (online SGD in the full
dimension and the exact risk) and ``kind.py`` (the kind itself).
"""
