"""Load a report page in headless Chromium and list what a reader would see broken: images that
did not decode, script errors, failed loads. Used by `tests/test_report.py` (skipped without
Chromium; `.ci/run` installs Debian's `chromium`) and by `bench report --check`.

The page itself has no script; a copy gets a probe appended that records broken images and
errors into the DOM, which `--dump-dom` prints once the page has loaded."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.errors import BenchError

PROBE = """<script>
window.__problems = [];
window.addEventListener('error', e => window.__problems.push('error: ' + (e.message || (e.target && e.target.src || '').slice(0, 60))), true);
const original = console.error; console.error = (...a) => { window.__problems.push('console.error: ' + a.join(' ')); original(...a); };
window.addEventListener('load', () => {
  for (const img of document.images) if (!img.complete || img.naturalWidth === 0) window.__problems.push('broken image: ' + img.alt);
  const out = document.createElement('pre'); out.id = '__probe';
  out.textContent = JSON.stringify({images: document.images.length, problems: window.__problems});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def check_page(html_path: Path, screenshot: Path | None = None, timeout_s: float = 60) -> tuple[int, list[str]]:
    """(number of images, problems) of the page as Chromium renders it."""
    import json

    browser = chromium()
    if browser is None:
        raise BenchError("no chromium on PATH (Debian: apt-get install chromium)")
    html_path = Path(html_path).resolve()
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        probe = Path(tmp) / "page.html"
        probe.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
        flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                 f"--user-data-dir={tmp}/profile", "--virtual-time-budget=5000"]
        dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=timeout_s)
        if screenshot is not None:
            subprocess.run([*flags, f"--screenshot={Path(screenshot).resolve()}", "--window-size=1200,2400", html_path.as_uri()],
                           capture_output=True, text=True, timeout=timeout_s)
    found = re.search(r'<pre id="__probe">(.*?)</pre>', dom.stdout, re.S)
    if not found:
        return 0, [f"the page did not finish loading in Chromium (exit {dom.returncode}): {dom.stderr.strip()[-300:]}"]
    import html as html_lib

    result = json.loads(html_lib.unescape(found.group(1)))
    return int(result["images"]), list(result["problems"])
