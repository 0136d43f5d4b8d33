"""The control API (/_emulator) and its client, EmulatorControl."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_provider_twilio_push.emulator.control import EmulatorControlError
from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle

from .helpers import OPERATIONS, assert_error, check_invariant

GET_OP = "GET /v1/PushNotifications/Operations/{id}"


def test_create_operation_from_a_scenario(frozen: EmulatorHandle) -> None:
    op = frozen.control.create_operation(
        total=200, duration=20, failure_ratio=0.1, unaddressable_ratio=0.05, schedule_in=30
    )
    check_invariant(op)
    assert (op["status"], op["stats"]["scheduled"], op["stats"]["unaddressable"]) == ("SCHEDULED", 190, 10)
    view = frozen.control.operation(op["id"])
    assert view["operation"] == op
    assert view["expired"] is False
    scenario = view["scenario"]
    assert (scenario["total"], scenario["failures"], scenario["duration"]) == (200, 20, 20)
    assert scenario["start_at"] - scenario["accepted_at"] == 30


def test_scenario_defaults(emulator: EmulatorHandle) -> None:
    op = emulator.control.create_operation()
    assert op["stats"]["total"] == 10
    assert emulator.control.operation(op["id"])["scenario"]["duration"] == 2.0
    assert emulator.control.operation(op["id"])["send"] is None  # not made by a send


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"total": 0}, "total must be an integer from 1 to"),
        ({"total": 2.5}, "total must be an integer"),
        ({"failure_ratio": 1.5}, "failure_ratio must be a number from 0 to 1"),
        (
            {"failure_ratio": 0.7, "unaddressable_ratio": 0.7},
            "failure_ratio + unaddressable_ratio must be at most 1",
        ),
        ({"duration": -1}, "duration must be a number from 0"),
        ({"age": "old"}, "age must be a number"),
        ({"totla": 5}, "Unknown field(s) totla in a scenario"),
    ],
)
def test_bad_scenarios_are_refused(
    emulator: EmulatorHandle, scenario: dict[str, object], message: str
) -> None:
    with pytest.raises(EmulatorControlError) as caught:
        emulator.control.create_operation(**scenario)
    assert caught.value.status == 400
    assert message in str(caught.value)
    assert [list(error) for error in caught.value.body["errors"]] == [
        ["code", "message", "infoUrl", "context"]
    ]


def test_unknown_operation_in_the_control_api(emulator: EmulatorHandle) -> None:
    for call in (emulator.control.cancel, emulator.control.operation):
        with pytest.raises(EmulatorControlError) as caught:
            call("comms_operation_01h9krwprkeee8fzqspvwy6nq8")
        assert caught.value.status == 404


def test_clock_freeze_advance_unfreeze(emulator: EmulatorHandle) -> None:
    control = emulator.control
    frozen = control.freeze()
    assert frozen["frozen"] is True
    assert control.clock()["epoch"] == frozen["epoch"]
    advanced = control.advance(3600)
    assert advanced["epoch"] == frozen["epoch"] + 3600
    assert advanced["offset"] > 3599
    running = control.unfreeze()
    assert running["frozen"] is False
    assert control.clock()["epoch"] > running["epoch"]  # time moves again, from where it stood
    assert control.clock()["epoch"] - frozen["epoch"] < 3600 + 60


def test_clock_never_goes_back(emulator: EmulatorHandle) -> None:
    with pytest.raises(EmulatorControlError) as caught:
        emulator.control.advance(-1)
    assert caught.value.status == 400


def test_reset_forgets_everything(emulator: EmulatorHandle, api: httpx.Client) -> None:
    control = emulator.control
    op_id = control.create_operation()["id"]
    api.get(f"{OPERATIONS}/{op_id}")
    control.set_faults(rate_500=0.5)
    control.set_defaults(duration=99)
    control.freeze()
    control.advance(86400)

    control.reset()
    assert_error(api.get(f"{OPERATIONS}/{op_id}"), 404)
    assert control.faults()["rate_500"] == 0
    assert control.defaults()["duration"] == 2.0
    clock = control.clock()
    assert clock["frozen"] is False
    assert abs(clock["offset"]) < 5
    assert control.counters()["routes"] == {GET_OP: {"404": 1}}  # only what came after the reset


def test_defaults_replace_and_read_back(emulator: EmulatorHandle) -> None:
    control = emulator.control
    assert control.defaults() == {"duration": 2.0, "failure_ratio": 0.0, "unaddressable_ratio": 0.0}
    assert control.set_defaults(failure_ratio=0.25) == {
        "duration": 2.0,
        "failure_ratio": 0.25,
        "unaddressable_ratio": 0.0,
    }
    assert control.set_defaults(duration=0)["duration"] == 0
    assert control.defaults()["failure_ratio"] == 0.0  # PUT replaces: unnamed fields go back to the start
    with pytest.raises(EmulatorControlError):
        control.set_defaults(failure_ratio=0.9, unaddressable_ratio=0.9)
    with pytest.raises(EmulatorControlError):
        control.set_defaults(speed=3)


def test_counters_and_request_count(emulator: EmulatorHandle, api: httpx.Client) -> None:
    control = emulator.control
    op_id = control.create_operation()["id"]
    for _ in range(3):
        api.get(f"{OPERATIONS}/{op_id}")
    api.get(f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8")
    api.get(OPERATIONS, params={"pageSize": 0})
    control.clock()  # control calls are not counted

    counters = control.counters()
    assert counters == {
        "routes": {
            "GET /v1/PushNotifications/Operations": {"400": 1},
            GET_OP: {"200": 3, "404": 1},
        },
        "by_status": {"200": 3, "400": 1, "404": 1},
        "total": 5,
    }
    assert control.request_count() == 5
    assert control.request_count(GET_OP) == 4
    assert control.request_count("/v1/PushNotifications/Operations/{id}") == 4  # any method
    assert control.request_count(GET_OP, 200) == 3
    assert control.request_count(status=404) == 1
    assert control.request_count("POST /v1/PushNotifications") == 0


def test_advance_after_moves_the_clock_once_enough_reads_were_served(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    control = frozen.control
    op_id = control.create_operation(total=10, duration=10)["id"]
    epoch = control.clock()["epoch"]

    with control.advance_after(60, requests=2):
        first = api.get(f"{OPERATIONS}/{op_id}").json()
        time.sleep(0.2)  # the watcher polls every 20 ms: one read is not enough
        still = control.clock()["epoch"]
        second = api.get(f"{OPERATIONS}/{op_id}").json()
        deadline = time.monotonic() + 10
        while control.clock()["epoch"] == epoch and time.monotonic() < deadline:
            time.sleep(0.02)
        third = api.get(f"{OPERATIONS}/{op_id}").json()

    assert (first["status"], second["status"], third["status"]) == ("PROCESSING", "PROCESSING", "COMPLETED")
    assert still == epoch
    assert control.clock()["epoch"] == epoch + 60


def test_advance_after_counts_only_the_route_and_status_asked_for(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    control = frozen.control
    epoch = control.clock()["epoch"]

    with control.advance_after(60, requests=1):  # successful reads of an operation
        api.get(f"{OPERATIONS}/comms_operation_01h9krwprkeee8fzqspvwy6nq8")  # a 404
        api.get(OPERATIONS)  # another route
        time.sleep(0.2)

    time.sleep(0.1)
    assert control.clock()["epoch"] == epoch  # and the watcher stopped with the block


def test_control_errors_use_the_error_shape(emulator: EmulatorHandle) -> None:
    base = emulator.base_url
    assert_error(httpx.get(f"{base}/_emulator/nothing", trust_env=False), 404)
    assert_error(httpx.delete(f"{base}/_emulator/faults", trust_env=False), 405)
    assert_error(httpx.put(f"{base}/_emulator/faults", content=b"{", trust_env=False), 400, "not valid JSON")
    assert_error(httpx.post(f"{base}/_emulator/clock", json=[1], trust_env=False), 400, "JSON object")
    assert_error(
        httpx.post(f"{base}/_emulator/clock", json={"freeze": "yes"}, trust_env=False), 400, "freeze"
    )
    assert_error(httpx.get(f"{base}/elsewhere", trust_env=False), 404)


def test_info(emulator: EmulatorHandle) -> None:
    emulator.control.create_operation()
    info = emulator.control.info()
    assert info["account_sid"] == emulator.account_sid
    assert info["base_url"] == emulator.base_url
    assert info["operations"] == 1
    assert GET_OP in info["routes"]
