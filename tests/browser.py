"""Headless Debian Chromium for the dashboard tests (selenium + the distribution's chromedriver).

No download, no Selenium Manager: the browser and its driver come from the system packages
(`chromium`, `chromium-driver`; tools/system-deps.sh, CI installs them). When either is missing
the test fails and says so; nothing is skipped.
"""
import os
import shutil
import tempfile
import time

PHONE = (390, 844)
DESKTOP = (1280, 900)

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")

ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")


def _find(env, candidates, what, package):
    path = os.environ.get(env)
    if path:
        if not os.access(path, os.X_OK):
            raise AssertionError("%s=%s is not an executable %s" % (env, path, what))
        return path
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise AssertionError("%s not found (looked at %s); install the Debian package '%s' "
                         "(tools/system-deps.sh) or set %s" % (what, ", ".join(candidates), package, env))


class Browser:
    """One headless Chromium with a fresh profile; use as a context manager."""

    def __init__(self, size=DESKTOP):
        os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        binary = _find("CHROMIUM", CHROMIUM_CANDIDATES, "Chromium", "chromium")
        driver = _find("CHROMEDRIVER", DRIVER_CANDIDATES, "chromedriver", "chromium-driver")
        self.profile = tempfile.mkdtemp(prefix="hpmon-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = binary
        for arg in ARGS:
            opts.add_argument(arg)
        opts.add_argument("--user-data-dir=" + self.profile)
        opts.add_argument("--window-size=%d,%d" % size)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------------------
    def get(self, url):
        self.driver.get(url)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def text(self, css):
        """textContent of the first match, or None when nothing matches."""
        return self.js("var e=document.querySelector(arguments[0]);return e?e.textContent:null", css)

    def count(self, css):
        return self.js("return document.querySelectorAll(arguments[0]).length", css)

    def wait(self, predicate, timeout=20.0, what="condition"):
        """Poll predicate() (exceptions count as false) until it is truthy; return its value."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - the page may be reloading
                last = exc
            time.sleep(0.2)
        raise AssertionError("%s not met within %.0f s (%r); console: %s" % (what, timeout, last, self.console()))

    def wait_css(self, css, timeout=20.0):
        return self.wait(lambda: self.count(css) > 0, timeout, "element %s" % css)

    def set_value(self, css, value):
        el = self.driver.find_element("css selector", css)
        el.clear()
        el.send_keys(value)
        return el

    def click(self, css):
        self.driver.find_element("css selector", css).click()

    def console(self):
        """The page's console messages (errors show uncaught exceptions)."""
        try:
            return [m["message"] for m in self.driver.get_log("browser")]
        except Exception:  # noqa: BLE001
            return []

    def resize(self, size):
        self.driver.set_window_size(*size)

    def screenshot(self, path, full_page=True):
        """A PNG of the page; full_page grows the window to the document's height first."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if full_page:
            width = self.js("return window.innerWidth")
            height = self.js("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": min(int(height), 4000), "deviceScaleFactor": 1, "mobile": width < 600})
            time.sleep(0.3)
            try:
                self.driver.save_screenshot(path)
            finally:
                self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        else:
            self.driver.save_screenshot(path)
        return path
