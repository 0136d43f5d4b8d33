"""Sphinx configuration of the documentation site: ``make docs`` builds it into docs/_build/html."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

project = "airflow-provider-twilio-push"
author = "airflow-provider-twilio-push contributors"
copyright = "the airflow-provider-twilio-push contributors"
release = version = _project["version"]

extensions = ["myst_parser", "autoapi.extension"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
# The pages are Markdown: headings get anchors, so that [text](page.md#a-heading) links resolve (and a
# missing one is a warning, which `make docs` turns into an error).
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist"]

# Every cross-reference must resolve (nitpicky), but there are no intersphinx inventories: the build
# reaches no network. References into other packages (Airflow, httpx, pydantic, the standard library)
# therefore stay plain text instead of failing the build.
nitpicky = True
# Nor do references into the internals that the API reference leaves out (INTERNAL_MODULES below),
# or to private names. Any other reference that does not resolve fails the build.
nitpick_ignore_regex = [
    (r"py:.*", r"(?!airflow_provider_twilio_push\b)[a-z_]+\..*"),
    (r"py:.*", r"airflow_provider_twilio_push\.(core|waiting|triggers\.watcher)\..*"),
    (r"py:.*", r"_\w+"),
]
nitpick_ignore = [
    ("py:class", "Sweep"),  # core.events.Sweep, internal
    ("py:meth", "render_template_fields"),  # Airflow's BaseNotifier
]

# The API reference, generated from the docstrings by reading the source (nothing is imported).
autoapi_dirs = [str(ROOT / "airflow_provider_twilio_push")]
autoapi_root = "api"
autoapi_add_toctree_entry = False
autoapi_options = ["members", "undoc-members", "show-inheritance", "show-module-summary"]
autoapi_member_order = "groupwise"
autoapi_python_class_content = "both"

#: Modules read (so that imports from them resolve) but not shown: the internals behind the public API.
INTERNAL_MODULES = (
    "airflow_provider_twilio_push.core",
    "airflow_provider_twilio_push.waiting",
    "airflow_provider_twilio_push.get_provider_info",
    "airflow_provider_twilio_push.triggers.watcher",
    "airflow_provider_twilio_push.emulator.__main__",
    "airflow_provider_twilio_push.emulator.app",
    "airflow_provider_twilio_push.emulator.control_api",
    "airflow_provider_twilio_push.emulator.send_validation",
    "airflow_provider_twilio_push.emulator.server",
    "airflow_provider_twilio_push.emulator.state",
    "airflow_provider_twilio_push.emulator.wire",
)


def _skip_internal(app: object, what: str, name: str, obj: object, skip: bool, options: object) -> bool:
    internal = what in ("module", "package") and name.startswith(INTERNAL_MODULES)
    return skip or internal


def _resolve_short_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """A docstring's short name (``:class:`OperationError``` in a module that imports it) resolves to
    the one object of the package whose full name ends with it, as Sphinx does for ``.OperationError``;
    a name that ends none, or several, is still reported."""
    if node.get("refdomain") != "py" or node.get("refspecific"):
        return None
    specific = node.deepcopy()
    specific["refspecific"] = True
    return env.domains["py"].resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], node["reftarget"], specific, contnode
    )


def setup(app: Any) -> None:
    app.connect("autoapi-skip-member", _skip_internal)
    app.connect("missing-reference", _resolve_short_name)


html_theme = "furo"
html_title = f"{project} {release}"
html_show_sourcelink = False
