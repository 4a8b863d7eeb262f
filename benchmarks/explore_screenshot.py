"""A screenshot of the live explorer, for the README: ``docs/images/explore.png`` by default.

    python benchmarks/explore_screenshot.py RUN [--data D] [-o docs/images/explore.png] [--chromium PATH]

Serves ``RUN`` with :func:`vaekit.explore`, opens the page in headless Chromium (Playwright driving the
system's browser, Debian's ``chromium``) at 1366 x 660 (a laptop screen less the browser's bars), sets A and B
on two examples of the map far apart, scrubs to the middle of the path, then selects a third example (its input
beside its reconstruction), and saves the page as a PNG. Prints what went to the browser's console.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

import vaekit

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--data", default=None)
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "explore.png"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--width", type=int, default=1366)
    ap.add_argument("--height", type=int, default=660)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with vaekit.explore(args.run, data=args.data) as explorer, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"page error: {e}"))
        page.goto(explorer.url)
        page.wait_for_selector("body[data-ready]", timeout=30_000)
        coords = np.asarray(page.evaluate("vaekit.state.map.coords"))
        # A and B: the examples nearest the 8th and 92nd percentiles of the first axis (well inside the map);
        # the selected one: the example nearest a point a third of the way from the middle towards A
        lo, mid, hi = np.percentile(coords, [8, 50, 92], axis=0)

        def nearest(point: np.ndarray) -> int:
            return int(np.argmin(((coords - point) ** 2).sum(1)))

        a, b = nearest(np.array([lo[0], mid[1]])), nearest(np.array([hi[0], mid[1]]))
        chosen = nearest(mid + (coords[a] - mid) / 3)

        def click(i: int) -> None:
            page.mouse.click(*page.evaluate(f"vaekit.screenOf({i})"))
            page.wait_for_function("() => vaekit.state.inFlight === 0")

        click(a)
        page.click("#set-a")
        click(b)
        page.click("#set-b")
        page.wait_for_function("() => document.querySelectorAll('#strip > div').length === 9")
        page.locator("#t").fill("0.5")
        page.wait_for_function("() => vaekit.state.inFlight === 0")
        click(chosen)
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        png = page.screenshot()
        browser.close()
    Image.open(io.BytesIO(png)).convert("RGB").save(args.output, optimize=True)
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1024:.0f} KiB); console: {console or 'empty'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
