"""Write ``simulated_mvi_52.csv``: 52 simulated deep-learning studies of microvascular invasion.

The data are simulated, not published counts. Their shape follows the meta-analysis of 52
deep-learning studies predicting microvascular invasion in hepatocellular carcinoma by Feng,
Qu & Han (J Med Internet Res 2026), which reported pooled sensitivity 0.80 and specificity
0.82 overall, 0.84 and 0.83 for contrast-enhanced CT, 0.91 and 0.90 for pathology slides,
and an SROC AUC of 0.85 for external against 0.90 for internal validation.

Generating model (bivariate binomial-normal meta-regression, Chu & Cole 2006)::

    (A_i, B_i) ~ N(logit(MODALITY[m_i]) + EXTERNAL_EFFECT * external_i, Sigma[v_i])
    tp_i ~ Binomial(n1_i, expit(A_i)),   tn_i ~ Binomial(n0_i, expit(B_i))

with the values below. ``MODALITY`` holds sensitivity and specificity of each modality under
internal validation. About 30% of the studies of each modality are externally validated,
and averaging the logits over both validation types gives the published subgroup values
(contrast-enhanced CT 0.84 and 0.83, pathology slides 0.91 and 0.90) and about 0.81 and
0.82 over all 52 studies.
External validation lowers both logits and has a wider between-study covariance, which
lowers the SROC AUC of external studies (the values at the bottom of this docstring are
from :func:`generating_auc`).

Study sizes: ``n_total ~ Uniform{80, ..., 400}`` participants, ``n1 ~ Binomial(n_total,
0.4)`` with microvascular invasion, ``n0 = n_total - n1``.

Run ``python -m bayesdta.datasets.make_simulated_mvi`` to write the file again; the seed
makes it identical. Rutter-Gatsonis SROC AUC of the contrast-enhanced CT profile from the
generating values: 0.92 internal and 0.86 external validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit

__all__ = [
    "SEED",
    "MODALITY",
    "MODALITY_COUNTS",
    "EXTERNAL_COUNTS",
    "EXTERNAL_EFFECT",
    "COVARIANCE",
    "PREVALENCE",
    "simulate",
    "generating_auc",
]

SEED = 20260052

#: Sensitivity and specificity of each modality under internal validation.
MODALITY: dict[str, tuple[float, float]] = {
    "contrast-enhanced CT": (0.86, 0.85),
    "MRI": (0.80, 0.83),
    "CT": (0.76, 0.80),
    "pathology slides": (0.92, 0.91),
    "ultrasound": (0.72, 0.76),
}

#: Number of studies of each modality, and how many of them are externally validated.
MODALITY_COUNTS: dict[str, int] = {
    "contrast-enhanced CT": 18,
    "MRI": 12,
    "CT": 8,
    "pathology slides": 8,
    "ultrasound": 6,
}
EXTERNAL_COUNTS: dict[str, int] = {
    "contrast-enhanced CT": 6,
    "MRI": 4,
    "CT": 2,
    "pathology slides": 2,
    "ultrasound": 2,
}

#: Change of (logit sensitivity, logit specificity) under external validation.
EXTERNAL_EFFECT: tuple[float, float] = (-0.5, -0.4)

#: Between-study (tau_sens, tau_spec, rho) of the logits by validation type.
COVARIANCE: dict[str, tuple[float, float, float]] = {
    "internal": (0.5, 0.5, -0.3),
    "external": (0.9, 0.8, -0.3),
}

#: Share of participants with microvascular invasion in each study (binomial mean).
PREVALENCE = 0.4


def _covariance_matrix(tau_sens: float, tau_spec: float, rho: float) -> np.ndarray:
    off = rho * tau_sens * tau_spec
    return np.array([[tau_sens**2, off], [off, tau_spec**2]])


def simulate(seed: int = SEED) -> pd.DataFrame:
    """Draw the 52 studies from the generating model.

    Returns
    -------
    pandas.DataFrame
        Columns ``study, tp, fp, fn, tn, modality, validation``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for modality, count in MODALITY_COUNTS.items():
        n_external = EXTERNAL_COUNTS[modality]
        for position in range(count):
            validation = "external" if position < n_external else "internal"
            mean = logit(np.array(MODALITY[modality]))
            if validation == "external":
                mean = mean + np.array(EXTERNAL_EFFECT)
            logits = rng.multivariate_normal(mean, _covariance_matrix(*COVARIANCE[validation]))
            n_total = int(rng.integers(80, 401))
            n1 = int(rng.binomial(n_total, PREVALENCE))
            n0 = n_total - n1
            tp = int(rng.binomial(n1, expit(logits[0])))
            tn = int(rng.binomial(n0, expit(logits[1])))
            rows.append(
                {"tp": tp, "fp": n0 - tn, "fn": n1 - tp, "tn": tn, "modality": modality,
                 "validation": validation}
            )
    frame = pd.DataFrame(rows)
    order = rng.permutation(len(frame))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "study", [f"Simulated {i + 1:02d}" for i in range(len(frame))])
    return frame


def generating_auc(modality: str, validation: str, n_grid: int = 20001) -> float:
    """Return the Rutter-Gatsonis SROC AUC of one profile from the generating values.

    The curve is ``logit(sens) = Lambda exp(-beta/2) + exp(-beta) logit(FPR)`` with
    ``beta = log(tau_spec / tau_sens)`` and ``Lambda`` from Harbord et al. (2007,
    Biostatistics 8:239-251); the AUC integrates it over FPR in (0, 1) on a midpoint grid.
    """
    tau_sens, tau_spec, _ = COVARIANCE[validation]
    mu = logit(np.array(MODALITY[modality]))
    if validation == "external":
        mu = mu + np.array(EXTERNAL_EFFECT)
    beta = np.log(tau_spec / tau_sens)
    lam = np.sqrt(tau_spec / tau_sens) * mu[0] + np.sqrt(tau_sens / tau_spec) * mu[1]
    fpr = (np.arange(n_grid) + 0.5) / n_grid
    sens = expit(lam * np.exp(-beta / 2) + np.exp(-beta) * logit(fpr))
    return float(np.mean(sens))


def main() -> None:
    """Write the CSV next to this script."""
    path = Path(__file__).with_name("simulated_mvi_52.csv")
    simulate().to_csv(path, index=False)
    print(f"wrote {path}")
    for validation in COVARIANCE:
        auc = generating_auc("contrast-enhanced CT", validation)
        print(f"SROC AUC, contrast-enhanced CT, {validation}: {auc:.3f}")


if __name__ == "__main__":
    main()
