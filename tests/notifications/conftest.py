"""The trigger tests' check that nothing blocks the event loop, for the notifier's async path."""

from __future__ import annotations

from triggers.test_twilio_push_trigger_event_loop import slow_callbacks  # noqa: F401
