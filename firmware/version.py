"""Firmware version, shown on the status page and in /api/state."""
VERSION = "0.1.0"
