r"""``problem.kind = "anisotropic_gaussians"``: variable selection with a ReLU and a bias.

The package: ``config.py`` (its config section) and ``kind.py`` (its physics).
"""
