"""Simulated ESP32 `machine` module for the emulated board (MicroPython unix port).

Only the API that exists on the ESP32 port is offered (checked against
micropython-esp32-stubs in `make check` for the firmware side). Signals come
from the scenario world (simworld), at the moment they are read.

Scenario "micropython": {"counter": false} emulates firmware older than 1.26,
which has no machine.Counter: the module then has no `Counter` attribute, and
the firmware counts the S0 pulses with Pin.irq (edges from sim_pulse).
"""
import io
import os
import sys
import time

import simworld

# ESP32 reset causes (ports/esp32/modmachine.c)
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# Exit codes that tell the emulator to boot the board again (tools/emulator/__main__.py)
EXIT_HARD_RESET = 80
EXIT_SOFT_RESET = 81
EXIT_WDT_RESET = 82

_WDT_FILE = "wdt_deadline"


def _world():
    return simworld.world()


def _wall_ms():
    return time.time_ns() // 1000000


# ---------------------------------------------------------------- resets, ids

def reset_cause():
    return int(os.getenv("HPMON_RESET_CAUSE") or PWRON_RESET)


def _exit(code):
    _flush_stdout()
    sys.exit(code)


def _flush_stdout():
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


def reset():
    _exit(EXIT_HARD_RESET)


def soft_reset():
    _exit(EXIT_SOFT_RESET)


def unique_id():
    chip = _world().scenario.get("chip_id", "240ac4a1b2c3")
    return bytes(int(chip[i:i + 2], 16) for i in range(0, len(chip), 2))


def freq(hz=None):
    return 240000000


def idle():
    time.sleep_ms(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def lightsleep(ms=0):
    time.sleep_ms(ms)


def deepsleep(ms=0):
    _exit(EXIT_HARD_RESET)


# ---------------------------------------------------------------- PSRAM

_psram = []


def _psram_gpios():
    """GPIOs wired to the module's PSRAM: 16 (CS) and 17 (CLK) on an ESP32-WROVER (scenario
    "board": {"psram": true}), none on a WROOM-32."""
    if not _psram:
        _psram.append((16, 17) if _world().scenario.get("board", {}).get("psram") else ())
    return _psram[0]


def _claim(gpio):
    """Using a PSRAM pin as a GPIO cuts the chip off its heap: it panics and resets."""
    if gpio in _psram_gpios():
        print("[sim] Guru Meditation Error: GPIO %d is the PSRAM's; cache access to the heap failed: "
              "panic, resetting" % gpio)
        _exit(EXIT_HARD_RESET)


# ---------------------------------------------------------------- watchdog

_wdt_deadline = None


def _check_wdt():
    """Starvation resets the board, as the ESP32 task watchdog does."""
    if _wdt_deadline is not None and _wall_ms() > _wdt_deadline:
        print("[sim] WDT starved: resetting")
        _exit(EXIT_WDT_RESET)


class WDT:
    """Once started it cannot be stopped (esp32 docs); starving it resets."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = int(timeout)
        self.feed()

    def feed(self):
        global _wdt_deadline
        _check_wdt()
        _wdt_deadline = _wall_ms() + self.timeout
        # The emulator process also watches this file, for a loop that never
        # returns to the simulated hardware at all.
        with open(simworld.state_path(_WDT_FILE), "w") as f:
            f.write(str(_wdt_deadline))


# ---------------------------------------------------------------- Pin

# Simulated SPI devices (sim_rfm69): chip-select listeners, input levels they drive,
# and the pins with an IRQ handler (gpio -> Pin), so a device can raise a soft IRQ.
_CS_LISTENERS = {}
_INPUT_LEVELS = {}
_IRQ_PINS = {}

# The meter's S0 output on the pulse GPIO (sim_pulse), with a scenario "pulse".
_s0 = None
if simworld.world().scenario.get("pulse"):
    import sim_pulse
    _s0 = sim_pulse.S0(simworld.world(), simworld.world().scenario["pulse"])
    _INPUT_LEVELS[_s0.gpio] = _s0.level


def _output_changed(gpio):
    listener = _CS_LISTENERS.get(gpio)
    if listener is not None:
        listener(Pin._outputs.get(gpio, 0))


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3
    WAKE_LOW = 4
    WAKE_HIGH = 5

    _outputs = {}

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        if not isinstance(id, int) or not 0 <= id <= 39 or id in (20, 24, 28, 29, 30, 31):
            raise ValueError("invalid pin")
        _claim(id)
        self._id = id
        self._mode = mode
        self._pull = pull
        self._irq = None
        if value is not None:
            Pin._outputs[id] = 1 if value else 0
            _output_changed(id)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if value is not None:
            Pin._outputs[self._id] = 1 if value else 0
            _output_changed(self._id)

    def id(self):
        return self._id

    def value(self, v=None):
        _check_wdt()
        if v is None:
            if self._mode == Pin.OUT:
                return Pin._outputs.get(self._id, 0)
            driven = _INPUT_LEVELS.get(self._id)
            if driven is not None:
                return driven()
            level = _world().get("pins." + str(self._id))
            if level is None:
                return 0 if self._pull == Pin.PULL_DOWN else 1 if self._pull == Pin.PULL_UP else 0
            return 1 if level else 0
        if self._id >= 34:
            raise OSError("pin can only be input")
        Pin._outputs[self._id] = 1 if v else 0
        _output_changed(self._id)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, wake=None):
        # ESP32 has no hard IRQs: passing hard= raises TypeError there, as here.
        self._irq = (handler, trigger)
        if handler is None:
            _IRQ_PINS.pop(self._id, None)
        else:
            _IRQ_PINS[self._id] = self
        if _s0 is not None and self._id == _s0.gpio:
            _s0.arm(self)  # its edges start (soft IRQs from sim_pulse's clock thread)
        return self._irq

    def __repr__(self):
        return "Pin(%d)" % self._id


class Signal:
    def __init__(self, pin, invert=False):
        self._pin = pin
        self._invert = invert

    def value(self, v=None):
        if v is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if v else 0) ^ self._invert)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


# ---------------------------------------------------------------- ADC

_ADC1_PINS = (32, 33, 34, 35, 36, 37, 38, 39)
_ADC2_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)


_storm_last_us = 0
_waveforms = None


def _storm():
    """The "irq_storm" fault (sim_waveforms): an interrupt holds the CPU every few ms, so the read
    returns late; busy, as an interrupt handler would be."""
    global _storm_last_us, _waveforms
    if _waveforms is None:
        import sim_waveforms
        _waveforms = sim_waveforms
    if not _waveforms.storm:
        return
    sim_waveforms = _waveforms
    now = time.time_ns() // 1000
    if now - _storm_last_us >= sim_waveforms.STORM_EVERY_US:
        _storm_last_us = now
        end = now + sim_waveforms.STORM_HOLD_US
        while time.time_ns() // 1000 < end:
            pass


class ADC:
    """ESP32 SAR ADC: 12 bits, attenuation sets the range (esp32 quickref)."""

    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12

    # Approximate full-scale input per attenuation, mV (ESP32 datasheet
    # "ADC characteristics": 0 dB ~950 mV ... 11 dB ~3100 mV before clipping).
    _FULL_SCALE_MV = (950, 1250, 1750, 3100)

    def __init__(self, pin, *, atten=None):
        gpio = pin.id() if isinstance(pin, Pin) else int(pin)
        if gpio not in _ADC1_PINS and gpio not in _ADC2_PINS:
            raise ValueError("invalid Pin for ADC")
        self._gpio = gpio
        # v1.26+: a missing atten resets the channel to 11 dB.
        self._atten = ADC.ATTN_11DB if atten is None else atten
        self._bits = 12

    def atten(self, atten):
        self._atten = atten

    def init(self, *, atten=None):
        if atten is not None:
            self._atten = atten

    def width(self, bits):
        self._bits = bits

    def _millivolts(self):
        _check_wdt()
        if self._gpio in _ADC2_PINS:
            import network
            if network._wifi_active():
                return 0.0  # v1.26-v1.28 silently return 0 on ADC2 with Wi-Fi on
        import sim_analog
        mv = sim_analog.millivolts(self._gpio, time.time_ns() // 1000)
        _storm()
        return mv

    def _raw(self):
        full = ADC._FULL_SCALE_MV[self._atten]
        mv = self._millivolts()
        raw = int(mv * 4095 / full + 0.5)
        if raw < 0:
            raw = 0
        elif raw > 4095:
            raw = 4095
        return raw >> (12 - self._bits)

    def read(self):
        return self._raw()

    def read_u16(self):
        raw12 = self._raw() << (12 - self._bits)
        return (raw12 * 65535 + 2047) // 4095

    def read_uv(self):
        full = ADC._FULL_SCALE_MV[self._atten]
        mv = self._millivolts()
        if mv < 0:
            mv = 0
        elif mv > full:
            mv = full
        return int(mv) * 1000  # eFuse-calibrated, 1 mV resolution


# ---------------------------------------------------------------- UART

_MP_STREAM_POLL = 3
_MP_STREAM_GET_FILENO = 10
_POLLIN = 1
_POLLOUT = 4

_DEVICE_KINDS = (
    # scenario section, simulated device module, default UART id
    ("heat_meter", "sim_mbus_meter", 2),
    ("modbus_meter", "sim_sdm", 1),
    ("irda", "sim_elster", 1),
    ("pi_serial", "sim_serial_sink", 1),
)


_uart_devices = {}


def _devices_on(uart_id):
    """The simulated devices the scenario wires to this UART.

    Built once: a meter does not reset when the firmware reopens its UART, and
    _sim_boot builds them before the board's heap budget starts.
    """
    found = _uart_devices.get(uart_id)
    if found is not None:
        return found
    world = _world()
    found = []
    _uart_devices[uart_id] = found
    for section, module, default_uart in _DEVICE_KINDS:
        specs = world.scenario.get(section)
        if specs is None:
            continue
        if isinstance(specs, dict):
            specs = [specs]
        for spec in specs:
            if spec.get("enabled", True) and spec.get("uart", default_uart) == uart_id:
                mod = __import__(module)
                found.append(mod.Device(world, spec))
    return found


class UART(io.IOBase):
    """A UART whose far end is the scenario's simulated devices.

    Bytes from a device become readable at the pace of the line (11 bits per
    byte for 8E1), after the device's reply delay.
    """

    INV_TX = 1
    INV_RX = 2
    INV_RTS = 4
    INV_CTS = 8
    RTS = 1
    CTS = 2

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, **kw):
        self._id = id
        self._rx = bytearray()
        self._pending = []  # (due_ms_per_byte_list, data) in arrival order
        self._devices = _devices_on(id)
        self.init(baudrate, bits, parity, stop, **kw)

    def init(self, baudrate=115200, bits=8, parity=None, stop=1, **kw):
        self._baud = baudrate
        self._bits = bits
        self._parity = parity
        self._stop = stop
        self._invert = kw.get("invert", 0)
        self._timeout = kw.get("timeout", 0)
        # a pin not given is the UART's default: UART 2 uses 17 (TX) and 16 (RX) on the ESP32 port
        for name, default in (("tx", 17), ("rx", 16)):
            pin = kw.get(name, default if self._id == 2 else None)
            _claim(pin._id if isinstance(pin, Pin) else pin)
        for dev in self._devices:
            dev.configure(baudrate, bits, parity, stop, self._invert)

    def deinit(self):
        self._devices = []

    def _byte_ms(self):
        frame_bits = 1 + self._bits + (0 if self._parity is None else 1) + self._stop
        return frame_bits * 1000.0 / self._baud

    def _pump(self):
        _check_wdt()
        world = _world()
        now = world.now_ms()
        for dev in self._devices:
            data = dev.stream(now)
            if data:
                self._queue(data, now, 0)
        if self._pending:
            keep = []
            for start, data in self._pending:
                n = int((now - start) / self._byte_ms())
                if n >= len(data):
                    self._rx.extend(data)
                else:
                    if n > 0:
                        self._rx.extend(data[:n])
                        start += n * self._byte_ms()
                        data = data[n:]
                    keep.append((start, data))
            self._pending = keep

    def _queue(self, data, now, delay_ms):
        last = now + delay_ms
        if self._pending:
            start, prev = self._pending[-1]
            last = max(last, start + len(prev) * self._byte_ms())
        self._pending.append((last, bytes(data)))

    def any(self):
        self._pump()
        return len(self._rx)

    def read(self, n=-1):
        self._pump()
        if not self._rx:
            return None
        if n is None or n < 0 or n > len(self._rx):
            n = len(self._rx)
        data = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return data

    def readinto(self, buf, n=-1):
        data = self.read(len(buf) if n is None or n < 0 else min(n, len(buf)))
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def readline(self):
        self._pump()
        if not self._rx:
            return None
        i = self._rx.find(b"\n")
        return self.read(len(self._rx) if i < 0 else i + 1)

    def write(self, data):
        _check_wdt()
        data = bytes(data)
        world = _world()
        now = world.now_ms()
        # Our own bytes take time on the wire before a device can answer.
        done = now + len(data) * self._byte_ms()
        for dev in self._devices:
            reply, delay_ms = dev.write(data, done)
            if reply:
                self._queue(reply, done, delay_ms)
        return len(data)

    def flush(self):
        pass

    def txdone(self):
        return True

    def sendbreak(self):
        pass

    def ioctl(self, req, arg):
        if req == _MP_STREAM_POLL:
            ready = 0
            if arg & _POLLIN and self.any():
                ready |= _POLLIN
            if arg & _POLLOUT:
                ready |= _POLLOUT
            return ready
        if req == _MP_STREAM_GET_FILENO:
            # no file descriptor: the unix port's select.poll() must ask ioctl(POLL). A 0 here
            # made it poll fd 0 (stdin, /dev/null: always readable), so asyncio woke every
            # UART reader in a busy loop (and starved sleeping tasks with the sped-up clock).
            return -1
        return 0


# ---------------------------------------------------------------- Counter (PCNT)

class Counter:
    """machine.Counter (MicroPython >= 1.26, ESP32 PCNT): counts S0 pulses.

    The count is the number of whole pulses that reached its source pin (sim_pulse.S0.count():
    floor(import energy of "pulse.power_w" / pulse.wh_per_pulse), less those sent while
    "pulse_disconnected" cut the line). A source other than the pulse GPIO counts nothing.
    """

    RISING = 1
    FALLING = 2

    def __init__(self, id, src=None, **kw):
        self._id = id
        self._src = src
        self._base = self._total()

    def init(self, src=None, **kw):
        if src is not None:
            self._src = src

    def _total(self):
        src = self._src.id() if isinstance(self._src, Pin) else self._src
        if _s0 is None or src != _s0.gpio:
            return 0
        return _s0.count()

    def value(self, value=None):
        _check_wdt()
        now = self._total() - self._base
        if value is not None:
            self._base = self._total() - value
        return now

    def deinit(self):
        pass


# ---------------------------------------------------------------- RTC

class RTC:
    """Wall clock and the 2 KB RTC slow memory that survives soft/WDT resets."""

    def __init__(self, id=0):
        pass

    def datetime(self, dt=None):
        if dt is not None:
            return None  # the host clock cannot be set; ntptime tracks sync state
        t = time.localtime()
        return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)

    def init(self, dt=None):
        self.datetime(dt)

    def memory(self, data=None):
        path = simworld.state_path("rtc_memory.bin")
        if data is None:
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        if len(data) > 2048:
            raise ValueError("buffer too long")
        with open(path, "wb") as f:
            f.write(bytes(data))
        return None


# ---------------------------------------------------------------- SPI

class SPI:
    """SPI master; with a scenario "radio" its bus carries the simulated RFM69 (sim_rfm69).

    Bytes reach the device only while its chip select (a Pin output) is low;
    elsewhere MISO reads 0xFF (pulled up, nothing driving it)."""

    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=1000000, **kw):
        self._id = id
        self._dev = None
        if _world().scenario.get("radio"):
            import sim_rfm69
            self._dev = sim_rfm69.for_spi(_world(), id)

    def init(self, **kw):
        pass

    def deinit(self):
        pass

    def _xfer(self, mosi):
        dev = self._dev
        if dev is None or not dev.selected:
            return 0xFF
        return dev.transfer(mosi)

    def read(self, n, write=0):
        _check_wdt()
        return bytes(self._xfer(write) for _ in range(n))

    def readinto(self, buf, write=0):
        _check_wdt()
        for i in range(len(buf)):
            buf[i] = self._xfer(write)

    def write(self, buf):
        _check_wdt()
        for b in buf:
            self._xfer(b)

    def write_readinto(self, out, buf):
        _check_wdt()
        for i in range(len(out)):
            buf[i] = self._xfer(out[i])


# Loaded with the simulator (before the board's heap is measured), not by the firmware.
if simworld.world().scenario.get("radio"):
    import sim_rfm69  # noqa: F401
if simworld.world().scenario.get("pi_serial"):
    import sim_serial_sink  # noqa: F401
if not (simworld.world().scenario.get("micropython") or {}).get("counter", True):
    del Counter  # firmware < 1.26: hasattr(machine, "Counter") is False


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id, **kw):
        self._id = id

    def init(self, **kw):
        pass

    def deinit(self):
        pass


def time_pulse_us(pin, level, timeout_us=1000000):
    return -2
