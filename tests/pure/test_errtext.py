"""firmware.errtext: readable error texts, by the running port's own errno values (this file
also runs in the MicroPython unix port, whose errno table differs from the ESP32's)."""
import errno

from firmware.errtext import EAI_FAIL, describe, errno_text


def test_network_errors_read_as_words_with_their_number():
    assert describe(OSError(errno.ETIMEDOUT)) == "timed out (errno %d)" % errno.ETIMEDOUT
    assert describe(OSError(errno.ECONNREFUSED)) == "connection refused (errno %d)" % errno.ECONNREFUSED
    assert describe(OSError(errno.EHOSTUNREACH)).startswith("host unreachable")
    assert describe(OSError(errno.ECONNABORTED)).startswith("connection aborted")


def test_esp32_dns_failure_and_flash_full():
    assert describe(OSError(EAI_FAIL)) == "DNS lookup failed (errno -202)"
    assert describe(OSError(28)) == "flash full (errno 28)"


def test_unknown_numbers_still_say_what_they_are():
    assert errno_text(-29312) == "network or TLS error"
    assert describe(OSError(9999)) == "system error (errno 9999)"


def test_other_exceptions_keep_their_text_or_type():
    assert describe(OSError("no route")) == "no route"
    assert describe(ValueError("bad frame")) == "bad frame"
    assert describe(MemoryError()) == "MemoryError"
