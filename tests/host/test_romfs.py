"""tools/romfs.py: the build as a ROMFS image, mounted by the unix port's VfsRom the way the
emulator's --romfs mounts it. Modules import from /rom and cost the heap less than the same
.mpy files imported from a file system (bytecode and strings stay in the image)."""
import os
import subprocess
import tempfile

from tests.helpers import session_build
from tools import paths, romfs

PROBE = r'''
import gc, os, sys, vfs
mode = sys.argv[-1]
if mode == "rom":
    with open(os.getenv("IMAGE"), "rb") as f:
        img = f.read()
    vfs.mount(vfs.VfsRom(img), "/rom")
    sys.path[:0] = ["/rom", "/rom/lib"]
else:
    sys.path[:0] = [os.getenv("BUILD"), os.getenv("BUILD") + "/lib"]
gc.collect()
a0 = gc.mem_alloc()
import microdot
from firmware import config, ctpower, errtext
gc.collect()
print(gc.mem_alloc() - a0, microdot.__file__, errtext.describe(OSError(28)), len(config.defaults()))
'''


def _probe(mode, build, image):
    script = os.path.join(tempfile.mkdtemp(prefix="romfs-"), "probe.py")
    with open(script, "w") as f:
        f.write(PROBE)
    env = dict(os.environ, MICROPYPATH=":".join([paths.FROZEN_DIR, ".frozen"]), IMAGE=image, BUILD=build)
    out = subprocess.run([paths.venv_bin("micropython"), "-X", "heapsize=4M", script, mode], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    used, where, text, n_defaults = out.stdout.split(" ", 3)
    return int(used), where, text + " " + n_defaults.strip()


def test_the_image_holds_the_package_and_libraries_and_imports_cost_less():
    build = session_build()
    image = os.path.join(tempfile.mkdtemp(prefix="romfs-"), "romfs.img")
    size = romfs.write_image(build, image)
    assert size == os.path.getsize(image) > 100_000
    used_fs, where_fs, out_fs = _probe("fs", build, image)
    used_rom, where_rom, out_rom = _probe("rom", build, image)
    print("\nromfs: image %d B; microdot + config + ctpower + errtext import: %d B from the file system, "
          "%d B from ROMFS" % (size, used_fs, used_rom))
    assert where_rom.startswith("/rom/lib/microdot/") and where_fs.startswith(build)
    assert out_rom == out_fs and out_rom.startswith("flash full (errno 28)")  # the same code runs
    assert used_rom < 0.8 * used_fs, (used_rom, used_fs)
