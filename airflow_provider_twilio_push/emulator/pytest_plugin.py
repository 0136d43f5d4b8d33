"""pytest fixtures that start the Comms API emulator (work in progress)."""
