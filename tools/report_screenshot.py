"""Manual render check of the Snakemake report in headless Chromium (not part of CI: needs Chromium and Playwright).

    apt-get install chromium && python -m venv /tmp/pw && /tmp/pw/bin/pip install playwright
    /tmp/pw/bin/python tools/report_screenshot.py results/synthetic/report.html docs/img/report

Writes <out>_figures.png (the Figures category) and <out>_figure.png (one figure opened) so a person can see
that the report shows the figures.
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def main(report: str, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(Path(report).resolve().as_uri())
        page.wait_for_timeout(2000)
        page.get_by_text("Figures", exact=True).first.click()
        page.wait_for_timeout(1500)
        page.screenshot(path=f"{out}_figures.png")
        row = page.locator("tr", has_text="bland_altman_cardiomm.png").first
        row.locator("a, button, svg").first.click()
        page.wait_for_timeout(2500)
        page.screenshot(path=f"{out}_figure.png")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
