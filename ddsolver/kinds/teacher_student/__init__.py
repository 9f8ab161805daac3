r"""``problem.kind = "teacher_student"``: Gaussian inputs and a one-unit teacher.

The package: ``config.py`` (its config section) and ``kind.py`` (its physics).
"""
