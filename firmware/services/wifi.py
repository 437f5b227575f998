"""Wi-Fi: station with saved credentials, access point when there is no way in.

The AP (hpmon-XXXX, WPA2 with a per-device password, 192.168.4.1) comes up
- on first boot (no SSID saved), in safe mode and with a bad config: it stays;
- when the station has not been connected for wifi.ap_after_s;
- when the button (pins.button, BOOT on a DevKit) is held for wifi.button_hold_s.
A fallback or button AP goes down again once the station is connected, no
client has been on the AP for wifi.ap_hold_s and it has been up that long; it
never goes down under a connected client (WLAN(AP).status("stations")).

The station retries with a growing backoff (2 s doubling to 30 s), so a
rebooted router is rejoined without a restart. The hostname (DHCP and mDNS) is
the node name. scan() lists the networks in range for the settings page.
"""
import asyncio
import time

from firmware import credentials

_SECURITY = ("open", "WEP", "WPA", "WPA2", "WPA/WPA2", "WPA2-Enterprise", "WPA3", "WPA2/WPA3")
LOOP_MS = 250


class WifiService:
    def __init__(self, board, cfg, log, clock, chip_id, force_ap=False):
        self.board = board
        self.cfg = cfg["wifi"]
        self.node = cfg["node"]
        self.log = log
        self.clock = clock
        self.force_ap = force_ap
        self.ssid_ap = credentials.ap_ssid(chip_id)
        import os
        self.password_ap = credentials.ap_password(credentials.ap_secret(board.nvs(), os.urandom))
        # also when the access point stays down: the first admin password needs it (web_login)
        log.console("wifi: access point %s password %s" % (self.ssid_ap, self.password_ap))
        self.sta = board.wlan()
        self.ap = None
        self.ap_reason = ""
        self.ap_since = time.ticks_ms()
        self.ap_used = time.ticks_ms()
        self.connected = False
        self.down_since = time.ticks_ms()
        self.last_try = time.ticks_ms()
        self.retry_ms = 2000
        self.reconnects = 0
        self.button = board.input("button")
        self.pressed_since = None
        self._ntp_try = time.ticks_ms()
        self._scan = None

    def online(self):
        return self.connected

    def ap_clients(self):
        if self.ap is None or not self.ap.active():
            return 0
        try:
            return len(self.ap.status("stations"))
        except (OSError, ValueError, TypeError):
            return 0

    def state(self):
        out = {"sta_connected": self.connected, "ssid": self.cfg["ssid"], "hostname": self.node,
               "ap_active": bool(self.ap and self.ap.active()), "ap_ssid": self.ssid_ap,
               "ap_reason": self.ap_reason, "ap_clients": self.ap_clients(), "reconnects": self.reconnects}
        if self.connected:
            out["ip"] = self.sta.ifconfig()[0]
            out["rssi"] = self.sta.status("rssi")
        return out

    # ------------------------------------------------------------ access point
    def start_ap(self, reason="setup"):
        if self.ap is None:
            self.ap = self.board.wlan(access_point=True)
        if reason == "setup" or not self.ap_reason:
            self.ap_reason = reason
        now = time.ticks_ms()
        self.ap_since = now
        self.ap_used = now
        if self.ap.active():
            return
        import network
        # authmode explicitly: a never-configured ESP32 AP is open (ESP-IDF default)
        self.ap.config(ssid=self.ssid_ap, key=self.password_ap, security=network.AUTH_WPA2_PSK)
        self.ap.active(True)
        # the password on the serial console only: the log ring is readable on the network
        self.log.info("wifi: access point %s up at http://192.168.4.1, %s" % (self.ssid_ap, reason),
                      "wifi: access point %s up at http://192.168.4.1 (password %s), %s"
                      % (self.ssid_ap, self.password_ap, reason))

    def stop_ap(self):
        if self.ap is not None and self.ap.active():
            self.ap.active(False)
            self.log.info("wifi: access point %s down (station connected, no client)" % self.ssid_ap)
        self.ap_reason = ""

    def _manage_ap(self, now):
        if self.ap is None or not self.ap.active() or self.ap_reason == "setup":
            return
        if self.ap_clients():
            self.ap_used = now
            return
        hold = self.cfg["ap_hold_s"] * 1000
        if self.connected and time.ticks_diff(now, self.ap_used) > hold and time.ticks_diff(now, self.ap_since) > hold:
            self.stop_ap()

    def _check_button(self, now):
        if self.button is None:
            return
        if self.button.value() == 0:  # active low, pulled up
            if self.pressed_since is None:
                self.pressed_since = now
            elif self.pressed_since is not False and \
                    time.ticks_diff(now, self.pressed_since) >= self.cfg["button_hold_s"] * 1000:
                self.pressed_since = False  # once per press
                self.log.info("wifi: button held for %d s" % self.cfg["button_hold_s"])
                self.start_ap("button")
        else:
            self.pressed_since = None

    # ------------------------------------------------------------ scan
    def scan(self):
        """Networks in range for the settings page: [{"ssid", "rssi", "channel",
        "security"}], strongest first, one entry per SSID, hidden ones left out.

        Blocks for the scan itself (~2 s on an ESP32: the IDF scan call has no
        asynchronous form in MicroPython), so call it only on a user's request;
        results are kept for 10 s.
        """
        now = time.ticks_ms()
        if self._scan is not None and time.ticks_diff(now, self._scan[0]) < 10000:
            return self._scan[1]
        if not self.sta.active():
            self.sta.active(True)
        best: dict = {}
        for entry in self.sta.scan():
            ssid, _bssid, channel, rssi, security = entry[:5]
            try:
                name = bytes(ssid).decode()
            except UnicodeError:
                continue
            if not name:
                continue
            if name not in best or rssi > best[name]["rssi"]:
                sec = _SECURITY[security] if 0 <= security < len(_SECURITY) else str(security)
                best[name] = {"ssid": name, "rssi": rssi, "channel": channel, "security": sec}
        out = sorted(best.values(), key=lambda n: -n["rssi"])
        self._scan = (time.ticks_ms(), out)
        return out

    # ------------------------------------------------------------ station
    def _begin_station(self):
        import network
        try:
            network.hostname(self.node)  # before activation: DHCP and mDNS use it
        except (AttributeError, ValueError, OSError):
            pass
        self.sta.active(True)
        self.sta.connect(self.cfg["ssid"], self.cfg["key"])
        self.last_try = time.ticks_ms()

    def _station(self, now):
        up = self.sta.isconnected()
        if up and not self.connected:
            self.connected = True
            self.retry_ms = 2000
            self.log.info("wifi: connected to %s as %s (%s)" % (self.cfg["ssid"], self.sta.ifconfig()[0], self.node))
            if not self.clock.synced and self.clock.sync():
                self.log.info("clock: set from NTP")
            self._ntp_try = now
        elif not up:
            if self.connected:
                self.connected = False
                self.down_since = now
                self.last_try = now
                self.retry_ms = 2000
                self.log.warning("wifi: lost %s" % self.cfg["ssid"])
            if time.ticks_diff(now, self.down_since) > self.cfg["ap_after_s"] * 1000 and \
                    not (self.ap and self.ap.active()):
                self.start_ap("fallback")
            if time.ticks_diff(now, self.last_try) > self.retry_ms:
                try:
                    self.sta.disconnect()
                    self.sta.connect(self.cfg["ssid"], self.cfg["key"])
                    self.reconnects += 1
                except OSError as exc:
                    self.log.warning("wifi: connect failed: %s" % exc)
                self.last_try = now
                self.retry_ms = min(self.retry_ms * 2, 30000)
        if self.connected and not self.clock.synced and time.ticks_diff(now, self._ntp_try) > 60000:
            self._ntp_try = now
            self.clock.sync()

    async def run(self, supervisor=None):
        if self.force_ap or not self.cfg["ssid"]:
            self.start_ap("setup")
        if not self.cfg["ssid"]:
            self.log.info("wifi: no network saved; join %s to set one up" % self.ssid_ap)
        else:
            self._begin_station()
        tick = 0
        while True:
            if supervisor:
                supervisor.checkin("wifi")
            now = time.ticks_ms()
            self._check_button(now)
            if tick % 4 == 0:
                if self.cfg["ssid"]:
                    self._station(now)
                self._manage_ap(now)
            tick += 1
            await asyncio.sleep_ms(LOOP_MS)
