"""The profile tools end to end: `movierec serve` as a child process, the real MCP client,
over stdio and streamable HTTP, on a SQLite file and on a real PostgreSQL server.

A person rates movies, gets recommendations (alone and with a friend), keeps a watchlist,
exports and imports their profile and forgets it; the resource templates, prompts and
completions work; bad input of every kind is a tool error that says what is wrong, and the
server keeps serving. A profile holding a dataset user's ratings gets that user's list.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import wire_error as error
from conftest import wire_ok as ok
from conftest import wire_text as text
from mcp_types import PromptReference, ResourceTemplateReference

from recsys.data.dataset import Dataset
from recsys.data.synthetic import (
    HEAT_1986,
    HEAT_1995,
    MATRIX,
    MISERABLES,
    TOY_STORY,
    UNRATED,
    synthetic_dataset,
)
from server.launch import WireClient, http_server, wire_session

if TYPE_CHECKING:
    from conftest import Session

pytestmark = pytest.mark.slow  # every test starts server processes


def server_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


@contextmanager
def wire(model: Path, profiles: str, **extra: str) -> Iterator[WireClient]:
    """A stdio server on `model` keeping profiles at `profiles`, spoken to line by line."""
    env = server_env(MOVIEREC_PROFILES=profiles, **extra)
    with wire_session(model, env=env) as client:
        yield client


def new_postgres_database(server_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(scope="module", params=["stdio-sqlite", "http-sqlite", "stdio-pg", "http-pg"])
def served(
    request: pytest.FixtureRequest,
    small_bundle: Path,
    tmp_path_factory: pytest.TempPathFactory,
    stdio_session: Any,
    http_session: Any,
) -> Iterator[tuple[Session, str]]:
    """One server per transport and backend, with a store of its own."""
    transport, backend = request.param.split("-")
    if backend == "pg":
        location = new_postgres_database(request.getfixturevalue("postgres_url"))
    else:
        location = str(tmp_path_factory.mktemp("store") / "profiles.db")
    if transport == "stdio":
        with stdio_session(small_bundle, env={"MOVIEREC_PROFILES": location}) as session:
            yield session, backend
    else:
        extra = {"MOVIEREC_PROFILES": location}
        with http_server(small_bundle, extra_env=extra) as srv, http_session(srv.url) as session:
            yield session, backend


def test_a_person_rates_gets_recommendations_keeps_a_watchlist_and_forgets(
    served: tuple[Session, str],
) -> None:
    s, backend = served
    stored = s.ok(
        "rate_movies",
        {
            "profile": "ann",
            "ratings": [
                {"movie": MATRIX, "rating": 5},
                {"movie": "Heat 1995", "rating": "liked"},
                {"movie": "Heat (1986)", "rating": "disliked"},
            ],
            "seen": ["Toy Story"],
        },
    )
    got = [(e["movie"]["id"], e["rating"]) for e in stored["ratings"]]
    assert got == [(MATRIX, 5.0), (HEAT_1995, 4.0), (HEAT_1986, 2.0)]
    assert [e["movie"]["id"] for e in stored["seen"]] == [TOY_STORY]
    assert stored["ratings"][0]["movie"]["title"] == "Matrix, The (1999)"
    assert [e["seq"] for e in stored["ratings"] + stored["seen"]] == [1, 2, 3, 4]
    assert stored["counts"] == {"ratings": 3, "seen": 1, "watchlist": 0}

    view = s.ok("get_profile", {"profile": "ann"})
    assert [e["movie"]["id"] for e in view["ratings"]] == [MATRIX, HEAT_1995, HEAT_1986]
    assert view["dataset_matches"] is True and view["favourite_genres"]
    assert view["unmapped"] == [] and view["note"] is None

    mine = s.ok("recommend_for_user", {"profile": "ann", "k": 8})
    assert mine["user"] is None and mine["profile"]["name"] == "ann"
    assert (mine["profile"]["n_ratings"], mine["profile"]["n_seen"]) == (3, 1)
    shown = {it["movie_id"] for it in mine["items"]}
    assert len(shown) == 8 and not shown & {MATRIX, HEAT_1995, HEAT_1986, TOY_STORY}
    assert any("Matrix" in it["reason"] or "Heat (1995)" in it["reason"] for it in mine["items"])
    thin = s.ok("recommend_for_user", {"profile": "ann", "k": 3, "liked_genres": "musical"})
    assert thin["profile"]["stated_genres"] == ["Musical"]

    s.ok("rate_movies", {"profile": "bob", "ratings": [{"movie": MISERABLES, "rating": 4.5}]})
    group = s.ok("recommend_for_group", {"profiles": ["ann", "bob"], "k": 5})
    assert [m["profile"] for m in group["members"]] == ["ann", "bob"]
    picked = {it["movie_id"] for it in group["items"]}
    assert len(picked) == 5 and not picked & {MATRIX, HEAT_1995, HEAT_1986, TOY_STORY, MISERABLES}
    for item in group["items"]:
        assert item["group_score"] == pytest.approx(
            min(m["standard_score"] for m in item["members"]), abs=2e-3
        )
        assert 0 < item["score"] == min(m["chance"] for m in item["members"]) < 1
    assert "lowest member" in group["method"]

    added = s.ok("watchlist_add", {"profile": "ann", "movies": [UNRATED, "Misérables"]})
    assert [e["movie"]["id"] for e in added["added"]] == [UNRATED, MISERABLES]
    removed = s.ok("watchlist_remove", {"profile": "ann", "movies": ["Les Miserables", 424242]})
    assert [e["movie"]["id"] for e in removed["removed"]] == [MISERABLES]
    assert removed["not_found"] == ["424242"] and removed["counts"]["watchlist"] == 1

    listed = s.ok("list_profiles", {})
    assert [p["name"] for p in listed["profiles"]] == ["ann", "bob"]

    exported = s.ok("export_profile", {"profile": "ann"})
    document = exported["document"]
    assert document["format"] == "movierec-profile" and len(document["ratings"]) == 3
    copy = s.ok("import_profile", {"document": json.dumps(document), "profile": "ann-copy"})
    assert copy["counts"] == {"ratings": 3, "seen": 1, "watchlist": 1} and not copy["mapped"]
    assert "exists already" in s.error("import_profile", {"document": document})

    resource = s.run(s.client.read_resource, "movierec://profile/ann").contents[0].text
    assert json.loads(resource)["ratings"] == document["ratings"]
    movie = s.run(s.client.read_resource, f"movierec://movie/{MATRIX}").contents[0].text
    assert json.loads(movie)["title"] == "The Matrix (1999)"

    forgotten = s.ok("forget", {"profile": "ann", "movies": ["Heat (1995)", "nothing like it"]})
    assert [e["movie"]["id"] for e in forgotten["ratings"]] == [HEAT_1995]
    assert forgotten["not_found"] == ["nothing like it"] and not forgotten["whole_profile"]
    assert forgotten["erased"] is (backend == "sqlite")
    assert ("VACUUM" in forgotten["note"]) is (backend == "pg")
    everything = s.ok("forget", {"profile": "ann"})
    assert everything["whole_profile"] and len(everything["ratings"]) == 2
    assert "no profile 'ann'" in s.error("get_profile", {"profile": "ann"})
    for name in ("ann-copy", "bob"):
        s.ok("forget", {"profile": name})
    assert s.ok("list_profiles", {})["profiles"] == []


def test_templates_prompts_and_completions(served: tuple[Session, str]) -> None:
    s, _ = served
    templates = s.run(s.client.list_resource_templates).resource_templates
    assert {t.uri_template for t in templates} == {
        "movierec://movie/{id}",
        "movierec://profile/{name}",
    }
    prompts = {p.name: p for p in s.run(s.client.list_prompts).prompts}
    assert set(prompts) == {"movie_night", "what_to_watch"}
    assert [a.name for a in prompts["movie_night"].arguments or []] == [
        "who",
        "genre",
        "liked_movie",
    ]
    night = s.run(
        s.client.get_prompt, "movie_night", {"who": "ann, bob", "genre": "sci fi"}
    ).messages[0]
    assert 'recommend_for_group with profiles ["ann", "bob"]' in night.content.text
    assert '"Sci-Fi"' in night.content.text
    solo = s.run(s.client.get_prompt, "what_to_watch", {"profile": "ann", "occupation": "nurse"})
    assert 'recommend_for_user with profile "ann"' in solo.messages[0].content.text
    new = s.run(s.client.get_prompt, "what_to_watch", {"liked_movie": "Heat"}).messages[0]
    assert "First ask me for two or three genres" in new.content.text
    assert 'liked_movies ["Heat"]' in new.content.text

    def complete(ref: Any, name: str, value: str) -> list[str]:
        found = s.run(s.client.complete, ref, {"name": name, "value": value})
        return list(found.completion.values)

    night_ref = PromptReference(name="movie_night")
    assert complete(night_ref, "genre", "sc") == ["Sci-Fi"]
    assert "programmer" in complete(PromptReference(name="what_to_watch"), "occupation", "prog")
    assert complete(night_ref, "liked_movie", "matrix")[0] == "The Matrix (1999)"
    assert str(MATRIX) in complete(
        ResourceTemplateReference(uri="movierec://movie/{id}"), "id", "1"
    )


BAD = [
    # (tool, arguments, words the message must contain)
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": "qqqzzzxxx", "rating": 4}]},
        ["nothing was stored", "ratings[0]", "qqqzzzxxx"],
    ),
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": MATRIX, "rating": 7}]},
        ["ratings[0]", "rating 7", "off the scale", "0.5 to 5.0"],
    ),
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": 1, "rating": 3}] * 10_000},
        ["ratings", "at most 500"],
    ),
    (
        "rate_movies",
        {"profile": "bad name!", "ratings": [{"movie": 1, "rating": 3}]},
        ["profile", "starting with a letter or digit"],
    ),
    ("rate_movies", {"profile": "-x", "seen": [1]}, ["starting with a letter or digit"]),
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": "Heat", "rating": 3}]},
        [f"(id {HEAT_1986})", f"(id {HEAT_1995})", "add the year"],
    ),
    (
        "rate_movies",
        {
            "profile": "eve",
            "ratings": [{"movie": "Robert'); DROP TABLE entries;--", "rating": 3}],
            "seen": ["' OR 1=1 --"],
        },
        ["ratings[0]", "DROP TABLE", "seen[0]", "OR 1=1"],
    ),
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": MATRIX, "rating": 4}], "seen": [MATRIX]},
        ["seen[0]", "also ratings[0]"],
    ),
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": MATRIX, "rating": True}]},
        ["not a number"],
    ),
    (
        "rate_movies",
        {"profile": "eve", "ratings": [{"movie": MATRIX}]},
        ["ratings[0].rating", "missing"],
    ),
    ("rate_movies", {"profile": "eve"}, ["nothing to store"]),
    ("get_profile", {"profile": "nobody"}, ["no profile 'nobody'", "rating a movie creates"]),
    ("recommend_for_user", {"profile": "nobody"}, ["no profile 'nobody'"]),
    ("recommend_for_group", {"profiles": ["nobody", "noone"]}, ["'nobody'", "'noone'"]),
    ("recommend_for_group", {"profiles": ["solo"]}, ["profiles", "at least 2"]),
    ("forget", {"profile": "nobody"}, ["no profile 'nobody'"]),
    ("import_profile", {"document": {"ratings": []}}, ["not a movierec profile document"]),
    ("import_profile", {"document": "not json"}, ["document"]),
    ("watchlist_add", {"profile": "eve", "movies": []}, ["movies", "at least 1"]),
]


def test_bad_input_is_a_clear_tool_error_and_the_server_keeps_serving(
    small_bundle: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "profiles.db")
    with wire(small_bundle, store) as client:
        ok(
            client,
            "rate_movies",
            {"profile": "eve", "ratings": [{"movie": TOY_STORY, "rating": 3}]},
        )
        for tool, arguments, words in BAD:
            message = error(client, tool, arguments)
            for word in words:
                assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
            assert "Traceback" not in message
            assert ok(client, "get_profile", {"profile": "eve"})["counts"]["ratings"] == 1
        # One call, several bad items among good ones: every bad item listed, nothing stored.
        mixed = [
            {"movie": MATRIX, "rating": 4},
            {"movie": "qqqzzzxxx", "rating": 4},
            {"movie": HEAT_1995, "rating": 0},
            {"movie": 424242, "rating": "great"},
        ]
        message = error(client, "rate_movies", {"profile": "eve", "ratings": mixed})
        assert "4 problems" in message
        for label in ("ratings[1]", "ratings[2]", "ratings[3] (424242): No movie has id"):
            assert label in message, message
        assert "ratings[3] (424242): rating 'great' is not a number" in message
        assert "ratings[0]" not in message
        assert ok(client, "get_profile", {"profile": "eve"})["counts"]["ratings"] == 1
        # The titles with SQL in them were data, never SQL: the store is whole.
        assert ok(client, "get_movie", {"movie_id": MATRIX})["movie_id"] == MATRIX
        assert [p["name"] for p in ok(client, "list_profiles", {})["profiles"]] == ["eve"]


def test_a_profile_of_a_users_ratings_gets_that_users_list_over_mcp(
    nodemo_bundle: Path, tmp_path: Path
) -> None:
    dataset: Dataset = synthetic_dataset(demographics=False)
    with wire(nodemo_bundle, str(tmp_path / "profiles.db")) as client:
        for user_id in (4, 9):
            r = dataset.ratings[dataset.ratings["user_id"] == user_id]
            r = r.sort_values(["timestamp", "movie_id"], kind="stable")
            ratings = [
                {"movie": int(m), "rating": float(x)}
                for m, x in zip(r["movie_id"], r["rating"], strict=True)
            ]
            ok(client, "rate_movies", {"profile": f"u{user_id}", "ratings": ratings})
            for extra in ({}, {"genres": ["Drama", "Comedy"], "k": 20}):
                by_user = ok(client, "recommend_for_user", {"user_id": user_id, **extra})
                by_profile = ok(client, "recommend_for_user", {"profile": f"u{user_id}", **extra})
                assert [i["movie_id"] for i in by_profile["items"]] == [
                    i["movie_id"] for i in by_user["items"]
                ]
                assert [i["reason"] for i in by_profile["items"]] == [
                    i["reason"] for i in by_user["items"]
                ]
            assert by_profile["profile"]["favourite_genres"] == by_user["user"]["favourite_genres"]


def test_long_profiles_are_cut_to_fit_the_answer_cap(small_bundle: Path, tmp_path: Path) -> None:
    """A small answer cap (MOVIEREC_LIMITS) shows how long lists are cut, with a note."""
    store = str(tmp_path / "profiles.db")
    with wire(small_bundle, store, MOVIEREC_LIMITS="answer_chars=6000") as client:
        ratings = [{"movie": m, "rating": 3} for m in range(9, 89)]
        stored = client.call_tool("rate_movies", {"profile": "zed", "ratings": ratings})
        assert len(json.dumps(stored["structuredContent"])) <= 3000
        assert len(stored["structuredContent"]["ratings"]) < 80
        assert "more entries were stored than this answer shows" in text(stored)
        view = ok(client, "get_profile", {"profile": "zed"})
        assert view["counts"]["ratings"] == 80 and len(view["ratings"]) < 80
        assert view["ratings"][-1]["movie"]["id"] == 88  # the most recent are kept
        assert "resource movierec://profile/zed holds them all" in view["note"]
        exported = ok(client, "export_profile", {"profile": "zed"})
        assert exported["document"] is None and "movierec://profile/zed" in exported["note"]
