"""The release's student notebook, with a correct solution, in JupyterLab in headless Chromium:
Run All, then what a student sees. Screenshots of each step go to the test's tmp folder.

Needs requirements-browser.txt (JupyterLab, Playwright's Python API) and the system Chromium
(Debian's `chromium`; .ci/run installs it). Marked `browser`: python -m pytest -m browser.
Without them the tests skip, saying what is missing.
"""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

import build
from test_notebooks import hand_out, kernel_environment, released_student, set_quick, solved

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']
NOTEBOOK = build.STUDENT
START_TIMEOUT = 120    # s for JupyterLab to answer
RUN_TIMEOUT = 600      # s for Run All
# JupyterLab settings: no news pop-up; every cell in the page (no windowing), so that the test sees them all
SETTINGS = {'@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false'},
            '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'}}


def missing():
    """Why the browser test cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return 'no Chromium at /usr/bin/chromium (apt-get install chromium)'
    for module, requirement in (('playwright', 'playwright'), ('jupyterlab', 'jupyterlab')):
        try:
            __import__(module)
        except ImportError:
            return f'{requirement} is not installed (pip install -r tests/requirements-browser.txt)'
    return None


if missing():
    pytest.skip(f'browser tests skipped: {missing()}', allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab, no token, on a free local port, serving a hand-out folder with the student
    notebook solved and QUICK = True. Yields (url, folder); the server is always stopped."""
    folder = tmp_path / 'student'
    folder.mkdir()
    hand_out(folder)
    nbformat.write(set_quick(solved(released_student()), True), folder / NOTEBOOK)
    settings = tmp_path / 'lab-settings'
    for name, values in SETTINGS.items():
        (settings / os.path.dirname(name)).mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {**kernel_environment(), 'JUPYTERLAB_SETTINGS_DIR': str(settings),  # kernels see the hand-out only
           'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'lab-workspaces'),
           'JUPYTER_RUNTIME_DIR': str(tmp_path / 'jupyter-runtime')}
    port = free_port()
    log = open(tmp_path / 'jupyterlab.log', 'w')
    server = subprocess.Popen(
        [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
         '--ServerApp.port_retries=0', '--IdentityProvider.token=', '--ServerApp.password=', '--allow-root',
         f'--ServerApp.root_dir={folder}'],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f'{url}/api/status', timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f'JupyterLab did not start: see {tmp_path / "jupyterlab.log"}')
                time.sleep(0.5)
        yield url, folder
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its kernels: their own process group
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture
def page(tmp_path):
    """A page of a fresh headless Chromium (its own profile); always closed."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / 'chromium-profile'), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={'width': 1400, 'height': 1000})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def code_cell(page, text):
    """The notebook's code cell whose source contains `text`."""
    return page.locator('.jp-CodeCell').filter(has=page.locator('.jp-InputArea', has_text=text))


def image_source(cell):
    images = cell.locator('.jp-OutputArea-output img')
    return images.last.get_attribute('src') if images.count() else None


def wait_for(condition, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')


def test_the_student_notebook_in_jupyterlab(lab, page, tmp_path):
    url, folder = lab
    shots = []

    def screenshot(name):
        path = tmp_path / f'{len(shots) + 1:02d}-{name}.png'
        page.screenshot(path=str(path), full_page=False)
        shots.append(path)

    page.goto(f'{url}/lab/tree/{NOTEBOOK}?reset')
    page.locator('.jp-Notebook').first.wait_for(timeout=START_TIMEOUT * 1000)
    wait_for(lambda: 'Idle' in page.locator('.jp-StatusBar-Widget').all_inner_texts().__str__(), START_TIMEOUT,
             'the kernel')
    time.sleep(2)  # JupyterLab writes the kernel's language_info now, if it differs
    tab = page.locator('.lm-TabBar-tab.jp-mod-current', has_text=NOTEBOOK)
    screenshot('opened')
    if platform.python_version() == build.PYTHON_VERSION:  # else JupyterLab updates the version: a dot is right
        assert 'jp-mod-dirty' not in tab.get_attribute('class'), 'the notebook opened with the "unsaved" dot'

    page.get_by_role('menuitem', name='Run', exact=True).click()
    page.get_by_text('Run All Cells', exact=True).click()

    # the random policy's rollout: its frame changes in place
    rollout = code_cell(page, 'action = env.action_space.sample()')
    first = wait_for(lambda: image_source(rollout), RUN_TIMEOUT, 'the first frame of the rollout')
    wait_for(lambda: image_source(rollout) not in (None, first), 30, 'the next frame of the rollout')
    assert rollout.locator('.jp-OutputArea-output img').count() == 1
    rollout.locator('.jp-OutputArea').scroll_into_view_if_needed()
    screenshot('rollout')

    # training: one progress output and one curve, updated in place
    training = code_cell(page, 'skip_if_grading(GRADING)')
    progress = training.locator('.jp-OutputArea-output', has_text='steps/s')
    wait_for(lambda: progress.count(), RUN_TIMEOUT, 'the progress line')
    seen = set()
    while 'after' not in training.locator('.jp-OutputArea').inner_text():  # the summary line ends training
        assert progress.count() == 1 and training.locator('.jp-OutputArea-output img').count() <= 1
        seen.add(progress.first.inner_text())
        time.sleep(0.2)
    assert progress.count() == 1 and training.locator('.jp-OutputArea-output img').count() == 1
    assert len(seen) >= 2, 'the progress line was never updated'
    training.locator('.jp-OutputArea').scroll_into_view_if_needed()
    screenshot('trained')

    # Run All ends with the episode player; then the grading report
    player = code_cell(page, 'rl_gui.episode_player(render)')
    wait_for(lambda: image_source(player), RUN_TIMEOUT, 'the episode player')
    report = code_cell(page, 'rl_tests.run_tests(rl_tests.test_ppo(PPO))')
    report.scroll_into_view_if_needed()
    text = report.locator('.jp-OutputArea').inner_text()
    assert 'cases pass. Well done!' in text and '✗' not in text
    screenshot('report')

    # a widget slider moves a plot: the clip range of the clipped objective
    explorer = code_cell(page, 'rl_gui.clip_objective_explorer()')
    explorer.scroll_into_view_if_needed()
    before = image_source(explorer)
    handle = explorer.locator('.noUi-handle').first
    handle.wait_for(timeout=30_000)
    handle.focus()
    for _ in range(3):
        page.keyboard.press('ArrowRight')
    wait_for(lambda: image_source(explorer) not in (None, before), 30, 'the plot to follow the slider')
    screenshot('slider')

    # saved, the kernel shut down, reopened: the pictures stay without the kernel that drew them
    page.get_by_role('menuitem', name='File', exact=True).click()
    page.get_by_text('Save Notebook', exact=True).click()
    wait_for(lambda: 'jp-mod-dirty' not in tab.get_attribute('class'), 30, 'the notebook to be saved')
    page.get_by_role('menuitem', name='Kernel', exact=True).click()
    page.get_by_text('Shut Down Kernel', exact=True).click()
    accept = page.locator('.jp-Dialog-button.jp-mod-accept')
    if accept.count():
        accept.click()
    wait_for(lambda: 'No Kernel' in str(page.locator('.jp-StatusBar-Widget').all_inner_texts()), 30,
             'the kernel to shut down')
    page.reload()
    page.locator('.jp-Notebook').first.wait_for(timeout=START_TIMEOUT * 1000)
    for text in ('rl_gui.clip_objective_explorer()', 'rl_gui.gae_explorer()', 'rl_gui.episode_player(render)',
                 'action = env.action_space.sample()'):
        wait_for(lambda: image_source(code_cell(page, text)), 30, f'the saved picture of {text}')
    code_cell(page, 'rl_gui.gae_explorer()').scroll_into_view_if_needed()
    screenshot('reopened')
    print('screenshots:', *shots, sep='\n  ')


def test_the_stop_button_stops_run_all_before_the_half_trained_agent_is_used(lab, page, tmp_path):
    url, folder = lab
    name = 'interrupted.ipynb'
    nbformat.write(set_quick(solved(released_student()), False), folder / name)  # the full training budget
    page.goto(f'{url}/lab/tree/{name}?reset')
    page.locator('.jp-Notebook').first.wait_for(timeout=START_TIMEOUT * 1000)
    wait_for(lambda: 'Idle' in str(page.locator('.jp-StatusBar-Widget').all_inner_texts()), START_TIMEOUT,
             'the kernel')
    page.get_by_role('menuitem', name='Run', exact=True).click()
    page.get_by_text('Run All Cells', exact=True).click()
    training = code_cell(page, 'skip_if_grading(GRADING)')
    progress = training.locator('.jp-OutputArea-output', has_text='steps/s')
    wait_for(lambda: progress.count(), RUN_TIMEOUT, 'the progress line')
    page.get_by_role('menuitem', name='Kernel', exact=True).click()
    page.get_by_text('Interrupt Kernel', exact=True).click()  # the stop button's command

    evaluation = code_cell(page, 'eval_returns = evaluate(')
    wait_for(lambda: 'TrainingInterrupted' in evaluation.locator('.jp-OutputArea').inner_text(), RUN_TIMEOUT,
             'the evaluation cell to say that training was interrupted')
    assert 'interrupted after' in training.locator('.jp-OutputArea').inner_text()
    evaluation.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / 'interrupted.png'))
    wait_for(lambda: 'Idle' in str(page.locator('.jp-StatusBar-Widget').all_inner_texts()), 60, 'Run All to stop')
    landing = code_cell(page, 'render.save_gif(')
    assert landing.locator('.jp-OutputArea-output').count() == 0  # never ran: Run All stopped
    assert not (folder / 'lunar_lander_landing.gif').exists()
    print('screenshot:', tmp_path / 'interrupted.png')
