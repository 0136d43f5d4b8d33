"""A local emulator of the Twilio Comms Push Notifications API (work in progress)."""
