"""Language tabs (Python | CLI | REST) and Markdown output, as readers see them."""

from __future__ import annotations

import re
from typing import Any

LABELS = ["Python", "CLI", "REST"]


def _tab_labels(page: Any, item: str) -> list[str]:
    """Labels of the tab set that holds the engine block of ``item``."""
    block = page.locator(f'[data-livedocs-item="{item}"]').first
    tab_set = block.locator("xpath=ancestor::div[contains(@class, 'tabbed-set')][1]")
    return [t.strip() for t in tab_set.locator(".tabbed-labels > label").all_inner_texts()]


def test_registry_and_rest_pages_have_executed_python_cli_and_rest_tabs(page: Any) -> None:
    page.goto("guides/model-registry/")
    assert sorted(_tab_labels(page, "examples/registry_rest.py")) == sorted(LABELS)
    page.goto("reference/rest-api/")
    assert sorted(_tab_labels(page, "examples/serve_call_curl.py")) == sorted(LABELS)
    # The REST tab is a real curl session against the server, not a typed command.
    output = page.locator('[data-livedocs-item="examples/serve_call_curl.py"]').first
    text = output.inner_text()
    assert "$ curl" in text and '{"predictions": [' in text and "401" in text, text


def test_choosing_a_tab_once_switches_it_on_every_page(page: Any) -> None:
    page.goto("guides/model-registry/")
    label = page.locator(".tabbed-labels > label").filter(has_text=re.compile("^CLI$")).first
    label.click()
    cli_block = page.locator('[data-livedocs-item="examples/registry_cli.py"]').first
    assert cli_block.is_visible()
    assert not page.locator(
        '[data-livedocs-item="examples/registry_promote.py"]'
    ).first.is_visible()

    page.goto("reference/rest-api/")  # another page: Material's linked tabs remember "CLI"
    page.locator('[data-livedocs-item="examples/serve_call_cli.py"]').first.wait_for(
        state="visible"
    )
    assert not page.locator(
        '[data-livedocs-item="examples/serve_call_python.py"]'
    ).first.is_visible()


def test_markdown_output_is_a_real_table(page: Any) -> None:
    for path, item, header in (
        ("guides/insights/", "examples/insights_compare_runs.py", "rank"),
        ("guides/llm-tracking/", "examples/llm_report.py", "cost (USD)"),
    ):
        page.goto(path)
        blocks = page.locator(f'[data-livedocs-item="{item}"]')
        tables = blocks.locator("table").filter(has=page.locator(f'th:text-is("{header}")'))
        assert tables.count() >= 1, f"{path}: no rendered Markdown table in {item}'s output"
        first = tables.first
        assert first.locator("tbody tr").count() >= 2
        assert "|" not in first.inner_text()  # cells, not pipe-delimited text
