"""The only module that constructs hardware objects (machine.*, onewire, network).

Everything is built from the pin map in config ("pins"), on demand, so a
board without a feature never imports or allocates its driver.
"""
import machine

# GPIO of the BOOT button on ESP32 DevKits; also the default "button" pin.
BOOT_BUTTON = 0


def boot_button_held(gpio=BOOT_BUTTON):
    """True while the (active-low) button is pressed; used by boot.py for safe mode."""
    return machine.Pin(gpio, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


class Board:
    def __init__(self, pins):
        self.pins = pins

    def gpio(self, name):
        gpio = self.pins.get(name, -1)
        return None if gpio is None or gpio < 0 else gpio

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
        if invert:
            kwargs["invert"] = invert
        return machine.UART(uart_id, **kwargs)

    def onewire_buses(self):
        """[(gpio, onewire.OneWire)] for every configured 1-Wire bus."""
        import onewire
        buses = []
        for gpio in self.pins.get("onewire", []):
            if gpio is not None and gpio >= 0:
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

    def wdt(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def rtc(self):
        return machine.RTC()

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
