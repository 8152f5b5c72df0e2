"""The switch for MLflow's download bar: off inside, the user's value back after the last."""

from __future__ import annotations

import os
import threading

import pytest

from mltrack.artifact_reads import DOWNLOAD_BAR_ENV, no_download_bar


@pytest.mark.parametrize("users_value", [None, "true"])
def test_off_inside_nested_blocks_and_the_users_value_back_after(
    monkeypatch: pytest.MonkeyPatch, users_value: str | None
) -> None:
    if users_value is None:
        monkeypatch.delenv(DOWNLOAD_BAR_ENV, raising=False)
    else:
        monkeypatch.setenv(DOWNLOAD_BAR_ENV, users_value)
    with no_download_bar():
        assert os.environ[DOWNLOAD_BAR_ENV] == "false"
        with no_download_bar():
            assert os.environ[DOWNLOAD_BAR_ENV] == "false"
        assert os.environ[DOWNLOAD_BAR_ENV] == "false"  # the outer block still runs
    assert os.environ.get(DOWNLOAD_BAR_ENV) == users_value
    with pytest.raises(RuntimeError), no_download_bar():
        raise RuntimeError("a failed read")
    assert os.environ.get(DOWNLOAD_BAR_ENV) == users_value


def test_threads_leaving_in_another_order_than_they_came_restore_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DOWNLOAD_BAR_ENV, "true")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[str | None] = []

    def first() -> None:
        with no_download_bar():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with no_download_bar():
            second_in.set()
            first_out.wait(10)
            seen.append(os.environ.get(DOWNLOAD_BAR_ENV))  # the first left, we are inside

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == ["false"]
    assert os.environ[DOWNLOAD_BAR_ENV] == "true"
