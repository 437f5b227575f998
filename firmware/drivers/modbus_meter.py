"""Eastron SDM120/SDM220/SDM630 Modbus RTU meter on an RS485 UART with a driver-enable pin.

One read of the model's input registers (firmware.modbus_rtu.read_plan: one block of float32
pairs) per poll, with a response timeout and retries. RS485 is half duplex: DE is high only
while our request is on the wire. The ESP32 port has no RS485 UART mode, so the request is
written, UART.flush() waits for the last stop bit (8 bytes: 33 ms at 2400 baud, a short
block like a CT burst), then DE drops; a reply comes no sooner than 3.5 character times after
the request (Modbus over Serial Line V1.02 §2.5.1.1), so it is not lost. Bytes are collected
by a task awaiting an asyncio.StreamReader on the UART into a modbus_rtu.Framer.

Energy registers are float32 kWh; they are turned into integer Wh exactly from the float's
bits (ESP32 floats are single precision: kWh * 1000 in float32 would round a 5-digit kWh).
"""
import asyncio

from firmware import modbus_rtu as mb

PARITY_BITS = {None: 10, 0: 11, 1: 11}  # start + 8 data + parity + stop bits per character


class MeterError(ValueError):
    pass


def float_to_milli(data, i):
    """round(1000 * float32 in registers i, i+1), exactly, as an int; None if NaN/inf."""
    p = 2 * i
    if p + 4 > len(data):
        raise MeterError("register out of range")
    bits = (data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]
    e = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    if e == 0xFF:
        return None
    if e:
        m |= 0x800000
        sh = e - 150
    else:
        sh = -149
    x = m * 1000
    if sh >= 0:
        v = x << sh
    else:
        v = (x + (1 << (-sh - 1))) >> -sh
    return -v if bits >> 31 else v


class ModbusMeter:
    def __init__(self, uart, de, model, address=1, baudrate=2400, parity=None, stop=1, timeout_ms=1500,
                 retries=2):
        self.uart = uart
        self.de = de
        self.model = model
        self.address = address
        self.plan = mb.read_plan(model)
        self.framer = mb.Framer(address, mb.FUNC_READ_INPUT)
        self.char_ms = (PARITY_BITS.get(parity, 11) + stop - 1) * 1000.0 / baudrate
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.requests = 0
        self.answers = 0
        self.timeouts = 0
        self.crc_errors = 0
        self.exceptions = 0
        self.last_error = None
        self._frame = None
        self._event = asyncio.Event()
        self._task = None
        if de is not None:
            de.value(0)

    async def _receive(self):
        sr = asyncio.StreamReader(self.uart)
        while True:
            data = await sr.read(64)
            if data:
                frame = self.framer.feed(data)
                if frame is not None:
                    self._frame = frame
                    self._event.set()

    def _send(self, req):
        de = self.de
        if de is not None:
            de.value(1)
        try:
            self.uart.write(req)
            self.uart.flush()  # blocks until the last bit has left (ESP32: uart_wait_tx_done)
        finally:
            if de is not None:
                de.value(0)

    async def transact(self, start, count):
        """Data bytes of one read of count input registers from start. Raises MeterError."""
        if self._task is None or self._task.done():  # (re)start the receiver
            self._task = asyncio.create_task(self._receive())
        req = mb.read_request(self.address, start, count)
        wait = self.timeout_ms + int((len(req) + 5 + 2 * count) * self.char_ms)
        gap = int(3.5 * self.char_ms) + 2
        err = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep_ms(gap + 50)
            while self.uart.any():  # stale bytes of an earlier, late answer
                self.uart.read()
            self.framer.reset()
            self._frame = None
            self._event.clear()
            crc0 = self.framer.crc_errors
            self.requests += 1
            self._send(req)
            try:
                await asyncio.wait_for_ms(self._event.wait(), wait)
            except asyncio.TimeoutError:
                if self.framer.crc_errors != crc0:
                    self.crc_errors += 1
                    err = "crc error"
                else:
                    self.timeouts += 1
                    err = "no answer"
                continue
            try:
                data = mb.parse_read_response(self._frame, self.address, mb.FUNC_READ_INPUT, count)
            except mb.ModbusException as exc:
                self.exceptions += 1
                self.last_error = str(exc)
                raise MeterError(str(exc)) from None  # the meter said no: retrying will not help
            except mb.ModbusError as exc:
                err = str(exc)
                continue
            self.answers += 1
            self.last_error = None
            return data
        self.last_error = err
        raise MeterError(err)

    async def read(self):
        """{key: value} of the model's register map (modbus_rtu names), plus import_wh/export_wh."""
        out: dict = {}
        for start, count in self.plan:
            data = await self.transact(start, count)
            mb.decode(self.model, start, data, out)
            for key, a in mb.register_map(self.model):
                if key in ("import_kwh", "export_kwh"):
                    i = a - start
                    if 0 <= i and i + 2 <= count:
                        out[key[:6] + "_wh"] = float_to_milli(data, i)
        return out
