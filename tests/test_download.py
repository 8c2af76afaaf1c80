"""Dataset downloads against a real HTTP server on 127.0.0.1 serving zips built here."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from recsys.data import dataset as data
from recsys.data import download
from recsys.data.download import DownloadError
from recsys.data.errors import DataError

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def _item_line(movie_id: int, title: str, date: str, genres: set[str]) -> str:
    flags = "|".join("1" if g in genres else "0" for g in GENRES_100K)
    return f"{movie_id}|{title}|{date}||http://example.invalid/{movie_id}|{flags}"


def ml100k_files() -> dict[str, str]:
    """A tiny but complete ML-100K-format dataset: 3 users, 4 movies, 6 ratings."""
    items = [
        _item_line(1, "Toy Story (1995)", "01-Jan-1995", {"Animation", "Children's", "Comedy"}),
        _item_line(2, "GoldenEye (1995)", "01-Jan-1995", {"Action", "Thriller"}),
        _item_line(3, "Four Rooms (1995)", "01-Jan-1995", {"Thriller"}),
        _item_line(4, "Get Shorty (1995)", "01-Jan-1995", {"Comedy", "Drama"}),
    ]
    ratings = [
        (1, 1, 5, 881250949),
        (1, 2, 3, 881250950),
        (2, 1, 4, 881250951),
        (2, 3, 1, 881250952),
        (3, 2, 2, 881250953),
        (3, 4, 4, 881250954),
    ]
    return {
        "u.data": "".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in ratings),
        "u.item": "\n".join(items) + "\n",
        "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n",
        "u.genre": "".join(f"{g}|{i}\n" for i, g in enumerate(GENRES_100K)) + "\n",
        "u.occupation": "technician\nother\nwriter\n",
        "u.info": "3 users\n4 items\n6 ratings\n",
    }


def csv_files() -> dict[str, str]:
    return {
        "movies.csv": "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
        "2,Jumanji (1995),Adventure|Children|Fantasy\n3,Heat (1995),Action|Crime|Thriller\n",
        "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
        "2,2,0.5,964982224\n2,3,3.0,964983815\n",
    }


def make_zip(folder: str, files: dict[str, str], extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}/", "")
        for name, text in files.items():
            zf.writestr(f"{folder}/{name}", text.encode("latin-1"))
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return buf.getvalue()


@dataclasses.dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    declared_length: int | None = None  # Content-Length to announce; default len(body)
    send_length: bool = True


class LocalServer:
    """Serves `routes` (URL path -> Reply); anything else is a 404. Records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                reply = server.routes.get(self.path)
                if reply is None or reply.status != 200:
                    self.send_error(404 if reply is None else reply.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                if reply.send_length:
                    length = reply.declared_length or len(reply.body)
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(reply.body)
                # HTTP/1.0: the connection closes here, short of any declared length.

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/datasets"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def serve(self, name: str, reply: Reply) -> None:
        self.routes[f"/datasets/{name}.zip"] = reply

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    # Nothing in these tests may touch the real cache or the internet.
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "env-cache"))
    monkeypatch.setenv(download.BASE_URL_ENV, "http://127.0.0.1:9/unreachable")


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def pin(monkeypatch, name: str, body: bytes) -> None:
    spec = download.DATASETS[name]
    md5 = hashlib.md5(body).hexdigest()
    monkeypatch.setitem(download.DATASETS, name, dataclasses.replace(spec, md5=md5))


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def assert_nothing_usable(cache: Path, name: str) -> None:
    """No dataset folder, no temp files, and resolving the name says to download it."""
    assert leftovers(cache) == []
    assert download.cached_datasets(cache) == {}
    with pytest.raises(DataError, match=f"movierec data download {name}"):
        download.resolve_dataset(name, cache)


# --- registry -------------------------------------------------------------------------------


def test_registry_pins_the_published_checksums():
    assert download.DATASETS["ml-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert download.DATASETS["ml-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert set(download.DATASETS) == {"ml-100k", "ml-1m", "ml-latest-small", "ml-25m", "ml-32m"}
    for name, spec in download.DATASETS.items():
        assert spec.url(download.DEFAULT_BASE_URL) == (
            f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        )
        assert spec.md5 is None or (len(spec.md5) == 32 and int(spec.md5, 16) >= 0)
    unpinned = {name for name, spec in download.DATASETS.items() if spec.md5 is None}
    assert unpinned == {"ml-latest-small"}


def test_cache_dir_precedence(tmp_path):
    home = Path.home()
    assert download.default_cache_dir({}) == home / ".cache" / "movierec"
    assert download.default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "movierec"
    both = {"XDG_CACHE_HOME": str(tmp_path), download.CACHE_ENV: str(tmp_path / "mine")}
    assert download.default_cache_dir(both) == tmp_path / "mine"


def test_base_url_comes_from_the_environment(server, cache, monkeypatch):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))
    monkeypatch.setenv(download.BASE_URL_ENV, server.base_url)
    assert download.download("ml-100k", cache, progress=False) == cache / "ml-100k"
    assert server.requests == ["/datasets/ml-100k.zip"]


# --- successful downloads -------------------------------------------------------------------


def test_download_verifies_unpacks_and_then_uses_the_cache(server, cache, monkeypatch):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))

    path = download.download("ml-100k", cache, base_url=server.base_url, progress=False)

    assert path == cache / "ml-100k"
    assert sorted(p.name for p in path.iterdir()) == sorted(ml100k_files())
    assert leftovers(cache) == ["ml-100k"]  # no temp zip or unpack folder left
    ds = data.load_dataset(path)
    assert (len(ds.users), len(ds.movies), len(ds.ratings)) == (3, 4, 6)
    assert ds.has_demographics
    assert download.cached_datasets(cache) == {"ml-100k": path}
    assert download.resolve_dataset("ml-100k", cache) == path

    again = download.download("ml-100k", cache, base_url=server.base_url, progress=False)
    assert again == path
    assert server.requests == ["/datasets/ml-100k.zip"]  # the second call made no request


def test_unpinned_download_warns_and_loads(server, cache, capsys):
    body = make_zip("ml-latest-small", csv_files())
    server.serve("ml-latest-small", Reply(body))

    path = download.download("ml-latest-small", cache, base_url=server.base_url, progress=False)

    err = capsys.readouterr().err
    assert "no pinned checksum" in err
    assert hashlib.md5(body).hexdigest() in err
    ds = data.load_dataset(path)
    assert (len(ds.users), len(ds.movies), len(ds.ratings)) == (2, 3, 4)
    assert not ds.has_demographics


def test_progress_bar_goes_to_stderr(server, cache, monkeypatch, capsys):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))
    download.download("ml-100k", cache, base_url=server.base_url, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "ml-100k" in err and "100%" in err


def test_force_downloads_again_and_replaces_the_copy(server, cache, monkeypatch):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))
    path = download.download("ml-100k", cache, base_url=server.base_url, progress=False)
    (path / "stale-marker").write_text("from the old copy")

    again = download.download(
        "ml-100k", cache, base_url=server.base_url, force=True, progress=False
    )

    assert again == path
    assert not (path / "stale-marker").exists()
    assert (path / "u.data").read_text() == ml100k_files()["u.data"]
    assert len(server.requests) == 2
    assert leftovers(cache) == ["ml-100k"]


def test_failed_forced_download_keeps_the_old_copy(server, cache, monkeypatch):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))
    path = download.download("ml-100k", cache, base_url=server.base_url, progress=False)

    server.serve("ml-100k", Reply(status=500))
    with pytest.raises(DownloadError, match="HTTP 500"):
        download.download("ml-100k", cache, base_url=server.base_url, force=True, progress=False)

    assert leftovers(cache) == ["ml-100k"]
    assert data.load_dataset(path).ratings.shape[0] == 6


# --- failures leave nothing behind ----------------------------------------------------------


def test_wrong_checksum_is_an_error_and_leaves_nothing(server, cache):
    body = make_zip("ml-100k", ml100k_files())  # not the official zip: md5 differs from the pin
    server.serve("ml-100k", Reply(body))

    with pytest.raises(DownloadError) as err:
        download.download("ml-100k", cache, base_url=server.base_url, progress=False)

    message = str(err.value)
    assert "expected md5 0e33842e24a9c977be4e0107933c0723" in message
    assert f"got {hashlib.md5(body).hexdigest()}" in message
    assert_nothing_usable(cache, "ml-100k")


def test_truncated_body_is_an_error(server, cache, monkeypatch):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    # The whole (valid, correctly hashed) zip arrives, but the server promised more: only the
    # length check can catch this.
    server.serve("ml-100k", Reply(body, declared_length=len(body) + 4096))

    with pytest.raises(DownloadError, match=f"truncated: got {len(body)} of {len(body) + 4096}"):
        download.download("ml-100k", cache, base_url=server.base_url, progress=False)

    assert_nothing_usable(cache, "ml-100k")


def test_cut_off_zip_without_length_is_an_error(server, cache, capsys):
    body = make_zip("ml-latest-small", csv_files())
    server.serve("ml-latest-small", Reply(body[: len(body) // 2], send_length=False))

    with pytest.raises(DownloadError, match="not a valid zip"):
        download.download("ml-latest-small", cache, base_url=server.base_url, progress=False)

    assert leftovers(cache) == []
    assert download.cached_datasets(cache) == {}


@pytest.mark.parametrize(
    ("status", "hint"), [(500, "try again later"), (503, "try again later"), (404, "not on the")]
)
def test_http_errors_name_the_url_and_status(server, cache, status, hint):
    if status != 404:  # a 404 is what the server answers for anything it does not serve
        server.serve("ml-1m", Reply(status=status))

    with pytest.raises(DownloadError) as err:
        download.download("ml-1m", cache, base_url=server.base_url, progress=False)

    message = str(err.value)
    assert f"{server.base_url}/ml-1m.zip" in message
    assert f"HTTP {status}" in message
    assert hint in message
    assert_nothing_usable(cache, "ml-1m")


def test_unreachable_server_is_a_clear_error(cache):
    with pytest.raises(DownloadError, match="could not reach http://127.0.0.1:9/"):
        download.download("ml-1m", cache, base_url="http://127.0.0.1:9/x", progress=False)
    assert leftovers(cache) == []


class _BarThatBreaks:
    """Stands in for tqdm; raises `error` on the third chunk, mid-stream."""

    error: BaseException = KeyboardInterrupt()

    def __init__(self, *args, **kwargs) -> None:
        self.updates = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int) -> None:
        self.updates += 1
        if self.updates == 3:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("disk on fire")])
def test_interrupted_download_leaves_nothing_and_can_be_redone(server, cache, monkeypatch, error):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))
    with monkeypatch.context() as m:
        m.setattr(download, "_CHUNK", 64)
        m.setattr(_BarThatBreaks, "error", error)
        m.setattr(download, "tqdm", _BarThatBreaks)
        with pytest.raises(type(error)):
            download.download("ml-100k", cache, base_url=server.base_url)

    assert_nothing_usable(cache, "ml-100k")
    path = download.download("ml-100k", cache, base_url=server.base_url, progress=False)
    assert data.load_dataset(path).ratings.shape[0] == 6


def test_interrupted_unpack_leaves_nothing(server, cache, monkeypatch):
    body = make_zip("ml-100k", ml100k_files())
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))
    real = download._extract_member
    calls = []

    def extract_then_interrupt(zf, info, dest):
        calls.append(info.filename)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(zf, info, dest)

    monkeypatch.setattr(download, "_extract_member", extract_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        download.download("ml-100k", cache, base_url=server.base_url, progress=False)

    assert len(calls) == 4  # it really stopped half-way through the members
    assert_nothing_usable(cache, "ml-100k")


@pytest.mark.parametrize(
    "evil", ["../evil.txt", "ml-100k/../../evil.txt", "<tmp>/abs-evil.txt", "..\\evil.txt"]
)
def test_zip_path_traversal_is_rejected(server, cache, monkeypatch, tmp_path, evil):
    evil = evil.replace("<tmp>", str(tmp_path))  # an absolute entry name
    body = make_zip("ml-100k", ml100k_files(), extra={evil: "pwned"})
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))

    with pytest.raises(DownloadError, match="points outside the dataset folder"):
        download.download("ml-100k", cache, base_url=server.base_url, progress=False)

    assert not (tmp_path / "evil.txt").exists()
    assert not (cache / "evil.txt").exists()
    assert not (tmp_path / "abs-evil.txt").exists()
    assert_nothing_usable(cache, "ml-100k")


def test_zip_symlink_entry_is_rejected(server, cache, monkeypatch):
    buf = io.BytesIO(make_zip("ml-100k", ml100k_files()))
    with zipfile.ZipFile(buf, "a") as zf:
        link = zipfile.ZipInfo("ml-100k/u.link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    body = buf.getvalue()
    pin(monkeypatch, "ml-100k", body)
    server.serve("ml-100k", Reply(body))

    with pytest.raises(DownloadError, match="symbolic link"):
        download.download("ml-100k", cache, base_url=server.base_url, progress=False)
    assert_nothing_usable(cache, "ml-100k")


def test_zip_of_the_wrong_dataset_is_rejected(server, cache, monkeypatch):
    body = make_zip("ml-1m", csv_files())  # right folder, wrong files
    pin(monkeypatch, "ml-1m", body)
    server.serve("ml-1m", Reply(body))
    with pytest.raises(DownloadError, match="lacks ratings.dat, movies.dat, users.dat"):
        download.download("ml-1m", cache, base_url=server.base_url, progress=False)
    assert_nothing_usable(cache, "ml-1m")


def test_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(DownloadError, match="unknown dataset 'ml-7m'.*ml-100k, ml-1m"):
        download.download("ml-7m", cache)


# --- resolve_dataset ------------------------------------------------------------------------


@pytest.fixture
def embedded(monkeypatch, tmp_path) -> Path:
    path = tmp_path / "embedded" / "ml-latest-small"
    path.mkdir(parents=True)
    monkeypatch.setattr(download, "default_dataset_path", lambda: path)
    return path


def test_resolve_default_and_embedded_fallback(embedded, cache):
    assert download.resolve_dataset("default", cache) == embedded
    assert download.resolve_dataset("ml-latest-small", cache) == embedded
    (cache / "ml-latest-small").mkdir(parents=True)
    assert download.resolve_dataset("ml-latest-small", cache) == cache / "ml-latest-small"


def test_resolve_missing_embedded_copy_is_an_error(monkeypatch, tmp_path, cache):
    missing = tmp_path / "nowhere" / "ml-latest-small"
    monkeypatch.setattr(download, "default_dataset_path", lambda: missing)
    with pytest.raises(DataError, match="embedded dataset is missing"):
        download.resolve_dataset("default", cache)
    with pytest.raises(DataError, match="movierec data download ml-latest-small"):
        download.resolve_dataset("ml-latest-small", cache)


def test_resolve_known_name_uses_the_cache(cache, tmp_path, monkeypatch):
    with pytest.raises(DataError, match="not downloaded yet.*movierec data download ml-25m"):
        download.resolve_dataset("ml-25m", cache)
    (cache / "ml-25m").mkdir(parents=True)
    assert download.resolve_dataset("ml-25m", cache) == cache / "ml-25m"
    # Without an explicit cache dir, MOVIEREC_CACHE decides.
    monkeypatch.setenv(download.CACHE_ENV, str(cache))
    assert download.resolve_dataset("ml-25m") == cache / "ml-25m"


def test_resolve_paths_and_nonsense(tmp_path, cache):
    folder = tmp_path / "my-data"
    folder.mkdir()
    assert download.resolve_dataset(str(folder), cache) == folder
    with pytest.raises(DataError) as err:
        download.resolve_dataset(str(tmp_path / "no-such-thing"), cache)
    message = str(err.value)
    assert "neither a known dataset nor an existing path" in message
    for name in ["default", "ml-100k", "ml-1m", "ml-latest-small", "ml-25m", "ml-32m"]:
        assert name in message


def test_cached_datasets_ignores_temp_and_unknown_folders(cache):
    (cache / "ml-1m").mkdir(parents=True)
    (cache / ".ml-100k-unpack-abc").mkdir()
    (cache / ".ml-100k-x.zip.part").write_bytes(b"partial")
    (cache / "something-else").mkdir()
    (cache / "ml-100k").write_text("a file, not a dataset folder")
    assert download.cached_datasets(cache) == {"ml-1m": cache / "ml-1m"}
