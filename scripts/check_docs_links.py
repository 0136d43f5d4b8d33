"""`make docs`, after Sphinx: every internal link of the built site, and every relative link of the
README, leads somewhere. No network: external links are counted, never fetched.

    python scripts/check_docs_links.py docs/_build/html

A link inside the site must name a file of the build and, with a ``#fragment``, an id in that file;
a relative link of README.md must name a file of the repository (and, into a Markdown file, a heading
of it). Prints what it checked and every broken link; exits 1 when there is one.
"""

from __future__ import annotations

import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent


class _Page(HTMLParser):
    """The ids a page defines and the links it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif name in ("href", "src") and tag in ("a", "link", "img", "script"):
                self.links.append(value)


def _is_external(link: str) -> bool:
    parts = urlsplit(link)
    return bool(parts.scheme or parts.netloc)


def check_site(site: Path) -> tuple[list[str], int, int]:
    """(broken links, internal links checked, external links not fetched) of the built HTML."""
    pages: dict[Path, _Page] = {}
    for path in sorted(site.rglob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = page
    broken, internal, external = [], 0, 0
    for path, page in pages.items():
        for link in page.links:
            if _is_external(link):
                external += 1
                continue
            internal += 1
            parts = urlsplit(link)
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            where = f"{path.relative_to(site.resolve())}: {link}"
            if not target.exists():
                broken.append(f"{where} (no file {os.path.relpath(target, site)})")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and unquote(parts.fragment) not in pages[target].ids
            ):
                broken.append(f"{where} (no id {parts.fragment!r} in {target.name})")
    return broken, internal, external


_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """The anchor a heading gets on the usual Git hosts and in MyST (myst_heading_anchors)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def check_readme(readme: Path) -> tuple[list[str], int]:
    """(broken links, relative links checked) of a Markdown file of the repository."""
    broken, checked = [], 0
    for link in _MARKDOWN_LINK.findall(readme.read_text(encoding="utf-8")):
        if _is_external(link) or link.startswith("#"):
            continue
        checked += 1
        path, _, fragment = link.partition("#")
        target = (readme.parent / path).resolve()
        if not target.exists():
            broken.append(f"{readme.name}: {link} (no file {path})")
        elif fragment and target.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.MULTILINE)
            if fragment not in {_slug(heading) for heading in headings}:
                broken.append(f"{readme.name}: {link} (no heading #{fragment} in {path})")
    return broken, checked


def main() -> int:
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/_build/html"
    if not (site / "index.html").exists():
        print(f"No built site in {site}: run sphinx-build first (make docs)")
        return 2
    broken, internal, external = check_site(site)
    readme_broken, readme_checked = check_readme(ROOT / "README.md")
    broken += readme_broken
    print(
        f"Links: {internal} internal links of the site and {readme_checked} relative links of the README "
        f"checked, {len(broken)} broken; {external} external links not fetched"
    )
    for line in broken:
        print(f"  broken: {line}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
