"""`movierec data download|list|info`, driven through the real command line (`server.cli`)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recsys.commands import data as data_command
from recsys.data import download
from recsys.data.paths import default_dataset_path
from server.cli import main

MOVIES = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy\n"
    "2,Heat (1995),Action|Crime|Thriller\n"
    "3,Casino (1995),Crime|Drama\n"
    "4,Nixon (1995),Drama\n"
)
RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n"
    "1,2,0.5,964981247\n"
    "2,2,5.0,964982224\n"
    "2,3,3.5,964983815\n"
    "3,1,2.0,964982931\n"
)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(download.BASE_URL_ENV, "http://127.0.0.1:9/unreachable")


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def tiny(tmp_path) -> Path:
    """3 users, 4 movies (one never rated), 5 ratings from 0.5 to 5.0."""
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "movies.csv").write_text(MOVIES)
    (root / "ratings.csv").write_text(RATINGS)
    return root


# --- list -----------------------------------------------------------------------------------


def test_list_shows_every_known_dataset_and_where_it_is(capsys, cache):
    (cache / "ml-1m").mkdir(parents=True)
    code, out, err = run_cli(["data", "list", "--cache-dir", str(cache)], capsys)
    assert code == 0 and err == ""
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("ml-")}
    assert list(lines) == ["ml-100k", "ml-1m", "ml-latest-small", "ml-25m", "ml-32m"]
    assert f"cached: {cache / 'ml-1m'}" in lines["ml-1m"]
    assert "not downloaded (movierec data download ml-100k)" in lines["ml-100k"]
    assert "pinned" in lines["ml-1m"] and "pinned" not in lines["ml-latest-small"]
    assert f"cache: {cache}" in out


def test_list_json_marks_the_embedded_copy(capsys, cache, tmp_path, monkeypatch):
    embedded = tmp_path / "repo" / "data" / "ml-latest-small"
    embedded.mkdir(parents=True)
    monkeypatch.setattr(data_command, "default_dataset_path", lambda: embedded)
    (cache / "ml-32m").mkdir(parents=True)

    code, out, _ = run_cli(["data", "list", "--json"], capsys)  # cache from MOVIEREC_CACHE

    assert code == 0
    listing = json.loads(out)
    assert listing["cache_dir"] == str(cache)
    rows = {row["name"]: row for row in listing["datasets"]}
    assert rows["ml-latest-small"]["embedded"] == str(embedded)
    assert rows["ml-latest-small"]["cached"] is None
    assert rows["ml-32m"]["cached"] == str(cache / "ml-32m")
    assert rows["ml-100k"]["cached"] is None and rows["ml-100k"]["embedded"] is None
    assert rows["ml-1m"]["md5_pinned"] is True
    assert rows["ml-latest-small"]["md5_pinned"] is False


# --- info -----------------------------------------------------------------------------------


def test_info_table_on_a_tiny_folder(capsys, tiny):
    code, out, err = run_cli(["data", "info", str(tiny)], capsys)
    assert code == 0 and err == ""
    table = dict(_row(line) for line in out.splitlines())
    assert table["users"] == "3"
    assert table["movies"] == "4"
    assert table["rated movies"] == "3"
    assert table["ratings"] == "5"
    assert table["ratings given"] == "0.5 to 5"
    assert table["demographics"] == "no"
    assert table["format"] == "csv"
    assert table["genres"].startswith("8 (Action, Adventure, Animation, Children, ")
    assert table["dropped ratings"].startswith("0 ")


def _row(line: str) -> tuple[str, str]:
    key, _, value = line.partition("  ")
    return key.strip(), value.strip()


def test_info_json_on_a_tiny_folder(capsys, tiny):
    code, out, _ = run_cli(["data", "info", str(tiny), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["path"] == str(tiny)
    assert (info["users"], info["movies"], info["rated_movies"], info["ratings"]) == (3, 4, 3, 5)
    assert (info["rating_min"], info["rating_max"]) == (0.5, 5.0)
    assert info["has_demographics"] is False
    assert info["dropped_ratings"] == 0
    assert sorted(info["genres"]) == [
        "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Drama", "Thriller",
    ]  # fmt: skip


def test_info_reports_dropped_ratings_and_strict_refuses(capsys, tiny):
    (tiny / "ratings.csv").write_text(RATINGS + "3,99,4.0,964982999\n")  # movie 99 is unknown

    code, out, err = run_cli(["data", "info", str(tiny), "--json"], capsys)
    assert code == 0
    assert json.loads(out)["dropped_ratings"] == 1
    assert "warning:" in err and "99" in err

    code, out, err = run_cli(["data", "info", str(tiny), "--strict"], capsys)
    assert code == 2 and out == ""
    assert err.startswith("movierec data info: error:") and "99" in err
    assert "Traceback" not in err


def test_info_on_a_cached_name(capsys, cache, tiny):
    cache.mkdir()
    tiny.rename(cache / "ml-25m")  # stands in for a downloaded copy
    code, out, _ = run_cli(["data", "info", "ml-25m", "--cache-dir", str(cache), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["path"] == str(cache / "ml-25m") and info["ratings"] == 5


EMBEDDED = default_dataset_path()


@pytest.mark.slow  # loads the full embedded dataset
@pytest.mark.skipif(not EMBEDDED.is_dir(), reason=f"embedded dataset absent at {EMBEDDED}")
def test_info_on_the_embedded_default(capsys):
    code, out, _ = run_cli(["data", "info", "default", "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    # Counted independently of the loader, straight from the CSVs.
    ratings = pd.read_csv(EMBEDDED / "ratings.csv")
    movies = pd.read_csv(EMBEDDED / "movies.csv")
    assert info["path"] == str(EMBEDDED)
    assert info["format"] == "csv"
    assert info["users"] == ratings["userId"].nunique()
    assert info["movies"] == len(movies)
    assert info["ratings"] == len(ratings)
    assert (info["rating_min"], info["rating_max"]) == (ratings.rating.min(), ratings.rating.max())
    assert info["has_demographics"] is False

    code, out, _ = run_cli(["data", "info", "default"], capsys)
    assert code == 0 and f"{len(ratings):,}" in out


# --- errors: exit 2, one clear line on stderr, no traceback ---------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["data", "info", "no/such/folder"], "neither a known dataset nor an existing path"),
        (["data", "info", "ml-1m"], "run `movierec data download ml-1m`"),
        (["data", "download", "ml-7m"], "unknown dataset 'ml-7m'"),
        (["data", "download", "ml-1m", "--no-progress"], "could not reach http://127.0.0.1:9/"),
        (["data"], "choose an action"),
    ],
)
def test_errors_exit_2_with_a_message(capsys, argv, expected):
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert expected in err
    assert "Traceback" not in err


def test_info_on_a_folder_that_is_not_a_dataset(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = run_cli(["data", "info", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("movierec data info: error:")
    assert "not a MovieLens dataset" in err


# --- download through a local server --------------------------------------------------------


@pytest.fixture
def mirror(tmp_path):
    """A static HTTP server on 127.0.0.1 over tmp_path/mirror; yields (folder, base URL)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _zip_folder(name: str, files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for file, text in files.items():
            zf.writestr(f"{name}/{file}", text)
    return buf.getvalue()


def test_download_command_then_info(capsys, cache, mirror, monkeypatch):
    folder, base = mirror
    body = _zip_folder("ml-25m", {"movies.csv": MOVIES, "ratings.csv": RATINGS})
    (folder / "ml-25m.zip").write_bytes(body)
    spec = dataclasses.replace(download.DATASETS["ml-25m"], md5=hashlib.md5(body).hexdigest())
    monkeypatch.setitem(download.DATASETS, "ml-25m", spec)
    monkeypatch.setenv(download.BASE_URL_ENV, base)

    argv = ["data", "download", "ml-25m", "--cache-dir", str(cache), "--no-progress"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert out.strip() == str(cache / "ml-25m")

    code, out, _ = run_cli(["data", "info", "ml-25m", "--cache-dir", str(cache), "--json"], capsys)
    assert code == 0 and json.loads(out)["ratings"] == 5

    code, out, _ = run_cli(["data", "list", "--cache-dir", str(cache)], capsys)
    assert f"cached: {cache / 'ml-25m'}" in out


def test_download_command_reports_a_bad_checksum(capsys, cache, mirror, monkeypatch):
    folder, base = mirror
    (folder / "ml-1m.zip").write_bytes(_zip_folder("ml-1m", {"ratings.dat": ""}))
    argv = ["data", "download", "ml-1m", "--cache-dir", str(cache), "--base-url", base]
    code, out, err = run_cli(argv + ["--no-progress"], capsys)
    assert code == 2 and out == ""
    assert "expected md5 c4d9eecfca2ab87c1945afe126590906" in err
    assert "Traceback" not in err
    assert download.cached_datasets(cache) == {}


def test_download_command_404(capsys, cache, mirror):
    _, base = mirror
    argv = ["data", "download", "ml-100k", "--cache-dir", str(cache), "--base-url", base]
    code, _, err = run_cli(argv + ["--no-progress"], capsys)
    assert code == 2
    assert f"{base}/ml-100k.zip" in err and "HTTP 404" in err
