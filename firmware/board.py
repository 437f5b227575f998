"""The only module that constructs hardware objects (machine.*, onewire, network).

Everything is built from the pin map in config ("pins"), on demand, so a
board without a feature never imports or allocates its driver.
"""
import machine

# GPIO of the BOOT button on ESP32 DevKits; also the default "button" pin.
BOOT_BUTTON = 0

# On a module with PSRAM (ESP32-WROVER) GPIO 16 and 17 are the PSRAM's chip select and clock
# (ESP32-WROVER-E datasheet, pin description: NC on the module; ESP-IDF's default
# CONFIG_D0WD_PSRAM_CS_IO / CLK_IO). Driving them takes the heap away: the chip panics.
PSRAM_GPIOS = (16, 17)
UART2_DEFAULT_TX = 17  # the ESP32 port's UART 2 pins when none are given: TX 17, RX 16
# Only the PSRAM gives ESP-IDF a data heap region this big (internal RAM regions are < 200 KB).
PSRAM_REGION_BYTES = 1024 * 1024


def psram_gpios():
    """The GPIOs this module's PSRAM uses: PSRAM_GPIOS when ESP-IDF has a PSRAM heap region."""
    import esp32
    for region in esp32.idf_heap_info(esp32.HEAP_DATA):
        if region[0] >= PSRAM_REGION_BYTES:
            return PSRAM_GPIOS
    return ()


def boot_button_held(gpio=BOOT_BUTTON):
    """True while the (active-low) button is pressed; used by boot.py for safe mode."""
    return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


class Board:
    def __init__(self, pins, reserved=()):
        self.pins = pins
        self.reserved = reserved  # GPIOs the module itself uses (psram_gpios())

    def gpio(self, name):
        gpio = self.pins.get(name, -1)
        if gpio is None or gpio < 0:
            return None
        self._check(gpio, "pins." + name)
        return gpio

    def _check(self, gpio, what):
        """A ValueError, not a panic, for a GPIO the module keeps for itself: the service that
        wanted it does not start (on the status page) and the rest of the board runs."""
        if gpio in self.reserved:
            raise ValueError("%s: GPIO %d drives the PSRAM on this module (ESP32-WROVER); wire the device to "
                             "a free GPIO and set it in Settings (hardware/pinout.md)" % (what, gpio))

    def output(self, name, value=0):
        gpio = self.gpio(name)
        return None if gpio is None else machine.Pin(gpio, machine.Pin.OUT, value=value)

    def input(self, name, pull_up=True):
        gpio = self.gpio(name)
        if gpio is None:
            return None
        if pull_up:
            return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP)
        return machine.Pin(gpio, machine.Pin.IN)

    def adc(self, name):
        """ADC1 channel at 11 dB (about 0.15-2.45 V linear, ESP32 datasheet).

        atten= is always given: from v1.26 a missing atten resets the pin to 11 dB
        and before that it meant 0 dB.
        """
        gpio = self.gpio(name)
        if gpio is None:
            return None
        return machine.ADC(machine.Pin(gpio), atten=machine.ADC.ATTN_11DB)

    def uart(self, uart_id, tx_name, rx_name, baudrate, bits=8, parity=None, stop=1, invert=0, rxbuf=512):
        tx = self.gpio(tx_name)
        rx = self.gpio(rx_name)
        if rx is None:
            return None
        kwargs = {"baudrate": baudrate, "bits": bits, "parity": parity, "stop": stop,
                  "rx": rx, "timeout": 0, "rxbuf": rxbuf}
        if tx is not None:
            kwargs["tx"] = tx
        elif uart_id == 2:
            self._check(UART2_DEFAULT_TX, "pins.%s (-1: UART 2 keeps its default TX pin)" % tx_name)
        if invert:
            kwargs["invert"] = invert
        return machine.UART(uart_id, **kwargs)

    def onewire_buses(self):
        """[(gpio, onewire.OneWire)] for every configured 1-Wire bus."""
        import onewire
        buses = []
        for gpio in self.pins.get("onewire", []):
            if gpio is not None and gpio >= 0:
                self._check(gpio, "pins.onewire")
                buses.append((gpio, onewire.OneWire(machine.Pin(gpio))))
        return buses

    def pulse_counter(self, name="pulse", filter_ns=10000):
        """Hardware PCNT counter (MicroPython >= 1.26), else None.

        The PCNT glitch filter tops out near 12.8 us (1023 APB ticks), far too
        short to debounce a contact: S0 outputs are open-collector, not contacts.
        """
        gpio = self.gpio(name)
        if gpio is None or not hasattr(machine, "Counter"):
            return None
        pin = machine.Pin(gpio, machine.Pin.IN)
        return machine.Counter(0, src=pin, edge=machine.Counter.RISING, filter_ns=filter_ns)

    def pulse_irq(self, handler, name="pulse", pull_up=True):
        """Fallback for firmware without machine.Counter: handler(pin) on each falling edge.

        ESP32 pin IRQs are soft (scheduled, no hard=): fine at meter pulse rates."""
        pin = self.input(name, pull_up)
        if pin is None:
            return None
        pin.irq(handler=handler, trigger=machine.Pin.IRQ_FALLING)
        return pin

    def ir_uart(self, uart_id=1, baudrate=2400, invert=True, rx_name="uart1_rx"):
        """Receive-only UART for an optical (IR) meter port; invert: RX line inversion (INV_RX)."""
        return self.uart(uart_id, None, rx_name, baudrate, invert=machine.UART.INV_RX if invert else 0)

    def rs485(self, uart_id, baudrate, parity=None, stop=1, tx_name="uart1_tx", rx_name="uart1_rx",
              de_name="rs485_de"):
        """(UART, DE output pin or None) for a half-duplex RS485 transceiver (DE and /RE tied).

        The ESP32 port has no RS485 UART mode, so DE is a plain output driven by the driver;
        None when the transceiver switches direction by itself (pins.rs485_de = -1)."""
        de = self.output(de_name, 0)
        return self.uart(uart_id, tx_name, rx_name, baudrate, parity=parity, stop=stop), de

    def wdt(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def rtc(self):
        return machine.RTC()

    def nvs(self, namespace="hpmon"):
        """esp32.NVS key-value store (the `nvs` partition; a file in the emulator)."""
        import esp32
        return esp32.NVS(namespace)

    def gpio_input(self, gpio, pull_up=True, what="a GPIO input"):
        """A digital input on a GPIO given outside the pin map (e.g. analytics.dhw_gpio)."""
        if gpio is None or gpio < 0:
            return None
        self._check(gpio, what)
        if pull_up:
            return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP)
        return machine.Pin(gpio, machine.Pin.IN)

    def rfm69_bus(self, spi_id=2, baudrate=4000000):
        """(SPI, CS output, IRQ input) of the RFM69 (pins rfm_*), or None when not fitted.

        SPI(2) is VSPI, whose IO_MUX pins are the defaults 18/19/23; other pins go
        through the GPIO matrix. Mode 0, MSB first (RFM69 datasheet, SPI interface)."""
        names = ("rfm_sck", "rfm_mosi", "rfm_miso", "rfm_cs", "rfm_irq")
        gpios = [self.gpio(n) for n in names]
        if None in gpios:
            return None
        sck, mosi, miso, cs, irq = gpios
        spi = machine.SPI(spi_id, baudrate=baudrate, polarity=0, phase=0, bits=8, firstbit=machine.SPI.MSB,
                          sck=machine.Pin(sck), mosi=machine.Pin(mosi), miso=machine.Pin(miso))
        return spi, machine.Pin(cs, machine.Pin.OUT, value=1), machine.Pin(irq, machine.Pin.IN)

    def serial_out(self, uart_id, tx_name, rx_name, baudrate, txbuf=1024):
        """A UART for line output (Pi header / emonhub); None when its pins are not fitted.

        Both pins are always given: UART1's default pins on the ESP32 port (9/10) drive
        the SPI flash, so a UART1 without rx= would claim one of them."""
        tx = self.gpio(tx_name)
        rx = self.gpio(rx_name)
        if tx is None or rx is None:
            return None
        return machine.UART(uart_id, baudrate=baudrate, bits=8, parity=None, stop=1, tx=tx, rx=rx,
                            timeout=0, txbuf=txbuf, rxbuf=256)

    def wlan(self, access_point=False):
        import network
        return network.WLAN(network.AP_IF if access_point else network.STA_IF)


def unique_id():
    return machine.unique_id()


def reset_cause():
    return machine.reset_cause()


RESET_CAUSES = {1: "power on", 2: "hard reset", 3: "watchdog", 4: "deep sleep", 5: "soft reset"}


def reset_cause_name():
    return RESET_CAUSES.get(machine.reset_cause(), "unknown")


def reset():
    machine.reset()
