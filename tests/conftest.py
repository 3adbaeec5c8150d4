"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest

# Files that tests reading real data need from the SKFRL_DATA folder.
EXTERNAL_DATA_FILES = ("compas-scores-two-years.csv", "drug_consumption.csv")


@pytest.fixture(scope="session")
def data_home() -> Path:
    """Folder with the external data sets, from the SKFRL_DATA variable.

    Tests that need it are skipped when the folder or its files are missing,
    except under CI (the CI variable is set), where they fail: CI must never
    pass by silently skipping the real-data tests.
    """
    value = os.environ.get("SKFRL_DATA")
    folder = Path(value).expanduser() if value else None
    missing = [
        name
        for name in EXTERNAL_DATA_FILES
        if folder is None or not (folder / name).is_file()
    ]
    if missing:
        where = (
            "SKFRL_DATA is not set"
            if folder is None
            else f"SKFRL_DATA={value!r} resolves to {str(folder.resolve())!r}"
        )
        reason = (
            f"external data files {missing} not found ({where}); set SKFRL_DATA "
            "to the folder holding them (an absolute path avoids surprises with "
            "the working directory)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}. CI must run the real-data tests.")
        pytest.skip(reason)
    return folder
