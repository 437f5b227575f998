"""`python -m tools.bench heap32`: its probe runs on the real unix port and the host reads it right.
(The 32-bit side needs Node.js and npm; the benchmark itself runs it, not make test.)"""
import os
import tempfile

from tools import paths
from tools.bench import heap32


def test_the_probe_measures_each_import_once_in_the_given_order_on_the_real_port():
    from tests.helpers import session_build
    firmware = session_build()
    scenario = os.path.join(paths.ROOT, "scenarios", "default.json")
    text = heap32.run_unix(firmware, scenario,
                           heap32.probe_script(["firmware.version", "firmware.store"], ["firmware.errtext"]),
                           tempfile.mkdtemp())
    result = heap32.parse_probe(text)
    assert list(result["held"]) == ["firmware.version", "firmware.store"], text[-2000:]
    assert all(cost > 0 for cost in result["held"].values()), result
    assert list(result["transient"]) == ["firmware.errtext"] and result["errors"] == [], text[-2000:]
    # the control: 200 instances of six attributes and 200 four-key dicts, 64-bit
    assert result["objects"] > 200 * (32 + 64), result["objects"]


def test_a_failed_import_is_reported_not_counted():
    text = ("probe held 640 firmware.version\n"
            "probe-error held firmware.nothing ImportError(\"no module named 'firmware.nothing'\",)\n"
            "probe-total held 640\nprobe-objects 48064\n"
            "wasm32-error PythonError: Traceback | OSError: 44\n")
    result = heap32.parse_probe(text)
    assert result["held"] == {"firmware.version": 640} and result["objects"] == 48064
    assert len(result["errors"]) == 2 and "OSError: 44" in result["errors"][1]


def test_only_firmware_and_library_modules_count_and_not_native_code():
    assert heap32.counted("firmware.services.mqtt") and heap32.counted("microdot.microdot")
    assert not heap32.counted("umqtt.simple") and not heap32.counted("asyncio.core")
    assert not heap32.counted("firmware.drivers.ct_sampler_native_x64")
