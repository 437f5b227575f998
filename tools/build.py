"""python -m tools.build: compile the firmware and its device libraries with mpy-cross.

Output: build/ holds exactly what goes on the board's flash: boot.py and
main.py as source (the ESP32 runs only those names as .py), firmware/**.mpy,
and lib/ (Microdot as .mpy, also written to the repo's lib/ for running from
source). Fails on anything MicroPython cannot compile.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from tools import paths

MICRODOT_FILES = ("__init__.py", "microdot.py", "sse.py", "helpers.py")

# Modules with @micropython.native/viper code: mpy-cross needs the target architecture for
# them. The board gets <name>.mpy for the ESP32 (xtensawin); the emulated board (the x64 unix
# port, which rejects xtensawin code) imports the twin <name>_x64.mpy instead (see the module).
NATIVE_MODULES = ("firmware/drivers/ct_sampler_native.py",)
NATIVE_ARCHS = (("xtensawin", ""), ("x64", "_x64"))


def mpy_cross(src, dst, source_name, march=None):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    # -O2 compiles asserts out, as for a release; nothing here relies on them.
    arch = ["-march=" + march] if march else []
    result = subprocess.run([paths.venv_bin("mpy-cross"), "-O2", *arch, "-s", source_name, "-o", dst, src],
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
            if rel.replace(os.sep, "/") in NATIVE_MODULES:
                for march, suffix in NATIVE_ARCHS:
                    mpy_cross(src, os.path.join(out, rel[:-3] + suffix + ".mpy"), rel, march)
            else:
                mpy_cross(src, os.path.join(out, rel[:-3] + ".mpy"), rel)
            count += 1
    for name in ("boot.py", "main.py", "swap.py"):
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


def build(out=paths.BUILD_DIR, update_repo_lib=True):
    """Build into a fresh folder, then swap it in: a board (or a test) booting
    from `out` never sees a half-written build."""
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".build-", dir=parent)
    try:
        n_fw = build_firmware(staging)
        with open(os.path.join(paths.ROOT, "firmware", "version.py")) as f:
            version = re.search(r"VERSION\s*=\s*[\"']([^\"']+)", f.read())
        with open(os.path.join(staging, "VERSION"), "w") as f:  # for tools/update.py; not uploaded
            f.write(version.group(1) if version else "unknown")
        n_lib = build_microdot(os.path.join(staging, "lib"))
        from tools import www
        www.build_www(staging)  # the dashboard, gzipped, into firmware/www/
        if update_repo_lib:
            repo_lib = os.path.join(paths.ROOT, "lib", "microdot")
            shutil.rmtree(repo_lib, ignore_errors=True)
            shutil.copytree(os.path.join(staging, "lib", "microdot"), repo_lib)
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=".old-build-", dir=parent)
            os.rename(out, os.path.join(old, "build"))
        os.rename(staging, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = 0
    for dirpath, _dirs, files in os.walk(out):
        size += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print("build: %d firmware modules, %d library modules, %d bytes in %s" % (n_fw, n_lib, size, out))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.build", description=__doc__)
    parser.add_argument("--out", default=paths.BUILD_DIR, help="output folder (default build/)")
    args = parser.parse_args(argv)
    build(args.out, update_repo_lib=os.path.abspath(args.out) == paths.BUILD_DIR)


if __name__ == "__main__":
    main()
