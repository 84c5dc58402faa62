"""Shared fixtures: every test gets its own cell cache and never touches the user's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run_cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """The `bench` CLI as a user runs it: a separate process, exit code and both streams."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", "from bench.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, env=full_env, timeout=600)


@pytest.fixture
def cli():
    return run_cli
