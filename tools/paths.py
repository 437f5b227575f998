"""Host-side paths and the device libraries the emulator needs (CPython)."""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
SIM_DIR = os.path.join(ROOT, "tools", "emulator", "sim")
BUILD_DIR = os.path.join(ROOT, "build")
CACHE_DIR = os.path.join(ROOT, ".cache")
# Stand-ins for modules frozen into ESP32_GENERIC that the unix port lacks.
FROZEN_DIR = os.path.join(CACHE_DIR, "device-frozen")
UMQTT_VERSION = "1.3.4"


def venv_bin(name):
    """A tool from the running interpreter's environment (the project venv)."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(name)
    if not found:
        raise SystemExit("%s not found: run `make setup` first" % name)
    return found


def ensure_umqtt():
    """The real micropython-lib umqtt.simple from PyPI, unpacked for the unix port.

    PyPI's sdist has no setup.py, so pip refuses to install it; `pip download
    --no-clean` still unpacks it into our TMPDIR, where we pick up the module.
    """
    target = os.path.join(FROZEN_DIR, "umqtt", "simple.py")
    if os.path.exists(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    work = tempfile.mkdtemp(prefix="umqtt-", dir=CACHE_DIR)
    env = dict(os.environ, TMPDIR=work)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-clean", "--no-binary", ":all:",
                    "-d", os.path.join(work, "dl"), "micropython-umqtt.simple==" + UMQTT_VERSION],
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    for dirpath, _dirs, files in os.walk(work):
        if dirpath.endswith(os.path.join("umqtt")) and "simple.py" in files:
            shutil.copy(os.path.join(dirpath, "simple.py"), target)
            open(os.path.join(os.path.dirname(target), "__init__.py"), "a").close()
            break
    shutil.rmtree(work, ignore_errors=True)
    if not os.path.exists(target):
        raise SystemExit("could not fetch micropython-umqtt.simple %s from PyPI" % UMQTT_VERSION)
    return target
