"""The compact store of a send's recipients gives back each address, provider and kind as sent."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_twilio_push.emulator.pytest_plugin import EmulatorHandle
from airflow_provider_twilio_push.emulator.recipients import APN, USER, Recipients

from .helpers import SEND, all_pages, send_push

USER_A = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq8"
USER_B = "comms_pushnotificationuser_01h9krwprkeee8fzqspvwy6nq9"


@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.sampled_from([0, APN, USER, USER | APN]))))
def test_every_recipient_reads_back_as_stored(entries: list[tuple[str, int]]) -> None:
    recipients = Recipients([address for address, _ in entries], bytes(flags for _, flags in entries))
    assert len(recipients) == len(entries)
    assert list(recipients.addresses()) == [address for address, _ in entries]
    for i, (address, flags) in enumerate(entries):
        assert recipients.address(i) == address
        assert recipients.provider(i) == ("APN" if flags & APN else "FCM")
        assert recipients.is_user(i) == bool(flags & USER)
        assert (recipients.token(i), recipients.user_id(i)) == (
            (None, address) if flags & USER else (address, None)
        )


def test_has_user_finds_only_user_recipients() -> None:
    recipients = Recipients([USER_A, "device", USER_B[:-1]], bytes([USER, APN, 0]))
    assert recipients.has_user(USER_A)
    assert not recipients.has_user(USER_B)
    assert not Recipients([USER_A], bytes([0])).has_user(USER_A)  # a token that looks like a user id
    assert not Recipients([], b"").has_user(USER_A)


def test_one_flags_byte_per_address() -> None:
    with pytest.raises(ValueError, match="one flags byte per address"):
        Recipients(["a", "b"], b"\x00")


def test_a_sends_notifications_show_each_recipient_as_sent(frozen: EmulatorHandle, api: httpx.Client) -> None:
    frozen.control.set_defaults(duration=0)
    to = [
        {"token": "défi-ünïcode-token", "provider": "APN"},
        {"userId": USER_A},
        {"token": "unaddressable-x", "provider": "FCM"},
        {"token": "plain", "provider": "FCM"},
        {"token": "fail-52143-y", "provider": "APN"},
    ]
    op_id = send_push(api, to=to)
    listed = all_pages(api, SEND, "pushNotifications", operationId=op_id)
    assert sorted(str(item["to"]) for item in listed) == sorted(str(r) for i, r in enumerate(to) if i != 2)
    assert [item["to"] for item in listed if item["status"] == "FAILED"] == [to[4]]
    assert [item["to"] for item in all_pages(api, SEND, "pushNotifications", user=USER_A)] == [to[1]]
    assert frozen.control.recipient_counts() == {
        "défi-ünïcode-token": 1,
        USER_A: 1,
        "plain": 1,
        "fail-52143-y": 1,
    }
