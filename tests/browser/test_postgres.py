"""The dashboard's stream and reload on PostgreSQL (`KERN_TEST_PG_URL`, a fresh schema)."""

from __future__ import annotations

from typing import Iterator

import pytest
from conftest import Server, open_page
from playwright.sync_api import Browser, Page
from test_dashboard import reload_mid_run


@pytest.fixture
def pg_page(browser: Browser, pg_server: Server) -> Iterator[Page]:
    p = open_page(browser, pg_server)
    yield p
    p.context.close()


def test_reload_mid_run_on_postgres(pg_page: Page, pg_server: Server) -> None:
    reload_mid_run(pg_page, pg_server)
