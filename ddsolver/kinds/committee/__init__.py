r"""``problem.kind = "committee"``: soft committee machines at finite width, d → ∞.

The package: ``config.py`` (its config section) and ``kind.py`` (its physics).
"""
