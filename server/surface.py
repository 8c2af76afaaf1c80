"""The MCP surface beside the tools: resource templates, prompts a person picks from a menu,
and completions for their arguments.

- `movierec://movie/{id}`: one movie's details; `movierec://profile/{name}`: a profile's
  whole document (the caller's namespace), however long (tool answers are capped).
- Prompts: "movie night" (who is watching, a genre, a movie they all liked) and "what should
  I watch" (a profile, or a genre, occupation and a liked movie for someone new).
- Completions: genre, occupation and movie titles for the prompts' arguments, movie ids for
  the movie template. Profile names are not completed: a completion request carries no
  credential, so it could not be kept to the caller's namespace.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import numpy as np
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import Field

from recsys.data.vocab import ML1M_OCCUPATIONS
from recsys.profiles import ProfileError, ProfileNotFound
from recsys.profiles.names import RULE, name_problem
from recsys.serving.errors import RecommenderError
from recsys.serving.recommender import Recommender
from server.profiles import ProfileService
from server.schemas import MAX_TEXT, Movie

MOVIE_TEMPLATE = "movierec://movie/{id}"
PROFILE_TEMPLATE = "movierec://profile/{name}"
MAX_COMPLETIONS = 100  # the protocol's own limit per answer
MAX_TYPED = 200  # characters of a partial value looked at (the search runs on the event loop)

WhoArg = Annotated[
    str,
    Field(
        description="Everyone watching, by profile name, separated by commas (e.g. 'alice, bob')."
    ),
]
GenreArg = Annotated[str, Field(description="A genre you are in the mood for (optional).")]
LikedMovieArg = Annotated[str, Field(description="A movie you all liked (optional).")]
ProfilePromptArg = Annotated[
    str, Field(description="Your profile name, if you have one (optional).")
]
OccupationPromptArg = Annotated[str, Field(description="Your occupation (optional).")]
MyMovieArg = Annotated[str, Field(description="A movie you liked (optional).")]


def _invalid(message: str) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=message)


def _short(value: str, what: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise _invalid(f"{what} is {len(value)} characters long; at most {MAX_TEXT}")
    return value


def register_surface(mcp: MCPServer, rec: Recommender, service: ProfileService | None) -> None:
    """Add the resource templates, prompts and completions (the profile template needs a
    store)."""

    def canonical(value: str) -> str:
        value = _short(value, "genre")
        if not value:
            return ""
        try:
            return rec.canonical_genres([value])[0]
        except RecommenderError as exc:
            raise _invalid(str(exc)) from None

    @mcp.resource(
        MOVIE_TEMPLATE,
        name="movie",
        description="One movie's details by id: title, year, genres, ratings, links.",
        mime_type="application/json",
    )
    def movie_resource(id: str) -> str:
        if not re.fullmatch(r"\d{1,18}", id):
            raise ResourceNotFoundError(f"{id!r} is not a movie id (a whole number)")
        try:
            info = rec.movie(int(id))
        except RecommenderError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        return Movie.model_validate(info).model_dump_json(indent=1)

    if service is not None:
        store = service

        @mcp.resource(
            PROFILE_TEMPLATE,
            name="profile",
            description="A person's whole profile document (as export_profile gives it), "
            "however long; over HTTP only your token's profiles.",
            mime_type="application/json",
        )
        def profile_resource(name: str, ctx: Context) -> str:
            if problem := name_problem(name):
                raise ResourceNotFoundError(problem)
            try:
                document = store.document(store.namespace(ctx.headers), name)
            except ProfileNotFound as exc:
                raise ResourceNotFoundError(str(exc)) from None
            except ProfileError as exc:
                raise ResourceError(str(exc)) from None
            return json.dumps(document, ensure_ascii=False, indent=1)

    @mcp.prompt(title="Movie night")
    def movie_night(who: WhoArg, genre: GenreArg = "", liked_movie: LikedMovieArg = "") -> str:
        """Pick a movie for several people watching together, fair to everyone."""
        names = [n for n in re.split(r"[,\s]+|\band\b", _short(who, "who")) if n]
        bad = [p for p in (name_problem(n) for n in names) if p]
        if len(names) < 2 or bad:
            raise _invalid(
                "who: give two or more profile names separated by commas "
                f"({RULE})" + (f"; {bad[0]}" if bad else "")
            )
        mood = canonical(genre)
        liked = _short(liked_movie, "liked_movie")
        call = f"recommend_for_group with profiles {json.dumps(names)} and k 5"
        if mood:
            call += f" and genres [{json.dumps(mood)}]"
        return (
            f"It's movie night: {', '.join(names)} are watching together"
            + (f", in the mood for {mood}" if mood else "")
            + (f", and we all liked {liked}" if liked else "")
            + f". Call {call}, then suggest the three best, each with one sentence on why it "
            "suits everyone (the answer gives each person's percentile). If someone has no "
            "profile yet, ask them for two or three movies they loved and store those with "
            "rate_movies first."
            + (f" Keep {liked} in mind: it shows what the group enjoys." if liked else "")
        )

    @mcp.prompt(title="What should I watch?")
    def what_to_watch(
        profile: ProfilePromptArg = "",
        genre: GenreArg = "",
        occupation: OccupationPromptArg = "",
        liked_movie: MyMovieArg = "",
    ) -> str:
        """Personal suggestions for tonight: from your profile, or from what you tell."""
        name = _short(profile, "profile")
        if name and (problem := name_problem(name)):
            raise _invalid(f"profile: {problem}")
        mood = canonical(genre)
        job = _short(occupation, "occupation")
        liked = _short(liked_movie, "liked_movie")
        if name:
            extra = [f"liked_genres [{json.dumps(mood)}]"] if mood else []
            extra += [f"occupation {json.dumps(job)}"] if job else []
            ask = (
                f"Call recommend_for_user with profile {json.dumps(name)} and k 5"
                + "".join(f" and {e}" for e in extra)
                + "."
            )
            if liked:
                ask += (
                    f" I liked {liked}: first store that with rate_movies (profile "
                    f"{json.dumps(name)}, rating 'liked')."
                )
            after = f"rate_movies with profile {json.dumps(name)}"
        else:
            args = [f"genres [{json.dumps(mood)}]" if mood else "the genres I name"]
            args += [f"occupation {json.dumps(job)}"] if job else []
            args += [f"liked_movies [{json.dumps(liked)}]"] if liked else []
            ask = "" if mood else "First ask me for two or three genres I like. "
            ask += f"Call recommend_for_preferences with {' and '.join(args)} and k 5."
            after = "rate_movies with a profile name I choose"
        return (
            "Suggest a movie for me to watch tonight. "
            + ask
            + " Give me the three best with one sentence each on why. When I tell you what I "
            f"thought of a movie, remember it with {after}."
        )

    @mcp.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        typed = argument.value[:MAX_TYPED].strip()
        values: list[str] = []
        if isinstance(ref, PromptReference) and ref.name in ("movie_night", "what_to_watch"):
            if argument.name == "genre":
                values = _starting(list(rec.genres), typed)
            elif argument.name == "occupation":
                values = _starting(list(rec.occupations or ML1M_OCCUPATIONS.values()), typed)
            elif argument.name == "liked_movie" and typed:
                values = [m.title for m in _search(rec, typed)]
        elif isinstance(ref, ResourceTemplateReference) and ref.uri == MOVIE_TEMPLATE:
            if argument.name == "id" and typed:
                values = [str(m.movie_id) for m in _search(rec, typed)]
        if not values:
            return None
        return Completion(
            values=values[:MAX_COMPLETIONS],
            total=len(values),
            has_more=len(values) > MAX_COMPLETIONS,
        )


def _starting(options: list[str], typed: str) -> list[str]:
    """Options that start with the typed text, then those that contain it (case-insensitive)."""
    low = typed.lower()
    first = [o for o in options if o.lower().startswith(low)]
    return first + [o for o in options if low in o.lower() and o not in first]


def _search(rec: Recommender, typed: str) -> list[Movie]:
    """Up to 10 movies whose title matches the typed text, or whose id starts with it."""
    if typed.isdigit():
        ids = rec.catalogue.movie_ids.astype(str)
        hits = np.flatnonzero(np.char.startswith(ids, typed))[:10]
        return [Movie.model_validate(rec.catalogue.info(int(i))) for i in hits]
    try:
        return [Movie.model_validate(m) for m in rec.search(typed, k=10)]
    except RecommenderError:
        return []
