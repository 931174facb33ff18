"""Browser fixtures: headless Chromium through Playwright (helpers in tests/browser.py).

Only tests in this folder load them, so unit and database tests never import Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from browser import PageLog, StaticSite, guarded_page, launch, serve_directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (/usr/bin/chromium) with a fresh profile.

    Per module, not per session: Playwright's sync API marks an asyncio loop as running in the
    main thread while it is alive, which would break ``asyncio.run`` in any later test; a
    launch takes about half a second.
    """
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page_log(browser: Browser) -> Iterator[PageLog]:
    """A new page in a new context; requests off this machine are aborted and recorded.

    Assert ``page_log.problems() == {}`` (or ``external_requests == []``,
    ``console_errors == []`` …) once the page has done its work.
    """
    context, log = guarded_page(browser)
    yield log
    context.close()


@pytest.fixture
def page(page_log: PageLog) -> Page:
    """The Playwright page of ``page_log``."""
    return page_log.page


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[StaticSite]:
    """A temporary folder served on 127.0.0.1: ``static_server.publish(name, html)`` → URL."""
    root = tmp_path / "site"
    root.mkdir()
    with serve_directory(root) as site:
        yield site


@pytest.fixture
def watched(browser: Browser) -> Iterator[PageLog]:
    """A guarded page that records Content-Security-Policy violations in ``window.__csp``
    (``'<directive> <blocked URI>'``) and reports a dialog as a console error (dismissed)."""
    context, log = guarded_page(browser)
    context.add_init_script(
        """window.__csp = [];
        document.addEventListener('securitypolicyviolation', e => {
          window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
        });"""
    )
    log.page.on("dialog", lambda d: (log.console_errors.append("dialog " + d.message), d.dismiss()))
    yield log
    context.close()
