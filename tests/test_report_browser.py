"""Open the HTML report in headless Chromium and check that every image loaded.

Chromium is Debian's ``chromium`` package; ``scripts/setup.sh --dev`` installs it when
``/usr/bin/chromium`` is missing. The report is copied with a small script appended that
marks each image with its ``naturalWidth`` after the page has loaded, and Chromium's
``--dump-dom`` prints the resulting DOM.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from bayesdta.report import build_report, run_analysis, write_report  # noqa: E402
from bayesdta.spec import AnalysisSpec, DataSpec, SamplerSpec  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_SECONDS = 120

# Marks every image once the page has loaded; naturalWidth is 0 for an image that failed.
MARK_IMAGES = """
<script>
window.addEventListener("load", () => {
  for (const image of document.images) {
    image.setAttribute("data-loaded", image.complete && image.naturalWidth > 0 ? "yes" : "no");
    image.setAttribute("data-natural-width", String(image.naturalWidth));
  }
  document.body.setAttribute("data-images-checked", String(document.images.length));
});
</script>
"""

pytestmark = pytest.mark.filterwarnings("ignore::bayesdta.errors.ConvergenceWarning")


def chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            "/usr/bin/chromium is missing; run scripts/setup.sh --dev as root, or "
            "apt-get install chromium"
        )
    folder = tmp_path_factory.mktemp("browser")
    spec = AnalysisSpec(
        title="AUDIT-C browser check",
        data=DataSpec(dataset="auditc"),
        sampler=SamplerSpec(draws=300, tune=300, chains=2, seed=5),
        base_dir=folder,
    )
    trace = run_analysis(spec)
    write_report(build_report(trace, spec), folder, formats=["html"])
    return folder / "report.html"


def test_every_image_loads(report_html, tmp_path):
    marked = tmp_path / "marked.html"
    html = report_html.read_text(encoding="utf-8")
    marked.write_text(html.replace("</body>", MARK_IMAGES + "</body>"), encoding="utf-8")

    result = chromium("--dump-dom", marked.as_uri(), profile=tmp_path / "profile")

    dom = result.stdout
    images = re.findall(r"<img\b[^>]*>", dom)
    expected = html.count("<img ")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'data-images-checked="{expected}"' in dom
    assert expected >= 1
    assert len(images) == expected
    for image in images:
        assert 'data-loaded="yes"' in image, image[:200]


def test_screenshot_renders(report_html, tmp_path):
    screenshot = tmp_path / "report.png"

    result = chromium(
        "--window-size=1200,3000",
        f"--screenshot={screenshot}",
        report_html.as_uri(),
        profile=tmp_path / "profile",
    )

    assert result.returncode == 0, result.stderr[-2000:]
    # A blank 1200x3000 page compresses to a few kilobytes; text, tables and plots do not.
    assert screenshot.stat().st_size > 50_000
