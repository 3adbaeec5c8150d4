import pandas as pd
import pytest
from sklearn.utils import Bunch

from skfrl.datasets import (
    get_data_home,
    load_adult,
    load_compas,
    load_drug_consumption,
    load_german,
)


def check_loader_output(bunch, *, n_rows, n_features, sensitive, groups):
    """Properties every loader promises, whatever the data set."""
    assert isinstance(bunch, Bunch)
    X, y, s = bunch.data, bunch.target, bunch.sensitive
    assert isinstance(X, pd.DataFrame)
    assert X.shape == (n_rows, n_features)
    assert sensitive not in X.columns
    assert bunch.feature_names == list(X.columns)
    assert bunch.sensitive_name == sensitive == s.name

    assert y.dtype == "int64"
    assert set(y.unique()) == {0, 1}
    assert len(bunch.target_names) == 2

    assert isinstance(s.dtype, pd.CategoricalDtype)
    assert list(s.cat.categories) == groups
    assert set(s.unique()) == set(groups)

    for frame_part in (X, y, s):
        assert frame_part.index.equals(pd.RangeIndex(n_rows))
    assert not X.isna().any().any()
    for column, dtype in X.dtypes.items():
        assert isinstance(dtype, pd.CategoricalDtype) or dtype in (
            "int64",
            "float64",
        ), column

    assert list(bunch.frame.columns) == [*X.columns, y.name, s.name]
    assert len(bunch.frame) == n_rows
    assert isinstance(bunch.DESCR, str)
    assert "CC BY 4.0" in bunch.DESCR or "ProPublica" in bunch.DESCR


# --- Adult -------------------------------------------------------------------


@pytest.mark.parametrize(
    "subset, n_rows", [("all", 45_222), ("train", 30_162), ("test", 15_060)]
)
@pytest.mark.parametrize(
    "sensitive, groups", [("sex", ["Female", "Male"]), ("race", ["Non-White", "White"])]
)
def test_load_adult(subset, n_rows, sensitive, groups):
    bunch = load_adult(sensitive=sensitive, subset=subset)
    check_loader_output(
        bunch, n_rows=n_rows, n_features=11, sensitive=sensitive, groups=groups
    )
    X = bunch.data
    assert "fnlwgt" not in X.columns
    assert "education-num" not in X.columns
    assert X["age"].dtype == "int64"
    assert isinstance(X["education"].dtype, pd.CategoricalDtype)
    assert bunch.target_names == ["<=50K", ">50K"]
    other = "race" if sensitive == "sex" else "sex"
    assert other in X.columns


def test_load_adult_subsets_share_categories_and_partition_rows():
    train = load_adult(subset="train")
    test = load_adult(subset="test")
    full = load_adult(subset="all")
    for column in train.data.select_dtypes("category"):
        assert train.data[column].dtype == test.data[column].dtype
    assert train.target.sum() + test.target.sum() == full.target.sum()
    # Train rows come first, in file order.
    pd.testing.assert_frame_equal(full.data.iloc[:30_162], train.data)


def test_load_adult_race_is_binary_white_vs_rest():
    X, _, s = load_adult(sensitive="sex", return_X_y_s=True)
    _, _, s_race = load_adult(sensitive="race", return_X_y_s=True)
    assert ((X["race"] == "White") == (s_race == "White")).all()
    assert s.value_counts().to_dict() == {"Male": 30_527, "Female": 14_695}


def test_return_X_y_s_matches_bunch():
    bunch = load_adult(sensitive="race", subset="test")
    X, y, s = load_adult(sensitive="race", subset="test", return_X_y_s=True)
    pd.testing.assert_frame_equal(X, bunch.data)
    pd.testing.assert_series_equal(y, bunch.target)
    pd.testing.assert_series_equal(s, bunch.sensitive)


def test_loaders_return_independent_copies():
    X, y, s = load_adult(return_X_y_s=True)
    X.loc[0, "age"] = -1
    y.iloc[0] = 7
    X2, y2, _ = load_adult(return_X_y_s=True)
    assert X2.loc[0, "age"] != -1
    assert y2.iloc[0] != 7


@pytest.mark.parametrize(
    "loader, kwargs, parameter",
    [
        (load_adult, {"sensitive": "gender"}, "sensitive"),
        (load_adult, {"subset": "validation"}, "subset"),
        (load_german, {"sensitive": "race"}, "sensitive"),
        (load_compas, {"sensitive": "age"}, "sensitive"),
        (load_drug_consumption, {"sensitive": "sex"}, "sensitive"),
        (load_drug_consumption, {"drug": "cannabis"}, "drug"),
    ],
)
def test_bad_option_raises_value_error_listing_allowed(loader, kwargs, parameter):
    # Options are validated before any file is read, so this needs no data.
    with pytest.raises(ValueError, match=parameter) as excinfo:
        loader(**kwargs)
    assert "must be a str among {" in str(excinfo.value)


def test_return_X_y_s_must_be_bool():
    with pytest.raises(TypeError, match="return_X_y_s"):
        load_german(return_X_y_s="yes")


# --- German ------------------------------------------------------------------


def test_load_german_sex():
    bunch = load_german(sensitive="sex")
    check_loader_output(
        bunch, n_rows=1000, n_features=19, sensitive="sex", groups=["Female", "Male"]
    )
    # The personal-status column also encodes sex, so it must go with it.
    assert "personal_status_sex" not in bunch.data.columns
    assert "age" in bunch.data.columns
    assert bunch.sensitive.value_counts().to_dict() == {"Male": 690, "Female": 310}
    assert bunch.target.sum() == 700
    assert bunch.target_names == ["bad", "good"]
    assert bunch.data["credit_amount"].dtype == "int64"
    assert set(bunch.data["telephone"].cat.categories) == {"no", "yes"}


def test_load_german_age():
    bunch = load_german(sensitive="age")
    check_loader_output(
        bunch, n_rows=1000, n_features=19, sensitive="age", groups=["<=25", ">25"]
    )
    assert "personal_status_sex" in bunch.data.columns
    X_sex = load_german(sensitive="sex").data
    assert ((X_sex["age"] > 25) == (bunch.sensitive == ">25")).all()


def test_load_german_codes_are_decoded():
    X = load_german().data
    for column in X.select_dtypes("category"):
        values = X[column].astype(str)
        assert not values.str.fullmatch(r"A\d+").any(), column


# --- COMPAS and Drug Consumption (external files) -----------------------------


@pytest.mark.parametrize(
    "sensitive, groups",
    [
        ("race", ["African-American", "Non-African-American"]),
        ("sex", ["Female", "Male"]),
    ],
)
def test_load_compas(data_home, sensitive, groups):
    bunch = load_compas(sensitive=sensitive, data_home=data_home)
    check_loader_output(
        bunch, n_rows=6172, n_features=8, sensitive=sensitive, groups=groups
    )
    X = bunch.data
    assert bunch.target.name == "two_year_recid"
    assert set(X["c_charge_degree"].cat.categories) == {"F", "M"}
    assert (X["length_of_stay"] >= 0).all()
    assert not {"decile_score", "score_text", "age_cat"} & set(X.columns)
    if sensitive == "race":
        assert (bunch.sensitive == "African-American").sum() == 3175
    else:
        assert X["race"].nunique() == 6


def test_load_compas_reads_skfrl_data(data_home, monkeypatch):
    monkeypatch.setenv("SKFRL_DATA", str(data_home))
    X, y, s = load_compas(return_X_y_s=True)
    assert len(X) == len(y) == len(s) == 6172


@pytest.mark.parametrize(
    "sensitive, groups, counts",
    [
        ("gender", ["Female", "Male"], {"Female": 942, "Male": 943}),
        ("age", ["<35", ">=35"], {"<35": 1124, ">=35": 761}),
        ("ethnicity", ["Non-White", "White"], {"Non-White": 165, "White": 1720}),
    ],
)
def test_load_drug_consumption(data_home, sensitive, groups, counts):
    bunch = load_drug_consumption(sensitive=sensitive, data_home=data_home)
    check_loader_output(
        bunch, n_rows=1885, n_features=11, sensitive=sensitive, groups=groups
    )
    assert bunch.sensitive.value_counts().to_dict() == counts
    X = bunch.data
    assert X["openness"].dtype == "float64"
    assert "ID" not in X.columns
    assert "Cannabis" not in X.columns


def test_load_drug_consumption_target_follows_usage_classes(data_home):
    raw = pd.read_csv(data_home / "drug_consumption.csv")
    y = load_drug_consumption(drug="Heroin", data_home=data_home).target
    assert y.name == "Heroin"
    expected = raw["Heroin"].isin(["CL3", "CL4", "CL5", "CL6"]).astype("int64")
    assert (y.to_numpy() == expected.to_numpy()).all()


def test_load_drug_consumption_decodes_demographics(data_home):
    X = load_drug_consumption(sensitive="gender", data_home=data_home).data
    assert list(X["age"].cat.categories) == [
        "18-24",
        "25-34",
        "35-44",
        "45-54",
        "55-64",
        "65+",
    ]
    assert X["country"].value_counts()["UK"] == 1044
    assert X["ethnicity"].value_counts()["White"] == 1720
    assert X["education"].cat.categories.size == 9


# --- missing external files --------------------------------------------------


@pytest.mark.parametrize(
    "loader, file_name",
    [
        (load_compas, "compas-scores-two-years.csv"),
        (load_drug_consumption, "drug_consumption.csv"),
    ],
)
def test_missing_file_error_names_skfrl_data(loader, file_name, tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        loader(data_home=tmp_path)
    message = str(excinfo.value)
    assert "SKFRL_DATA" in message
    assert "data_home" in message
    assert file_name in message
    assert str(tmp_path) in message


def test_missing_file_via_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SKFRL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SKFRL_DATA environment variable"):
        load_compas()


def test_get_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SKFRL_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKFRL_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "skfrl_data"
