r"""``problem.kind = "isotropic_gaussians"``: the papers' main example (Mei, Montanari & Nguyen).

The package: ``config.py`` (its config section) and ``kind.py`` (its physics).
"""
