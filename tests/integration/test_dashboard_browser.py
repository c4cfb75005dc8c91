"""The console in a real browser: Debian's headless Chromium, driven by Selenium through its
matching ChromeDriver, against the real operator and API server. People do what they would do
by hand, and any JavaScript error in the browser's console fails the test."""

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from devcluster.console import ConsoleProcess
from tests.integration.conftest import Cluster, ConsoleTenancy, Person, stratus_object

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium keeps calling home, which a closed network
# refuses; without a sandbox it runs as root in a container.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
)
SCREENSHOTS = os.environ.get("STRATUS_SCREENSHOTS")
"""A folder to save the main pages' screenshots in (docs/dashboard when they are renewed)."""


@pytest.fixture(scope="module")
def chromium() -> Iterator[webdriver.Chrome]:
    """One browser for the whole module."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = f"{CHROMIUM} and {CHROMEDRIVER} are needed: hack/install-browser.sh installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


class Browser:
    """A person at the console, in the browser."""

    def __init__(self, driver: webdriver.Chrome, console: ConsoleProcess, shots: Path) -> None:
        self.driver = driver
        self.console = console
        self.shots = shots

    def open(self, path: str) -> None:
        self.driver.get(self.console.url + path)

    def sign_in(self, who: Person) -> None:
        self.driver.delete_all_cookies()
        self.open("/login")
        self.find("#token").send_keys(who.token)
        self.find("form button[type=submit]").click()
        self.until(lambda: self.driver.find_elements(By.ID, "person"), "the signed-in page")

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click, again if a live update replaced the element between finding and clicking."""
        self.until(lambda: self.find(css).click() or True, f"a click on {css}", timeout=10)

    def texts(self, css: str) -> list[str]:
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def until(self, predicate: Callable[[], Any], what: str, timeout: float = 90) -> Any:
        def attempt(_: Any) -> Any:
            try:
                return predicate()
            except StaleElementReferenceException:  # htmx swapped it a moment ago
                return None

        return WebDriverWait(self.driver, timeout, 0.25).until(attempt, f"waiting for {what}")

    def shows(self, css: str, text: str, timeout: float = 90) -> None:
        try:
            self.until(lambda: text in self.find(css).text, f"{css} to show {text!r}", timeout)
        except TimeoutException:
            shown = self.texts(css) + [f"notice: {t}" for t in self.texts("#notice")]
            raise AssertionError(f"{css} never showed {text!r}; the page shows {shown}") from None

    @staticmethod
    def stale(element: WebElement) -> bool:
        """Whether a live update replaced the element since it was found."""
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        return False

    def mark_page(self) -> None:
        """Tag the loaded page, so that a test can tell a live update from a reload."""
        self.driver.execute_script("window.stratusTestMark = true")

    def not_reloaded(self) -> bool:
        return bool(self.driver.execute_script("return window.stratusTestMark === true"))

    def screenshot(self, name: str) -> None:
        """The whole page, not only what the window shows, as docs/dashboard.md has it."""
        layout = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": layout["width"], "height": layout["height"], "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        (self.shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    def script_errors(self) -> list[dict[str, Any]]:
        """What the browser's console says went wrong in a script since it was last asked.
        Refusals the page shows on purpose (a 422) are network messages, not script errors."""
        return [
            entry
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and entry.get("source") != "network"
        ]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        return Path(SCREENSHOTS)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def browser(
    chromium: webdriver.Chrome, console: ConsoleProcess, screenshots: Path
) -> Iterator[Browser]:
    person = Browser(chromium, console, screenshots)
    assert person.script_errors() == [], "the last page of the test before this one"
    yield person
    assert person.script_errors() == []


def launch(browser: Browser, project: str, name: str, flavor: str) -> None:
    """Launch a Server through the wizard, from the Image cirros, on the Network lan."""
    browser.open(f"/p/{project}/servers")
    browser.find("#launch").click()
    browser.find("input[name=name]").send_keys(name)
    browser.find("input[name=image]").send_keys("cirros")
    browser.find(f"#flavor-{flavor}").click()
    browser.find("input[name=networks][value=lan]").click()
    browser.find("#launch-form button[type=submit]").click()
    browser.until(
        lambda: browser.driver.current_url.endswith(f"/servers/{name}"), "the Server's page"
    )


def test_a_member_launches_a_server_and_operates_it_without_reloading(
    browser: Browser, cluster: Cluster, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    for volume in ("a-spare", "scratch"):  # the attach form offers a-spare first
        cluster.apply(stratus_object("Volume", volume, {"size": "1Gi"}, t.project))
        cluster.wait(f"volume/{volume}", "condition=Ready", t.project)
    browser.sign_in(t.member)
    browser.shows("#gauges", "vCPUs")
    browser.screenshot("overview")
    browser.open(f"/p/{t.project}/servers")
    browser.find("#launch").click()
    browser.find(f"#flavor-{t.small}").click()
    browser.shows("#quota-left", "+1")
    browser.screenshot("launch")
    launch(browser, t.project, "app-1", t.small)
    browser.mark_page()
    browser.shows("#server-security-groups", "default")
    browser.shows("#server-state", "Active")
    assert browser.find("#server-host").text.startswith("node-")
    browser.screenshot("server")

    browser.click("button[hx-post$='/app-1/stop']")
    browser.shows("#server-state", "Shutoff")
    browser.click("button[hx-post$='/app-1/start']")
    browser.shows("#server-state", "Active")
    attach = "form[hx-post$='/app-1/attach']"
    browser.until(
        lambda: Select(browser.find(f"{attach} select")).select_by_visible_text("scratch") or True,
        "the Volume to choose",
    )
    # The Server changes while its page is open: the redraw keeps the Volume chosen.
    chosen = browser.find(f"{attach} select")
    cluster.kubectl("annotate", "server/app-1", "example.com/note=redraw", "-n", t.project)
    browser.until(lambda: browser.stale(chosen), "the live redraw of the Server")
    assert Select(browser.find(f"{attach} select")).first_selected_option.text == "scratch"
    browser.click(f"{attach} button")
    browser.shows("#server-volumes", "scratch (Attached)")
    assert browser.not_reloaded(), "the page reloaded instead of following the Server live"
    server = cluster.get("server", "app-1", t.project)
    assert server is not None and server["spec"]["volumes"] == ["scratch"]
    browser.open(f"/p/{t.project}/servers")
    browser.shows("#server-app-1", "Active")
    browser.screenshot("servers")


def test_no_valid_host_and_an_exceeded_quota_are_said_on_the_server(
    browser: Browser, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    browser.sign_in(t.member)
    launch(browser, t.project, "too-big", t.huge)
    browser.shows("#server-state", "NoValidHost")
    browser.shows("#server-state", "No valid host was found")

    browser.open(f"/p/{t.project}/servers/new")
    browser.find(f"#flavor-{t.large}").click()
    browser.shows("#quota-left tr[data-quota=cores]", "exceeded by")
    launch(browser, t.project, "over-quota", t.large)
    browser.shows("#server-state", "QuotaExceeded")
    browser.shows("#server-state", "allowed")


def test_a_member_creates_a_network_and_a_bucket_and_reads_refusals_by_the_form(
    browser: Browser, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    browser.sign_in(t.member)
    browser.open(f"/p/{t.project}/networks")
    browser.find("#network-form").find_element(By.XPATH, "..").find_element(
        By.TAG_NAME, "summary"
    ).click()
    browser.find("#network-form input[name=name]").send_keys("backend")
    browser.find("#network-form input[name=hostInterface]").send_keys("br1")
    cidr = browser.find("#network-form input[name=cidr]")
    cidr.send_keys("10.70.0.1/24")
    browser.find("#network-form button[type=submit]").click()
    browser.shows("#network-form-error", "cidr has host bits set")
    cidr.clear()
    cidr.send_keys("10.70.0.0/24")
    browser.find("#network-form button[type=submit]").click()
    browser.until(lambda: browser.driver.current_url.endswith("/networks/backend"), "the page")
    browser.shows("#free-addresses", "10.70.0.1")
    browser.screenshot("network")

    browser.open(f"/p/{t.project}/buckets")
    browser.find("#bucket-form").find_element(By.XPATH, "..").find_element(
        By.TAG_NAME, "summary"
    ).click()
    browser.find("#bucket-form input[name=name]").send_keys("photos")
    browser.find("#bucket-form input[name=versioning]").click()
    browser.find("#bucket-form button[type=submit]").click()
    browser.shows("#bucket-photos", "Ready")
    browser.click("#bucket-photos button.secondary")
    browser.shows("#credentials-photos", "Secret key")
    browser.screenshot("buckets")


def test_a_reader_sees_no_change_and_a_forged_one_is_refused_by_kubernetes(
    browser: Browser, cluster: Cluster, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    cluster.apply(
        stratus_object("Server", "watched", {"flavor": t.small, "image": "cirros"}, t.project)
    )
    browser.sign_in(t.reader)
    browser.open(f"/p/{t.project}/servers")
    browser.shows("#server-watched", "watched")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#launch, main button") == []
    answer = browser.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const csrf = (document.cookie.split("; ").find((c) => c.startsWith("csrftoken=")) || "")
          .slice("csrftoken=".length);
        fetch(arguments[0], {method: "POST", headers: {"x-csrftoken": csrf}})
          .then((r) => r.text().then((text) => done([r.status, text])))
          .catch((e) => done([0, String(e)]));
        """,
        f"/p/{t.project}/servers/watched/stop",
    )
    assert answer[0] == 422
    assert "is forbidden" in answer[1] and "cannot patch resource" in answer[1]
    server = cluster.get("server", "watched", t.project)
    assert server is not None and server["spec"].get("powerState", "Running") == "Running"


def test_a_member_of_one_project_sees_nothing_of_another(
    browser: Browser, console_tenancy: ConsoleTenancy
) -> None:
    t = console_tenancy
    browser.sign_in(t.outsider)
    assert browser.driver.current_url.endswith(f"/p/{t.other}/")
    assert browser.texts("#project-picker option") == [t.other]
    browser.open(f"/p/{t.project}/servers")
    browser.shows("main", "There is no Project")


def test_an_administrator_sees_the_nodes_as_hypervisors(
    browser: Browser, console_tenancy: ConsoleTenancy
) -> None:
    browser.sign_in(console_tenancy.cloud_admin)
    browser.open("/admin/hypervisors")
    browser.shows("#hypervisor-node-1", "zone-a")
    assert len(browser.texts("#hypervisor-table tbody tr")) >= 3
    browser.screenshot("hypervisors")
