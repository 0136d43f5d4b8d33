"""Provider metadata: valid for Airflow's schema, registered, and what it names exists."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest
from packaging.version import Version

from airflow_provider_twilio_push import __version__
from airflow_provider_twilio_push.core.settings import connection_settings
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.get_provider_info import get_provider_info
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook

DISTRIBUTION = "airflow-provider-twilio-push"
PYPI_PAGE = f"https://pypi.org/project/{DISTRIBUTION}/"
DOCS_SITE = f"https://{DISTRIBUTION}.readthedocs.io/"


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return get_provider_info()


def test_provider_info_is_valid_for_airflows_own_schema(info: dict[str, Any]) -> None:
    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())

    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = [error.message for error in validator_class(schema).iter_errors(info)]
    assert errors == []


def test_the_schema_check_would_catch_a_mistake(info: dict[str, Any]) -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    broken = {**info, "connection-types": [{"connection-type": "twilio_push"}]}  # no hook-class-name

    with pytest.raises(jsonschema.ValidationError, match="hook-class-name"):
        jsonschema.validate(broken, schema)


def test_names_and_version_match_the_distribution(info: dict[str, Any]) -> None:
    assert info["package-name"] == DISTRIBUTION
    assert info["versions"][0] == __version__ == importlib.metadata.version(DISTRIBUTION)


def test_the_entry_point_is_registered() -> None:
    entry_points = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in entry_points if ep.dist is not None and ep.dist.name == DISTRIBUTION]

    assert [ep.value for ep in ours] == ["airflow_provider_twilio_push.get_provider_info:get_provider_info"]
    assert ours[0].load() is get_provider_info


def test_every_module_and_the_connection_types_hook_class_import(info: dict[str, Any]) -> None:
    modules = {
        kind: [module for entry in info[kind] for module in entry["python-modules"]]
        for kind in ("hooks", "triggers", "sensors", "operators")
    }
    assert modules == {
        "hooks": ["airflow_provider_twilio_push.hooks.twilio_push"],
        "triggers": [
            "airflow_provider_twilio_push.triggers.twilio_push",
            "airflow_provider_twilio_push.triggers.campaign",
        ],
        "sensors": ["airflow_provider_twilio_push.sensors.twilio_push"],
        "operators": [
            "airflow_provider_twilio_push.operators.twilio_push",
            "airflow_provider_twilio_push.operators.campaign",
        ],
    }
    for names in modules.values():
        for module in names:
            importlib.import_module(module)

    (connection_type,) = info["connection-types"]
    module_name, _, class_name = connection_type["hook-class-name"].rpartition(".")
    hook_class = getattr(importlib.import_module(module_name), class_name)

    assert hook_class is TwilioPushHook
    assert connection_type["connection-type"] == TwilioPushHook.conn_type == "twilio_push"
    assert connection_type["hook-name"] == TwilioPushHook.hook_name
    assert TwilioPushHook.default_conn_name == "twilio_push_default"
    assert TwilioPushHook.conn_name_attr == "twilio_push_conn_id"


def test_the_notifier_is_declared_and_imports(info: dict[str, Any]) -> None:
    from airflow_provider_twilio_push.notifications.twilio_push import TwilioPushNotifier

    (path,) = info["notifications"]
    module_name, _, class_name = path.rpartition(".")

    assert getattr(importlib.import_module(module_name), class_name) is TwilioPushNotifier


def test_the_connection_form_is_the_same_in_both_places(info: dict[str, Any]) -> None:
    from_info = info["connection-types"][0]["ui-field-behaviour"]
    from_hook = TwilioPushHook.get_ui_field_behaviour()

    assert from_info == {
        "hidden-fields": from_hook["hidden_fields"],
        "relabeling": from_hook["relabeling"],
        "placeholders": from_hook["placeholders"],
    }
    assert from_hook["relabeling"]["login"] == "Account SID or API Key SID"
    assert {"timeout", "max_retries"} <= set(info["connection-types"][0]["conn-fields"])


def test_every_extra_field_of_the_form_is_read_by_the_hook(info: dict[str, Any]) -> None:
    for name in info["connection-types"][0]["conn-fields"]:
        with pytest.raises(TwilioPushInvalidInputError, match=f"has extra {name}='not a number': expected"):
            connection_settings(
                "c",
                host=None,
                schema=None,
                port=None,
                login="AC1",
                password="x",
                extra={name: "not a number"},
            )


def test_the_providers_page_links_to_the_documentation() -> None:
    """Airflow's Providers page links to the distribution's Documentation URL (else to a page of
    airflow.apache.org that does not exist for a third-party provider): the docs site, whose
    changelog page is the Changelog URL."""
    from airflow.providers_manager import ProvidersManager

    metadata = importlib.metadata.metadata(DISTRIBUTION)
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert urls == {
        "Documentation": DOCS_SITE,
        "Changelog": f"{DOCS_SITE}en/latest/changelog.html",
        "Source": f"{PYPI_PAGE}#files",
    }
    provider = ProvidersManager().providers[DISTRIBUTION].data
    if Version(importlib.metadata.version("apache-airflow")) < Version("3.1"):
        # Airflow 3.0 links every provider to airflow.apache.org/docs/<package>/<version>/.
        assert "documentation-url" not in provider
    else:
        # Airflow 3.1 keeps the space after the comma of "Documentation, <url>"; a link ignores it.
        assert provider["documentation-url"].strip() == DOCS_SITE
    # The PyPI page shows the README, the landing page that links into the docs: it is the long
    # description.
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata["Description"].startswith("# airflow-provider-twilio-push\n")


def test_the_docs_site_has_the_changelog_page_the_changelog_url_names() -> None:
    """docs/changelog.md includes CHANGELOG.md, whose newest release is this version."""
    root = Path(__file__).resolve().parents[1]
    assert "../CHANGELOG.md" in (root / "docs" / "changelog.md").read_text()
    assert f"({__version__})" in (root / "CHANGELOG.md").read_text().split("\n## ")[1].split("\n")[0]


def test_integrations_are_declared_once_and_used_consistently(info: dict[str, Any]) -> None:
    (integration,) = info["integrations"]
    name = integration["integration-name"]

    for section in ("hooks", "triggers", "sensors", "operators"):
        assert [entry["integration-name"] for entry in info[section]] == [name]


def json_document(stdout: str) -> Any:
    """What ``--output json`` printed: Airflow 3.0 prints its log lines (``[2026-...] {...} INFO ...``)
    to stdout before the document."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("[{", "[]", "{"))), 0)
    return json.loads("\n".join(lines[start:]))


def test_airflow_lists_the_provider_its_connection_type_and_notifier(tmp_path: Path) -> None:
    """The real CLI, as a user would run it: the commands in parallel, each in its own process."""
    airflow_cli = Path(sys.executable).parent / "airflow"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False")

    started = time.monotonic()
    processes = {
        command: subprocess.Popen(
            [str(airflow_cli), "providers", command, "--output", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in ("list", "hooks", "notifications")
    }
    outputs = {command: process.communicate(timeout=120) for command, process in processes.items()}
    elapsed = time.monotonic() - started
    print(f"airflow providers list + hooks + notifications (in parallel) took {elapsed:.1f} s")

    for command, (_, stderr) in outputs.items():
        assert processes[command].returncode == 0, stderr
    providers = json_document(outputs["list"][0])
    hooks = json_document(outputs["hooks"][0])

    (ours,) = [provider for provider in providers if provider["package_name"] == DISTRIBUTION]
    assert ours["version"] == __version__
    assert ours["description"].startswith("Wait for Twilio Comms push-notification operations")
    assert {
        "connection_type": "twilio_push",
        "class": "airflow_provider_twilio_push.hooks.twilio_push.TwilioPushHook",
        "conn_id_attribute_name": "twilio_push_conn_id",
        "package_name": DISTRIBUTION,
        "hook_name": "Twilio Push (Comms API)",
    } in hooks
    notifier = {
        "notification_class_name": "airflow_provider_twilio_push.notifications.twilio_push.TwilioPushNotifier"
    }
    assert notifier in json_document(outputs["notifications"][0])
    # Airflow logs an import or validation problem of a provider instead of failing the command.
    for _, stderr in outputs.values():
        assert "twilio" not in stderr.lower()
