"""Serial output for emonhub on a Raspberry Pi (or EmonESP): one text line per interval.

Line format (emonhub EmonHubOEMInterfacer "key:value" frames; EmonESP's parser;
the seed HeatpumpMonitor's output, seed-system.md §1.9):
    MSG:42,heatpump_elec:1450,heatpump_flowT:38.25,...\\r\\n
- pairs separated by ",", name and value by ":", the line ends with CR LF
  (emonhub waits for "\\r\\n"; EmonESP reads to "\\n" and trims);
- no node prefix: emonhub takes the node name from the interfacer's "nodename"
  setting, EmonESP from its own settings;
- names are the channel names; emonhub drops the whole line if any name has a
  character outside [A-Za-z0-9_-], so such channels are left out;
- an unknown value is left out (emonhub would drop the line for a non-number,
  and 0 would be a lie);
- "MSG" counts lines from boot when serial_out.msg is set (as emonTx4 firmware);
- emonhub discards the first line after it opens the port.
Config serial_out: uart 1 or 2 (pins.pi_tx/pi_rx, or the UART's own pins, see
config_links.serial_out_pins), or 0 for the USB console (shared with the log); baud.
"""
import asyncio
import sys
import time

from firmware import config_links, topics

CHUNK = 200  # bytes per UART write: no big string per line on a small heap


def serial_name(name):
    """True if emonhub accepts name as a key (regex ^[\\w-]+$, ASCII here)."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        return False
    for ch in name:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "_-"):
            return False
    return True


def pairs(channels, msg=None):
    """'name:value' texts of every channel with a known number (msg first when given)."""
    if msg is not None:
        yield "MSG:%d" % msg
    for ch in channels:
        if not serial_name(ch.name):
            continue
        text = topics.format_value(ch.value)
        if text is not None:
            yield ch.name + ":" + text


def chunks(channels, msg=None, size=CHUNK):
    """The line (pairs joined by ',', then CR LF) in pieces of about size bytes."""
    buf = ""
    first = True
    for pair in pairs(channels, msg):
        buf += pair if first else "," + pair
        first = False
        if len(buf) >= size:
            yield buf
            buf = ""
    yield buf + "\r\n"


class SerialOutService:
    def __init__(self, ctx):
        cfg = ctx.cfg["serial_out"]
        self.cfg = cfg
        self.every_ms = (cfg["every_s"] or ctx.cfg["interval_s"]) * 1000
        self.max_silence_ms = self.every_ms * 3 + 5000
        self.store = ctx.store
        self.log = ctx.log
        self.port = None
        self.lines = 0
        self.error = ""
        if cfg["uart"] != 0:
            tx, rx = config_links.serial_out_pins(ctx.cfg)
            self.port = ctx.board.serial_out(cfg["uart"], tx, rx, cfg["baud"])
            if self.port is None:
                self.error = "pins %s/%s not fitted" % (tx, rx)

    def state(self):
        return {"lines": self.lines, "error": self.error}

    async def _write_line(self, writer):
        self.lines += 1
        msg = self.lines if self.cfg["msg"] else None
        for piece in chunks(list(self.store.channels.values()), msg):
            if writer is None:
                sys.stdout.write(piece)
            else:
                writer.write(piece.encode())
                await writer.drain()

    async def run(self, supervisor=None):
        writer = None
        if self.cfg["uart"] != 0:
            if self.port is None:
                self.log.error("serial out: " + self.error)
            else:
                writer = asyncio.StreamWriter(self.port, {})
                self.log.info("serial out: UART%d at %d baud" % (self.cfg["uart"], self.cfg["baud"]))
        next_line = time.ticks_add(time.ticks_ms(), self.every_ms)
        while True:
            if supervisor:
                supervisor.checkin("serial_out")
            now = time.ticks_ms()
            wait = time.ticks_diff(next_line, now)
            if wait <= 0:
                next_line = time.ticks_add(next_line, self.every_ms)
                if time.ticks_diff(now, next_line) >= 0:  # fell behind: no burst
                    next_line = time.ticks_add(now, self.every_ms)
                if writer is not None or self.cfg["uart"] == 0:
                    try:
                        await self._write_line(writer)
                    except OSError as exc:
                        from firmware.errtext import describe  # on a failure only
                        self.error = describe(exc)
                        self.log.warning("serial out: %s" % self.error)
                continue
            await asyncio.sleep_ms(min(wait, 1000))
