"""A small JSON dict in the ESP32's RTC slow memory (2 KB).

RTC memory survives soft and watchdog resets but not a power cut, so it holds
what must outlive a crash between flash writes: the crash-loop counter now,
unsaved energy deltas later.
"""
import json


class RtcMemory:
    def __init__(self, rtc):
        self.rtc = rtc

    def load(self):
        try:
            data = json.loads(bytes(self.rtc.memory()) or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data):
        self.rtc.memory(json.dumps(data).encode())

    def update(self, **values):
        data = self.load()
        data.update(values)
        self.save(data)
        return data
