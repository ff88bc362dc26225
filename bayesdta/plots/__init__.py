"""Matplotlib plots. Each function takes ``ax=None`` (or ``fig=None``), returns the Axes or
Figure, forwards styling keyword arguments and never calls ``show()``."""
