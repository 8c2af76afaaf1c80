"""Loading MovieLens in every format to one schema, and refusing bad input clearly.

The tiny datasets come from the `tiny_dataset` fixture (see conftest.py for
their content); the real-data tests use the shared copies and skip without them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import vocab
from recsys.data.dataset import Dataset, load_dataset, summarize
from recsys.data.errors import DataError, DataWarning
from recsys.data.paths import default_dataset_path

FORMATS = ("ml-1m", "ml-100k", "csv")

# The schema documented in recsys/data.py, as dtype names.
SCHEMA = {
    "movies": {"movie_id": "int64", "title": "str", "year": "Int64", "genres": "object"},
    "users": {"user_id": "int64", "gender": "object", "age": "Int64", "occupation": "object"},
    "ratings": {
        "user_id": "int64",
        "movie_id": "int64",
        "rating": "float32",
        "timestamp": "int64",
    },
}


def load_quietly(path: Path, **kwargs: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # tiny fixtures must load cleanly
        return load_dataset(path, **kwargs)


def movie(ds: Dataset, movie_id: int) -> pd.Series:
    return ds.movies.set_index("movie_id").loc[movie_id]


def user(ds: Dataset, user_id: int) -> pd.Series:
    return ds.users.set_index("user_id").loc[user_id]


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


# ---------------------------------------------------------------- one schema for all formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_to_the_documented_schema(tiny_dataset, fmt):
    ds = load_quietly(tiny_dataset(fmt))
    assert ds.format == fmt
    for table, expected in SCHEMA.items():
        frame = getattr(ds, table)
        assert dtypes(frame) == expected, table
        assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
    assert ds.movies["movie_id"].is_unique and ds.movies["movie_id"].is_monotonic_increasing
    assert ds.users["user_id"].is_unique and ds.users["user_id"].is_monotonic_increasing
    assert set(ds.ratings["user_id"]) <= set(ds.users["user_id"])
    assert all(isinstance(g, tuple) for g in ds.movies["genres"])


def test_movies_and_ratings_are_identical_across_formats(tiny_dataset):
    loaded = {fmt: load_quietly(tiny_dataset(fmt)) for fmt in FORMATS}
    reference = loaded["ml-1m"]
    for fmt in ("ml-100k", "csv"):
        pd.testing.assert_frame_equal(loaded[fmt].movies, reference.movies)
        pd.testing.assert_frame_equal(loaded[fmt].ratings, reference.ratings)
        assert dtypes(loaded[fmt].users) == dtypes(reference.users)
    # The unrated movie stays: cold-start movies must reach the model.
    assert 4 in set(reference.movies["movie_id"]) and 4 not in set(reference.ratings["movie_id"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_titles_are_kept_as_written(tiny_dataset, fmt):
    ds = load_quietly(tiny_dataset(fmt))
    assert movie(ds, 2)["title"] == "Misérables, Les (1995)"
    assert movie(ds, 5)["title"] == "Shawshank Redemption, The (1994) "
    assert movie(ds, 6)["title"] == '"Great Performances" Cats (1998)'


@pytest.mark.parametrize("fmt", FORMATS)
def test_genres_are_canonical_in_vocabulary_order(tiny_dataset, fmt):
    ds = load_quietly(tiny_dataset(fmt))
    assert movie(ds, 1)["genres"] == ("Animation", "Children", "Comedy")
    assert movie(ds, 5)["genres"] == ("Crime", "Drama")
    assert movie(ds, 4)["genres"] == ()  # "(no genres listed)" / the "unknown" flag


def test_csv_genres_are_reordered_and_imax_kept(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "movies.csv").write_text(
        "movieId,title,genres\n1,Avatar (2009),IMAX|Sci-Fi|Action\n2,Heat (1995),Thriller\n"
    )
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,1\n1,2,3,2\n")
    ds = load_quietly(root)
    assert movie(ds, 1)["genres"] == ("Action", "IMAX", "Sci-Fi")
    assert "IMAX" in summarize(ds)["genres"]


def test_unknown_genre_is_dropped_with_a_warning_or_refused_when_strict(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "movies.csv").write_text("movieId,title,genres\n1,Heat (1995),Thriller|Space Opera\n")
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,1\n")
    with pytest.warns(DataWarning, match="unknown genre.*Space Opera"):
        ds = load_dataset(root)
    assert movie(ds, 1)["genres"] == ("Thriller",)
    with pytest.raises(DataError, match="movies.csv.*Space Opera"):
        load_dataset(root, strict=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_years_come_from_titles(tiny_dataset, fmt):
    ds = load_quietly(tiny_dataset(fmt))
    assert movie(ds, 1)["year"] == 1995
    assert movie(ds, 3)["year"] == 1994  # "(1994-1998)" range
    assert movie(ds, 5)["year"] == 1994  # trailing space after "(1994)"
    assert pd.isna(movie(ds, 4)["year"])  # no year anywhere


def test_year_edge_cases_in_csv_titles(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Death Note: Desu nôto (2006–2007),Animation\n"
        "2,Land Before Time III (1995) (V),Children\n"
        "3,Babylon 5,Sci-Fi\n"
        "4,(500) Days of Summer (2009),Comedy\n"
        "5,1984 (1956),Drama\n",
        encoding="utf-8",
    )
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,1\n")
    ds = load_quietly(root)
    years = ds.movies.set_index("movie_id")["year"]
    assert years.loc[1] == 2006 and years.loc[2] == 1995 and years.loc[4] == 2009
    assert years.loc[5] == 1956
    assert pd.isna(years.loc[3])


def test_ml100k_year_falls_back_to_the_release_date(tiny_dataset):
    root = tiny_dataset("ml-100k")
    flags = "|".join(["0"] * 8 + ["1"] + ["0"] * 10)
    (root / "u.item").write_text(
        f"1|Toy Story (1995)|01-Jan-1995||url|{flags}\n"
        f"2|Some Documentary|14-Mar-1997||url|{flags}\n"
        f"3|unknown|||url|{'|'.join(['1'] + ['0'] * 18)}\n"
    )
    (root / "u.data").write_text("1\t1\t4\t1\n")
    ds = load_quietly(root)
    assert movie(ds, 2)["year"] == 1997
    assert pd.isna(movie(ds, 3)["year"]) and movie(ds, 3)["genres"] == ()
    assert movie(ds, 2)["genres"] == ("Drama",)


def test_ml1m_keeps_age_codes_and_names_occupations(tiny_dataset):
    ds = load_quietly(tiny_dataset("ml-1m"))
    assert ds.has_demographics
    assert [user(ds, u)["age"] for u in (1, 2, 3)] == [1, 25, 56]
    assert [user(ds, u)["occupation"] for u in (1, 2, 3)] == [
        vocab.ML1M_OCCUPATIONS[10],
        vocab.ML1M_OCCUPATIONS[12],
        vocab.ML1M_OCCUPATIONS[0],
    ]
    assert [user(ds, u)["gender"] for u in (1, 2, 3)] == ["F", "M", "M"]


def test_ml100k_maps_ages_to_ml1m_codes_and_keeps_occupation_names(tiny_dataset):
    root = tiny_dataset("ml-100k")
    ages = [7, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73]
    (root / "u.user").write_text(
        "".join(f"{i}|{age}|M|writer|00000\n" for i, age in enumerate(ages, start=1))
    )
    (root / "u.data").write_text("1\t1\t4\t1\n")
    ds = load_quietly(root)
    assert ds.users["age"].tolist() == [vocab.age_bucket(a) for a in ages]
    assert ds.users["age"].tolist()[:3] == [1, 1, 18]
    assert ds.users["age"].tolist()[-2:] == [56, 56]
    tiny = load_quietly(tiny_dataset("ml-100k"))
    # "none" is a real ML-100K occupation; the name is kept as written.
    assert tiny.users["occupation"].tolist() == ["student", "programmer", "none"]
    assert tiny.users["age"].tolist() == [1, 25, 56]


def test_csv_users_come_from_the_ratings_without_demographics(tiny_dataset):
    ds = load_quietly(tiny_dataset("csv"))
    assert not ds.has_demographics
    assert ds.users["user_id"].tolist() == [1, 2, 3]
    assert ds.users["gender"].tolist() == [None, None, None]
    assert ds.users["occupation"].tolist() == [None, None, None]
    assert ds.users["age"].isna().all()


def test_rating_scales_and_half_stars(tiny_dataset):
    assert load_quietly(tiny_dataset("ml-1m")).rating_scale == (1.0, 5.0)
    assert load_quietly(tiny_dataset("ml-100k")).rating_scale == (1.0, 5.0)
    root = tiny_dataset("csv")
    (root / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,0.5,1\n1,2,4.5,2\n2,1,5.0,3\n"
    )
    ds = load_quietly(root)
    assert ds.rating_scale == (0.5, 5.0)
    assert ds.ratings["rating"].tolist() == [0.5, 4.5, 5.0]


def test_name_defaults_to_the_directory_and_can_be_given(tiny_dataset):
    root = tiny_dataset("ml-1m")
    assert load_quietly(root).name == "ml-1m"
    assert load_quietly(str(root), name="mine").name == "mine"
    assert load_quietly(root).path == root.resolve()


def test_summarize_reports_the_headline_numbers(tiny_dataset):
    summary = summarize(load_quietly(tiny_dataset("ml-1m")))
    assert summary == {
        "name": "ml-1m",
        "format": "ml-1m",
        "users": 3,
        "movies": 6,
        "rated_movies": 5,
        "ratings": 7,
        "rating_min": 1.0,
        "rating_max": 5.0,
        "genres": sorted(
            {"Animation", "Children", "Comedy", "Drama", "Musical", "Sci-Fi", "Crime"}
        ),
        "has_demographics": True,
        "dropped_ratings": 0,
    }


def test_default_dataset_path_is_the_embedded_copy():
    path = default_dataset_path()
    assert path == Path(__file__).resolve().parents[1] / "data" / "ml-latest-small"
    assert (path / "ratings.csv").is_file() and (path / "README.txt").is_file()


def test_ml1m_movies_saved_as_utf8_are_read_as_utf8_with_a_warning(tiny_dataset):
    root = tiny_dataset("ml-1m")
    text = (root / "movies.dat").read_bytes().decode("latin-1")
    (root / "movies.dat").write_bytes(text.encode("utf-8"))
    with pytest.warns(DataWarning, match="movies.dat should be latin-1 but is UTF-8"):
        ds = load_dataset(root)
    assert movie(ds, 2)["title"] == "Misérables, Les (1995)"


@pytest.mark.parametrize("fmt", FORMATS)
def test_windows_line_endings_load_the_same(tiny_dataset, fmt):
    root = tiny_dataset(fmt)
    expected = load_quietly(root)
    for path in root.iterdir():
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    got = load_quietly(root)
    pd.testing.assert_frame_equal(got.movies, expected.movies)
    pd.testing.assert_frame_equal(got.users, expected.users)
    pd.testing.assert_frame_equal(got.ratings, expected.ratings)


def test_csv_with_a_byte_order_mark_loads(tiny_dataset):
    root = tiny_dataset("csv")
    expected = load_quietly(root)
    for name in ("movies.csv", "ratings.csv"):
        (root / name).write_bytes(b"\xef\xbb\xbf" + (root / name).read_bytes())
    got = load_quietly(root)
    pd.testing.assert_frame_equal(got.movies, expected.movies)
    pd.testing.assert_frame_equal(got.ratings, expected.ratings)


# ---------------------------------------------------------------- cleaning rules


def test_ratings_of_unknown_movies_are_dropped_and_counted(tiny_dataset):
    root = tiny_dataset("csv")
    with (root / "ratings.csv").open("a") as fh:
        fh.write("1,999,4.0,5\n2,999,3.0,6\n3,998,2.0,7\n")
    with pytest.warns(DataWarning, match=r"3 of 10 ratings .*2 movie\(s\) not in movies.csv"):
        ds = load_dataset(root)
    assert ds.dropped_ratings == 3
    assert len(ds.ratings) == 7
    assert summarize(ds)["dropped_ratings"] == 3
    with pytest.raises(DataError, match=r"ratings.csv: 3 of 10 .*998, 999.*strict=False"):
        load_dataset(root, strict=True)


def test_ratings_of_unknown_users_are_dropped_in_ml1m(tiny_dataset):
    root = tiny_dataset("ml-1m")
    with (root / "ratings.dat").open("a") as fh:
        fh.write("42::1::3::978300799\n")
    with pytest.warns(DataWarning, match=r"user\(s\) not in users.dat \(user ids 42\)"):
        ds = load_dataset(root)
    assert ds.dropped_ratings == 1
    assert 42 not in set(ds.ratings["user_id"]) and 42 not in set(ds.users["user_id"])
    with pytest.raises(DataError, match="users.dat"):
        load_dataset(root, strict=True)


def test_no_rating_left_after_dropping_unknown_movies_is_an_error(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "movies.csv").write_text("movieId,title,genres\n77,Heat (1995),Drama\n")
    with pytest.raises(DataError, match="none of its ratings refer to a listed movie"):
        with pytest.warns(DataWarning):
            load_dataset(root)


def test_duplicate_ratings_keep_the_latest(tiny_dataset):
    root = tiny_dataset("ml-100k")
    with (root / "u.data").open("a") as fh:
        fh.write("1\t1\t2\t978300000\n")  # older than the original 5: dropped
        fh.write("2\t3\t5\t978309999\n")  # newer than the original 2: replaces it
    with pytest.warns(DataWarning, match=r"2 repeated rating\(s\).*latest"):
        ds = load_dataset(root)
    assert ds.duplicate_ratings == 2 and ds.dropped_ratings == 0
    got = ds.ratings.set_index(["user_id", "movie_id"])["rating"]
    assert got.loc[(1, 1)] == 5.0 and got.loc[(2, 3)] == 5.0
    assert len(ds.ratings) == len(load_quietly(tiny_dataset("ml-1m")).ratings)
    with pytest.raises(DataError, match=r"u.data: 2 repeated .*user"):
        load_dataset(root, strict=True)


def test_duplicate_ratings_with_equal_timestamps_keep_the_later_line(tiny_dataset):
    root = tiny_dataset("csv")
    with (root / "ratings.csv").open("a") as fh:
        fh.write("1,1,2.5,978300760\n")  # same timestamp as the first line
    with pytest.warns(DataWarning):
        ds = load_dataset(root)
    assert ds.ratings.set_index(["user_id", "movie_id"])["rating"].loc[(1, 1)] == 2.5


def test_a_movie_listed_twice_is_an_error(tiny_dataset):
    root = tiny_dataset("csv")
    with (root / "movies.csv").open("a") as fh:
        fh.write("3,Babylon 5 again (1994),Sci-Fi\n")
    with pytest.raises(DataError, match=r"movies.csv: movie id\(s\) 3 appear on more than one"):
        load_dataset(root)


# ---------------------------------------------------------------- bad directories


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_a_file_is_not_a_directory(tiny_dataset):
    ratings = tiny_dataset("csv") / "ratings.csv"
    with pytest.raises(DataError, match=r"is not a directory; pass the directory that holds it"):
        load_dataset(ratings)


def test_unrecognized_directory_lists_what_each_format_needs(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path)
    message = str(err.value)
    assert "notes.txt" in message
    for needed in ("ratings.dat, users.dat, movies.dat", "u.data, u.item, u.user", "ratings.csv"):
        assert needed in message


def test_parent_directory_suggests_the_dataset_inside(tiny_dataset, tmp_path):
    tiny_dataset("csv")
    with pytest.raises(DataError, match=r"Did you mean .*csv\?"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("fmt", "remove", "expected"),
    [
        ("ml-1m", "users.dat", "looks like ML-1M but is missing users.dat"),
        ("ml-100k", "u.item", "looks like ML-100K but is missing u.item"),
        ("csv", "movies.csv", "looks like MovieLens CSV.* but is missing movies.csv"),
        ("csv", "ratings.csv", "is missing ratings.csv"),
    ],
)
def test_missing_file_is_named(tiny_dataset, fmt, remove, expected):
    root = tiny_dataset(fmt)
    (root / remove).unlink()
    with pytest.raises(DataError, match=expected):
        load_dataset(root)


def test_two_formats_in_one_directory_is_refused(tiny_dataset):
    root = tiny_dataset("csv")
    write_into = tiny_dataset("ml-100k")
    for name in ("u.data", "u.item", "u.user"):
        (root / name).write_bytes((write_into / name).read_bytes())
    with pytest.raises(DataError, match="several formats"):
        load_dataset(root)


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("fmt", "name", "content", "expected"),
    [
        ("csv", "ratings.csv", "userId\tmovieId\trating\ttimestamp\n1\t1\t4\t1\n", "by tabs"),
        ("csv", "movies.csv", "movieId;title;genres\n1;Heat (1995);Drama\n", "by ';'"),
        ("ml-100k", "u.data", "1,1,4,881250949\n", r"by ',', but ML-100K u.data uses tabs"),
        ("ml-1m", "ratings.dat", "1\t1\t4\t978300760\n", r"by tabs, but ML-1M ratings.dat"),
        ("ml-1m", "users.dat", "1|F|1|10|48067\n", r"by '\|'"),
    ],
)
def test_wrong_separator(tiny_dataset, fmt, name, content, expected):
    root = tiny_dataset(fmt)
    (root / name).write_text(content)
    with pytest.raises(DataError, match=f"{name} is separated {expected}"):
        load_dataset(root)


def test_missing_csv_header(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "ratings.csv").write_text("1,1,4.0,5\n")
    with pytest.raises(DataError, match=r"ratings.csv, line 1: header is '1,1,4.0,5'.*userId"):
        load_dataset(root)


@pytest.mark.parametrize(
    ("fmt", "name", "lines", "expected"),
    [
        ("ml-1m", "ratings.dat", ["1::1::5::1", "1::2::3"], r"ratings.dat, line 2: found 3"),
        ("ml-1m", "ratings.dat", ["1::1::5::1", "1::2::3::4::5"], "line 2: found 5 fields"),
        (
            "ml-1m",
            "movies.dat",
            ["1::Heat (1995)::Drama", "2::Alien"],
            "movies.dat, line 2: found 2",
        ),
        (
            "csv",
            "movies.csv",
            ["movieId,title,genres", "1,Alien (1979)"],
            r"line 2: missing genres",
        ),
        ("ml-100k", "u.user", ["1|24|M|writer|1", "2|30|F"], r"u.user, line 2: found 3"),
        ("csv", "ratings.csv", ["userId,movieId,rating,timestamp", "1,1,4", ""], "line 2"),
        ("csv", "movies.csv", ["movieId,title,genres", "1,Heat (1995),Drama", "2"], "line 3"),
    ],
)
def test_malformed_line_is_located(tiny_dataset, fmt, name, lines, expected):
    root = tiny_dataset(fmt)
    (root / name).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expected) as err:
        load_dataset(root)
    assert "Fix or delete that line" in str(err.value)


def test_line_numbers_count_blank_lines(tiny_dataset):
    root = tiny_dataset("ml-100k")
    (root / "u.data").write_text("1\t1\t4\t1\n\n\n1\t2\tfive\t2\n")
    with pytest.raises(DataError, match=r"u.data, line 4: rating 'five' is not a number"):
        load_dataset(root)


@pytest.mark.parametrize(
    ("fmt", "name", "lines", "expected"),
    [
        ("csv", "ratings.csv", ["userId,movieId,rating,timestamp", "1,1,4,1", "u7,1,4,1"],
         "ratings.csv, line 3: user id 'u7' is not a whole number"),
        ("ml-1m", "ratings.dat", ["1::1::5::1", "1::x2::3::1"],
         "ratings.dat, line 2: movie id 'x2' is not a whole number"),
        ("ml-1m", "movies.dat", ["M1::Heat (1995)::Drama"],
         "movies.dat, line 1: movie id 'M1' is not a whole number"),
        ("ml-100k", "u.user", ["1|24|M|writer|1", "-2|24|M|writer|1"],
         "u.user, line 2: user id '-2' is not a whole number"),
        ("csv", "ratings.csv", ["userId,movieId,rating,timestamp", "1,1,4,yesterday"],
         "line 2: timestamp 'yesterday' is not an integer"),
    ],
)  # fmt: skip
def test_non_numeric_ids_are_located(tiny_dataset, fmt, name, lines, expected):
    root = tiny_dataset(fmt)
    (root / name).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=expected):
        load_dataset(root)


@pytest.mark.parametrize(
    ("fmt", "name", "line", "expected"),
    [
        ("ml-1m", "ratings.dat", "1::1::6::1", r"rating '6' is outside the rating scale 1-5"),
        ("ml-1m", "ratings.dat", "1::1::0::1", r"rating '0' is outside"),
        ("ml-100k", "u.data", "1\t1\t3.5\t1", r"rating '3.5' is outside .*whole stars"),
        ("csv", "ratings.csv", "1,1,7.0,1", r"rating '7.0' is outside the rating scale 0.5-5"),
        ("csv", "ratings.csv", "1,1,0,1", r"rating '0' is outside"),
        ("csv", "ratings.csv", "1,1,3.25,1", r"rating '3.25' .*steps of 0.5"),
    ],
)
def test_rating_outside_the_scale(tiny_dataset, fmt, name, line, expected):
    root = tiny_dataset(fmt)
    with (root / name).open("a") as fh:
        fh.write(line + "\n")
    lines = (root / name).read_text().count("\n")
    with pytest.raises(DataError, match=f"{name}, line {lines}: {expected}"):
        load_dataset(root)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("4::X::25::1::1", "gender 'X' is not M or F"),
        ("4::F::30::1::1", "age '30' is not an ML-1M age code"),
        ("4::F::25::21::1", r"occupation '21' is not an ML-1M occupation code \(0-20\)"),
    ],
)
def test_bad_ml1m_demographics(tiny_dataset, line, expected):
    root = tiny_dataset("ml-1m")
    with (root / "users.dat").open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(DataError, match=f"users.dat, line 4: {expected}"):
        load_dataset(root)


def test_invalid_utf8_in_movies_csv(tiny_dataset):
    root = tiny_dataset("csv")
    # A latin-1 "é" is not valid UTF-8: the file was saved in the wrong encoding.
    (root / "movies.csv").write_bytes(
        b"movieId,title,genres\n1,Heat (1995),Drama\n2,Mis\xe9rables (1995),Drama\n"
    )
    with pytest.raises(DataError, match=r"movies.csv, line 3: byte 0xe9 is not valid UTF-8"):
        load_dataset(root)


def test_invalid_utf8_in_ratings_csv(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "ratings.csv").write_bytes(b"userId,movieId,rating,timestamp\n1,1,4,1\n1,\xff2,4,1\n")
    with pytest.raises(DataError, match=r"ratings.csv, line 3: byte 0xff is not valid UTF-8"):
        load_dataset(root)


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("csv", "ratings.csv"), ("csv", "movies.csv"), ("ml-1m", "users.dat"), ("ml-100k", "u.data")],
)
def test_empty_file(tiny_dataset, fmt, name):
    root = tiny_dataset(fmt)
    (root / name).write_bytes(b"")
    with pytest.raises(DataError, match=f"{name} is empty"):
        load_dataset(root)


def test_header_only_csv_has_no_data(tiny_dataset):
    root = tiny_dataset("csv")
    (root / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(DataError, match="ratings.csv has no data lines"):
        load_dataset(root)


# ---------------------------------------------------------------- real data


def _real(shared_data: Path, name: str) -> Path:
    path = shared_data / name
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.mark.slow  # loads a full real dataset
def test_real_ml100k_counts(shared_data):
    ds = load_quietly(_real(shared_data, "ml-100k"))
    assert (len(ds.ratings), len(ds.users), len(ds.movies)) == (100_000, 943, 1_682)
    assert ds.format == "ml-100k" and ds.dropped_ratings == 0 and ds.duplicate_ratings == 0
    assert movie(ds, 543)["title"] == "Misérables, Les (1995)"
    assert ds.movies["year"].isna().sum() == 1  # only movie 267, titled "unknown"
    assert set(ds.users["age"].unique()) <= set(vocab.AGE_BUCKETS)
    assert dtypes(ds.movies) == SCHEMA["movies"] and dtypes(ds.users) == SCHEMA["users"]


@pytest.mark.slow  # loads a full real dataset
def test_real_ml_latest_small_counts(shared_data):
    ds = load_quietly(_real(shared_data, "ml-latest-small"))
    assert (len(ds.ratings), len(ds.users), len(ds.movies)) == (100_836, 610, 9_742)
    assert ds.format == "csv" and ds.rating_scale == (0.5, 5.0)
    assert set(np.unique(ds.ratings["rating"])) == {x / 2 for x in range(1, 11)}
    assert summarize(ds)["rated_movies"] == 9_724
    assert dtypes(ds.ratings) == SCHEMA["ratings"]


@pytest.mark.slow  # loads a full real dataset
def test_embedded_copy_loads_with_the_published_counts():
    embedded = load_quietly(default_dataset_path())
    assert (len(embedded.ratings), len(embedded.users), len(embedded.movies)) == (
        100_836,
        610,
        9_742,
    )
    assert embedded.name == "ml-latest-small" and not embedded.has_demographics


@pytest.mark.slow  # loads a full real dataset
def test_embedded_copy_matches_the_shared_data(shared_data):
    embedded = load_quietly(default_dataset_path())
    shared = load_quietly(_real(shared_data, "ml-latest-small"))
    pd.testing.assert_frame_equal(embedded.movies, shared.movies)
    pd.testing.assert_frame_equal(embedded.ratings, shared.ratings)


def test_csv_links_give_imdb_and_tmdb_ids(tiny_dataset) -> None:
    ds = load_dataset(tiny_dataset("csv"))
    assert ds.links is not None
    row = ds.links.set_index("movie_id").loc[1]
    assert (int(row["imdb_id"]), int(row["tmdb_id"])) == (114709, 862)


def test_links_with_empty_ids_load_as_missing(tiny_dataset) -> None:
    root = tiny_dataset("csv")
    (root / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,\n2,,8844\n")
    links = load_dataset(root).links.set_index("movie_id")
    assert links.loc[1, "tmdb_id"] is pd.NA and int(links.loc[2, "tmdb_id"]) == 8844


def test_a_broken_links_file_is_left_out_with_a_warning(tiny_dataset) -> None:
    root = tiny_dataset("csv")
    (root / "links.csv").write_text("movieId,imdbId,tmdbId\nnot a number,1,2\n")
    with pytest.warns(DataWarning, match="links were left out"):
        assert load_dataset(root).links is None
    with pytest.raises(DataError, match="links.csv"):
        load_dataset(root, strict=True)


def test_formats_without_links_have_none(tiny_dataset) -> None:
    assert load_dataset(tiny_dataset("ml-1m")).links is None
