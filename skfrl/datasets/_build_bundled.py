"""Rebuild the data files bundled in ``skfrl/datasets/data/``.

The Adult and German Credit data sets ship inside the package as gzip
compressed CSV files. This module rebuilds them from the raw UCI files so that
anyone can check that the bundle is what the raw files say::

    python -m skfrl.datasets._build_bundled /path/to/shared/data

The folder must hold ``adult.data``, ``adult.test``, ``german.data`` and
``values_maps.json``, unchanged from their sources: their SHA-256 checksums
are verified first (``--no-verify`` skips that). The output is byte-for-byte
reproducible (the gzip header carries no time stamp).

What the bundle contains
------------------------
``adult.csv.gz``
    All 48,842 rows of ``adult.data`` (``split="train"``) and ``adult.test``
    (``split="test"``), in file order, with surrounding whitespace stripped,
    the first line of ``adult.test`` (not data) skipped, the trailing ``.`` of
    the test labels removed and ``?`` written as an empty (missing) field.
    ``fnlwgt`` is left out: it is a census sampling weight, not a property of
    the person, no loader uses it, and its six-digit values would be most of
    the compressed file. Missing values are kept so that the loader, not the
    bundle, decides how to handle them.
``german.csv.gz``
    The 1,000 rows of ``german.data`` with the ``A..`` codes decoded through
    ``values_maps.json`` into readable categories, the boolean telephone and
    foreign-worker codes written as ``"yes"``/``"no"``, and the label decoded
    to ``"good"``/``"bad"``.

Both data sets are from the UCI Machine Learning Repository, licensed under
CC BY 4.0; see the loaders' ``DESCR`` for the citations.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pandas as pd

__all__ = ["build_adult", "build_german", "main"]

#: SHA-256 of the raw inputs the bundle was built from (their SHA256SUMS).
RAW_SHA256 = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    "german.data": "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
    "values_maps.json": (
        "73a48f120cdb8019fb9f0ad84078ef1ba109f1100bbcc6cbcf925d60e6adcd4e"
    ),
}

ADULT_RAW_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]

#: German Credit columns in file order: (name in the bundle, key in
#: values_maps.json or None for a numeric column).
GERMAN_COLUMNS = [
    ("checking_account", "status"),
    ("duration", None),
    ("credit_history", "credit_history"),
    ("purpose", "purpose"),
    ("credit_amount", None),
    ("savings", "savings"),
    ("employment_since", "present_employment"),
    ("installment_rate", None),
    ("personal_status_sex", "status_sex"),
    ("other_debtors", "other_debtors"),
    ("residence_since", None),
    ("property", "property"),
    ("age", None),
    ("other_installment_plans", "installment_plans"),
    ("housing", "housing"),
    ("existing_credits", None),
    ("job", "job"),
    ("num_dependents", None),
    ("telephone", "telephone"),
    ("foreign_worker", "foreign_worker"),
    ("credit", "credit"),
]

# A fixed gzip mtime makes rebuilt files byte-identical to the committed ones.
_GZIP = {"method": "gzip", "compresslevel": 9, "mtime": 0}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_raw_files(raw_dir: Path) -> None:
    """Check the raw files against the checksums the bundle was built from.

    Parameters
    ----------
    raw_dir : path
        Folder holding the raw UCI files.

    Raises
    ------
    FileNotFoundError
        If a raw file is missing.
    ValueError
        If a raw file's SHA-256 differs from :data:`RAW_SHA256`.
    """
    for name, expected in RAW_SHA256.items():
        path = raw_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"Raw file {path} not found.")
        actual = _sha256(path)
        if actual != expected:
            raise ValueError(
                f"{path} has SHA-256 {actual}, expected {expected}: it is not the "
                "file the bundle was built from (use --no-verify to build anyway)."
            )


def _read_adult_part(path: Path, *, skiprows: int) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        header=None,
        names=ADULT_RAW_COLUMNS,
        skiprows=skiprows,
        skipinitialspace=True,
        na_values=["?"],
        keep_default_na=False,
        skip_blank_lines=True,
        dtype=str,
    )
    frame = frame.apply(lambda col: col.str.strip())
    frame["income"] = frame["income"].str.rstrip(".")
    return frame


def build_adult(raw_dir: Path) -> pd.DataFrame:
    """Assemble the bundled Adult table from ``adult.data`` and ``adult.test``.

    Parameters
    ----------
    raw_dir : path
        Folder holding the raw UCI files.

    Returns
    -------
    frame : DataFrame
        48,842 rows: the columns of the UCI files without ``fnlwgt``, plus
        ``split`` (``"train"`` or ``"test"``). Values are strings; missing
        values are ``NaN``.
    """
    train = _read_adult_part(raw_dir / "adult.data", skiprows=0)
    # The first line of adult.test ("|1x3 Cross validator") is not data.
    test = _read_adult_part(raw_dir / "adult.test", skiprows=1)
    train["split"] = "train"
    test["split"] = "test"
    frame = pd.concat([train, test], ignore_index=True)
    frame = frame.drop(columns="fnlwgt")
    expected_labels = {"<=50K", ">50K"}
    if set(frame["income"].unique()) != expected_labels:
        raise ValueError(f"Unexpected Adult labels: {set(frame['income'].unique())}")
    return frame


def build_german(raw_dir: Path) -> pd.DataFrame:
    """Decode ``german.data`` with ``values_maps.json`` into readable values.

    Parameters
    ----------
    raw_dir : path
        Folder holding the raw UCI files.

    Returns
    -------
    frame : DataFrame
        1,000 rows, the 20 attributes and ``credit`` (``"good"``/``"bad"``),
        with columns named as in :data:`GERMAN_COLUMNS`.
    """
    maps = json.loads((raw_dir / "values_maps.json").read_text())
    names = [name for name, _ in GERMAN_COLUMNS]
    raw = pd.read_csv(
        raw_dir / "german.data", sep=" ", header=None, names=names, dtype=str
    )
    decoded = {}
    for name, key in GERMAN_COLUMNS:
        column = raw[name]
        if key is None:
            decoded[name] = column.astype("int64")
            continue
        mapping = {}
        for code, value in maps[key].items():
            if isinstance(value, bool):
                value = "yes" if value else "no"
            mapping[code] = value.strip()
        unknown = set(column.unique()) - set(mapping)
        if unknown:
            raise ValueError(f"Codes {sorted(unknown)} of {name!r} are not decoded.")
        decoded[name] = column.map(mapping)
    return pd.DataFrame(decoded)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: rebuild the bundled files.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments (``sys.argv[1:]`` when None).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help="folder with the raw UCI files")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "data",
        help="output folder (default: the package's data folder)",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the raw-file checksums"
    )
    args = parser.parse_args(argv)
    if not args.no_verify:
        verify_raw_files(args.raw_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in [
        ("adult.csv.gz", build_adult(args.raw_dir)),
        ("german.csv.gz", build_german(args.raw_dir)),
    ]:
        path = args.out / name
        frame.to_csv(path, index=False, compression=_GZIP, lineterminator="\n")
        size = path.stat().st_size
        print(f"{path}: {len(frame)} rows, {size} bytes, sha256 {_sha256(path)}")


if __name__ == "__main__":
    main()
