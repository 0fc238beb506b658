"""The documentation site builds offline with `mkdocs build --strict`: every page in the navigation, no broken link
or anchor, no plugin that needs the network."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from goemo_core.results.headline import HEADLINE_END, HEADLINE_START, headline_markdown


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    import yaml

    excluded = set(yaml.safe_load((ROOT / "mkdocs.yml").read_text()).get("exclude_docs", "").split())
    built = {path.name for path in (tmp_path / "site").glob("*.html")}
    pages = {path.with_suffix(".html").name for path in (ROOT / "docs").glob("*.md") if path.name not in excluded}
    assert pages <= built and "cli.html" in built and "multi-machine.html" in built
    cli = (tmp_path / "site" / "cli.html").read_text(encoding="utf-8")
    assert 'id="report"' in cli and 'id="runs-list"' in cli  # the generated reference's headings are anchors


def test_the_readme_headline_is_the_rendering_of_the_committed_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(re.escape(HEADLINE_START) + r"\n(.*?)" + re.escape(HEADLINE_END), readme, re.S)
    assert match, "README.md has no headline block"
    files = sorted((ROOT / "results").glob("*.json"))
    assert files, "no committed results files under results/"
    assert match.group(1) == headline_markdown([f.relative_to(ROOT) for f in files]), \
        "README's headline differs from its results files: python -m goemo_core results headline --write README.md"
