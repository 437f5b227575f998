"""HopeRF RFM69CW/HCW (Semtech SX1231) over machine.SPI, for OpenEnergyMonitor nodes.

Register numbers, bits and formulas: SX1231 / RFM69 datasheets (register map,
§6). Packet formats and per-format settings: firmware/rf_packets.py.

The IRQ pin (DIO0) is mapped to PayloadReady while receiving; its handler only
sets a ThreadSafeFlag (ESP32 pin IRQs are soft: scheduled, never hard=). All SPI
traffic happens in the service task: a handler never touches the bus.
"""
import asyncio
import time

from micropython import const

from firmware import rf_packets as rp

REG_FIFO = const(0x00)
REG_OPMODE = const(0x01)
REG_BITRATEMSB = const(0x03)
REG_FRFMSB = const(0x07)
REG_VERSION = const(0x10)
REG_PALEVEL = const(0x11)
REG_RSSIVALUE = const(0x24)
REG_DIOMAPPING1 = const(0x25)
REG_IRQFLAGS1 = const(0x27)
REG_IRQFLAGS2 = const(0x28)
REG_SYNCVALUE2 = const(0x30)
REG_PACKETCONFIG1 = const(0x37)
REG_PAYLOADLENGTH = const(0x38)
REG_PACKETCONFIG2 = const(0x3D)
REG_AESKEY1 = const(0x3E)

MODE_SLEEP = const(0x00)
MODE_STANDBY = const(0x04)
MODE_TX = const(0x0C)
MODE_RX = const(0x10)

IRQ1_MODEREADY = const(0x80)
IRQ2_FIFONOTEMPTY = const(0x40)
IRQ2_FIFOOVERRUN = const(0x10)
IRQ2_PACKETSENT = const(0x08)
IRQ2_PAYLOADREADY = const(0x04)
IRQ2_CRCOK = const(0x02)

DIO0_RX_PAYLOADREADY = const(0x40)  # RegDioMapping1 Dio0Mapping = 01 in Rx
DIO0_TX_PACKETSENT = const(0x00)    # 00 in Tx
PC2_RESTARTRX = const(0x04)
PC2_AESON = const(0x01)
RFM69_VERSION = const(0x24)
TX_TIMEOUT_MS = const(200)

# (register, value) per format, written in order by init(). Values follow the
# libraries that define each format (JeeLib rf69.h / RF69_compat, OEM rfmTxLib and
# rfm69nTxLib, LowPowerLab RFM69) so that this radio hears their nodes.
_COMMON = (
    (0x02, 0x00),  # DataModul: packet mode, FSK, no shaping
    (0x11, 0x99),  # PaLevel: PA0, OutputPower 25 -> +7 dBm (the OEM default)
    (0x19, 0x42),  # RxBw: 125 kHz
    (0x26, 0x07),  # DioMapping2: ClkOut off
    (0x2E, 0x88),  # SyncConfig: on, FIFO fill on sync, 2 sync bytes, 0 errors
    (0x2F, 0x2D),  # SyncValue1 0x2D (RF12 compatible); SyncValue2 = group
    (0x3C, 0x8F),  # FifoThresh: start Tx when the FIFO is not empty
    (0x6F, 0x30),  # TestDagc: continuous DAGC, low-beta off (datasheet recommendation)
)
_FORMAT = {
    # bit rate 32 MHz / 0x028A = 49.26 kbit/s; Fdev 0x05C3 x 61 Hz = 90 kHz (RF12's);
    # RssiThresh -80 dBm (JeeLib); PacketConfig1 0x00: fixed length, no whitening, no CRC
    "jeelib": ((0x03, 0x02), (0x04, 0x8A), (0x05, 0x05), (0x06, 0xC3), (0x29, 0xA0),
               (0x37, 0x00), (0x38, rp.CLASSIC_FRAME), (0x3D, 0x12)),
    # PacketConfig1 0xD8: variable length, whitening, CRC on, CrcAutoClearOff (so a bad
    # CRC is seen and counted rather than silently dropped)
    "native": ((0x03, 0x02), (0x04, 0x8A), (0x05, 0x05), (0x06, 0xC3), (0x29, 0xA0),
               (0x37, 0xD8), (0x38, 66), (0x3D, 0x12)),
    # 32 MHz / 0x0240 = 55.56 kbit/s; Fdev 0x0333 = 50 kHz; RssiThresh -110 dBm;
    # PacketConfig1 0x98: variable, no whitening, CRC on, CrcAutoClearOff
    "lpl": ((0x03, 0x02), (0x04, 0x40), (0x05, 0x03), (0x06, 0x33), (0x29, 0xDC),
            (0x37, 0x98), (0x38, 66), (0x3D, 0x12)),
}


class RadioError(Exception):
    """The module does not answer (absent, unpowered, miswired)."""


class RFM69:
    def __init__(self, spi, cs, irq, fmt="lpl", freq_mhz=433, group=210, key=""):
        if fmt not in rp.FORMATS:
            raise ValueError("format %r" % fmt)
        self.spi = spi
        self.cs = cs
        self.irq = irq
        self.fmt = fmt
        self.freq_mhz = freq_mhz
        self.group = group
        self.key = key
        self.flag = asyncio.ThreadSafeFlag()
        self.mode = -1
        self._w = bytearray(2)
        self._r = bytearray(2)
        self._buf = bytearray(66)
        self.cs.value(1)

    # ------------------------------------------------------------ registers
    def read_reg(self, reg):
        self._w[0] = reg & 0x7F
        self._w[1] = 0
        self.cs.value(0)
        try:
            self.spi.write_readinto(self._w, self._r)
        finally:
            self.cs.value(1)
        return self._r[1]

    def write_reg(self, reg, value):
        self._w[0] = reg | 0x80
        self._w[1] = value & 0xFF
        self.cs.value(0)
        try:
            self.spi.write(self._w)
        finally:
            self.cs.value(1)

    def _write_burst(self, reg, data):
        self._w[0] = reg | 0x80
        self.cs.value(0)
        try:
            self.spi.write(memoryview(self._w)[:1])
            self.spi.write(data)
        finally:
            self.cs.value(1)

    # ------------------------------------------------------------ set-up
    def _handler(self, pin):
        # Soft IRQ (scheduled): only wake the task.
        self.flag.set()

    def init(self):
        """Configure for self.fmt and start receiving. RadioError if there is no module."""
        version = self.read_reg(REG_VERSION)
        if version != RFM69_VERSION:
            raise RadioError("no RFM69 on SPI (RegVersion 0x%02x, expected 0x24)" % version)
        # the JeeLib/LowPowerLab check that the bus really writes: SyncValue1 round trips
        for probe in (0xAA, 0x55):
            self.write_reg(0x2F, probe)
            if self.read_reg(0x2F) != probe:
                raise RadioError("RFM69 registers do not hold their value (SPI wiring?)")
        self.set_mode(MODE_STANDBY)
        for reg, value in _COMMON:
            self.write_reg(reg, value)
        for reg, value in _FORMAT[self.fmt]:
            self.write_reg(reg, value)
        frf = rp.frf(self.freq_mhz, self.fmt)
        self.write_reg(REG_FRFMSB, frf >> 16)
        self.write_reg(REG_FRFMSB + 1, frf >> 8)
        self.write_reg(REG_FRFMSB + 2, frf)
        self.write_reg(REG_SYNCVALUE2, self.group)
        pc2 = self.read_reg(REG_PACKETCONFIG2) & ~PC2_AESON
        if self.fmt == "lpl" and self.key:
            self._write_burst(REG_AESKEY1, self.key.encode())
            pc2 |= PC2_AESON
        self.write_reg(REG_PACKETCONFIG2, pc2)
        self.irq.irq(handler=self._handler, trigger=self.irq.IRQ_RISING)
        self.start_rx()

    def set_mode(self, mode):
        self.write_reg(REG_OPMODE, (self.read_reg(REG_OPMODE) & 0xE3) | mode)
        if self.mode == MODE_SLEEP:
            # from sleep the FIFO is usable only once ModeReady is set (datasheet)
            for _ in range(100):
                if self.read_reg(REG_IRQFLAGS1) & IRQ1_MODEREADY:
                    break
        self.mode = mode

    def start_rx(self):
        self.set_mode(MODE_STANDBY)
        self.write_reg(REG_DIOMAPPING1, DIO0_RX_PAYLOADREADY)
        if self.fmt == "jeelib":
            self.write_reg(REG_PAYLOADLENGTH, rp.CLASSIC_FRAME)
        self.write_reg(REG_IRQFLAGS2, IRQ2_FIFOOVERRUN)  # writing FifoOverrun clears the FIFO
        self.set_mode(MODE_RX)

    def sleep(self):
        self.set_mode(MODE_SLEEP)

    # ------------------------------------------------------------ receive
    def pending(self):
        """True while a packet waits in the FIFO (PayloadReady)."""
        return bool(self.read_reg(REG_IRQFLAGS2) & IRQ2_PAYLOADREADY)

    def receive(self):
        """(FIFO frame bytes, RSSI dBm, crc ok) of the waiting packet, or None.

        For "jeelib" the frame is the fixed 66 bytes (the CRC is checked by
        rf_packets); for the others the radio's CRC verdict is crc ok."""
        flags = self.read_reg(REG_IRQFLAGS2)
        if not flags & IRQ2_PAYLOADREADY:
            return None
        rssi = rp.rssi_dbm(self.read_reg(REG_RSSIVALUE))
        crc_ok = self.fmt == "jeelib" or bool(flags & IRQ2_CRCOK)
        buf = self._buf
        self._w[0] = REG_FIFO
        self.cs.value(0)
        try:
            self.spi.write(memoryview(self._w)[:1])
            if self.fmt == "jeelib":
                n = rp.CLASSIC_FRAME
                self.spi.readinto(buf)
            else:
                self.spi.readinto(memoryview(buf)[:1])
                n = min(buf[0], 65) + 1
                self.spi.readinto(memoryview(buf)[1:n])
        finally:
            self.cs.value(1)
        frame = bytes(buf[:n])
        # Restart the receiver for the next packet (the FIFO is empty now).
        self.write_reg(REG_PACKETCONFIG2, self.read_reg(REG_PACKETCONFIG2) | PC2_RESTARTRX)
        return frame, rssi, crc_ok

    # ------------------------------------------------------------ transmit
    async def send(self, frame):
        """Transmit FIFO bytes (rf_packets.frame()); back to receive afterwards.

        True once PacketSent is seen, False on a timeout."""
        self.set_mode(MODE_STANDBY)
        self.write_reg(REG_IRQFLAGS2, IRQ2_FIFOOVERRUN)
        if self.fmt == "jeelib":
            # fixed-length mode sends exactly PayloadLength bytes
            self.write_reg(REG_PAYLOADLENGTH, len(frame))
        self.write_reg(REG_DIOMAPPING1, DIO0_TX_PACKETSENT)
        self._write_burst(REG_FIFO, frame)
        self.set_mode(MODE_TX)
        start = time.ticks_ms()
        sent = False
        while time.ticks_diff(time.ticks_ms(), start) < TX_TIMEOUT_MS:
            if self.read_reg(REG_IRQFLAGS2) & IRQ2_PACKETSENT:
                sent = True
                break
            await asyncio.sleep_ms(2)
        self.start_rx()
        return sent
