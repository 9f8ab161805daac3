"""The ready experiments (TOML configs), shipped inside the package as ``ddsolver.grids``.

This directory is mapped to that package by ``pyproject.toml`` so that a regular install has
the configs too; find them with :mod:`ddsolver.examples` or copy them out with
``ddsolver examples DIR``.
"""
