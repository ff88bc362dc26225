"""The bayesdta command line on a bundled dataset and on a file with bad cells."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bayesdta.cli.main import main

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.BayesDTAWarning")

BAD_CSV = "study,tp,fp,fn,tn\nA,25,-3,8,25\nB,17.5,3,4,11\nC,88,16,,31\nD,16,3,10,80\n"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bayesdta.cli.main", *args], capture_output=True, text=True,
        timeout=600,
    )


def test_bad_file_exits_nonzero_naming_three_cells(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    result = run_cli("analyze", str(path), "--no-progress")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "row 1, study 'A', column 'fp', value -3" in result.stderr
    assert "row 2, study 'B', column 'tp', value 17.5" in result.stderr
    assert "row 3, study 'C', column 'fn', value <missing>" in result.stderr
    assert result.stdout == ""


def test_unknown_dataset_exits_with_names():
    result = run_cli("analyze", "no_such_dataset")
    assert result.returncode == 2
    assert "dick_melanoma_cad" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze")
    result = run_cli("analyze", "auditc", "--draws", "300", "--tune", "300", "--seed", "1",
                     "--json", "--out", str(out))
    return result, out


def test_json_stdout_is_one_object(json_run):
    result, _ = json_run
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_studies"] == 14
    for key in ["sensitivity", "specificity", "dor", "lr_positive", "lr_negative"]:
        interval = payload["pooled"][key]
        assert interval["lower"] <= interval["median"] <= interval["upper"], key
    for section, keys in {"predictive": ["sensitivity", "specificity"],
                          "heterogeneity": ["tau_sensitivity", "tau_specificity", "rho"]}.items():
        for key in keys:
            assert set(payload[section][key]) == {"median", "lower", "upper"}
    assert set(payload["diagnostics"]) >= {"max_rhat", "min_ess_bulk", "divergences"}


def test_json_pooled_values_near_reference(json_run):
    """auditc has 14 studies; glmer gives sensitivity 0.925 and specificity 0.782. With 14
    studies the prior matters more, so the tolerance is 0.03."""
    result, _ = json_run
    payload = json.loads(result.stdout)
    assert payload["pooled"]["sensitivity"]["median"] == pytest.approx(0.925, abs=0.03)
    assert payload["pooled"]["specificity"]["median"] == pytest.approx(0.782, abs=0.03)


def test_out_writes_summary_and_trace(json_run):
    _, out = json_run
    assert (out / "summary.csv").stat().st_size > 0
    assert (out / "trace.nc").stat().st_size > 0


def test_text_output_in_process(capsys):
    status = main(["analyze", "auditc", "--draws", "200", "--tune", "200", "--seed", "1",
                   "--no-progress"])
    output = capsys.readouterr().out
    assert status == 0
    assert "Pooled sensitivity" in output
    assert "convergence: max R-hat" in output


def test_bad_options_rejected_before_fitting(tmp_path):
    existing = tmp_path / "afile"
    existing.write_text("")
    result = run_cli("analyze", "auditc", "--seed", "-1", "--prob", "1.5", "--out", str(existing))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--prob must lie strictly between 0 and 1, got 1.5" in result.stderr
    assert "--seed must be a whole number" in result.stderr
    assert "is an existing file" in result.stderr


def test_single_chain_json_is_strict(tmp_path):
    result = run_cli("analyze", "auditc", "--chains", "1", "--draws", "100", "--tune", "100",
                     "--seed", "1", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(name))
    assert payload["diagnostics"]["max_rhat"] is None
    assert "R-hat needs at least two chains" in result.stderr


def test_three_studies_fix_correlation(tmp_path):
    """With 3 studies analyze follows the same few-studies rule as diagnose: the correlation
    is held at 0 with a warning, instead of reporting a prior-driven estimate."""
    path = tmp_path / "three.csv"
    path.write_text("study,tp,fp,fn,tn\nA,47,101,9,738\nB,126,272,51,1543\nC,19,12,10,192\n")
    result = run_cli("analyze", str(path), "--draws", "200", "--tune", "200", "--chains", "2",
                     "--seed", "1", "--json")
    assert result.returncode == 0, result.stderr
    rho = json.loads(result.stdout)["heterogeneity"]["rho"]
    assert rho == {"median": 0.0, "lower": 0.0, "upper": 0.0}
    assert "--few-studies margins" in result.stderr


def test_console_script_closed_pipe_exits_quietly():
    """A reader that closes stdout early, like ``head``, ends the command with status 1 and
    no traceback."""
    script = (
        "import bayesdta.cli.main as cli\n"
        "def main():\n"
        "    for line in range(200000):\n"
        "        print(f'line {line}')\n"
        "    return 0\n"
        "cli.main = main\n"
        "cli.run_console_script()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "line 0\n"
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
