"""A function run in a child process returns its JSON result, or fails with a reason."""

from __future__ import annotations

import subprocess

import pytest

from textgen import child


def test_a_function_run_in_a_child_returns_its_json_result():
    assert child.call("math:hypot", 3, 4, timeout_s=60) == 5.0


def test_a_child_that_fails_says_why():
    with pytest.raises(child.ChildFailed, match="No module named"):
        child.call("textgen.no_such_module:f", timeout_s=60)


def test_a_child_that_takes_too_long_is_ended():
    with pytest.raises(subprocess.TimeoutExpired):
        child.call("time:sleep", 30, timeout_s=1)
