"""Plots (matplotlib) and interactive explorers (ipywidgets, each also a plain function) used by the notebooks."""
