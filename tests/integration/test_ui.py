"""`pocketbox ui` in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by Selenium. The page must show what the CLI does and act as the CLI does, and its
anatomy view must agree with the kernel. Screenshots of each view are saved with the test's
files (and into $POCKETBOX_UI_SCREENSHOTS, which is how docs/images/ui-*.png were made)."""
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def ui(pb):
    p = pb.popen("ui", "--listen", "127.0.0.1:0", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:(\d+)/)\?token=(\S+)", line)
    assert match, (line, p.stderr.read() if p.poll() is not None else "")
    yield {"base": match.group(1), "token": match.group(3), "url": f"{match.group(1)}?token={match.group(3)}",
           "process": p}
    p.terminate()
    p.wait(10)


def get(url: str, headers: dict | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def test_the_token_is_required(ui):
    assert get(ui["base"])[0] == 403
    assert get(ui["base"] + "engine/containers/json?all=1")[0] == 403
    assert get(ui["base"] + "?token=wrong")[0] == 403
    status, body, headers = get(ui["url"])
    assert status == 200 and "<title>pocketbox</title>" in body
    assert f"pocketbox_ui={ui['token']}" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    status, body, _ = get(ui["base"] + "engine/containers/json?all=1", {"Cookie": f"pocketbox_ui={ui['token']}"})
    assert status == 200 and body.startswith("[")
    # a page of another name for this address (DNS rebinding) is refused even with the token
    assert get(ui["url"], {"Host": "attacker.example:80"})[0] == 421


def test_no_external_assets(ui):
    """Everything the page loads comes from pocketbox itself (it must work offline)."""
    status, body, _ = get(ui["url"])
    for asset in re.findall(r'(?:src|href)="([^"]+)"', body):
        assert not re.match(r"^[a-z]+:|^//", asset), asset
        assert get(ui["base"] + asset + f"?token={ui['token']}")[0] == 200, asset
    script = get(ui["base"] + f"static/app.js?token={ui['token']}")[1]
    assert not re.search(r"""["'`]https?://""", script)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(condition, timeout=20.0, what=""):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # the element is not there yet, or being redrawn
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}: {last}")


def text(driver, selector: str) -> str:
    """An element's text, read in one step (the page redraws its views every two seconds)."""
    return driver.execute_script("return document.querySelector(arguments[0]).textContent", selector)


def click(driver, selector: str) -> None:
    """Click what `selector` finds; the lists are redrawn every two seconds, so a row found a
    moment ago may be gone: find it again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt():
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False
    wait_for(attempt, what=f"a click on {selector}")


def screenshot(driver, tmp_path: Path, name: str) -> None:
    target = tmp_path / "screenshots"
    target.mkdir(exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(target / f"ui-{name}.png"))
    if os.environ.get("POCKETBOX_UI_SCREENSHOTS"):
        shutil.copy(target / f"ui-{name}.png", Path(os.environ["POCKETBOX_UI_SCREENSHOTS"]) / f"ui-{name}.png")


def test_the_page_in_a_browser(pb, busybox, ui, browser, tmp_path):
    from selenium.webdriver.common.by import By

    d = browser
    d.get(ui["url"])
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, "#containers tbody"), what="the container list")
    # a container started by the CLI appears
    pb("run", "-d", "--name", "web", "--memory", "64m", busybox, "sh", "-c",
       "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done")
    row = 'tr[data-name="web"]'
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, f"{row} .state").text == "running", what="web running")
    wait_for(lambda: "MB" in d.find_element(By.CSS_SELECTOR, f"{row} .mem").text, what="memory of web")
    screenshot(d, tmp_path, "containers")

    # logs that follow
    click(d, f"{row} button.logs")
    wait_for(lambda: "line-" in d.find_element(By.ID, "logs").text, what="logs")
    first = max(int(n) for n in re.findall(r"line-(\d+)", d.find_element(By.ID, "logs").text))
    wait_for(lambda: max(int(n) for n in re.findall(r"line-(\d+)", d.find_element(By.ID, "logs").text)) >= first + 3,
             what="new log lines while following")

    # a terminal in the browser
    click(d, f"{row} button.terminal")
    term = wait_for(lambda: d.find_element(By.ID, "term"), what="the terminal")
    wait_for(lambda: "#" in term.text, what="the shell's prompt")
    term.click()
    term.send_keys("echo hi-$((6*7))\n")
    wait_for(lambda: "hi-42" in term.text, what="the command's output in the terminal")
    screenshot(d, tmp_path, "terminal")

    # anatomy: namespaces and the memory limit, compared with the kernel's own files
    pid = int(pb("inspect", "-f", "{{.State.Pid}}", "web").stdout)
    click(d, f"{row} button.anatomy")
    for kind in ("net", "pid", "mnt", "uts", "ipc"):
        cell = f'#ns-table tr[data-type="{kind}"] .inode'
        wait_for(lambda: int(text(d, cell)) == os.stat(f"/proc/{pid}/ns/{kind}").st_ino,
                 what=f"the {kind} namespace's inode")
    row_of_limit = '#cgroup-files tr[data-what="memory limit"]'
    file, value = wait_for(lambda: d.execute_script(
        "const r = document.querySelector(arguments[0]); return r && [r.querySelector('code').textContent, "
        "r.querySelector('.value').textContent]", row_of_limit), what="the memory limit")
    assert Path(file).read_text().strip() == value == str(64 << 20)
    host_pids = d.execute_script("return [...document.querySelectorAll('#procs tbody tr')].map(r => "
                                 "Number(r.dataset.hostPid))")
    assert pid in host_pids
    d.find_element(By.CSS_SELECTOR, '#layer-form button').click()
    wait_for(lambda: "upper" in d.find_element(By.ID, "layer-answer").text, what="the layer of /etc/hostname")
    screenshot(d, tmp_path, "anatomy")

    # the architecture view has seen the page's requests and the CLI's events
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-view="architecture"]').click()
    feed = d.find_element(By.ID, "feed")
    wait_for(lambda: "GET /containers/json" in feed.text and "event: container start web" in feed.text,
             what="requests and events in the live feed")
    screenshot(d, tmp_path, "architecture")

    # a run replayed in the course's steps
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-view="replay"]').click()
    form = d.find_element(By.ID, "replay-form")
    form.find_element(By.NAME, "image").send_keys(busybox)
    form.find_element(By.TAG_NAME, "button").click()
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, "#replay .step")) >= 5, timeout=60, what="the steps")
    steps = [t.split(". ", 1)[1] for t in d.execute_script(
        "return [...document.querySelectorAll('#replay .step h3')].map(h => h.textContent)")]
    assert {"cgroups", "namespaces", "filesystem", "security", "process"} <= set(steps)
    assert "hello" in d.find_element(By.CSS_SELECTOR, "#replay pre").text
    screenshot(d, tmp_path, "replay")

    # stop from the page: the CLI agrees; run from the form, remove from the page
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-view="containers"]').click()
    click(d, f"{row} button.stop")
    wait_for(lambda: pb("inspect", "-f", "{{.State.Status}}", "web").stdout.strip() == "exited", what="web stopped")
    form = d.find_element(By.ID, "run-form")
    for name, value in (("image", busybox), ("name", "formed"), ("command", "sleep 1000")):
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: pb("inspect", "-f", "{{.State.Status}}", "formed", expect=None).stdout.strip() == "running",
             what="the container run from the form")
    click(d, 'tr[data-name="formed"] button.remove')
    wait_for(lambda: pb("inspect", "formed", expect=None).returncode != 0, what="formed removed")
    # an engine error is shown in the engine's words
    form.find_element(By.NAME, "image").clear()
    form.find_element(By.NAME, "name").clear()
    form.find_element(By.NAME, "image").send_keys("no-such-image-here:nope")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "no-such-image-here" in d.find_element(By.ID, "error").text, what="the error")

    d.find_element(By.CSS_SELECTOR, '#tabs button[data-view="images"]').click()
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#images tbody tr"), what="the image list")
    screenshot(d, tmp_path, "images")
    pb("rm", "-f", "web")
