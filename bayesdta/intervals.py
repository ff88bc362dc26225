"""Interval objects ``{"median", "lower", "upper"}`` for JSON output."""

from __future__ import annotations

import numpy as np

__all__ = ["interval_object", "interval_from_row"]


def interval_object(values, prob: float = 0.95) -> dict[str, float]:
    """Return the median and the equal-tailed ``prob`` interval of draws of any shape."""
    flat = np.ravel(np.asarray(values, dtype=float))
    tail = (1.0 - prob) / 2.0
    lower, median, upper = np.quantile(flat, [tail, 0.5, 1.0 - tail])
    return {"median": float(median), "lower": float(lower), "upper": float(upper)}


def interval_from_row(row) -> dict[str, float]:
    """Return the interval object of one row of :func:`bayesdta.summarize` (ETI bounds)."""
    return {
        "median": float(row["median"]),
        "lower": float(row["eti_lower"]),
        "upper": float(row["eti_upper"]),
    }
