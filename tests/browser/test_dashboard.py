"""The dashboard (`/ui`) in headless Chromium against `kern serve --demo` with a security key:
start a run from the page and watch it stream, reload mid-run and resume with no gap and no
duplicate, cancel, requeue, continue a paused run, filter and page the list, markdown output."""

from __future__ import annotations

import json
import re

from conftest import KEY, Server, http_status, open_page
from playwright.sync_api import Browser, Page, expect


def numbers(n: int) -> str:
    """What the `count` workflow's stream renders: one line per number."""
    return "".join(f"{i}\n" for i in range(1, n + 1))


def stream_text(page: Page) -> str:
    return page.locator("#stream").inner_text()


def test_root_sends_browsers_to_the_dashboard_and_json_clients_get_agentos_answer(
    server: Server,
) -> None:
    status, headers, _ = http_status(server.url + "/", {"Accept": "text/html,*/*"})
    assert status == 303 and headers["location"] == "/ui"
    status, _, body = http_status(server.url + "/", {"Accept": "application/json"})
    assert status == 200
    assert json.loads(body)["health"] == "/health"
    # The page and its assets need no key; the data does.
    status, headers, body = http_status(server.url + "/ui")
    assert status == 200 and b"/ui/app.js" in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert http_status(server.url + "/ui/app.js")[0] == 200
    assert http_status(server.url + "/ui/api/runs")[0] == 401


def test_the_page_asks_once_for_the_token(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, token=None)
    page.goto("/")
    expect(page).to_have_url(f"{server.url}/ui")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    page.fill("#token-input", KEY)
    page.click("#token-save")
    expect(dialog).to_be_hidden()
    expect(page.locator("#runs-info")).to_contain_text("runs")
    assert page.evaluate("localStorage.getItem('kern.token')") == KEY
    # Entered once: a new page of the same browser context does not ask again.
    other = page.context.new_page()
    other.goto("/ui#/components")
    expect(other.locator("#component-list [data-component='workflow:count']")).to_be_visible()
    expect(other.locator("#token-dialog")).to_be_hidden()
    page.context.close()


def test_start_a_run_watch_it_stream_and_reload_mid_run(page: Page, server: Server) -> None:
    reload_mid_run(page, server)


def reload_mid_run(page: Page, server: Server) -> None:
    """Starts `count 40 100` from the form, watches it stream, reloads mid-run, and checks the
    rendered sequence: every number once, in order."""
    page.goto("/ui#/components")
    page.select_option("#start-component", "workflow:count")
    page.fill("#start-message", "40 100")
    page.check("#start-background")
    page.uncheck("#start-stream")
    page.click("#start-submit")
    expect(page).to_have_url(re.compile(r"/ui#/run/workflows/count/[0-9a-f-]{36}$"))
    stream = page.locator("#stream")
    expect(page.locator("#run-status")).to_have_text("RUNNING")
    expect(stream).to_contain_text("5\n")
    before = stream_text(page)
    assert before == numbers(len(before.splitlines())), before
    assert len(before.splitlines()) < 40, "the run ended before the reload"
    seen = int(stream.get_attribute("data-last-index") or "-1")
    page.reload()
    # The page came back from the index it had rendered (kept in sessionStorage), not from 0.
    resumed = int(page.locator("#stream").get_attribute("data-resumed-from") or "-1")
    assert resumed >= seen > 0
    expect(page.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.locator("#stream")).to_have_text(numbers(40))
    assert page.locator("#stream").get_attribute("data-gaps") == "0"
    expect(page.locator("#run-output")).to_have_text("counted to 40")
    # The timeline has both steps with their durations.
    expect(page.locator("#timeline li.step")).to_have_count(2)
    expect(page.locator("#timeline li[data-name='count']")).not_to_contain_text("running")
    run_id = page.url.rsplit("/", 1)[1]
    assert server.run("count", run_id)["content"] == "counted to 40"


def test_foreground_streaming_run_from_the_form(page: Page) -> None:
    page.goto("/ui#/components")
    page.select_option("#start-component", "workflow:count")
    page.fill("#start-message", "6 50")
    page.uncheck("#start-background")
    page.check("#start-stream")
    page.click("#start-submit")
    expect(page.locator("#run-notice")).to_contain_text("Foreground run")
    expect(page.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.locator("#stream")).to_have_text(numbers(6))


def test_cancel_then_requeue_shows_the_sequence_once(page: Page, server: Server) -> None:
    run = server.start("count", "30 100")
    page.goto(f"/ui#/run/workflows/count/{run['run_id']}")
    expect(page.locator("#stream")).to_contain_text("3\n")
    page.click("#cancel")
    expect(page.locator("#run-status")).to_have_text("CANCELLED")
    assert server.run("count", run["run_id"])["status"] == "CANCELLED"
    partial = stream_text(page)
    assert partial == numbers(len(partial.splitlines()))
    # Requeued, the interrupted step runs again: its first attempt's events are void
    # (RunRestarted), so the page shows every number once.
    page.click("#requeue")
    expect(page.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.locator("#stream")).to_have_text(numbers(30))
    expect(page.locator("#requeue")).to_have_count(0)


def test_continue_a_paused_run(page: Page, server: Server) -> None:
    run = server.start("approval", "the launch post")
    page.goto(f"/ui#/run/workflows/approval/{run['run_id']}")
    expect(page.locator("#run-status")).to_have_text("PAUSED")
    expect(page.locator("#paused")).to_contain_text("Publish this draft?")
    expect(page.locator("#continue")).to_be_disabled()
    page.click("#paused .confirm")
    page.click("#continue")
    expect(page.locator("#run-status")).to_have_text("COMPLETED")
    expect(page.locator("#run-output")).to_have_text("published draft: the launch post")
    assert server.run("approval", run["run_id"])["status"] == "COMPLETED"


def test_filter_and_page_the_list_which_updates_live(page: Page, server: Server) -> None:
    session = "filter-session"
    for i in range(23):
        server.start("echo", f"echo number {i}", session_id=session)
    failed = server.start("fail", "doomed", user_id="alice")
    page.goto("/ui")
    # Status filter: only failed runs.
    page.select_option("#f-status", "ERROR")
    rows = page.locator("#runs-body tr.run-row")
    expect(rows.first).to_have_attribute("data-run-id", failed["run_id"])
    statuses = rows.evaluate_all("rs => rs.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"ERROR"}
    # User filter.
    page.select_option("#f-status", "")
    page.fill("#f-user", "alice")
    page.click("form.filters button")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", failed["run_id"])
    # Component and session filters, paged by the server (20 a page), newest first.
    page.fill("#f-user", "")
    page.fill("#f-session", session)
    page.click("form.filters button")
    page.select_option("#f-component", "workflow:echo")
    expect(page.locator("#runs-info")).to_have_text("page 1 of 2 · 23 runs")
    expect(rows).to_have_count(20)
    expect(rows.first.locator("td.excerpt")).to_have_text("echo number 22")
    page.click("#next")
    expect(page.locator("#runs-info")).to_have_text("page 2 of 2 · 23 runs")
    expect(rows).to_have_count(3)
    expect(rows.last.locator("td.excerpt")).to_have_text("echo number 0")
    # Live: a run started elsewhere appears without a reload.
    page.click("#prev")
    expect(page.locator("#runs-info")).to_have_text("page 1 of 2 · 23 runs")
    server.start("echo", "a late arrival", session_id=session)
    expect(rows.first.locator("td.excerpt")).to_have_text("a late arrival")
    expect(page.locator("#runs-info")).to_have_text("page 1 of 2 · 24 runs")
    # A row opens the run's page.
    rows.first.click()
    expect(page.locator("#run-input")).to_have_text("a late arrival")


def test_output_is_rendered_as_markdown_safely(page: Page, server: Server) -> None:
    text = (
        "# Title\n\nSome **bold** and *italic* and `code`.\n\n- one\n- two\n\n"
        "```\n<b>not bold</b>\n```\n\n[safe](https://example.org/a?b=1&c=2) "
        "[unsafe](javascript:alert(1)) <img src=x onerror=alert(1)> <script>alert(2)</script>"
    )
    run = server.start("echo", text)
    page.goto(f"/ui#/run/workflows/echo/{run['run_id']}")
    out = page.locator("#run-output")
    expect(out.locator("h1")).to_have_text("Title")
    expect(out.locator("strong")).to_have_text("bold")
    expect(out.locator("em")).to_have_text("italic")
    expect(out.locator("li")).to_have_count(2)
    expect(out.locator("pre code")).to_have_text("<b>not bold</b>")
    expect(out.locator("a")).to_have_count(1)
    expect(out.locator("a")).to_have_attribute("href", "https://example.org/a?b=1&c=2")
    assert out.locator("img, script, b").count() == 0
    expect(out).to_contain_text("<img src=x onerror=alert(1)>")
