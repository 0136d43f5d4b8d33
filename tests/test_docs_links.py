"""The link check of `make docs` (scripts/check_docs_links.py): it sees a broken link, a missing
anchor and a README link to nothing, and passes what resolves."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_docs_links", ROOT / "scripts/check_docs_links.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_site_whose_links_resolve_passes(checker: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "guide").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="guide/sensor.html#modes">modes</a> <a href="#top" id="top">top</a>'
        '<a href="https://example.com/nowhere">out</a>'
    )
    (tmp_path / "guide/sensor.html").write_text(
        '<section id="modes"><a href="../index.html">home</a></section>'
    )

    assert checker.check_site(tmp_path) == ([], 3, 1)


def test_a_missing_page_and_a_missing_anchor_are_reported(checker: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<a href="sensor.html">gone</a> <a href="other.html#nope">anchor</a> <a href="#here">self</a>'
    )
    (tmp_path / "other.html").write_text('<h1 id="yes">Other</h1>')

    broken, internal, external = checker.check_site(tmp_path)

    assert broken == [
        "index.html: sensor.html (no file sensor.html)",
        "index.html: other.html#nope (no id 'nope' in other.html)",
        "index.html: #here (no id 'here' in index.html)",
    ]
    assert (internal, external) == (3, 0)


def test_readme_links_to_files_and_headings_are_checked(checker: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/sensor.md").write_text("# The sensor\n\n## Deferrable, poke or reschedule\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[ok](docs/sensor.md) [anchor](docs/sensor.md#deferrable-poke-or-reschedule) "
        "[gone](docs/nothing.md) [bad anchor](docs/sensor.md#modes) [web](https://example.com) [self](#x)"
    )

    broken, checked = checker.check_readme(readme)

    assert broken == [
        "README.md: docs/nothing.md (no file docs/nothing.md)",
        "README.md: docs/sensor.md#modes (no heading #modes in docs/sensor.md)",
    ]
    assert checked == 4


def test_every_docs_page_is_in_the_site(checker: ModuleType) -> None:
    """Every Markdown page of docs/ is named in a toctree of the index (Sphinx warns of an orphan,
    and `make docs` fails on warnings; this says which page when it happens)."""
    index = (ROOT / "docs/index.md").read_text()
    listed = set(re.findall(r"^([a-z-]+)$", index, re.MULTILINE))
    pages = {path.stem for path in (ROOT / "docs").glob("*.md")} - {"index"}

    assert pages <= listed
    assert {"campaigns", "production", "emulator", "changelog", "api", "bad-inputs"} <= pages
