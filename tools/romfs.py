"""A ROMFS image of a firmware build, as `mpremote romfs deploy` would put in an ESP32's romfs
partition: the `firmware` package and `lib/` (already .mpy), not boot.py/main.py/swap.py,
which stay on the board's LittleFS.

MicroPython imports .mpy files from a ROMFS in place: their bytecode and constant strings are
not copied into the heap (https://docs.micropython.org/en/latest/reference/romfs.html). The
stock ESP32 firmware is built without ROMFS (MICROPY_VFS_ROM): a custom build with a romfs
partition is needed on the board. python -m tools.romfs BUILD_DIR OUTPUT writes an image.
"""
import os
import sys

# what goes into the image: the firmware package and the libraries (sys.path /rom and /rom/lib)
ROM_PARTS = ("firmware", "lib")


def _add_dir(writer, src):
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if os.path.isdir(path):
            writer.opendir(name)
            _add_dir(writer, path)
            writer.closedir()
        elif not name.endswith(".py") or not os.path.exists(path[:-3] + ".mpy"):
            with open(path, "rb") as f:
                writer.mkfile(name, f.read())


def image(build_dir):
    """The ROMFS image (bytes) of build_dir's firmware package and lib/."""
    from mpremote.romfs import VfsRomWriter
    writer = VfsRomWriter()
    for part in ROM_PARTS:
        src = os.path.join(build_dir, part)
        if not os.path.isdir(src):
            raise FileNotFoundError("no %s/ in %s: run make build" % (part, build_dir))
        writer.opendir(part)
        _add_dir(writer, src)
        writer.closedir()
    return writer.finalise()


def write_image(build_dir, path):
    data = image(build_dir)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tools.romfs BUILD_DIR OUTPUT")
    print("%d bytes written to %s" % (write_image(sys.argv[1], sys.argv[2]), sys.argv[2]))
