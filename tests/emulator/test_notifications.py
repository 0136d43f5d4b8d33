"""GET /v1/PushNotifications and /{id}: consistent with each operation's stats, every filter, paging."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import given, settings

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.emulator.state import NOTIFICATION_STATUSES, Operation

from .helpers import OPERATIONS, all_pages, assert_error, send_push
from .test_invariant import operations

NOTIFICATIONS = "/v1/PushNotifications"
USER = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"
OTHER_USER = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq9"
CREDENTIAL = "comms_credential_01h9krwprkeee8fzqspvwy6nq8"
#: Which operation stat counts the notifications of each status.
STAT_OF = {
    "SCHEDULED": "scheduled",
    "QUEUED": "queued",
    "SENT": "sent",
    "FAILED": "failed",
    "CANCELED": "canceled",
}


def _all(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return all_pages(api, NOTIFICATIONS, "pushNotifications", **params)


def _assert_consistent(api: httpx.Client, op_id: str) -> dict[str, Any]:
    """The operation's notifications, by status, are its stats; the FAILED ones are its Errors."""
    op = api.get(f"{OPERATIONS}/{op_id}").json()
    listed = _all(api, operationId=op_id, pageSize=1000)
    stats = op["stats"]
    assert len(listed) == stats["total"] - stats["unaddressable"]
    by_status = Counter(item["status"] for item in listed)
    assert {status: by_status[status] for status in STAT_OF} == {s: stats[k] for s, k in STAT_OF.items()}
    for status in NOTIFICATION_STATUSES:
        only = _all(api, operationId=op_id, status=status, pageSize=7)
        assert only == [item for item in listed if item["status"] == status]
    errors = api.get(f"{OPERATIONS}/{op_id}/Errors", params={"pageSize": 1000}).json()["errors"]
    assert [e["pushNotificationId"] for e in errors] == [i["id"] for i in listed if i["status"] == "FAILED"]
    assert [e["occurredAt"] for e in errors] == [i["updatedAt"] for i in listed if i["status"] == "FAILED"]
    for item in listed:
        assert op["createdAt"] == item["createdAt"] <= item["updatedAt"] <= op["updatedAt"]
    return op


def test_an_operations_notifications_follow_its_stats_as_it_progresses(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    control = frozen.control
    op_id = control.create_operation(
        total=60, failure_ratio=0.2, unaddressable_ratio=0.1, duration=10, schedule_in=5
    )["id"]
    statuses = []
    for step in (0, 5, 3, 4, 10):
        control.advance(step)
        statuses.append(_assert_consistent(api, op_id)["status"])
    assert statuses == ["SCHEDULED", "PROCESSING", "PROCESSING", "PROCESSING", "COMPLETED"]


@pytest.mark.parametrize("schedule_in", [0, 60])
def test_a_canceled_operations_notifications(
    frozen: EmulatorHandle, api: httpx.Client, schedule_in: int
) -> None:
    control = frozen.control
    op_id = control.create_operation(total=40, failure_ratio=0.25, duration=10, schedule_in=schedule_in)["id"]
    control.advance(4)
    control.cancel(op_id)
    control.advance(100)
    op = _assert_consistent(api, op_id)
    assert op["status"] == "CANCELED"
    assert op["stats"]["canceled"] == (40 if schedule_in else 24)


@settings(max_examples=200, deadline=None, database=None)
@given(op=operations())
def test_on_the_model_notifications_by_status_are_the_stats(op: Operation) -> None:
    for t in (op.accepted_at, op.start_at + op.duration / 3, op.start_at + op.duration + 1):
        view = op.view(t)
        statuses = (
            [op.notification(k, t)["status"] for k in op.positions(0, None, t)] if op.total <= 300 else []
        )
        for status, stat in STAT_OF.items():
            positions = list(op.positions(0, status, t))
            assert len(positions) == view["stats"][stat]
            if statuses:
                assert positions == [k for k, s in enumerate(statuses) if s == status]


def test_a_sends_notifications_show_what_was_sent(frozen: EmulatorHandle, api: httpx.Client) -> None:
    frozen.control.set_defaults(duration=0)
    to = [
        {"token": "device-a", "provider": "FCM"},
        {"token": "unaddressable-b", "provider": "APN"},
        {"token": "fail-52134-c", "provider": "APN"},
        {"userId": USER, "variables": {"name": "Ann"}},
    ]
    op_id = send_push(
        api,
        to=to,
        content={"body": "Hi {{name}}"},
        **{"from": {"appName": "shop_app"}},
        priority="LOW",
        sound="bell",
        tags={"campaign": "spring"},
    )
    listed = _all(api, operationId=op_id)
    assert [(item["to"], item["status"]) for item in listed] == [
        ({"token": "device-a", "provider": "FCM"}, "SENT"),
        ({"token": "fail-52134-c", "provider": "APN"}, "FAILED"),
        ({"userId": USER}, "SENT"),
    ]
    assert {(item["priority"], item["sound"]) for item in listed} == {("LOW", "bell")}
    assert list(listed[0]) == ["id", "from", "to", "status", "priority", "sound", "createdAt", "updatedAt"]
    assert list(listed[0]["from"]) == ["fcm"]
    assert list(listed[1]["from"]) == ["apn"]

    one = api.get(f"{NOTIFICATIONS}/{listed[1]['id']}")
    assert one.status_code == 200
    assert one.json() == {**listed[1], "content": {"title": "shop_app", "body": "Hi {{name}}"}}
    assert list(one.json()) == [
        "id",
        "from",
        "to",
        "content",
        "status",
        "priority",
        "sound",
        "createdAt",
        "updatedAt",
    ]


def test_a_credential_sender_and_the_defaults_show_in_the_notifications(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    frozen.control.set_defaults(duration=0)
    op_id = send_push(
        api,
        to=[{"token": "a", "provider": "FCM"}, {"token": "b", "provider": "APN"}],
        content={"title": "Sale", "body": "Now"},
        **{"from": {"fcm": CREDENTIAL}},
    )
    fcm, apn = _all(api, operationId=op_id)
    assert fcm["from"] == {"fcm": CREDENTIAL}
    assert apn["from"]["apn"].startswith("comms_credential_")  # the App's own
    assert (fcm["priority"], fcm["sound"]) == ("HIGH", None)
    assert api.get(f"{NOTIFICATIONS}/{fcm['id']}").json()["content"] == {"title": "Sale", "body": "Now"}


def test_filters(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    control.set_defaults(duration=0)
    old = send_push(api, to=[{"token": "fail-old", "provider": "FCM"}], tags={"campaign": "winter"})
    control.advance(3600)
    start = control.clock()["now"]
    spring = send_push(
        api,
        to=[
            {"token": "fail-1", "provider": "FCM"},
            {"token": "ok-1", "provider": "APN"},
            {"userId": USER},
            {"userId": OTHER_USER},
        ],
        tags={"campaign": "spring", "ab": "B"},
    )
    scenario = control.create_operation(total=10, failure_ratio=0.5, duration=0)["id"]

    def ids(**params: Any) -> set[str]:
        return {item["id"] for item in _all(api, **params)}

    everything = _all(api)
    assert len(everything) == 1 + 4 + 10
    by_op = {op: ids(operationId=op) for op in (old, spring, scenario)}
    assert ids() == by_op[old] | by_op[spring] | by_op[scenario]
    assert ids(tags="campaign:spring;") == ids(tags="campaign:spring;ab:B;") == by_op[spring]
    assert ids(tags="campaign:spring;ab:A;") == set()
    assert ids(startDate=start) == by_op[spring] | by_op[scenario]
    assert ids(endDate=start) == by_op[old]
    users = _all(api, user=USER)
    assert [item["to"] for item in users] == [{"userId": USER}]
    fcm = _all(api, provider="FCM")
    assert fcm
    assert all(item["to"].get("provider", "FCM") == "FCM" for item in fcm)
    assert ids(provider="FCM") | ids(provider="APN") == ids()
    failed = _all(api, status="FAILED", operationId=spring)
    assert [item["to"] for item in failed] == [{"token": "fail-1", "provider": "FCM"}]
    assert len(_all(api, status="FAILED")) == 1 + 1 + 5


def test_pages_carry_the_query_and_skip_nothing(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    first = control.create_operation(total=7, duration=0)["id"]
    control.advance(1)
    second = control.create_operation(total=5, failure_ratio=0.4, duration=0)["id"]

    pages = []
    token = None
    while True:
        params = {"pageToken": token} if token else {"pageSize": 3}
        body = api.get(NOTIFICATIONS, params=params).json()
        pages.append(body["pushNotifications"])
        token = body["pagination"]["next"]
        if token is None:
            break
        control.create_operation(total=3, duration=0)  # newer: never in a later page
    assert [len(page) for page in pages] == [3, 3, 3, 3]
    listed = [item["id"] for page in pages for item in page]
    assert listed == [i["id"] for i in _all(api, operationId=second)] + [
        i["id"] for i in _all(api, operationId=first)
    ]

    body = api.get(NOTIFICATIONS, params={"status": "SENT", "pageSize": 1}).json()
    again = api.get(NOTIFICATIONS, params={"pageToken": body["pagination"]["self"]}).json()
    assert again["pushNotifications"] == body["pushNotifications"]
    assert_error(
        api.get(NOTIFICATIONS, params={"pageToken": body["pagination"]["next"], "status": "FAILED"}),
        400,
        "status differs from the query the pageToken was issued for",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "DELIVERED"}, "status must be one of SCHEDULED, QUEUED, SENT, FAILED, CANCELED"),
        ({"provider": "GCM"}, "provider must be one of FCM, APN, got 'GCM'"),
        ({"tags": "campaign=spring"}, "tags must be 1 to 10 'key:value;' pairs"),
        ({"tags": "campaign:spring"}, "tags must be 1 to 10 'key:value;' pairs"),
        ({"user": "ann"}, "user must be a user id"),
        ({"operationId": "op_1"}, "operationId must be an operation id"),
        ({"startDate": "yesterday"}, "startDate must be an ISO 8601 date-time"),
        ({"pageSize": 1001}, "pageSize must be an integer from 1 to 1000"),
        ({"pageToken": "zzz"}, "Invalid pageToken"),
    ],
)
def test_bad_list_queries_are_400(api: httpx.Client, params: dict[str, Any], message: str) -> None:
    assert_error(api.get(NOTIFICATIONS, params=params), 400, message)


def test_fetching_one_notification(frozen: EmulatorHandle, api: httpx.Client) -> None:
    op_id = frozen.control.create_operation(total=3, duration=0, unaddressable_ratio=0.34)["id"]
    listed = _all(api, operationId=op_id)
    assert len(listed) == 2
    for item in listed:
        one = api.get(f"{NOTIFICATIONS}/{item['id']}").json()
        assert one == {**item, "content": {"title": "emulator_app", "body": "An emulated push notification"}}
    assert_error(
        api.get(f"{NOTIFICATIONS}/comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8"), 404, "not found"
    )
    assert_error(api.get(f"{NOTIFICATIONS}/nope"), 400, "Invalid push notification id 'nope'")
    frozen.control.advance(8 * 86400)
    assert_error(api.get(f"{NOTIFICATIONS}/{listed[0]['id']}"), 404, "records are kept 7 days")
    assert _all(api) == []


def test_tags_match_only_sends_that_have_all_of_them(frozen: EmulatorHandle, api: httpx.Client) -> None:
    control = frozen.control
    control.set_defaults(duration=0)
    both = send_push(api, to=[{"token": "a", "provider": "FCM"}], tags={"campaign": "spring", "chunk": "1"})
    one = send_push(api, to=[{"token": "b", "provider": "FCM"}], tags={"campaign": "spring"})
    other = send_push(api, to=[{"token": "c", "provider": "APN"}], tags={"campaign": "spring", "chunk": "2"})
    send_push(api, to=[{"token": "d", "provider": "APN"}])  # no tags
    control.create_operation(total=3, duration=0)  # scenarios have no tags

    def tokens(**params: Any) -> list[str]:
        return [item["to"]["token"] for item in _all(api, **params)]

    assert tokens(tags="campaign:spring;") == ["c", "b", "a"]
    assert tokens(tags="chunk:1;campaign:spring;") == tokens(tags="campaign:spring;chunk:1;") == ["a"]
    assert tokens(tags="campaign:spring;chunk:3;") == []  # same key, other value
    assert tokens(tags="campaign:spring;chunk:1;extra:x;") == []  # one more than the send had
    assert tokens(tags="Campaign:spring;") == tokens(tags="campaign:Spring;") == []  # case matters
    assert tokens(tags="chunk:2;chunk:1;") == []  # a send has one value a key: never both
    # The campaign operator's confirmation of a candidate operation: its id and its chunk's tag.
    assert tokens(operationId=both, tags="chunk:1;") == ["a"]
    assert tokens(operationId=other, tags="chunk:1;") == []
    assert tokens(operationId=one, tags="campaign:spring;") == ["b"]


def test_an_operation_id_lists_that_operation_only_and_an_unknown_one_nothing(
    frozen: EmulatorHandle, api: httpx.Client
) -> None:
    control = frozen.control
    first = send_push(api, to=[{"token": f"t{i}", "provider": "FCM"} for i in range(5)])
    second = control.create_operation(total=4)["id"]
    assert [item["to"]["token"] for item in _all(api, operationId=first, pageSize=2)] == [
        f"t{i}" for i in range(5)
    ]
    assert len(_all(api, operationId=second)) == 4
    assert _all(api, operationId="comms_operation_01h9krwprkeee8fzqspvwy6nq8") == []


def test_a_tag_filter_pages_through_a_10000_recipient_send(frozen: EmulatorHandle, api: httpx.Client) -> None:
    frozen.control.set_defaults(duration=0)
    to = [{"token": f"device-{i:05d}", "provider": "FCM"} for i in range(10_000)]
    send_push(api, to=to, tags={"chunk": "big"})
    send_push(api, to=[{"token": "late", "provider": "APN"}], tags={"chunk": "small"})
    listed = _all(api, tags="chunk:big;", pageSize=1000)
    assert [item["to"]["token"] for item in listed] == [r["token"] for r in to]
