"""A small ring-buffer log: the last lines stay in RAM for the status page."""

LEVELS = ("debug", "info", "warning", "error")


class Log:
    def __init__(self, size=40, clock=None, echo=True):
        self.size = size
        self.lines = []
        self.clock = clock
        self.echo = echo
        self.errors = 0

    def _add(self, level, text, console=None):
        stamp = self.clock() if self.clock else 0
        line = "%d %s %s" % (stamp, level, text)
        if self.echo:
            print(line if console is None else "%d %s %s" % (stamp, level, console))
        self.lines.append(line)
        if len(self.lines) > self.size:
            del self.lines[0]
        if level == "error":
            self.errors += 1

    def debug(self, text):
        self._add("debug", text)

    def info(self, text, console=None):
        """console: the line as the serial console shows it, when it holds a secret that the
        ring (served over HTTP by /api/system) must not keep."""
        self._add("info", text, console)

    def console(self, text):
        """A line for the serial console only (physical access): never kept, never served."""
        if self.echo:
            print("%d info %s" % (self.clock() if self.clock else 0, text))

    def warning(self, text):
        self._add("warning", text)

    def error(self, text):
        self._add("error", text)

    def tail(self, n=20):
        return self.lines[-n:]
