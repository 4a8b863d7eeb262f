"""The run report: written by ``vaekit train`` and ``vaekit report``, self-contained, and it renders in a browser.

The browser check opens the page in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) with a
probe script inserted at the top of ``<head>``: it records every error event (script errors, and resources that
fail to load, caught in the capture phase) and every ``console.error`` call, and once the page has loaded writes
``{images, broken, errors}`` into the DOM, which ``--dump-dom`` prints. Reading the verdict from the DOM does not
depend on the format of Chromium's log lines; a broken page must fail it (checked on a deliberately broken copy).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import one_thread
from vaekit.cli import main

FAST = ["--epochs", "3", "--quiet", "--hidden", "32", "--latent-dim", "3"]
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error').slice(0, 200));
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push(Array.from(arguments).join(' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
    .map(function (i) { return i.alt; });
  var out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({images: images.length, broken: broken, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    with one_thread():
        assert main(["train", "--out", str(out), *FAST]) == 0
    return out


def _images(page: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', page)


def test_train_writes_a_self_contained_report(trained, tmp_path):
    page = (trained / "report.html").read_text()
    for title in (
        "Figures",
        "Training curves",
        "Samples from the prior",
        "Reconstructions",
        "Interpolation",
        "Latent traversals",
        "Latent map",
        "Configuration",
    ):
        assert f"<h2>{title}</h2>" in page, title
    images = _images(page)
    assert len(images) == 6
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', page), "nothing is fetched from anywhere"
    assert "not drawn" not in page
    assert main(["train", "--out", str(tmp_path / "quiet"), *FAST, "--no-report"]) == 0
    assert not (tmp_path / "quiet" / "report.html").exists()


def test_report_command(trained, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(trained), "-o", str(out)]) == 0
    assert len(_images(out.read_text())) == 6
    assert main(["report", str(trained), "-o", str(tmp_path / "r.pdf")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_report_of_table_data_explains_the_missing_pictures(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "t.npy", rng.normal(size=(200, 4)).astype(np.float32))
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.npy"), "--likelihood", "gaussian", "--out", str(out), *FAST]) == 0
    page = (out / "report.html").read_text()
    assert "Interpolation" in page and "not drawn: the data are not images" in page
    assert len(_images(page)) == 4  # curves, samples, reconstructions (scatter plots), latent map


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.skip("no headless Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")


def _render(page_path, tmp_path) -> dict:
    probed = tmp_path / f"probed-{page_path.name}"
    probed.write_text(page_path.read_text().replace("<head>\n", "<head>\n" + PROBE + "\n", 1))
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probed.as_uri(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("headless Chromium did not finish within 120 s on this machine")
    found = re.search(r'<pre id="__probe">(.*?)</pre>', proc.stdout, re.S)
    if found is None:
        if proc.returncode != 0:
            pytest.skip(f"headless Chromium cannot run here (exit {proc.returncode}: {proc.stderr.strip()[-300:]})")
        raise AssertionError("the page never finished loading:\n" + proc.stdout[-2000:])
    import html

    return json.loads(html.unescape(found.group(1)))


def test_report_renders_in_headless_chromium(trained, tmp_path):
    verdict = _render(trained / "report.html", tmp_path)
    assert verdict == {"images": 6, "broken": [], "errors": []}
    # the probe is not blind: a copy with a broken image and a failing script fails it
    broken = tmp_path / "broken.html"
    page = (trained / "report.html").read_text()
    broken.write_text(
        page.replace(
            "</body>", '<img alt="missing" src="data:image/png;base64,AAAA"><script>undefinedCall()</script></body>'
        )
    )
    bad = _render(broken, tmp_path)
    assert bad["broken"] == ["missing"] and len(bad["errors"]) >= 1
