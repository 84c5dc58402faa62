"""`bench report`: one self-contained HTML page (every figure inlined, nothing fetched) and the
same content as Markdown, with BD-rate statuses and task-lossless ratios."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from bench.cli import app
from test_figures import make_folder


def test_report_is_self_contained_and_says_why_a_bd_rate_is_missing(tmp_path):
    run = make_folder(tmp_path / "run", with_mvmicnet=False)
    result = CliRunner().invoke(app, ["report", str(run), "--anchor", "vvc", "--draws", "20"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = (run / "report" / "report.html").read_text()
    md = (run / "report" / "report.md").read_text()
    sources = re.findall(r"src='([^']*)'", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=['\"]https?:", page)
    assert "wiggly" in page and "envelope: 3 of 4 points" in page  # a wiggling task curve: its envelope, said
    for section in ("What ran", "BD-rate against vvc", "Task-lossless ratio", "Figures"):
        assert section in md and section in page
    for png in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (run / "report" / png).is_file()


def test_report_renders_in_headless_chromium_and_a_broken_image_is_caught(tmp_path):
    import pytest

    from bench.analysis.browser_check import check_page, chromium

    if chromium() is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium)")
    run = make_folder(tmp_path / "run", with_mvmicnet=False)
    CliRunner().invoke(app, ["report", str(run), "--draws", "0"], catch_exceptions=False)
    page = run / "report" / "report.html"
    images, problems = check_page(page, screenshot=tmp_path / "shot.png")
    assert images >= 5 and problems == []
    assert (tmp_path / "shot.png").read_bytes().startswith(b"\x89PNG")
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    images, problems = check_page(broken)
    assert any(p.startswith("broken image") for p in problems)
