"""Default settings of the NUTS sampler, shared by the library, the specifications and the CLI.

This module imports nothing heavy, so that ``bayesdta --help`` and the specification
checks can read the defaults without loading PyMC.
"""

__all__ = ["TARGET_ACCEPT", "TUNE"]

#: Warm-up (tuning) iterations per chain when none are given, as in PyMC and Stan.
#: Warm-started refits use fewer (see :mod:`bayesdta.refit`).
TUNE = 1000

#: Target acceptance rate of NUTS. PyMC and Stan default to 0.8, and bayesdta uses 0.9
#: because random-effects models of few studies diverge less with the smaller steps.
#: Measured with nutpie 0.16.11, 4 chains x (1000 + 1000), seeds 1 and 2, on 2 cores:
#:
#: - divergences fell from 41 to 14 on the first 15 studies of the 52-study simulated
#:   benchmark data, and from 10 to 6 on its first 12;
#: - the smallest bulk ESS of the means, SDs and correlation rose on 7 of 8 datasets
#:   (52 simulated studies: 2447 to 4611; dick_melanoma_cad: 2679 to 4634), and fell on
#:   scheidler_lymph_nodes (1182 to 794);
#: - sampling took 10 to 60% longer, and ESS per gradient evaluation fell on 6 of 8 datasets.
#:
#: At the usual sizes of a review, sampling is a small part of a run, so the ESS per second
#: of a whole ``bayesdta analyze`` rises.
TARGET_ACCEPT = 0.9
