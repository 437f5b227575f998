"""The emulated board's sockets: the host's, seen through the board's network.

Only getaddrinfo() is wrapped (socket objects stay native, so asyncio can poll
them):
- a lookup for a port the emulator maps ($HPMON_PORT_MAP, e.g. "80:8080")
  on 0.0.0.0 gives the host port, so the board's web server on port 80 is
  reachable on the host like port forwarding;
- any other lookup needs the Wi-Fi station online, as on the board: without
  it, it fails with OSError, as lwIP's DNS does.
"""
import os

import usocket as _usocket
from usocket import *  # noqa: F401,F403

_EAI_FAIL = -202  # lwIP's getaddrinfo failure, as the ESP32 port reports it


def _port_map():
    out = {}
    for pair in (os.getenv("HPMON_PORT_MAP") or "").split(","):
        if ":" in pair:
            board, host = pair.split(":")
            out[int(board)] = int(host)
    return out


_MAP = _port_map()


def _station_online():
    import network
    return network._station_online()


def getaddrinfo(host, port, *args):
    if host in ("0.0.0.0", "", "::"):
        return _usocket.getaddrinfo(host, _MAP.get(port, port), *args)
    if not _station_online():
        raise OSError(_EAI_FAIL)
    import simworld
    if simworld.world().fault("dns_fail") and not _is_numeric(host):
        raise OSError(_EAI_FAIL)
    return _usocket.getaddrinfo(host, port, *args)


def _is_numeric(host):
    return all(part.isdigit() for part in host.split("."))
