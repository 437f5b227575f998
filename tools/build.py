"""python -m tools.build: compile the firmware and its device libraries with mpy-cross.

Output: build/ holds exactly what goes on the board's flash: boot.py and
main.py as source (the ESP32 runs only those names as .py), firmware/**.mpy,
and lib/ (Microdot as .mpy, also written to the repo's lib/ for running from
source). Fails on anything MicroPython cannot compile.
"""
import os
import shutil
import subprocess
import sys

from tools import paths

MICRODOT_FILES = ("__init__.py", "microdot.py", "sse.py", "helpers.py")


def mpy_cross(src, dst, source_name):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    # -O2 compiles asserts out, as for a release; nothing here relies on them.
    result = subprocess.run([paths.venv_bin("mpy-cross"), "-O2", "-s", source_name, "-o", dst, src],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr or result.stdout)
        raise SystemExit("mpy-cross failed on %s" % src)


def build_firmware(out):
    count = 0
    for dirpath, _dirs, files in os.walk(os.path.join(paths.ROOT, "firmware")):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, paths.ROOT)
            mpy_cross(src, os.path.join(out, rel[:-3] + ".mpy"), rel)
            count += 1
    for name in ("boot.py", "main.py"):
        src = os.path.join(paths.ROOT, name)
        mpy_cross(src, os.path.join(paths.CACHE_DIR, "syntax", name[:-3] + ".mpy"), name)  # syntax gate
        shutil.copy(src, os.path.join(out, name))
    return count


def build_microdot(lib_dir):
    import microdot
    src_dir = os.path.dirname(microdot.__file__)
    for name in MICRODOT_FILES:
        mpy_cross(os.path.join(src_dir, name), os.path.join(lib_dir, "microdot", name[:-3] + ".mpy"),
                  "microdot/" + name)
    return len(MICRODOT_FILES)


def main():
    out = paths.BUILD_DIR
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    lib = os.path.join(paths.ROOT, "lib")
    shutil.rmtree(os.path.join(lib, "microdot"), ignore_errors=True)
    n_fw = build_firmware(out)
    n_lib = build_microdot(lib)
    shutil.copytree(lib, os.path.join(out, "lib"), ignore=shutil.ignore_patterns(".gitkeep", "README*"))
    size = 0
    for dirpath, _dirs, files in os.walk(out):
        size += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print("build: %d firmware modules, %d library modules, %d bytes in %s" % (n_fw, n_lib, size, out))


if __name__ == "__main__":
    main()
