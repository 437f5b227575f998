"""Simulated ESP32 `network` module: WLAN station and access point.

The station joins a network only if the scenario lists it ("wifi": {"networks":
[{"ssid", "key", "rssi"}]}) and no "wifi_down" fault is active. Sockets are the
host's: the emulated board reaches the broker on the host's loopback.
"""
import time

import machine
import simworld

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_BEACON_TIMEOUT = 200
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4

_CONNECT_MS = 1500  # association + DHCP take a while on a real board
_hostname = "espressif"
_interfaces = {}


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    if len(name) > 32:
        raise ValueError("hostname too long")
    _hostname = name


def _wifi_active():
    return any(w._active for w in _interfaces.values())


def _station_online():
    sta = _interfaces.get(STA_IF)
    return sta is not None and sta.isconnected()


def _networks():
    return simworld.world().scenario.get("wifi", {}).get("networks", [])


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __new__(cls, interface=STA_IF):
        # Like the ESP32, one object per interface.
        obj = _interfaces.get(interface)
        if obj is None:
            obj = object.__new__(cls)
            obj._if = interface
            obj._active = False
            obj._ssid = None
            obj._key = None
            obj._since = 0
            obj._config = {"ssid": "ESP_" + machine.unique_id().hex()[-6:].upper(),
                           "key": "", "security": AUTH_OPEN, "channel": 1,
                           "mac": machine.unique_id(), "hidden": False,
                           "max_clients": 4, "txpower": 20, "reconnects": -1}
            _interfaces[interface] = obj
        return obj

    def __init__(self, interface=STA_IF):
        pass

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._ssid = None
        return None

    def _wanted(self):
        for net in _networks():
            if net.get("ssid") == self._ssid:
                return net
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if self._if != STA_IF:
            raise OSError("AP interface cannot connect")
        if not self._active:
            raise OSError("STA must be active")
        self._ssid = ssid
        self._key = key
        self._since = time.ticks_ms()

    def disconnect(self):
        self._ssid = None

    def status(self, param=None):
        if param == "rssi":
            net = self._wanted()
            return int(net.get("rssi", -60)) if net and self.isconnected() else 0
        if param == "stations":
            # scenario "wifi.ap_clients": how many phones are on the board's AP (timeline-able)
            if self._if != AP_IF or not self._active:
                return []
            n = int(simworld.world().get("wifi.ap_clients", 0) or 0)
            return [(bytes((0x02, 0, 0, 0, 0, i + 1)),) for i in range(n)]
        if self._if == AP_IF:
            return STAT_GOT_IP if self._active else STAT_IDLE
        if not self._active or self._ssid is None:
            return STAT_IDLE
        net = self._wanted()
        if net is None or simworld.world().fault("wifi_down"):
            return STAT_NO_AP_FOUND
        if net.get("key", "") != (self._key or ""):
            return STAT_WRONG_PASSWORD
        if time.ticks_diff(time.ticks_ms(), self._since) < _CONNECT_MS:
            return STAT_CONNECTING
        return STAT_GOT_IP

    def isconnected(self):
        if self._if == AP_IF:
            return False
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        if config is not None:
            return None
        if self._if == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1") if self._active else ("0.0.0.0",) * 4
        if self.isconnected():
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0",) * 4

    def ipconfig(self, *args, **kw):
        if args:
            name = args[0]
            if name == "addr4":
                ip, mask = self.ifconfig()[:2]
                return (ip, mask)
            return None
        return None

    def config(self, *args, **kw):
        if kw:
            for k, v in kw.items():
                if k in ("essid",):
                    k = "ssid"
                if k in ("password",):
                    k = "key"
                if k == "key" and self._if == AP_IF and v and len(v) < 8:
                    raise ValueError("WPA2 password must be 8-63 characters")
                self._config[k] = v
            return None
        name = args[0]
        if name == "essid":
            name = "ssid"
        if name == "ssid" and self._if == STA_IF:
            return self._ssid or ""
        if name in ("key", "password"):
            raise ValueError("unknown config param")
        if name == "mac":
            mac = bytearray(machine.unique_id())
            mac[-1] = (mac[-1] + self._if) & 0xFF
            return bytes(mac)
        if name not in self._config:
            raise ValueError("unknown config param")
        return self._config[name]

    def scan(self):
        if self._if != STA_IF or not self._active:
            raise OSError("STA must be active")
        if simworld.world().fault("wifi_down"):
            return []
        out = []
        for net in _networks():
            security = AUTH_WPA2_PSK if net.get("key") else AUTH_OPEN
            out.append((net["ssid"].encode(), b"\x00\x11\x22\x33\x44\x55", int(net.get("channel", 6)),
                        int(net.get("rssi", -60)), security, False))
        return out
