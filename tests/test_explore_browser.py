"""The explorer's page in a real browser: headless Chromium (Debian's ``chromium``, which ``.ci/run`` installs)
driven by Playwright against a server on a trained digits run, a melody run and an anomaly detector.

Each test checks what a user sees change (the decoded picture is compared as pixels, the piano roll likewise),
that live requests never pile up (one in flight, the newest wins), and that the console stays free of errors.
They skip, saying why, where playwright or Chromium is missing or cannot start.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import vaekit
from tests.conftest import one_thread

pytestmark = pytest.mark.slow

ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]


def _chromium() -> str:
    for candidate in (os.environ.get("VAEKIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and os.path.isfile(candidate):
            return candidate
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=executable, args=ARGS)
        except Exception as err:  # a browser that cannot start here is a reason to skip, not a failure of vaekit
            pytest.skip(f"headless Chromium cannot start here ({str(err).splitlines()[0]})")
        yield chromium
        chromium.close()


class Page:
    """A page of the explorer with its console watched and its live requests counted."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1366, "height": 768})
        self.errors: list[str] = []
        self.in_flight, self.most_in_flight, self.sent = 0, 0, []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", self._sent)
        self.page.on("requestfinished", self._done)
        self.page.on("requestfailed", self._done)
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready]", timeout=30_000)

    def _sent(self, request) -> None:
        if request.method == "POST":
            self.sent.append(request.url.rsplit("/", 1)[1])
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _done(self, request) -> None:
        if request.method == "POST":
            self.in_flight -= 1

    def pixels(self, selector: str) -> str:
        return self.page.eval_on_selector(selector, "c => c.toDataURL()")

    def caption(self) -> str:
        return self.page.inner_text("#decoded-title")

    def until_changed(self, selector: str, before: str) -> str:
        self.page.wait_for_function(
            "([s, b]) => document.querySelector(s) && document.querySelector(s).toDataURL() !== b",
            arg=[selector, before],
        )
        return self.pixels(selector)

    def click_example(self, i: int) -> None:
        x, y = self.page.evaluate(f"vaekit.screenOf({i})")
        self.page.mouse.click(x, y)

    def idle(self) -> None:
        self.page.wait_for_function("() => vaekit.state.inFlight === 0")
        self.page.wait_for_timeout(50)


def _far_example(page: Page) -> int:
    """The example of the map farthest from the current point on the plane (so its picture differs)."""
    coords = np.asarray(page.page.evaluate("vaekit.state.map.coords"))
    here = np.asarray(page.page.evaluate("vaekit.zToPlane(vaekit.state.z)"))
    return int(np.argmax(((coords - here) ** 2).sum(1)))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from vaekit.cli import main

    out = tmp_path_factory.mktemp("explore-browser") / "digits"
    with one_thread():
        args = ["--epochs", "20", "--hidden", "64", "--latent-dim", "4", "--quiet", "--no-report"]
        assert main(["train", "--out", str(out), *args]) == 0
    return out


def test_digits_page_maps_decodes_and_follows_the_sliders(browser, digits_run):
    with vaekit.explore(digits_run) as explorer:
        page = Page(browser, explorer.url)
        p = page.page
        # the map: every example drawn, a legend entry per digit
        drawn = p.evaluate(
            """() => { const c = document.getElementById('map'); const d = c.getContext('2d')
                 .getImageData(0, 0, c.width, c.height).data; let n = 0;
               for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 2]) > 40) n++; return n; }"""
        )
        assert drawn > 2000, "the scatter's coloured dots"
        assert p.locator("#legend span").count() == 10
        assert p.locator("#sliders input").count() == 4 and not p.is_hidden("#input-figure")
        # clicking a data point shows its input and reconstruction
        start = page.pixels("#decoded canvas")
        page.click_example(_far_example(page))
        clicked = page.until_changed("#decoded canvas", start)
        assert page.caption().startswith("reconstruction") and "test row" in p.inner_text("#input-title")
        # a slider re-decodes
        page.idle()
        p.locator("#sliders input").first.fill("3.5")
        moved = page.until_changed("#decoded canvas", clicked)
        assert "= 3.50" in page.caption() and moved != start
        # hovering decodes the point under the pointer; leaving shows the current point again
        box = p.locator("#map").bounding_box()
        p.mouse.move(box["x"] + 20, box["y"] + 20)
        p.wait_for_function(
            "() => document.getElementById('decoded-title').textContent.startsWith('under the pointer')"
        )
        p.mouse.move(box["x"] - 30, box["y"] + 20)
        p.wait_for_function("() => !document.getElementById('decoded-title').textContent.startsWith('under')")
        assert page.pixels("#decoded canvas") == moved
        assert page.errors == [] and page.most_in_flight == 1


def test_a_slider_drag_sends_no_more_than_the_server_answers_and_the_last_value_wins(browser, digits_run):
    with vaekit.explore(digits_run) as explorer:
        page = Page(browser, explorer.url)
        p = page.page
        page.idle()
        page.sent.clear()
        dim = p.evaluate("vaekit.state.info.dims[0].dim")
        # 200 input events in one go, as a fast drag produces them
        p.evaluate(
            """() => { const s = document.querySelector('#sliders input');
               for (let i = 0; i <= 200; i++) {
                 s.value = String(-3 + 0.03 * i);
                 s.dispatchEvent(new Event('input'));
               } }"""
        )
        page.idle()
        assert 1 <= page.sent.count("decode") <= 3 and page.most_in_flight == 1, page.sent
        z = p.evaluate("vaekit.state.z")
        assert z[dim] == pytest.approx(3.0)
        # what is shown is the decoding of the last value
        expected = vaekit.decode(vaekit.load(digits_run), np.asarray([z]))[0]
        shown = np.asarray(p.evaluate("vaekit.state.shown.x"))
        np.testing.assert_allclose(shown, expected, atol=2e-3)
        assert page.errors == []


def test_digits_page_interpolates_and_samples(browser, digits_run):
    with vaekit.explore(digits_run) as explorer:
        page = Page(browser, explorer.url)
        p = page.page
        p.click("#set-a")
        page.click_example(_far_example(page))
        page.idle()
        p.click("#set-b")
        p.wait_for_function("() => document.querySelectorAll('#strip canvas').length === 9")
        p.select_option("#method", "slerp")
        p.locator("#t").fill("0.5")
        p.wait_for_function(
            "() => document.getElementById('decoded-title').textContent.startsWith('slerp from A to B')"
        )
        before = page.pixels("#decoded canvas")
        p.locator("#temperature").fill("0.5")
        p.click("#draw")
        p.wait_for_function("() => document.getElementById('decoded-title').textContent === 'sample, T = 0.50'")
        assert page.pixels("#decoded canvas") != before
        assert page.errors == []


@pytest.fixture(scope="module")
def melody_run(tmp_path_factory):
    from vaekit.music.tokens import Note, notes_to_tokens

    root = tmp_path_factory.mktemp("explore-melody")
    up = notes_to_tokens([Note(p, 2 * i, 2 * i + 2) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])], 16)
    down = up.copy()
    down[down > 1] = down[down > 1][::-1]
    tunes = np.stack([up, down] * 16).astype(np.float32)
    np.save(root / "tunes.npy", tunes)
    vae = vaekit.build_vae((16,), arch="melody", latent_dim=4, hidden=(32, 32))
    with one_thread():
        vaekit.fit(vae, tunes, epochs=15, batch_size=32, lr=1e-2, free_bits=1.0, out=root / "run")
    return root / "run", root / "tunes.npy"


def test_melody_page_draws_a_piano_roll_plays_it_and_downloads_it(browser, melody_run):
    run, tunes = melody_run
    with vaekit.explore(run, data=str(tunes)) as explorer:
        page = Page(browser, explorer.url)
        p = page.page
        roll = "#decoded canvas"
        start = page.pixels(roll)
        page.click_example(_far_example(page))
        page.idle()
        p.locator("#sliders input").first.fill("-3.9")
        page.until_changed(roll, start)
        page.idle()
        # play: the page synthesises the notes shown with the Web Audio API
        p.click("#decoded button.play")
        p.wait_for_function("() => vaekit.audio.context && vaekit.audio.context.state === 'running'")
        shown = p.evaluate("vaekit.state.shown.x")
        from vaekit.music.tokens import tokens_to_notes

        notes = tokens_to_notes(np.asarray(shown))
        assert p.evaluate("vaekit.audio.notes") == len(notes)
        # the .mid download holds exactly those notes
        with p.expect_download() as download:
            p.click("#decoded a.midi")
        data = Path(download.value.path()).read_bytes()
        assert data[:4] == b"MThd"
        mido = pytest.importorskip("mido")
        import io

        midi = mido.MidiFile(file=io.BytesIO(data))
        ticks = midi.ticks_per_beat // 4
        on, now, played = {}, 0, []
        for message in midi.tracks[0]:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                on[message.note] = now
            elif message.type in ("note_off", "note_on"):
                played.append((message.note, on.pop(message.note) // ticks, now // ticks))
        assert sorted(played) == sorted((n.pitch, n.start, n.end) for n in notes)
        assert page.errors == [] and page.most_in_flight == 1


def test_anomaly_detector_page_scores_the_selected_row(browser, tmp_path):
    from vaekit.apps.anomaly import Detector

    rng = np.random.default_rng(0)
    table = rng.normal(size=(200, 4)) * 10 + 100
    np.savetxt(tmp_path / "rows.csv", table, delimiter=",", header="a,b,c,d", comments="")
    vae = vaekit.build_vae((4,), hidden=[8], latent_dim=2, likelihood="gaussian", sigma=1.0).double()
    detector = Detector(vae, k=8, center=table.mean(0).tolist(), scale=table.std(0).tolist(), columns=list("abcd"))
    detector.threshold = float(np.quantile(detector.scores(table), 0.9))
    vaekit.save(vae, tmp_path / "run")
    detector.save(tmp_path / "run")
    with vaekit.explore(tmp_path / "run", data=str(tmp_path / "rows.csv")) as explorer:
        page = Page(browser, explorer.url)
        p = page.page
        assert p.locator("#legend span").all_inner_texts() == ["normal", "flagged"]
        page.click_example(5)
        p.wait_for_function("() => document.getElementById('input-title').textContent.includes('row 5 of rows.csv')")
        assert "anomaly score (nll)" in p.inner_text("#score")
        assert p.locator("#decoded .values > span").count() == 12  # name, bar, value for each of 4 columns
        assert "(input " in p.inner_text("#decoded")
        assert page.errors == []
