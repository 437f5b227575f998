"""The emulated board's flash file system with fault hooks (runs inside MicroPython).

Normally the firmware's files are the host folder that plays the flash (the process's working
directory, through the unix port's own VfsPosix). When the scenario injects a flash fault,
_sim_boot mounts `FlashFS` (a user VFS: MicroPython calls its open/rename/... methods) over
that folder at /flash and changes to it, so every relative path the firmware uses passes here.

Faults (docs/scenario.md):
  fs_full          the LittleFS partition is full: write() and mkdir() raise
                   OSError(ENOSPC); statvfs() reports no free block. Reading, rename() and
                   remove() still work (LittleFS frees blocks on remove).
  power_cut_write  (target: a file name as the firmware opens it, e.g. "config.json.tmp";
                   none = any file) the power fails in the middle of the first write to
                   that file while the fault is active: the first half of the bytes of that
                   write() reach the file, nothing after. This is the harsher of the two
                   models a file system can offer (LittleFS would keep the file's last synced
                   state; FAT keeps what reached the sectors), so code that survives it
                   survives both.
  power_cut_nvs    handled by esp32.NVS.commit(), with power_off() below.
A power cut ends the process with EXIT_POWER_CUT; tools/emulator/board.py then drops the RTC
memory (it does not survive a power cut) and boots the board again, cause "power on". Each
power-cut fault fires once: fired faults are remembered in <state-dir>/sim_faults_fired.
"""
import io
import json
import sys

import simworld

EXIT_POWER_CUT = 83  # tools/emulator/board.py: a power cut, then power on again
ENOSPC = 28
_FIRED = "sim_faults_fired"
_FS_KINDS = ("fs_full", "power_cut_write")
_off = False


def needed(world):
    """True when the scenario has a fault that needs the flash to go through FlashFS."""
    return any(f.get("kind") in _FS_KINDS for f in world.scenario.get("faults", ()))


# ---------------------------------------------------------------- one-shot faults

def _fired():
    try:
        with open(simworld.state_path(_FIRED)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def armed(kind, target=None):
    """Index of the first active, not yet fired fault of this kind for target, or None."""
    world = simworld.world()
    now = world.now_s()
    fired = None
    for i, f in enumerate(world.scenario.get("faults", ())):
        if f.get("kind") != kind:
            continue
        if "target" in f and target is not None and str(f["target"]) != str(target):
            continue
        if not f.get("at_s", 0) <= now < f.get("until_s", 1 << 60):
            continue
        if fired is None:
            fired = _fired()
        if i not in fired:
            return i
    return None


def power_off(index, what):
    """The power fails now: remember the fault as fired, say so, end the process."""
    global _off
    _off = True
    fired = _fired()
    fired.append(index)
    with open(simworld.state_path(_FIRED), "w") as f:
        json.dump(fired, f)
    print("[sim] power cut %s" % what)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass
    sys.exit(EXIT_POWER_CUT)


def powered():
    return not _off


# ---------------------------------------------------------------- the file system

class _File(io.IOBase):
    """A file on the faulty flash: the host file behind it, with write() checked."""

    def __init__(self, f, name, writable):
        self.f = f
        self.name = name
        self.writable = writable

    def write(self, data):
        if _off:
            return 0  # no power: nothing reaches the flash any more
        n = len(data)
        if n and self.writable:
            world = simworld.world()
            if world.fault("fs_full"):
                raise OSError(ENOSPC)
            index = armed("power_cut_write", self.name)
            if index is not None:
                self.f.write(data[:n // 2])
                self.f.close()
                power_off(index, "while writing %s (%d of %d bytes written)" % (self.name, n // 2, n))
        return self.f.write(data)

    def readinto(self, buf):
        return self.f.readinto(buf)

    def read(self, *args):
        return self.f.read(*args)

    def readline(self, *args):
        return self.f.readline(*args)

    def seek(self, *args):
        return self.f.seek(*args)

    def tell(self):
        return self.f.tell()

    def flush(self):
        if not _off:
            self.f.flush()

    def close(self):
        if not _off:
            self.f.close()

    def ioctl(self, request, arg):
        if request == 4:  # MP_STREAM_CLOSE
            self.close()
        elif request == 1:  # MP_STREAM_FLUSH
            self.flush()
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return self

    def __next__(self):
        line = self.f.readline()
        if not line:
            raise StopIteration
        return line


class FlashFS:
    """A user VFS over the host folder `root` (MicroPython's VFS protocol)."""

    def __init__(self, root):
        import vfs
        self.real = vfs.VfsPosix(root)

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        writable = "w" in mode or "a" in mode or "+" in mode
        return _File(self.real.open(path, mode), path.lstrip("/"), writable)

    def _full(self):
        return simworld.world().fault("fs_full")

    def mkdir(self, path):
        if self._full():
            raise OSError(ENOSPC)
        return self.real.mkdir(path)

    def statvfs(self, path):
        st = self.real.statvfs(path)
        if self._full():
            return (st[0], st[1], st[2], 0, 0) + tuple(st[5:])
        return st

    def rename(self, old, new):
        return self.real.rename(old, new)

    def remove(self, path):
        return self.real.remove(path)

    def rmdir(self, path):
        return self.real.rmdir(path)

    def stat(self, path):
        return self.real.stat(path)

    def ilistdir(self, path):
        return self.real.ilistdir(path)

    def chdir(self, path):
        return self.real.chdir(path)

    def getcwd(self):
        return self.real.getcwd()


def mount_if_needed():
    """Put the flash behind FlashFS when the scenario injects a file-system fault."""
    world = simworld.world()
    if not needed(world):
        return False
    import os

    import vfs
    root = os.getcwd()
    vfs.mount(FlashFS(root), "/flash")
    os.chdir("/flash")
    return True
