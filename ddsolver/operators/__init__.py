"""Discrete operators on tensor grids: transport/diffusion fluxes and the nonlocal term."""
