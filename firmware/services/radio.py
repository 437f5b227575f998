"""RFM69 radio: receives OpenEnergyMonitor nodes, optionally transmits the monitor's readings.

emonTH nodes (config radio.emonth_nodes) become channels emonth<node>_temp,
_temp_ext, _humidity (°C, °C, %), _battery (V), _pulse (count, V2 only) and
_rssi (dBm); radio.roles copies one of them to a role (heatpump_roomT, ...).
A node silent for radio.stale_s has its channels marked unknown. Packets that
fail the CRC (software RF12 CRC for "jeelib", the radio's for the others), come
from another group or do not decode are counted and dropped, never published.

With radio.tx_enabled, every radio.tx_every_s (0: the reporting interval) the
main heatpump_* readings go out as rf_packets.TX_LAYOUT to node radio.tx_dest
(an emonPi/emonBase; emonhub node decoder in docs/scenario.md).
"""
import asyncio
import time

from firmware import rf_packets as rp
from firmware.drivers.rfm69 import RFM69, RadioError

RETRY_MS = 30000  # a missing or unanswering module: try the set-up again


class RadioService:
    def __init__(self, ctx):
        cfg = ctx.cfg["radio"]
        self.cfg = cfg
        self.fmt = cfg["format"]
        self.group = cfg["group"]
        self.node_id = cfg["node_id"]
        self.emonth = tuple(cfg["emonth_nodes"])
        self.roles = cfg["roles"]
        self.stale_ms = cfg["stale_s"] * 1000
        self.tx_ms = (cfg["tx_every_s"] or ctx.cfg["interval_s"]) * 1000
        self.max_silence_ms = 30000
        self.store = ctx.store
        self.log = ctx.log
        self.clock = ctx.clock
        self.board = ctx.board
        self.radio = None
        self.last_seen = {}  # node -> ticks of its last good packet
        self.received = 0
        self.crc_errors = 0
        self.rejected = 0
        self.other_nodes = 0
        self.sent = 0
        self.tx_failures = 0
        self.msg = 0
        self.error = ""
        self._unknown_logged = []
        self._ticker_task = None

    def state(self):
        return {"format": self.fmt, "received": self.received, "crc_errors": self.crc_errors,
                "rejected": self.rejected, "other_nodes": self.other_nodes, "sent": self.sent,
                "tx_failures": self.tx_failures, "error": self.error}

    # ------------------------------------------------------------ set-up
    def _start(self):
        bus = self.board.rfm69_bus()
        if bus is None:
            raise RadioError("pins rfm_* not fitted")
        spi, cs, irq = bus
        cfg = self.cfg
        radio = RFM69(spi, cs, irq, self.fmt, cfg["freq_mhz"], self.group, cfg["key"] if self.fmt == "lpl" else "")
        radio.init()
        self.radio = radio
        self.error = ""
        self.log.info("radio: RFM69 listening, %s format, %d MHz band, group %d"
                      % (self.fmt, cfg["freq_mhz"], self.group))

    async def _ticker(self, flag):
        # wakes the receive loop for the check-in, the staleness check, transmits
        # and a poll of PayloadReady (a lost edge never strands a packet)
        while True:
            await asyncio.sleep_ms(1000)
            flag.set()

    # ------------------------------------------------------------ receive
    def _handle(self, frame, rssi, crc_ok):
        if not crc_ok:
            self.crc_errors += 1
            return
        try:
            src, dest, payload = rp.parse(self.fmt, frame, self.group)
        except rp.RFPacketError as exc:
            if str(exc) == "crc":
                self.crc_errors += 1
            else:
                self.rejected += 1
            return
        if src is None:
            self.rejected += 1  # RF12 packet addressed by destination: the sender is not known
            return
        if dest is not None and not self.cfg["promiscuous"] and dest not in (0, self.node_id):
            return
        if src not in self.emonth:
            self.other_nodes += 1
            if src not in self._unknown_logged and len(self._unknown_logged) < 8:
                self._unknown_logged.append(src)
                self.log.info("radio: packet from node %d (%d bytes) is not an emonTH node; ignored"
                              % (src, len(payload)))
            return
        try:
            values = rp.decode_emonth(payload)
        except rp.RFPacketError:
            self.rejected += 1
            return
        if not rp.emonth_plausible(values):
            self.rejected += 1
            return
        self.received += 1
        now = self.clock.ticks()
        self.last_seen[src] = now
        wall = self.clock.wall()
        prefix = "emonth%d_" % src
        for field, unit, value in zip(rp.EMONTH_FIELDS, rp.EMONTH_UNITS, values):
            if value is None:
                continue
            self._update(prefix + field, value, unit, now, wall)
        self._update(prefix + "rssi", rssi, "dBm", now, wall)

    def _update(self, name, value, unit, now, wall):
        self.store.update(name, value, unit, "ok", now, wall)
        role = self.roles.get(name)
        if role:
            self.store.update(role, value, unit, "ok", now, wall)

    def _check_stale(self):
        now = self.clock.ticks()
        for node in list(self.last_seen):
            if time.ticks_diff(now, self.last_seen[node]) > self.stale_ms:
                del self.last_seen[node]
                self.log.warning("radio: no packet from emonTH node %d for %d s" % (node, self.stale_ms // 1000))
                prefix = "emonth%d_" % node
                for field in rp.EMONTH_FIELDS + ("rssi",):
                    self.store.mark_unknown(prefix + field, "no packet")
                    role = self.roles.get(prefix + field)
                    if role:
                        self.store.mark_unknown(role, "no packet")

    def _drain(self):
        radio = self.radio
        if radio is None:
            return
        for _ in range(8):  # a burst never holds the scheduler for long
            got = radio.receive()
            if got is None:
                return
            self._handle(got[0], got[1], got[2])

    # ------------------------------------------------------------ transmit
    async def _transmit(self):
        self.msg += 1
        values = {"msg": self.msg}
        for name, _code, _scale in rp.TX_LAYOUT[1:]:
            values[name] = self.store.value(name)
        try:
            frame = rp.frame(self.fmt, self.node_id, rp.encode_tx(values), self.group, self.cfg["tx_dest"])
        except rp.RFPacketError as exc:
            self.tx_failures += 1
            self.error = str(exc)
            return
        radio = self.radio
        if radio is not None and await radio.send(frame):
            self.sent += 1
        else:
            self.tx_failures += 1
            self.log.warning("radio: transmit timed out")

    # ------------------------------------------------------------ task
    async def run(self, supervisor=None):
        next_try = time.ticks_ms()
        while self.radio is None:
            if supervisor:
                supervisor.checkin("radio")
            if time.ticks_diff(time.ticks_ms(), next_try) >= 0:
                try:
                    self._start()
                except (RadioError, OSError) as exc:
                    self.error = str(exc)
                    self.log.error("radio: %s; retrying in %d s" % (exc, RETRY_MS // 1000))
                    next_try = time.ticks_add(time.ticks_ms(), RETRY_MS)
            if self.radio is None:
                await asyncio.sleep_ms(1000)
        flag = self.radio.flag
        if self._ticker_task is None:  # run() again after a crash: keep the one ticker
            self._ticker_task = asyncio.create_task(self._ticker(flag))
        next_tx = time.ticks_add(time.ticks_ms(), self.tx_ms)
        while True:
            if supervisor:
                supervisor.checkin("radio")
            self._drain()
            self._check_stale()
            if self.cfg["tx_enabled"] and time.ticks_diff(time.ticks_ms(), next_tx) >= 0:
                next_tx = time.ticks_add(next_tx, self.tx_ms)
                if time.ticks_diff(time.ticks_ms(), next_tx) >= 0:  # fell behind: no burst
                    next_tx = time.ticks_add(time.ticks_ms(), self.tx_ms)
                await self._transmit()
            await flag.wait()
