"""Issue 19: what a DAG author meets in Airflow's own UI, seen in a real browser.

Debian's headless Chromium (``/usr/bin/chromium``, installed by ``make install``), driven by Playwright,
uses the api-server of the session's Airflow (tests/e2e/conftest.py) as a person would: it creates
connections in the form and presses their Test buttons, triggers both example DAGs from their trigger
forms with the default Params, and reads the task log pages. Screenshots of each step are saved under
``test-artifacts/ui/`` (gitignored), to be looked at.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from airflow_provider_twilio_push.emulator import EmulatorProcess
from airflow_provider_twilio_push.emulator.control import EmulatorControl

from .conftest import EXAMPLE_DAG_ID, SENSOR_TASK_ID
from .harness import AirflowHarness, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "ui"
DAILY_REPORT_DAG_ID = "example_twilio_push_daily_report"
LIST_ROUTE = "GET /v1/PushNotifications/Operations"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make install` installs Debian's chromium package"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def add_connection(
    page: Page, conn_id: str, emulator: EmulatorProcess, password: str, harness: AirflowHarness
) -> None:
    """Fill in the Add Connection form as docs/connection.md says (the port in Port) and save it."""
    page.goto(f"{harness.base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    dialog.get_by_role("combobox").fill("Twilio Push")
    page.keyboard.press("Enter")
    dialog.get_by_label("Base URL").fill("http://127.0.0.1")
    dialog.get_by_label("Account SID or API Key SID").fill(emulator.account_sid)
    dialog.get_by_label("Auth Token or API Key secret").fill(password)
    dialog.get_by_label("Port").fill(str(emulator.port))
    screenshot(page, f"connection-form-{conn_id}")
    dialog.get_by_role("button", name="Save").click()
    expect(connection_row(page, conn_id)).to_be_visible()


def connection_row(page: Page, conn_id: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


def press_test(page: Page, harness: AirflowHarness, conn_id: str) -> str:
    """Press the connection's Test button in the list; return the toast's text."""
    page.goto(f"{harness.base_url}/connections")  # a fresh page: no toast of an earlier test
    connection_row(page, conn_id).get_by_role("button", name="Test Connection").click()
    toast = page.get_by_role("status").filter(has_text="Test Connection")
    expect(toast).to_be_visible()
    page.wait_for_timeout(500)  # for the screenshot: the toast slides in
    text = toast.inner_text()
    screenshot(page, f"connection-test-{conn_id}")
    return text


def test_connection_form_and_its_test_button(
    page: Page, airflow_harness: AirflowHarness, twilio_push_emulator_server: EmulatorProcess
) -> None:
    harness, emulator = airflow_harness, twilio_push_emulator_server
    page.goto(f"{harness.base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").fill("Twilio Push")
    page.keyboard.press("Enter")
    # The form names the fields as the hook does, and says what goes in Port.
    for label in ("Base URL", "Account SID or API Key SID", "Auth Token or API Key secret", "Port"):
        expect(dialog.get_by_label(label)).to_be_visible()
    expect(dialog.get_by_label("Port")).to_have_attribute(
        "placeholder", "443 for Twilio, 8089 for the emulator: the UI's Test needs it"
    )
    screenshot(page, "connection-form-empty")
    dialog.get_by_role("button", name="Close").click()

    add_connection(page, "twilio_push_ui", emulator, emulator.auth_token, harness)
    add_connection(page, "twilio_push_ui_wrong", emulator, "not-the-auth-token", harness)
    stored = harness.api("GET", "/connections/twilio_push_ui")
    assert (stored["host"], stored["port"], stored["password"]) == ("http://127.0.0.1", emulator.port, "***")

    ok = press_test(page, harness, "twilio_push_ui")
    assert ok == f"Test Connection Successful\nConnected to the Twilio Push API at {emulator.base_url}."

    # The UI tests an unsaved copy under a random connection id: the message names none, and names the
    # fields as the form does.
    wrong = press_test(page, harness, "twilio_push_ui_wrong")
    assert wrong == (
        "Test Connection Failed\nTwilio Push API answered 401 Unauthorized to GET "
        "/v1/PushNotifications/Operations: Authentication failed: wrong Account SID or Auth Token (Twilio "
        "error 20003). Check the Account SID or API Key SID (login) and the Auth Token or API Key secret "
        "(password) of this connection."
    )


def trigger_with_defaults(page: Page, harness: AirflowHarness, dag_id: str) -> str:
    """Open the DAG's trigger form, check that it shows its Params readably, trigger; return the run id."""
    harness.wait_for_dag(dag_id)
    page.goto(f"{harness.base_url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    trigger = dialog.get_by_role("button", name="Trigger")
    expect(trigger).to_be_enabled()
    screenshot(page, f"trigger-form-{dag_id}")
    assert "[object Object]" not in dialog.inner_text()
    trigger.click()
    page.wait_for_url(re.compile(r".*/runs/.+"))  # the UI shows the new run
    return unquote(page.url.split("/runs/", 1)[1].split("/")[0])


def task_log_page(
    page: Page, harness: AirflowHarness, dag_id: str, run_id: str, task: str, until: str
) -> str:
    """Open the task's page, which shows its log, and return the page's text once ``until`` shows."""
    page.goto(f"{harness.base_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task}")
    try:
        expect(page.get_by_text(until).first).to_be_visible(timeout=30_000)
    finally:
        screenshot(page, f"task-log-{dag_id}-{task}")
    return page.locator("body").inner_text()


def test_operation_example_from_its_trigger_form(page: Page, airflow_harness: AirflowHarness) -> None:
    harness = airflow_harness
    page.goto(f"{harness.base_url}/dags/{EXAMPLE_DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    # operation_id is optional (empty: send); the recipients are JSON, in an editor.
    expect(dialog.get_by_text("Operation to watch")).to_be_visible()
    expect(dialog.get_by_text('"device-token-000"')).to_be_visible()
    dialog.get_by_role("button", name="Close").click()

    run_id = trigger_with_defaults(page, harness, EXAMPLE_DAG_ID)
    assert harness.dag_run(EXAMPLE_DAG_ID, run_id)["conf"]["operation_id"] is None
    assert harness.wait_for_run(EXAMPLE_DAG_ID, run_id) == "success"
    operation_id = harness.xcom(EXAMPLE_DAG_ID, run_id, "send_push")

    # The progress lines, the trigger's included, as the UI shows them.
    completed = (
        f"COMPLETED, 100% done: 38 sent, 1 failed, 1 unaddressable, 0 queued of 40 (operation {operation_id})"
    )
    log = task_log_page(page, harness, EXAMPLE_DAG_ID, run_id, SENSOR_TASK_ID, until=completed)
    assert re.search(rf"PROCESSING, \d+% done: .* of 40 \(operation {operation_id}\)", log)


def test_daily_report_from_its_trigger_form(
    page: Page, airflow_harness: AirflowHarness, twilio_push_emulator_server: EmulatorProcess
) -> None:
    harness, control = airflow_harness, twilio_push_emulator_server.control
    # Unpaused, the @daily DAG runs for the last day at once; that run must be over before the
    # operations below exist, so that the run triggered from the form is the one that lists them.
    harness.wait_for_dag(DAILY_REPORT_DAG_ID)
    scheduled = wait_until(lambda: scheduled_run(harness), 60, "the scheduled run of the daily report")
    assert harness.wait_for_run(DAILY_REPORT_DAG_ID, scheduled) == "success"

    # Two operations created yesterday (UTC) at noon: one done, one SCHEDULED for an hour from now.
    now = time.time()
    age = control.clock()["epoch"] - (now - now % 86400 - 12 * 3600)
    done = control.create_operation(total=1000, duration=0, failure_ratio=0.01, age=age)
    straggler = control.create_operation(total=50, schedule_in=age + 3600, age=age)

    # The straggler is canceled as soon as the report has listed it, so that the sensor's first poke
    # (reschedule mode, every 60 s) finds it finished.
    listed = control.request_count(LIST_ROUTE)
    canceler = threading.Thread(target=cancel_once_listed, args=(control, listed, straggler["id"]))
    canceler.start()
    try:
        run_id = trigger_with_defaults(page, harness, DAILY_REPORT_DAG_ID)
        assert harness.wait_for_run(DAILY_REPORT_DAG_ID, run_id, timeout=180) == "success"
    finally:
        canceler.join(60)

    day = time.strftime("%Y-%m-%d", time.gmtime(now - now % 86400 - 86400))
    log = task_log_page(
        page, harness, DAILY_REPORT_DAG_ID, run_id, "summarize_operations", until="Waiting for the 1 still"
    )
    [summary] = [line for line in log.splitlines() if f"operations created on {day}" in line]
    head, _, by_status = summary.partition(" (UTC): ")
    assert head.endswith(f"INFO - 2 operations created on {day}")
    assert sorted(by_status.split(", ")) == ["1 COMPLETED", "1 SCHEDULED"]
    assert (
        "Notifications: 1,050 total, 990 sent, 10 failed, 0 unaddressable, 0 queued, 50 scheduled, 0 canceled"
        in log
    )
    assert "Waiting for the 1 still SCHEDULED or PROCESSING" in log
    assert done["id"] not in harness.xcom(DAILY_REPORT_DAG_ID, run_id, "summarize_operations")

    # The mapped task instances are named by their operation.
    page.goto(
        f"{harness.base_url}/dags/{DAILY_REPORT_DAG_ID}/runs/{quote(run_id, safe='')}"
        "/tasks/wait_for_unfinished/mapped"
    )
    expect(page.get_by_role("link", name=straggler["id"])).to_be_visible()
    screenshot(page, "mapped-tasks-wait_for_unfinished")
    tis = harness.task_instances(DAILY_REPORT_DAG_ID, run_id)
    assert {(ti["task_id"], ti["rendered_map_index"], ti["state"]) for ti in tis if ti["map_index"] >= 0} == {
        ("wait_for_unfinished", straggler["id"], "success"),
        ("final_stats", straggler["id"], "success"),
    }


def scheduled_run(harness: AirflowHarness) -> str | None:
    runs = harness.api("GET", f"/dags/{DAILY_REPORT_DAG_ID}/dagRuns", params={"run_type": "scheduled"})
    return next((run["dag_run_id"] for run in runs["dag_runs"]), None)


def cancel_once_listed(control: EmulatorControl, listed: int, operation_id: str) -> None:
    with EmulatorControl(control.base_url) as own:
        wait_until(lambda: own.request_count(LIST_ROUTE) > listed, 120, "the report to list", interval=0.02)
        own.cancel(operation_id)
