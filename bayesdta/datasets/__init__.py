"""Real diagnostic-accuracy datasets bundled with bayesdta, with their provenance.

Each CSV holds one row per 2x2 table with the columns ``study, tp, fp, fn, tn`` first and
study-level covariates after them. The counts were read from the data objects that R packages
ship (bamdit, meta4diag, mada) and checked cell by cell against them. One dataset,
``simulated_mvi_52``, is simulated from known values by ``make_simulated_mvi.py`` in this
folder; its catalog entry lists those values.

Examples
--------
>>> from bayesdta import datasets
>>> datasets.list_datasets()[:2]
['auditc', 'catheter_segment_culture']
>>> datasets.load_dataset("auditc").shape
(14, 5)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import pandas as pd

__all__ = ["DatasetInfo", "list_datasets", "load_dataset", "dataset_info", "dataset_path"]


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance of one bundled dataset."""

    name: str
    title: str
    n_tables: int
    publication: str
    shipped_by: str
    covariates: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


_CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            name="auditc",
            title="AUDIT-C questionnaire for alcohol misuse",
            n_tables=14,
            publication="Kriston et al., Ann Intern Med 2008;149:879-888",
            shipped_by="R mada 0.5.12 (AuditC)",
        ),
        DatasetInfo(
            name="catheter_segment_culture",
            title="Catheter segment culture for catheter-related bloodstream infection",
            n_tables=33,
            publication=(
                "Chu, Guo & Zhou, Med Decis Making 2010;30:499-508, "
                "data from Safdar et al. 2005"
            ),
            shipped_by="R meta4diag 2.1.1 (Catheter)",
            covariates={
                "type": "culture technique: Semi-quantitative (19 tables) or Quantitative (14)",
                "prevalence": "prevalence of infection in the study, in percent",
                "term": "catheter duration: Short or Long term",
            },
        ),
        DatasetInfo(
            name="dick_melanoma_cad",
            title="Computer-aided diagnosis of melanoma",
            n_tables=70,
            publication="Dick et al., JAMA Dermatology 2019;155:1291-1299",
            shipped_by="R bamdit 3.6.0 (skin)",
            covariates={
                "test_set_source": "origin of the test images: public or proprietary",
                "cad_method": "computer_vision, deep_learning or hardware_based",
                "classifier": "classifier family as reported by the study",
                "test_set_independent": (
                    "yes = independent (external) test set, no = internal test set"
                ),
                "SAMPLE_SELECTION_BR": "QUADAS-2 risk of bias, patient selection",
                "INDEX_TEST_BR": "QUADAS-2 risk of bias, index test",
                "REFERENCE_STANDARD_BR": "QUADAS-2 risk of bias, reference standard",
                "FLOW_AND_TIMING_BR": "QUADAS-2 risk of bias, flow and timing",
                "SAMPLE_SELECTION_AP": "QUADAS-2 applicability concern, patient selection",
                "INDEX_TEST_AP": "QUADAS-2 applicability concern, index test",
                "REFERENCE_STANDARD_AP": "QUADAS-2 applicability concern, reference standard",
                "Outlier": "flagged as an outlier by the original review (yes/no)",
            },
            notes=(
                "Sensitivity is lower on independent (external) test sets than on internal ones.",
                "QUADAS-2 columns use low, high and moderate.",
            ),
        ),
        DatasetInfo(
            name="glas_telomerase",
            title="Telomerase for the diagnosis of bladder cancer",
            n_tables=10,
            publication="Glas et al., J Urol 2003;169:1975-1982",
            shipped_by="R meta4diag 2.1.1 (Telomerase)",
            covariates={
                "n_total": "participants in the study",
                "study_label_meta4diag_JSS_replication": "study label as in meta4diag",
            },
            notes=("The maximum-likelihood correlation lies on the boundary -1.",),
        ),
        DatasetInfo(
            name="scheidler_lymph_nodes",
            title="Imaging of lymph node metastasis in cervical cancer",
            n_tables=44,
            publication="Scheidler et al., JAMA 1997;278:1096-1101",
            shipped_by="R meta4diag 2.1.1 (Scheidler)",
            covariates={
                "modality": (
                    "imaging modality: CT (17 tables), LAG lymphangiography (17), MRI (10)"
                ),
            },
            notes=(
                "37 study labels on 44 rows: some papers report several modalities.",
                "One CT study has tp = 0, and several tables have zero cells.",
            ),
        ),
        DatasetInfo(
            name="smoking_questionnaires",
            title="Self-reported smoking against biochemical validation",
            n_tables=51,
            publication="Patrick et al., Am J Public Health 1994;84:1086-1093",
            shipped_by="R mada 0.5.12 (smoking)",
            covariates={
                "study_id": "study number; several dependent tables share one study",
                "result_id": "table number within the study",
                "type": "IAQ interviewer-administered or SAQ self-administered questionnaire",
                "population": "G general population or S students",
                "row_in_mada": "row number in mada's smoking data",
            },
            notes=("51 tables from 26 studies: tables within one study are dependent.",),
        ),
        DatasetInfo(
            name="simulated_mvi_52",
            title=(
                "Simulated deep-learning studies predicting microvascular invasion in "
                "hepatocellular carcinoma"
            ),
            n_tables=52,
            publication=(
                "simulated, not published counts; shaped like the review of Feng, Qu & Han, "
                "J Med Internet Res 2026 (52 deep-learning studies)"
            ),
            shipped_by="bayesdta (bayesdta/datasets/make_simulated_mvi.py, seed 20260052)",
            covariates={
                "modality": (
                    "imaging modality: contrast-enhanced CT (18 tables), MRI (12), CT (8), "
                    "pathology slides (8), ultrasound (6)"
                ),
                "validation": "internal (36 tables) or external (16) validation of the model",
            },
            notes=(
                "Drawn from the bivariate binomial-normal meta-regression with, under internal "
                "validation, sensitivity and specificity 0.86 and 0.85 (contrast-enhanced CT), "
                "0.80 and 0.83 (MRI), 0.76 and 0.80 (CT), 0.92 and 0.91 (pathology slides), "
                "0.72 and 0.76 (ultrasound).",
                "External validation adds -0.5 to logit sensitivity and -0.4 to logit "
                "specificity.",
                "Between-study SDs of the logits 0.5 and 0.5 (internal) and 0.9 and 0.8 "
                "(external), correlation -0.3 in both.",
                "Study sizes 80 to 400 participants, 40% expected with microvascular invasion.",
            ),
        ),
    ]
}


def list_datasets() -> list[str]:
    """Return the names of the bundled datasets, sorted."""
    return sorted(_CATALOG)


def dataset_info(name: str) -> DatasetInfo:
    """Return the provenance record of a bundled dataset.

    Raises
    ------
    KeyError
        If ``name`` is not a bundled dataset; the message lists the valid names.
    """
    try:
        return _CATALOG[name]
    except KeyError:
        valid = ", ".join(list_datasets())
        raise KeyError(f"unknown dataset {name!r}; bundled datasets are: {valid}") from None


def dataset_path(name: str):
    """Return the path of the bundled CSV file of ``name``."""
    dataset_info(name)
    return resources.files(__name__).joinpath(f"{name}.csv")


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a DataFrame, one row per 2x2 table.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.

    Returns
    -------
    pandas.DataFrame
        Columns ``study, tp, fp, fn, tn`` and the covariates described in
        :func:`dataset_info`.
    """
    with dataset_path(name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)
