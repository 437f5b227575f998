"""Wi-Fi: station with saved credentials, access point when there is no way in.

The AP (hpmon-XXXX, WPA2 with a per-device password, 192.168.4.1) comes up on
first boot (no SSID saved), in safe mode, and when the station has not been
connected for wifi.ap_after_s. The station retries with a growing backoff, so
a rebooted router is rejoined without a restart.
"""
import asyncio
import time

from firmware import credentials


class WifiService:
    def __init__(self, board, cfg, log, clock, chip_id, force_ap=False):
        self.board = board
        self.cfg = cfg["wifi"]
        self.node = cfg["node"]
        self.log = log
        self.clock = clock
        self.force_ap = force_ap
        self.ssid_ap = credentials.ap_ssid(chip_id)
        self.password_ap = credentials.ap_password(chip_id)
        self.sta = board.wlan()
        self.ap = None
        self.connected = False
        self.down_since = time.ticks_ms()
        self.retry_ms = 2000

    def online(self):
        return self.connected

    def state(self):
        out = {"sta_connected": self.connected, "ssid": self.cfg["ssid"],
               "ap_active": bool(self.ap and self.ap.active()), "ap_ssid": self.ssid_ap}
        if self.connected:
            out["ip"] = self.sta.ifconfig()[0]
            out["rssi"] = self.sta.status("rssi")
        return out

    def start_ap(self):
        if self.ap is None:
            self.ap = self.board.wlan(access_point=True)
        if self.ap.active():
            return
        self.ap.active(True)
        import network
        self.ap.config(ssid=self.ssid_ap, key=self.password_ap, security=network.AUTH_WPA2_PSK)
        self.log.info("wifi: access point %s up at http://192.168.4.1 (password %s)" % (self.ssid_ap, self.password_ap))

    def _begin_station(self):
        import network
        try:
            network.hostname(self.node)
        except (AttributeError, ValueError, OSError):
            pass
        self.sta.active(True)
        self.sta.connect(self.cfg["ssid"], self.cfg["key"])
        self.last_try = time.ticks_ms()

    async def run(self, supervisor=None):
        if self.force_ap or not self.cfg["ssid"]:
            self.start_ap()
        if not self.cfg["ssid"]:
            self.log.info("wifi: no network saved; join %s to set one up" % self.ssid_ap)
            return
        self._begin_station()
        while True:
            if supervisor:
                supervisor.checkin("wifi")
            now = time.ticks_ms()
            up = self.sta.isconnected()
            if up and not self.connected:
                self.connected = True
                self.retry_ms = 2000
                self.log.info("wifi: connected to %s as %s" % (self.cfg["ssid"], self.sta.ifconfig()[0]))
                if not self.clock.synced and self.clock.sync():
                    self.log.info("clock: set from NTP")
            elif not up:
                if self.connected:
                    self.connected = False
                    self.down_since = now
                    self.log.warning("wifi: lost %s" % self.cfg["ssid"])
                if time.ticks_diff(now, self.down_since) > self.cfg["ap_after_s"] * 1000:
                    self.start_ap()
                if time.ticks_diff(now, self.last_try) > self.retry_ms:
                    try:
                        self.sta.disconnect()
                        self.sta.connect(self.cfg["ssid"], self.cfg["key"])
                    except OSError as exc:
                        self.log.warning("wifi: connect failed: %s" % exc)
                    self.last_try = now
                    self.retry_ms = min(self.retry_ms * 2, 60000)
            if self.connected and not self.clock.synced and time.ticks_diff(now, getattr(self, "_ntp_try", 0)) > 60000:
                self._ntp_try = now
                self.clock.sync()
            await asyncio.sleep_ms(1000)
