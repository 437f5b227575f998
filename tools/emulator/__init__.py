"""The emulated board: hpmon firmware in the MicroPython unix port with simulated hardware."""
