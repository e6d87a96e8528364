"""The HTML report: one self-contained file (figures embedded, nothing from the network),
checked by parsing and in a real headless browser: the verdict text, every image decoded,
a screenshot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner
from latentprobe.cli.main import main

from latentprobe.outputs.plots import figure_drawers
from latentprobe.report import Report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class _Parts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.rows, self.text = [], [], 0, []
        self._verdict = False
        self.verdict = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        self.rows += tag == "tr"
        self._verdict = attrs.get("id") == "verdict"

    def handle_data(self, data):
        if self._verdict:
            self.verdict += data


@pytest.fixture(scope="module")
def html_file(fixture_reports, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "partial.html"
    result = CliRunner().invoke(
        main, ["export", str(fixture_reports["partial"]), "--format", "html", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_the_html_file_is_self_contained_with_every_figure_and_table(html_file, fixture_reports):
    report = Report.read(fixture_reports["partial"])
    text = html_file.read_text()
    parts = _Parts()
    parts.feed(text)
    assert parts.verdict.startswith("verdict: partially_collapsed")
    assert len(parts.images) == len(figure_drawers(report))
    assert all(src.startswith("data:image/png;base64,") for src in parts.images)
    assert parts.links == [] and "http" not in text and "<script" not in text
    # headline rows, one row per unit (16), the probe row, and three header rows
    assert parts.rows >= 16 + 1 + 3
    mi = report.results["mutual_information"]
    assert f"{mi.nats:.3f} ± " in text


def _browser():
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
  document.body.setAttribute('data-images', JSON.stringify(images));
  document.body.setAttribute('data-verdict', document.getElementById('verdict').innerText);
});
</script>"""


@pytest.mark.skipif(_browser() is None, reason="no headless browser (chromium) found")
def test_a_headless_browser_renders_the_verdict_and_every_image(html_file, tmp_path):
    """The report's own bytes, with a script appended only in this copy that records what
    the browser decoded; and a screenshot of the original."""
    browser = _browser()
    probed = tmp_path / "probed.html"
    probed.write_text(html_file.read_text().replace("</body>", PROBE + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    images = json.loads(re.search(r'data-images="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    expected = html_file.read_text().count("<img ")
    assert len(images) == expected > 0
    assert all(complete and width > 0 and height > 0 for complete, width, height in images)
    assert re.search(r'data-verdict="verdict: partially_collapsed', dom)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,2400", html_file.as_uri()],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1200)
    assert len(np.unique(pixels)) > 16  # text and figures drawn, not a blank page
