"""Simulated wired M-Bus heat meter(s) on an emulated UART (runs inside MicroPython).

The meter answers the master's frames with real EN 13757-2/-3 telegrams built from the
scenario truth. Its frame code is written independently of firmware/mbus_*.py on purpose, so
that the emulator checks the firmware's codec instead of sharing its bugs.

Scenario spec (the "heat_meter" object, or one entry of a "heat_meter" list):
  model              "kamstrup_multical_403" (default): one RSP_UD laid out like a Multical
                     403/603 (energy 04 06 in kWh, volume 0.01 m^3, temperatures 0.01 degC,
                     power 100 W, flow l/h, Kamstrup FF-VIF registers, billing values),
                     fresh values on every REQ_UD2 whatever the FCB;
                     "sontex_supercal_531": pages 0-3 chosen with the Sontex page select
                     (SND_UD CI 51, 01 FF 08 <page>); page 0 = the standard telegram (energy
                     MJ, float32 temperatures/flow/power), 1 = status/kWh/volume, 2 = billing
                     history, 3 = float32 instantaneous values; pages 0-2 end with DIF 1F and
                     a REQ_UD2 with toggled FCB continues with the next page;
                     "multi_telegram": three telegrams (energy in Wh / instantaneous values /
                     time and billing data), the first two ending with DIF 1F; a REQ_UD2 with
                     toggled FCB gives the next one, the same FCB repeats the last one.
  address            primary address (default 1); 0xFE requests are answered too.
  secondary_id       8-digit ID (default 10000000 + address), used in the header and for
                     secondary selection (SND_UD to FD, CI 52, with F-nibble wildcards).
  baud               line speed in baud (default 2400, 8E1); with other UART settings the
                     meter hears garbage and stays silent. CI B8-BF changes it, like a real one.
  energy_wh_initial  heat register at scenario start (Wh, default 0)
  volume_m3_initial  volume register at scenario start (m^3, default 0)
  billing_energy_wh  storage-1 (billing date) energy (default energy_wh_initial)
  start_epoch_s      meter clock at scenario start, Unix seconds (default 2025-01-01 00:00)
  reply_delay_ms     answer delay after the request (default 35; EN 13757-2 allows 11 bit
                     times to 330 bit times + 50 ms)
  truth              dotted prefix of the live values (default "heat_meter", or
                     "heat_meter.<i>" for the i-th entry of a list)
Live values read with world.get("<truth>.<key>"):
  power_w    heat power, W, negative in a defrost (register = initial + world.energy_wh(
             "<truth>.power_w", positive=True): a heat meter's heat register only counts while
             the flow is warmer than the return, so a defrost never runs it back; the meters'
             separate cooling registers are not modelled)
  flow_m3h   volume flow, m^3/h (volume = initial + world.energy_wh("<truth>.flow_m3h"),
             which integrates m^3/h over hours)
  flowT, returnT  flow / return temperature, degC;  deltaT (K, default flowT - returnT)
Faults (world.fault(kind, address); a fault without target hits every meter):
  "mbus_silent"     no answer at all
  "mbus_checksum"   long-frame answers carry a wrong checksum byte
  "mbus_truncated"  long-frame answers stop half way
"""
import struct

_ACK = b"\xe5"

MODELS = ("kamstrup_multical_403", "sontex_supercal_531", "multi_telegram")
_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)


def _man(code):
    # three letters -> 2-byte manufacturer field (EN 13757-3: 5 bits per letter, A = 1)
    v = 0
    for ch in code:
        v = (v << 5) | (ord(ch) - 64)
    return v


def _bcd(value, nbytes):
    out = bytearray(nbytes)
    for i in range(nbytes):
        lo = value % 10
        value //= 10
        hi = value % 10
        value //= 10
        out[i] = (hi << 4) | lo
    return bytes(out)


def _le(value, nbytes):
    value &= (1 << (8 * nbytes)) - 1
    out = bytearray(nbytes)
    for i in range(nbytes):
        out[i] = value & 0xFF
        value >>= 8
    return bytes(out)


def _f32(x):
    return struct.pack("<f", x)


def civil(epoch_s):
    """Unix seconds -> (year, month, day, hour, minute) in the proleptic Gregorian calendar."""
    days = epoch_s // 86400
    secs = epoch_s - days * 86400
    # days since 1970-01-01 -> civil date (era arithmetic over 400-year cycles)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d, secs // 3600, (secs % 3600) // 60


def type_f(y, mo, d, h, mi):
    """EN 13757-3 type F date/time (4 bytes)."""
    yy = y % 100
    return bytes((mi & 0x3F, h & 0x1F, (d & 0x1F) | ((yy & 7) << 5), (mo & 0x0F) | ((yy >> 3) << 4)))


def type_g(y, mo, d):
    """EN 13757-3 type G date (2 bytes)."""
    yy = y % 100
    return bytes(((d & 0x1F) | ((yy & 7) << 5), (mo & 0x0F) | ((yy >> 3) << 4)))


def long_frame(c, a, ci, data):
    body = bytes((c, a, ci)) + data
    cs = 0
    for b in body:
        cs += b
    n = len(body)
    return bytes((0x68, n, n, 0x68)) + body + bytes((cs & 0xFF, 0x16))


class Device:
    """One M-Bus meter. Answers only frames addressed to it (primary address, 0xFE, or 0xFD
    after a matching secondary selection), so several may share a bus."""

    def __init__(self, world, spec):
        self.world = world
        self.spec = spec
        self.model = spec.get("model", MODELS[0])
        if self.model not in MODELS:
            self.model = MODELS[0]
        self.address = int(spec.get("address", 1))
        self.secondary_id = int(spec.get("secondary_id", 10000000 + self.address)) % 100000000
        self.baud = int(spec.get("baud", 2400))
        self.delay_ms = int(spec.get("reply_delay_ms", 35))
        self.truth = spec.get("truth") or self._truth_prefix(world, spec)
        self.line_ok = True
        self.selected = False
        self.access_no = self.secondary_id & 0xFF
        self.page = 0          # Sontex: page chosen by the page select
        self.telegram = 0      # index of the telegram the next fresh request gets
        self.last_fcb = None   # FCB of the last answered REQ_UD2 (None after SND_NKE)
        self.last_reply = b""
        self.rx = bytearray()
        self.requests = 0      # statistics for tests

    @staticmethod
    def _truth_prefix(world, spec):
        hm = world.scenario.get("heat_meter") if hasattr(world, "scenario") else None
        if isinstance(hm, list):
            for i in range(len(hm)):
                if hm[i] is spec:
                    return "heat_meter.%d" % i
        return "heat_meter"

    # ---------------------------------------------------------------- UART side
    def configure(self, baudrate, bits, parity, stop, invert):
        # M-Bus is 8E1 (parity 0 = even in machine.UART); anything else is line noise to it
        self.line_ok = (baudrate == self.baud and bits == 8 and parity == 0 and
                        stop == 1 and not invert)
        self.rx = bytearray()

    def stream(self, now_ms):
        return b""

    def write(self, data, now_ms):
        if not self.line_ok or self.world.fault("mbus_silent", self.address):
            self.rx = bytearray()  # garbled or unpowered: hears nothing, changes nothing
            return b"", 0
        self.rx.extend(data)
        reply = b""
        while True:
            frame = self._take_frame()
            if frame is None:
                break
            r = self._handle(frame)
            if r:
                reply = r  # half duplex: only the answer to the last request is heard
        if len(reply) > 1:
            if self.world.fault("mbus_checksum", self.address):
                reply = reply[:-2] + bytes(((reply[-2] + 1) & 0xFF,)) + reply[-1:]
            if self.world.fault("mbus_truncated", self.address):
                reply = reply[:len(reply) // 2]
        return reply, (self.delay_ms if reply else 0)

    def _take_frame(self):
        rx = self.rx
        while rx:
            b0 = rx[0]
            if b0 == 0x10:
                if len(rx) < 5:
                    return None
                f = bytes(rx[:5])
                if f[4] == 0x16 and (f[1] + f[2]) & 0xFF == f[3]:
                    self.rx = rx = rx[5:]
                    return (f[1], f[2], None, b"")
            elif b0 == 0x68:
                if len(rx) < 4:
                    return None
                n = rx[1]
                if rx[2] == n and rx[3] == 0x68 and n >= 3:
                    if len(rx) < n + 6:
                        return None
                    body = bytes(rx[4:4 + n])
                    cs = 0
                    for b in body:
                        cs += b
                    ok = rx[4 + n] == cs & 0xFF and rx[5 + n] == 0x16
                    if ok:
                        self.rx = rx = rx[n + 6:]
                        return (body[0], body[1], body[2], body[3:])
            self.rx = rx = rx[1:]  # garbage or a damaged frame: the meter ignores it
        return None

    # ---------------------------------------------------------------- link layer
    def _mine(self, a):
        return a == self.address or a == 0xFE or (a == 0xFD and self.selected)

    def _handle(self, frame):
        c, a, ci, data = frame
        self.requests += 1
        fn = c & 0x4F  # function code with the PRM bit, without FCB/FCV
        if ci is not None and c & 0xCF == 0x43 and a == 0xFD and ci in (0x52, 0x56):
            self.selected = self._matches(data)
            if self.selected:  # a new selection starts a new session
                self.last_fcb = None
                self.telegram = self._first_telegram()
            return _ACK if self.selected else b""
        if not self._mine(a):
            return b""
        if fn == 0x40 and ci is None:  # SND_NKE
            self.last_fcb = None
            self.telegram = self._first_telegram()
            if a == 0xFD:
                self.selected = False
            return _ACK
        if fn == 0x4B and ci is None:  # REQ_UD2
            return self._req_ud2(c)
        if fn == 0x43 and ci is not None:  # SND_UD
            return self._snd_ud(ci, data)
        return b""

    def _req_ud2(self, c):
        fcv = c & 0x10
        fcb = 1 if c & 0x20 else 0
        n = self._telegram_count()
        if (n > 1 and fcv and self.last_fcb is not None and fcb == self.last_fcb and
                self.last_reply):
            # repetition: the master did not get our last answer. Single-telegram meters
            # (the Kamstrup model) answer fresh values instead, as the seed firmware's
            # constant 5B requests show Multicals do.
            return self.last_reply
        if self.last_fcb is None or not fcv:
            idx = self._first_telegram()
        else:
            idx = self.telegram
        self.last_fcb = fcb if fcv else None
        self.access_no = (self.access_no + 1) & 0xFF
        user = self._build(idx)
        more = idx + 1 < n
        self.telegram = (idx + 1) if more else self._first_telegram()
        self.last_reply = long_frame(0x08, self.address, 0x72, self._header() + user)
        return self.last_reply

    def _snd_ud(self, ci, data):
        if ci == 0x51:
            if data[:3] == b"\x01\xff\x08" and len(data) >= 4 and self.model == MODELS[1]:
                self.page = data[3] & 3  # Sontex page select
                self.telegram = self.page
                self.last_fcb = None
                return _ACK
            if data[:2] == b"\x01\x7a" and len(data) >= 3:  # write primary address
                self.address = data[2]
                return _ACK
            return _ACK  # other data writes are accepted and ignored
        if ci == 0x50:  # application reset
            self.telegram = self._first_telegram()
            self.last_fcb = None
            return _ACK
        if 0xB8 <= ci <= 0xBF:  # baud rate switch, acknowledged at the old speed
            self.baud = _BAUDS[ci - 0xB8]
            self.line_ok = False  # until the master reconfigures its UART
            return _ACK
        return b""

    def _matches(self, data):
        if len(data) < 8:
            return False
        mine = _bcd(self.secondary_id, 4)
        for i in range(4):
            for shift in (0, 4):
                want = (data[i] >> shift) & 15
                if want != 15 and want != (mine[i] >> shift) & 15:
                    return False
        man = data[4] | (data[5] << 8)
        if man != 0xFFFF and man != self._man_code():
            return False
        if data[6] != 0xFF and data[6] != self._version():
            return False
        if data[7] != 0xFF and data[7] != 0x04:
            return False
        return True

    # ---------------------------------------------------------------- application layer
    def _man_code(self):
        return _man(("KAM", "SON", "ELS")[MODELS.index(self.model)])

    def _version(self):
        return (0x34, 0x0D, 0x2A)[MODELS.index(self.model)]

    def _telegram_count(self):
        return (1, 4, 3)[MODELS.index(self.model)]

    def _first_telegram(self):
        return self.page if self.model == MODELS[1] else 0

    def _header(self):
        m = self._man_code()
        return (_bcd(self.secondary_id, 4) + bytes((m & 0xFF, m >> 8, self._version(), 0x04,
                                                    self.access_no, 0x00, 0x00, 0x00)))

    # live values
    def _get(self, key, default=0.0):
        v = self.world.get(self.truth + "." + key, default)
        return default if v is None else v

    def energy_wh(self):
        """Heat register, Wh (float)."""
        return float(self.spec.get("energy_wh_initial", 0)) + self.world.energy_wh(
            self.truth + ".power_w", positive=True)

    def volume_m3(self):
        return float(self.spec.get("volume_m3_initial", 0)) + self.world.energy_wh(
            self.truth + ".flow_m3h")

    def _temps(self):
        ft = self._get("flowT", 0.0)
        rt = self._get("returnT", 0.0)
        dt = self.world.get(self.truth + ".deltaT", None)
        return ft, rt, (ft - rt) if dt is None else dt

    def _clock(self):
        return civil(int(self.spec.get("start_epoch_s", 1735689600)) +
                     self.world.now_ms() // 1000)

    def _on_hours(self):
        return int(self.world.now_ms() // 3600000) + int(self.spec.get("on_time_h_initial", 0))

    def _billing_wh(self):
        return float(self.spec.get("billing_energy_wh", self.spec.get("energy_wh_initial", 0)))

    def _build(self, idx):
        if self.model == MODELS[1]:
            return self._sontex(idx)
        if self.model == MODELS[2]:
            return self._multi(idx)
        return self._kamstrup()

    def _kamstrup(self):
        # record order and coding as a Multical 403/603 RSP_UD (energy unit kWh, VIF 06)
        e_kwh = int(self.energy_wh() // 1000)
        vol = int(self.volume_m3() * 100)
        ft, rt, dt = self._temps()
        p = self._get("power_w", 0.0)
        q = self._get("flow_m3h", 0.0)
        y, mo, d, h, mi = self._clock()
        hours = self._on_hours()
        b_kwh = int(self._billing_wh() // 1000)
        r = bytearray()
        r += b"\x04\x06" + _le(e_kwh, 4)                # energy, kWh
        r += b"\x04\xff\x07" + _le(vol * 10, 4)         # Kamstrup A1 (m^3 x T1)
        r += b"\x04\xff\x08" + _le(vol * 9, 4)          # Kamstrup A2 (m^3 x T2)
        r += b"\x04\x14" + _le(vol, 4)                  # volume, 0.01 m^3
        r += b"\x84\x40\x14" + _le(0, 4)                # pulse input A volume
        r += b"\x84\x80\x40\x14" + _le(0, 4)            # pulse input B volume
        r += b"\x04\x22" + _le(hours, 4)                # hour counter
        r += b"\x34\x22" + _le(0, 4)                    # error hour counter
        r += b"\x02\x59" + _le(int(round(ft * 100)), 2)  # flow temperature, 0.01 degC
        r += b"\x02\x5d" + _le(int(round(rt * 100)), 2)  # return temperature
        r += b"\x02\x61" + _le(int(round(dt * 100)), 2)  # temperature difference, 0.01 K
        r += b"\x04\x2d" + _le(int(round(p / 100.0)), 4)  # power, 100 W
        r += b"\x14\x2d" + _le(int(round(max(p, 0) / 100.0)), 4)  # max power
        r += b"\x04\x3b" + _le(int(round(q * 1000)), 4)  # flow, l/h
        r += b"\x14\x3b" + _le(int(round(q * 1000)), 4)  # max flow
        r += b"\x04\xff\x22" + _le(0, 4)                # info code
        r += b"\x04\x6d" + type_f(y, mo, d, h, mi)      # meter clock
        r += b"\x44\x06" + _le(b_kwh, 4)                # billing-date energy
        r += b"\x44\x14" + _le(0, 4)                    # billing-date volume
        r += b"\x42\x6c" + type_g(y, 1, 1)              # billing date
        r += b"\x02\xff\x1a" + _le(0, 2)                # Kamstrup config
        r += b"\x0c\x78" + _bcd(self.secondary_id, 4)   # fabrication number
        return bytes(r)

    def _sontex(self, page):
        ft, rt, dt = self._temps()
        p = self._get("power_w", 0.0)
        q = self._get("flow_m3h", 0.0)
        wh = self.energy_wh()
        vol = int(self.volume_m3() * 100)
        r = bytearray()
        if page == 0:  # the standard telegram (as a Supercal 531 sends it by default)
            r += b"\x04\x0e" + _le(int(wh * 36 // 10000), 4)  # energy, MJ
            r += b"\x04\x14" + _le(vol, 4)
            r += b"\x05\x5b" + _f32(ft) + b"\x05\x5f" + _f32(rt)
            r += b"\x05\x3e" + _f32(q) + b"\x05\x2b" + _f32(p)
            r += b"\xc4\x00\x0e" + _le(int(self._billing_wh() * 36 // 10000), 4)
            r += b"\xc4\x00\x14" + _le(0, 4)
            r += b"\xc4\x40\x14" + _le(0, 4) + b"\xc4\x80\x40\x14" + _le(0, 4)
            r += b"\x1f"
        elif page == 1:  # status, time, counters (offsets as the seed firmware reads them)
            y, mo, d, h, mi = self._clock()
            r += b"\x02\xfd\x17" + _le(0, 2)                  # error flags
            r += b"\x04\x6d" + type_f(y, mo, d, h, mi)
            r += b"\x04\x22" + _le(self._on_hours(), 4)
            r += b"\x04\x06" + _le(int(wh // 1000), 4)        # energy, kWh
            r += b"\x04\x14" + _le(vol, 4)
            r += b"\x0c\x78" + _bcd(self.secondary_id, 4)
            r += b"\x1f"
        elif page == 2:  # billing history
            y, mo, d, h, mi = self._clock()
            r += b"\x42\x6c" + type_g(y, 1, 1)
            r += b"\x44\x06" + _le(int(self._billing_wh() // 1000), 4)
            r += b"\x82\x01\x6c" + type_g(y - 1, 1, 1)
            r += b"\x84\x01\x06" + _le(0, 4)
            r += b"\x1f"
        else:  # page 3: instantaneous values as float32
            r += b"\x05\x5b" + _f32(ft) + b"\x05\x5f" + _f32(rt)
            r += b"\x05\x3e" + _f32(q) + b"\x05\x2b" + _f32(p)
            r += b"\x05\x63" + _f32(dt)  # temperature difference, K (VIF 63: 10^0 K)
        return bytes(r)

    def _multi(self, idx):
        r = bytearray()
        if idx == 0:
            r += b"\x0c\x78" + _bcd(self.secondary_id, 4)
            r += b"\x04\x03" + _le(int(self.energy_wh()), 4)  # energy, Wh
            r += b"\x04\x13" + _le(int(self.volume_m3() * 1000), 4)  # volume, l
            r += b"\x1f"
        elif idx == 1:
            ft, rt, dt = self._temps()
            r += b"\x02\x5a" + _le(int(round(ft * 10)), 2)  # 0.1 degC
            r += b"\x02\x5e" + _le(int(round(rt * 10)), 2)
            r += b"\x02\x62" + _le(int(round(dt * 10)), 2)  # 0.1 K
            r += b"\x04\x2b" + _le(int(round(self._get("power_w", 0.0))), 4)  # W
            r += b"\x04\x3b" + _le(int(round(self._get("flow_m3h", 0.0) * 1000)), 4)  # l/h
            r += b"\x1f"
        else:
            y, mo, d, h, mi = self._clock()
            r += b"\x04\x6d" + type_f(y, mo, d, h, mi)
            r += b"\x42\x6c" + type_g(y, 1, 1)
            r += b"\x44\x03" + _le(int(self._billing_wh()), 4)
            r += b"\x0f\x01\x02"  # manufacturer specific tail, no more records
        return bytes(r)
