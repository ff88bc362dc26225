"""Bundled datasets: names, provenance and the table sizes stated in their provenance."""

import pytest

from bayesdta import datasets, read_studies


def test_every_dataset_matches_its_catalog_size():
    for name in datasets.list_datasets():
        info = datasets.dataset_info(name)
        frame = datasets.load_dataset(name)
        assert len(frame) == info.n_tables, name
        assert list(frame.columns[:5]) == ["study", "tp", "fp", "fn", "tn"], name


@pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")
def test_every_dataset_validates():
    for name in datasets.list_datasets():
        table = read_studies(name)
        assert table.n_studies == datasets.dataset_info(name).n_tables


def test_unknown_dataset_lists_names():
    with pytest.raises(KeyError, match="auditc"):
        datasets.dataset_info("no_such_data")
