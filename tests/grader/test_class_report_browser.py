"""The class report of a graded class folder, opened in headless Chromium as an instructor
opens it (a file, no server): the top mistake and its count on the page, every plot drawn,
nothing asked of the network, and a student's name that is HTML does nothing.

Needs Playwright's Python API (tests/requirements-browser.txt) and the system Chromium.
Marked `browser`: python -m pytest -m browser. A screenshot goes to the test's tmp folder."""

import os
import shutil

import pytest

from grader import batch as grade
from grader import shards
from test_grade import SUBMISSIONS, TIMEOUT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']
HOSTILE_NAME = '<img src=x onerror=alert(1)>'
CLASS = {'alice_correct': 'alice_correct', 'bob_no_lambda': 'bob_no_lambda', 'bea_no_lambda': 'bob_no_lambda',
         'carol_max': 'carol_max', 'victor_garbage': 'victor_garbage', HOSTILE_NAME: 'judy_crash_at_import'}


def missing():
    if not os.path.exists(CHROMIUM):
        return 'no Chromium at /usr/bin/chromium (apt-get install chromium)'
    try:
        import playwright  # noqa: F401
    except ImportError:
        return 'playwright is not installed (pip install -r tests/requirements-browser.txt)'
    return None


if missing():
    pytest.skip(f'browser tests skipped: {missing()}', allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


def test_the_class_report_shows_the_top_mistake_in_a_browser(tmp_path):
    folder = tmp_path / 'class'
    folder.mkdir()
    for name, submission in CLASS.items():
        (folder / f'{name}.ipynb').write_text(SUBMISSIONS[submission], encoding='utf-8')
    grade.grade_folder(str(folder), str(tmp_path / 'out'), timeout=TIMEOUT, jobs=2, seed=1)
    page_file = tmp_path / 'out' / shards.REPORT
    requests, dialogs, errors = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={'width': 1200, 'height': 900})
            page.on('request', lambda request: requests.append(request.url))
            page.on('dialog', lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.on('pageerror', lambda error: errors.append(str(error)))
            page.goto(page_file.as_uri(), wait_until='load')
            top = page.locator('#top-mistake')
            assert top.is_visible()
            assert top.inner_text() == ('The most common mistake: λ is missing, made by 2 of the 4 submissions whose '
                                        'cases ran.')
            images = page.locator('img')
            assert images.count() >= 4
            for index in range(images.count()):  # every plot decoded and drawn
                assert images.nth(index).evaluate('image => image.complete && image.naturalWidth > 0'), index
            page.get_by_text('2 submissions').first.click()  # the folded list of who made it
            assert page.get_by_text('bea_no_lambda, bob_no_lambda').is_visible()
            assert page.get_by_text(HOSTILE_NAME).first.is_visible()  # shown as text, not as an image
            page.screenshot(path=str(tmp_path / 'class_report.png'), full_page=True)
        finally:
            browser.close()
    assert not dialogs and not errors
    assert all(url.startswith(('file:', 'data:')) for url in requests), requests
