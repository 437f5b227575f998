"""Simulated `ntptime`: succeeds only while the station is online.

The host clock is already correct, so settime() only has to decide whether a
real board would have reached an NTP server; a failure raises OSError as the
frozen module does when the UDP request times out.
"""
import network
import simworld

host = "pool.ntp.org"
timeout = 1


def time():
    import time as _t
    _check()
    return int(_t.time())


def settime():
    _check()


def _check():
    sta = network.WLAN(network.STA_IF)
    if not sta.isconnected() or simworld.world().fault("dns_fail") or simworld.world().fault("ntp_fail"):
        raise OSError(110, "ETIMEDOUT")
