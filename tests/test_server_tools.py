"""End to end: `python -m server` as a child process, driven by the real MCP client.

Every test runs twice, over stdio and over streamable HTTP, each against one
server per transport (the `mcp` fixture, on the small model's bundle). Every tool and filter
is called for real; every kind of bad input must come back as a tool error
(isError) whose text says what to fix, and the next valid call must still
succeed.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from recsys.data.dataset import Dataset
from recsys.data.paths import default_model_path
from recsys.data.synthetic import HEAT_1986, HEAT_1995, MATRIX, UNRATED
from recsys.data.vocab import AGE_BUCKETS
from server.launch import serve_argv

if TYPE_CHECKING:
    from conftest import Session

pytestmark = pytest.mark.slow  # every test starts a server process or needs the small model

# Tool name -> (read-only, destructive) as its annotations must say.
TOOLS = {
    "recommend_for_user": (True, False),
    "recommend_for_preferences": (True, False),
    "similar_movies": (True, False),
    "search_movies": (True, False),
    "get_movie": (True, False),
    "recommend_for_group": (True, False),
    "get_profile": (True, False),
    "list_profiles": (True, False),
    "export_profile": (True, False),
    "rate_movies": (False, False),
    "watchlist_add": (False, False),
    "watchlist_remove": (False, True),
    "forget": (False, True),
    "import_profile": (False, True),
}
VALID_CALL = ("get_movie", {"movie_id": MATRIX})


def check_items(items: list[dict[str, Any]], k: int) -> None:
    """The list contract every tool shares: ranks 1..n, fields present, one number per list
    (a calibrated chance in [0, 1]: score, or similarity for similar movies) non-increasing;
    title matches carry how they matched instead of a number and a reason."""
    assert len(items) <= k
    assert [it["rank"] for it in items] == list(range(1, len(items) + 1))
    for it in items:
        assert set(it) >= {"rank", "movie_id", "title", "dataset_title", "year", "genres"}
        assert isinstance(it["genres"], list)
        if "match" in it:
            assert it["match"] in {"exact", "prefix", "words", "fuzzy"}
            assert "score" not in it and "reason" not in it
            continue
        assert it["reason"].strip() and "\n" not in it["reason"]
        assert ("score" in it) != ("similarity" in it), "one number per item"
    numbers = [it.get("score", it.get("similarity")) for it in items if "match" not in it]
    assert all(0.0 <= x <= 1.0 for x in numbers)
    assert numbers == sorted(numbers, reverse=True)
    assert len({it["movie_id"] for it in items}) == len(items)


# ------------------------------------------------------------------------ discovery


def test_tools_list_shows_annotations_and_schemas(mcp: Session) -> None:
    tools = {t.name: t for t in mcp.run(mcp.client.list_tools).tools}
    assert set(tools) == set(TOOLS)
    for tool in tools.values():
        assert tool.annotations is not None
        read_only, destructive = TOOLS[tool.name]
        assert tool.annotations.read_only_hint is read_only, tool.name
        assert tool.annotations.destructive_hint is destructive, tool.name
        assert tool.annotations.idempotent_hint is (tool.name != "rate_movies"), tool.name
        assert tool.annotations.open_world_hint is False
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert tool.description and len(tool.description) > 40
        assert tool.input_schema["additionalProperties"] is False
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    k_schema = tools["recommend_for_user"].input_schema["properties"]["k"]
    assert (k_schema["minimum"], k_schema["maximum"], k_schema["default"]) == (1, 100, 10)
    for name in ("recommend_for_user", "recommend_for_preferences", "similar_movies"):
        assert "items" in tools[name].output_schema["properties"]
    assert "similarity" in json.dumps(tools["similar_movies"].output_schema)


def test_resources_are_readable(mcp: Session) -> None:
    listed = {str(r.uri) for r in mcp.run(mcp.client.list_resources).resources}
    assert listed >= {"movierec://genres", "movierec://occupations", "movierec://model"}

    def read(uri: str) -> dict[str, Any]:
        contents = mcp.run(mcp.client.read_resource, uri).contents
        return json.loads(contents[0].text)

    assert "Sci-Fi" in read("movierec://genres")["genres"]
    occupations = read("movierec://occupations")
    assert "programmer" in occupations["occupations"]
    assert occupations["demographics_used"] is True
    card = read("movierec://model")
    assert card["user_id_range"] == [1, 60]
    text = json.dumps(card)
    assert "synthetic" in text


# ------------------------------------------------------------------------ tools


def test_recommend_for_user(
    mcp: Session, seen_by: Callable[[int], set[int]], small_dataset: Dataset
) -> None:
    out = mcp.ok("recommend_for_user", {"user_id": 7, "k": 5})
    user = out["user"]
    assert user["user_id"] == 7
    assert user["n_ratings"] == len(seen_by(7))
    known = small_dataset.users.set_index("user_id").loc[7]
    assert (user["gender"], user["occupation"]) == (known["gender"], known["occupation"])
    assert user["age"] == AGE_BUCKETS[known["age"]]
    assert user["favourite_genres"]
    check_items(out["items"], 5)
    assert len(out["items"]) == 5
    assert not {it["movie_id"] for it in out["items"]} & seen_by(7)


def test_recommend_for_user_exclude_seen_false_may_return_seen(
    mcp: Session, seen_by: Callable[[int], set[int]], small_dataset: Dataset
) -> None:
    seen = seen_by(3)
    unseen = len(small_dataset.movies) - len(seen)
    out = mcp.ok("recommend_for_user", {"user_id": 3, "k": unseen + 5})
    assert len(out["items"]) <= unseen
    out = mcp.ok("recommend_for_user", {"user_id": 3, "k": unseen + 5, "exclude_seen": False})
    check_items(out["items"], unseen + 5)
    assert {it["movie_id"] for it in out["items"]} & seen


@pytest.mark.parametrize(
    "tool,base",
    [
        ("recommend_for_user", {"user_id": 11}),
        # The stated genres are a filter of their own: three, so the others leave k movies.
        ("recommend_for_preferences", {"genres": ["Comedy", "Crime", "Horror"]}),
        ("similar_movies", {"movie": MATRIX}),
        ("search_movies", {"query": "synthetic movie"}),
    ],
)
def test_filters_apply_before_the_cut(mcp: Session, tool: str, base: dict[str, Any]) -> None:
    k = 8
    if tool != "recommend_for_preferences":
        out = mcp.ok(tool, {**base, "k": k, "genres": ["comedy", "Sci Fi"]})
        check_items(out["items"], k)
        assert out["items"], "a genre filter that matches movies still returns some"
        for it in out["items"]:
            assert {"Comedy", "Sci-Fi"} & set(it["genres"])
    if tool != "search_movies":
        out = mcp.ok(tool, {**base, "k": k, "exclude_genres": ["drama", "action"]})
        check_items(out["items"], k)
        assert len(out["items"]) == k
        for it in out["items"]:
            assert not {"Drama", "Action"} & set(it["genres"])
    out = mcp.ok(tool, {**base, "k": k, "year_min": 1970, "year_max": 1990})
    check_items(out["items"], k)
    assert out["items"]
    for it in out["items"]:
        assert it["year"] is not None and 1970 <= it["year"] <= 1990


@pytest.mark.parametrize(
    "tool,base",
    [
        ("recommend_for_user", {"user_id": 11}),
        ("recommend_for_preferences", {"genres": ["Drama"]}),
        ("similar_movies", {"movie": MATRIX}),
    ],
)
def test_filters_that_leave_nothing_give_an_empty_list_and_a_note(
    mcp: Session, tool: str, base: dict[str, Any]
) -> None:
    # The only Documentary (UNRATED) is from 2001: nothing is a Documentary before 1960.
    out = mcp.ok(tool, {**base, "year_max": 1960, "exclude_genres": [g for g in ALL_BUT_DOC]})
    assert out["items"] == []
    assert out["note"] and re.search(r"genre|year", out["note"], re.I)


ALL_BUT_DOC = [
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
]  # fmt: skip


def test_recommend_for_preferences_interprets_its_inputs(mcp: Session) -> None:
    out = mcp.ok(
        "recommend_for_preferences",
        {
            "genres": ["sci fi", "THRILLER"],
            "age": 34,
            "occupation": "software engineer",
            "gender": "female",
            "liked_movies": ["The Matrix", HEAT_1995],
            "k": 6,
        },
    )
    interp = out["interpreted"]
    assert interp["genres"] == ["Sci-Fi", "Thriller"]
    assert interp["age"] == 34 and interp["age_bucket"] == "25-34"
    assert interp["occupation"] == "programmer"
    assert interp["gender"] == "F"
    assert [m["movie_id"] for m in interp["liked_movies"]] == [MATRIX, HEAT_1995]
    assert out["demographics_used"] is True
    check_items(out["items"], 6)
    assert len(out["items"]) == 6
    assert not {HEAT_1995, MATRIX} & {it["movie_id"] for it in out["items"]}


def test_recommend_for_preferences_leaves_out_disliked_and_seen_movies(mcp: Session) -> None:
    base = mcp.ok("recommend_for_preferences", {"genres": ["Drama"], "k": 6})
    first = [it["movie_id"] for it in base["items"]]
    out = mcp.ok(
        "recommend_for_preferences",
        {
            "genres": ["Drama"],
            "disliked_movies": [first[0]],
            "exclude_movies": [first[1], "Heat (1995)"],
            "k": 6,
        },
    )
    interp = out["interpreted"]
    assert [m["movie_id"] for m in interp["disliked_movies"]] == [first[0]]
    assert [m["movie_id"] for m in interp["excluded_movies"]] == [first[1], HEAT_1995]
    check_items(out["items"], 6)
    assert not {first[0], first[1], HEAT_1995} & {it["movie_id"] for it in out["items"]}
    assert all("Drama" in it["genres"] for it in out["items"])  # the stated genre filters
    clash = mcp.error(
        "recommend_for_preferences",
        {"genres": ["Drama"], "liked_movies": [first[0]], "disliked_movies": [first[0]]},
    )
    assert "both liked and disliked" in clash


def test_similar_movies_by_title_and_id(mcp: Session) -> None:
    by_title = mcp.ok("similar_movies", {"movie": "the matrix", "k": 5})
    assert by_title["movie"]["movie_id"] == MATRIX
    check_items(by_title["items"], 5)
    sims = [it["similarity"] for it in by_title["items"]]
    assert all(-1.0 <= s <= 1.0 for s in sims)
    assert MATRIX not in {it["movie_id"] for it in by_title["items"]}
    by_id = mcp.ok("similar_movies", {"movie": MATRIX, "k": 5})
    assert by_id["items"] == by_title["items"]


def test_similar_movies_works_for_an_unrated_movie(mcp: Session) -> None:
    out = mcp.ok("similar_movies", {"movie": UNRATED, "k": 3})
    assert out["movie"]["n_ratings"] == 0 and out["movie"]["mean_rating"] is None
    assert len(out["items"]) == 3


def test_search_and_get_movie(mcp: Session) -> None:
    out = mcp.ok("search_movies", {"query": "heat", "k": 5})
    check_items(out["items"], 5)
    assert {HEAT_1986, HEAT_1995} <= {it["movie_id"] for it in out["items"][:2]}
    movie = mcp.ok("get_movie", {"movie_id": HEAT_1995})
    assert movie["title"] == "Heat (1995)" and movie["year"] == 1995
    assert movie["genres"] == ["Action", "Crime", "Thriller"]
    assert movie["n_ratings"] > 0 and 1.0 <= movie["mean_rating"] <= 5.0


# ------------------------------------------------------------------------ bad input

BAD_INPUTS = [
    # (tool, arguments, words the message must contain)
    ("recommend_for_user", {"user_id": "seven"}, ["user_id", "integer"]),
    ("recommend_for_user", {"user_id": 7, "k": "many"}, ["'k'", "integer"]),
    ("recommend_for_user", {"user_id": 7, "genres": 5}, ["genres", "list"]),
    ("recommend_for_user", {"user_id": 7, "exclude_seen": "perhaps"}, ["exclude_seen"]),
    ("recommend_for_user", {"userid": 7}, ["userid", "user_id", "Valid argument names"]),
    ("recommend_for_user", {"user_id": 7, "limit": 5}, ["limit", "Valid argument names"]),
    ("recommend_for_user", {"user_id": 7, "k": 0}, ["'k'", "1-100"]),
    ("recommend_for_user", {"user_id": 7, "k": 101}, ["'k'", "1-100"]),
    ("recommend_for_user", {"user_id": 999}, ["999", "1..60"]),
    ("recommend_for_user", {"user_id": 7, "genres": ["comdy"]}, ["comdy", "Comedy"]),
    ("recommend_for_user", {"user_id": 7, "exclude_genres": ["westrn"]}, ["Western"]),
    ("recommend_for_user", {"user_id": 7, "year_min": 2000, "year_max": 1990}, ["year_min"]),
    ("recommend_for_user", {"user_id": 7, "year_min": 1200}, ["year_min", "1870"]),
    ("recommend_for_user", {}, ["user_id", "profile", "not neither"]),
    ("recommend_for_user", {"user_id": 7, "profile": "ann"}, ["user_id", "profile", "not both"]),
    ("recommend_for_user", {"user_id": 7, "age": 30}, ["go with profile only"]),
    ("recommend_for_preferences", {"genres": ["Drama"], "age": 0}, ["age", "1-120"]),
    ("recommend_for_preferences", {"genres": ["Drama"], "age": 121}, ["age", "1-120"]),
    ("recommend_for_preferences", {"genres": []}, ["genres"]),
    ("recommend_for_preferences", {"genres": ["Drama"] * 21}, ["genres", "20"]),
    ("recommend_for_preferences", {"genres": ["horrror"]}, ["horrror", "Horror"]),
    ("recommend_for_preferences", {"genres": ["Drama"], "occupation": "x" * 201}, ["200"]),
    ("recommend_for_preferences", {"genres": ["Drama"], "liked_movies": ["zzqxv"]}, ["zzqxv"]),
    ("recommend_for_preferences", {"genres": ["Drama"], "liked_movies": [1] * 21}, ["20"]),
    ("similar_movies", {"movie": "Heat"}, [f"(id {HEAT_1986})", f"(id {HEAT_1995})"]),
    ("similar_movies", {"movie": ""}, ["movie"]),
    ("similar_movies", {"movie": "   "}, ["movie"]),
    ("similar_movies", {"movie": "qqqzzzxxx"}, ["qqqzzzxxx"]),
    ("similar_movies", {"movie": 424242}, ["424242"]),
    ("similar_movies", {"movie": MATRIX, "k": -3}, ["'k'"]),
    ("search_movies", {"query": ""}, ["query"]),
    ("search_movies", {"query": "a" * 201}, ["query", "200"]),
    ("search_movies", {"query": "heat", "genres": ["nope"]}, ["nope"]),
    ("get_movie", {"movie_id": 424242}, ["424242"]),
    ("get_movie", {"movie_id": True}, ["movie_id"]),
    ("get_movie", {"movie_id": 1, "title": "x"}, ["title", "movie_id"]),
]


@pytest.mark.parametrize(("tool", "arguments", "words"), BAD_INPUTS)
def test_bad_input_is_a_tool_error_and_the_server_keeps_serving(
    mcp: Session, tool: str, arguments: dict[str, Any], words: list[str]
) -> None:
    message = mcp.error(tool, arguments)
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    assert "Traceback" not in message and 'File "' not in message
    assert mcp.ok(*VALID_CALL)["movie_id"] == MATRIX


def test_unknown_tool_is_an_error_too(mcp: Session) -> None:
    assert "no_such_tool" in mcp.error("no_such_tool", {})
    mcp.ok(*VALID_CALL)


# ------------------------------------------------------------------------ start-up


def run_serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*serve_argv(None), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_missing_bundle_stops_start_up_cleanly(tmp_path: Path) -> None:
    done = run_serve("--model", str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert "movierec train" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def corrupt_embeddings(bundle: Path) -> str:
    # The index file holds the movie embeddings; zero the first movie's vector.
    index = bundle / "index.ann"
    data = index.read_bytes()
    index.write_bytes(data[:12] + b"\0" * 64 + data[76:])
    return "index.ann"


def newer_format(bundle: Path) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return "format version"


@pytest.mark.parametrize("damage", [corrupt_embeddings, newer_format])
def test_broken_bundle_stops_start_up_cleanly(bundle_copy: Path, damage: Any) -> None:
    broken = bundle_copy
    what = damage(broken)
    done = run_serve("--model", str(broken))
    assert done.returncode != 0
    assert what in done.stderr and "movierec train" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_model_from_environment(small_bundle: Path, stdio_session: Callable[..., Any]) -> None:
    with stdio_session(None, env={"MOVIEREC_MODEL": str(small_bundle)}) as session:
        assert session.ok(*VALID_CALL)["title"] == "The Matrix (1999)"


def test_cli_help_and_claude_config(capsys: pytest.CaptureFixture[str], small_bundle: Path) -> None:
    from server.cli import main

    assert main([]) == 0
    assert "movierec serve" in capsys.readouterr().out
    assert main(["claude-config", "--model", str(small_bundle)]) == 0
    entry = json.loads(capsys.readouterr().out)["mcpServers"]["movierec"]
    command = Path(entry["command"])
    assert command.is_absolute() and command.exists()
    assert entry["args"][0] in ("serve", "-m")
    assert entry["args"][-2:] == ["--model", str(small_bundle.resolve())]
    assert isinstance(entry["env"], dict)


def test_shipped_bundle_answers_every_tool(stdio_session: Callable[..., Any]) -> None:
    shipped = default_model_path()
    if not (shipped / "manifest.json").is_file():
        pytest.skip(f"no shipped bundle at {shipped}; build it with `make model`")
    with stdio_session(shipped) as session:
        card = json.loads(
            session.run(session.client.read_resource, "movierec://model").contents[0].text
        )
        lo, _ = card["user_id_range"]
        check_items(session.ok("recommend_for_user", {"user_id": lo, "k": 5})["items"], 5)
        prefs = session.ok("recommend_for_preferences", {"genres": ["comedy"], "age": 30, "k": 5})
        assert prefs["demographics_used"] is card["has_demographics"]
        if not card["has_demographics"]:
            assert any("demographics" in why for why in prefs["interpreted"]["ignored"])
        found = session.ok("search_movies", {"query": "toy story", "k": 3})["items"]
        assert found and "Toy Story" in found[0]["title"]
        similar = session.ok("similar_movies", {"movie": found[0]["movie_id"], "k": 5})
        check_items(similar["items"], 5)
        assert session.ok("get_movie", {"movie_id": found[0]["movie_id"]})["n_ratings"] > 0
