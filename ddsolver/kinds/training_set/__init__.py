r"""``problem.kind = "training_set"``: ReLU networks on a finite data set (Chizat & Bach).

The package: ``config.py`` (its config section) and ``kind.py`` (its physics).
"""
