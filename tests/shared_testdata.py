"""Third-party corpora in ../shared/testdata beside the repository (never copied into it): a test
that reads one skips when it is absent, except on CI (env var CI set), where it fails."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"


def shared_file(relative: str) -> Path:
    """The path of a shared corpus file; skip (or, on CI, fail) when it is not there."""
    path = SHARED_TESTDATA / relative
    if not path.is_file():
        message = f"shared test data not found: {path} (the shared/ folder beside the repository)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must provide it")
        pytest.skip(message)
    return path
