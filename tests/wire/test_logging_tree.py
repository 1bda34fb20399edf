"""The logger tree, TELEFLOW_LOG, and the filter that keeps the API key out of every record."""

from __future__ import annotations

import ast
import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

import teleflow_py
from teleflow_py._credential import ApiKeyCredential
from teleflow_py._logging import FILTER, TREE, scrub, setup_from_environment

PACKAGE = Path(teleflow_py.__file__).parent
API_KEY = "sk_test_0123456789abcdef"


def logger_names_in_source() -> List[str]:
    """The first argument of every ``logging.getLogger(...)`` in the package."""
    names = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant):
                    names.append(arg.value)
                elif isinstance(arg, ast.Name) and arg.id in constants:
                    names.append(constants[arg.id])
                elif path.name != "_logging.py":
                    names.append(f"<not a constant in {path.name}>")
    return names


def test_every_logger_of_the_package_is_in_the_documented_tree() -> None:
    names = logger_names_in_source()
    assert "teleflow_py.analytics" in names  # the scan finds them
    assert sorted(set(names) - set(TREE)) == []


def test_every_logger_of_the_tree_carries_the_secret_filter() -> None:
    for name in TREE:
        assert FILTER in logging.getLogger(name).filters, name


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What a handler of the application (on the root logger) writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(detail)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    logger = logging.getLogger("teleflow_py")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("name", TREE)
def test_no_record_reaches_a_handler_with_the_key(name: str, captured: io.StringIO) -> None:
    credential = ApiKeyCredential(API_KEY)
    logger = logging.getLogger(name)
    try:
        raise RuntimeError(f"boom with {API_KEY}")
    except RuntimeError:
        logger.debug(
            "headers=%s key=%r",
            {"Authorization": f"ApiKey {API_KEY}"},
            API_KEY,
            exc_info=True,
            stack_info=True,
            extra={"detail": f"extra {API_KEY}"},
        )
    logger.warning("%s", credential.reveal(), extra={"detail": ""})
    text = captured.getvalue()
    assert "boom with" in text and "Traceback" in text and "Stack (most recent" in text
    assert API_KEY not in text
    assert "***cdef" in text  # masked the way the key is masked everywhere


def test_an_authorization_value_is_hidden_even_for_a_key_no_client_holds() -> None:
    assert scrub("sent {'Authorization': 'ApiKey other_key_123456'}", []) == (
        "sent {'Authorization': 'ApiKey ***'}"
    )
    assert scrub("ApiKey ***1234 stays", []) == "ApiKey ***1234 stays"


def test_a_record_that_cannot_be_formatted_is_still_let_through(captured: io.StringIO) -> None:
    record = logging.LogRecord("teleflow_py", logging.INFO, "f", 1, "%d", ("x",), None)
    assert FILTER.filter(record) is True


def run_with(env_value: object, code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("TELEFLOW_LOG", None)
    if env_value is not None:
        env["TELEFLOW_LOG"] = str(env_value)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )


LOG_SOME = """
import logging, teleflow_py
logging.getLogger("teleflow_py.events").debug("debug %s", "line")
logging.getLogger("teleflow_py.analytics").info("info line")
print(len(logging.getLogger().handlers))
"""


@pytest.mark.parametrize(
    "value, shown",
    [
        ("debug", ["debug line", "info line"]),
        ("DEBUG", ["debug line", "info line"]),
        ("info", ["info line"]),
        ("error", []),
        ("verbose", []),
        (None, []),
    ],
)
def test_teleflow_log_prints_the_sdk_on_stderr(value: object, shown: List[str]) -> None:
    result = run_with(value, LOG_SOME)
    lines = [line for line in result.stderr.splitlines() if line]
    assert [line.rsplit("] ", 1)[1] for line in lines] == shown
    if shown:
        assert "teleflow_py.analytics:" in lines[-1] and "INFO]" in lines[-1]
    assert result.stdout.strip() == "0"  # the root logger is left alone


def test_setting_up_twice_adds_one_handler() -> None:
    logger = logging.getLogger("teleflow_py")
    before = list(logger.handlers)
    level = logger.level
    try:
        first = setup_from_environment({"TELEFLOW_LOG": "info"})
        assert first is not None
        assert setup_from_environment({"TELEFLOW_LOG": "debug"}) is None
        assert logger.handlers == [*before, first]
        assert logger.level == logging.DEBUG
    finally:
        logger.handlers = before
        logger.setLevel(level)


FULL_RUN = """
import teleflow_py
from teleflow_py import Client, APIError
from teleflow_py.emulator import Emulator
key = "sk_test_0123456789abcdef"
with Emulator() as emulator:
    emulator.fail_next(2, 503, headers={"Retry-After": "0"})
    with Client(api_key=key, base_url=emulator.url, max_retries=3) as client:
        client.trigger_event("welcome", "s-1")
        emulator.fail_next(9, 503, headers={"Retry-After": "0"})
        try:
            client.trigger_event("welcome", "s-2")
        except APIError:
            pass
        client.track("Signed Up", user_id="s-1")
        client.flush()
"""


def test_a_debug_run_with_retries_and_failures_logs_no_key() -> None:
    result = run_with("debug", FULL_RUN)
    assert "attempt 3" in result.stderr  # the retries were logged
    assert "0123456789abcdef" not in result.stderr
    assert "0123456789abcdef" not in result.stdout
