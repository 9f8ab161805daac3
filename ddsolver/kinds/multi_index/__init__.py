r"""``problem.kind = "multi_index"``: Gaussian inputs and a teacher of k projections.

The package: ``config.py`` (its config section), ``model.py`` (the reduced flow in (m, r⊥)),
``sgd.py`` (online SGD in the full dimension) and ``kind.py`` (the kind itself).
"""
