"""The MCP server: the recommendation tools and resources over one loaded `Recommender`, and
with a profile store the personal-profile tools (`server.profile_tools`), resource templates,
prompts and completions (`server.surface`).

`build_server(recommender, limits, store, namespaces)` returns an `MCPServer` ready for any
transport.
The recommender is loaded once per process, before the server starts (see
`server.commands`), and shared by every session; tools are plain functions
that the SDK runs on worker threads, so the only shared state is the
recommender, which is safe for concurrent calls.

Arguments are checked twice: first here, against a model built from each
tool's signature that forbids unknown names, so that a mistake gets a message
naming the argument, what it expected and the valid names; then by the SDK
itself, which then cannot fail. The first check runs on the event loop, so its
work is bounded by `Limits` (names examined and quoted, characters quoted).

Over HTTP each credential (bearer token, else session) may have
`Limits.calls_per_credential` tool calls in flight; past that a call is
answered at once with a "busy, retry" tool error, so one client cannot take
every worker thread.
"""

from __future__ import annotations

import inspect
import json
import logging
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CallToolResult,
    InputRequiredResult,
    TextContent,
    Tool,
    ToolAnnotations,
)
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from recsys import __version__
from recsys.serving.filters import NO_FILTERS, Filters
from recsys.serving.recommender import Recommender
from recsys.serving.results import TitleMatch
from server import profile_render, profile_tools, render, schemas
from server.errors import (
    argument_error,
    busy,
    too_many_arguments,
    tool_errors,
    unknown_arguments,
)
from server.fairness import InFlight, credential_of
from server.limits import Limits
from server.profile_schemas import LikedGenresArg, OptionalProfileArg
from server.profiles import ProfileService
from server.schemas import (
    AgeArg,
    AnchorArg,
    Count,
    DislikedMoviesArg,
    ExcludeGenresArg,
    ExcludeMoviesArg,
    ExcludeSeenArg,
    GenderArg,
    GenresFilterArg,
    LikedMoviesArg,
    MovieIdArg,
    OccupationArg,
    OptionalUserIdArg,
    QueryArg,
    StatedGenresArg,
    YearMaxArg,
    YearMinArg,
)
from server.stdio import serve_stdio
from server.surface import register_surface

if TYPE_CHECKING:
    from recsys.profiles import ProfileStore

log = logging.getLogger("movierec.server")

ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(
    read_only_hint=True, idempotent_hint=True, destructive_hint=False, open_world_hint=False
)

INSTRUCTIONS = """\
Personal movie recommendations from a two-tower model trained on MovieLens ratings.
- A known MovieLens user id: recommend_for_user.
- A person described in words (liked genres, optionally age, occupation, gender, movies they
  liked or disliked, movies to leave out): recommend_for_preferences. Prefer this for new
  people. Its stated genres are the list's filter (ANY of them; a word naming two genres,
  'rom-com', needs both), except when most liked movies carry none of them: then their
  genres fill at most half the list and the note says so.
- "More like <movie>": similar_movies. Titles are matched loosely; ids are exact.
- Looking a title up: search_movies, then get_movie for its details.
- Remembering a person across conversations (when they agree, under a name they choose):
  rate_movies(profile=...) stores what they rated or saw; recommend_for_user(profile=...)
  recommends from it; recommend_for_group for several people watching together; get_profile,
  watchlist_add/remove, export_profile/import_profile; forget deletes, when they ask.
All list tools take k (1-100) and the filters exclude_genres, year_min, year_max, and (except
recommend_for_preferences, whose stated genres are its filter) genres (ANY of), applied before
the cut to k. `score` is the estimated chance (0-1) the person likes a movie, `similarity`
the chance someone who liked the anchor does; both are calibrated, so they compare across
calls. A `note` says when a list misses the request. Valid genre names: resource
movierec://genres; the model's dataset, size and evaluation: resource movierec://model."""


@dataclass(frozen=True)
class _Gate:
    """One tool's argument check: its valid names, a model forbidding others, its JSON schema."""

    model: type[BaseModel]
    schema: dict[str, Any]

    def check(self, tool: str, arguments: dict[str, Any], limits: Limits) -> None:
        if len(arguments) > limits.max_arguments:
            raise too_many_arguments(tool, len(arguments), limits.max_arguments, self.schema)
        unknown = [name for name in arguments if name not in self.model.model_fields]
        if unknown:
            shown = unknown[: limits.quoted_names]
            raise unknown_arguments(
                tool, shown, self.schema, total=len(unknown), chars=limits.quoted_chars
            )
        try:
            self.model.model_validate(arguments)
        except ValidationError as exc:
            raise argument_error(tool, exc, self.schema) from None


def _is_context(hint: Any) -> bool:
    return inspect.isclass(hint) and issubclass(hint, Context)


def _gate_for(fn: Callable[..., Any]) -> _Gate:
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if _is_context(hints[param.name]):
            continue  # the SDK passes the request's context there; it is no argument
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    model = create_model(
        f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return _Gate(model=model, schema=model.model_json_schema())


class MovierecServer(MCPServer):
    """An MCPServer whose tools reject unknown or malformed arguments with readable messages.

    `call_tool` is the SDK's public entry for a tools/call; a `ToolError` raised
    there reaches the client as an isError result carrying exactly our text.
    """

    def __init__(self, limits: Limits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        self._gates: dict[str, _Gate] = {}
        self._in_flight = InFlight(limits.calls_per_credential)

    def read_only_tool(self, fn: ToolFn) -> ToolFn:
        return self.checked_tool(READ_ONLY)(fn)

    def checked_tool(self, annotations: ToolAnnotations) -> Callable[[ToolFn], ToolFn]:
        """Register a tool with these annotations and the argument check."""

        def register(fn: ToolFn) -> ToolFn:
            self.add_tool(fn, annotations=annotations)
            self._gates[fn.__name__] = _gate_for(fn)
            return fn

        return register

    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        for tool in tools:
            if tool.name in self._gates:
                # Tell clients up front what call_tool enforces.
                tool.input_schema = {**tool.input_schema, "additionalProperties": False}
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        gate = self._gates.get(name)
        if gate is not None:
            gate.check(name, arguments, self.limits)
        credential = credential_of(context.headers if context is not None else None)
        with self._in_flight.slot(credential) as admitted:
            if not admitted:
                raise busy(name, self.limits.calls_per_credential)
            return await super().call_tool(name, arguments, context)

    async def run_stdio_async(self) -> None:
        """stdio through `server.stdio`: every line answered, calls read finished on exit."""
        await serve_stdio(self, self.limits)

    async def run_sdk_stdio_async(self) -> None:
        """stdio through the SDK's own threaded streams (to compare with, see bench_server)."""
        log.info("stdio through the SDK's own threaded streams")
        await super().run_stdio_async()


def _answer(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=result.model_dump(mode="json"),
    )


def _filters(
    genres: Sequence[str] | None,
    exclude_genres: Sequence[str] | None,
    year_min: int | None,
    year_max: int | None,
) -> Filters:
    """The tool's filter arguments as the library's Filters (it checks them)."""
    return Filters(
        genres=tuple(genres or ()),
        exclude_genres=tuple(exclude_genres or ()),
        year_min=year_min,
        year_max=year_max,
    )


def _search_note(query: str, filtered_out: bool) -> str:
    if filtered_out:
        return (
            f"Titles match {query!r}, but none passes the filters (genres, year_min, "
            "year_max); widen or drop them."
        )
    return f"No title matched {query!r}; try fewer or different words."


def _search_results(
    query: str, matches: Sequence[TitleMatch], filtered_out: bool
) -> schemas.SearchResults:
    items = [
        schemas.SearchItem.model_validate({**asdict(m.movie), "rank": rank, "match": m.match})
        for rank, m in enumerate(matches, start=1)
    ]
    note = None if items else _search_note(query, filtered_out)
    return schemas.SearchResults(query=query, items=items, note=note)


def build_server(
    rec: Recommender,
    limits: Limits | None = None,
    store: ProfileStore | None = None,
    namespaces: Mapping[str, str] | None = None,
) -> MovierecServer:
    """The MCP server over one loaded recommender, under `limits` (default: the defaults).

    With a profile `store`, the profile tools too; `namespaces` maps each token's credential
    key to its profile namespace (`server.auth.namespaces_by_credential`; empty: one).
    """
    limits = limits or Limits()
    mcp = MovierecServer(limits, name="movierec", instructions=INSTRUCTIONS, version=__version__)
    service: ProfileService | None = None
    if store is not None:
        service = ProfileService(rec, store, namespaces or {}, limits.answer_chars)

    @mcp.read_only_tool
    def recommend_for_user(
        ctx: Context,
        user_id: OptionalUserIdArg = None,
        profile: OptionalProfileArg = None,
        k: Count = 10,
        genres: GenresFilterArg = None,
        exclude_genres: ExcludeGenresArg = None,
        year_min: YearMinArg = None,
        year_max: YearMaxArg = None,
        exclude_seen: ExcludeSeenArg = True,
        liked_genres: LikedGenresArg = None,
        age: AgeArg = None,
        occupation: OccupationArg = None,
        gender: GenderArg = None,
    ) -> Annotated[CallToolResult, schemas.UserRecommendations]:
        """Recommend movies for a known MovieLens user (user_id) or a person's stored profile
        (profile, see rate_movies), best first.

        Returns who it is for (a user's demographics, number of ratings and favourite genres;
        a profile's ratings read) and up to k movies with a score and a one-sentence reason.
        A profile's ratings are read as a known user's history; its rated and seen movies are
        left out. For a profile with few ratings, liked_genres, age, occupation and gender can
        be added.
        """
        with tool_errors("recommend_for_user", "check user_id (valid range in movierec://model)."):
            filters = _filters(genres, exclude_genres, year_min, year_max)
            extras = (liked_genres, age, occupation, gender)
            if (user_id is None) == (profile is None):
                raise ToolError(
                    "recommend_for_user takes either user_id (a MovieLens user of the dataset) "
                    "or profile (a person's stored profile), not both and not neither."
                )
            if profile is not None:
                if service is None:
                    raise ToolError("this server keeps no profiles; pass user_id instead.")
                result = service.recommend(
                    service.namespace(ctx.headers),
                    profile,
                    k,
                    filters,
                    exclude_seen,
                    liked_genres or (),
                    age,
                    occupation,
                    gender,
                )
                return _answer(result, profile_render.person_text(result))
            if any(x is not None for x in extras):
                raise ToolError(
                    "liked_genres, age, occupation and gender go with profile only; a dataset "
                    "user is known by their ratings (for someone new: recommend_for_preferences)."
                )
            assert user_id is not None  # checked above: exactly one of the two
            result = schemas.UserRecommendations.model_validate(
                rec.for_user(user_id, k=k, filters=filters, exclude_seen=exclude_seen)
            )
            return _answer(result, render.user_text(result))

    @mcp.read_only_tool
    def recommend_for_preferences(
        genres: StatedGenresArg,
        age: AgeArg = None,
        occupation: OccupationArg = None,
        gender: GenderArg = None,
        liked_movies: LikedMoviesArg = None,
        disliked_movies: DislikedMoviesArg = None,
        exclude_movies: ExcludeMoviesArg = None,
        k: Count = 10,
        exclude_genres: ExcludeGenresArg = None,
        year_min: YearMinArg = None,
        year_max: YearMaxArg = None,
    ) -> Annotated[CallToolResult, schemas.PreferenceRecommendations]:
        """Recommend movies for a new person described by the genres they like.

        The stated genres are the list's filter (ANY of them). Optionally add their age (years),
        occupation (free text), gender, movies they liked or disliked, and movies to leave out
        (ids or titles). Returns what each input was understood as (and anything ignored, e.g.
        demographics when the model was trained without them) and up to k movies.
        """
        with tool_errors("recommend_for_preferences", "retry with fewer or simpler inputs."):
            filters = _filters(None, exclude_genres, year_min, year_max)
            result = schemas.PreferenceRecommendations.model_validate(
                rec.for_preferences(
                    genres,
                    age=age,
                    occupation=occupation,
                    gender=gender,
                    liked_movies=tuple(liked_movies or ()),
                    k=k,
                    filters=filters,
                    disliked_movies=tuple(disliked_movies or ()),
                    exclude_movies=tuple(exclude_movies or ()),
                )
            )
            return _answer(result, render.preferences_text(result))

    @mcp.read_only_tool
    def similar_movies(
        movie: AnchorArg,
        k: Count = 10,
        genres: GenresFilterArg = None,
        exclude_genres: ExcludeGenresArg = None,
        year_min: YearMinArg = None,
        year_max: YearMaxArg = None,
    ) -> Annotated[CallToolResult, schemas.SimilarMovies]:
        """Movies most like one movie: liked by the same people, then alike in genres and era.

        The movie is an id or a title; the answer names the movie it resolved to and never
        includes it. Works for movies with few or no ratings too (their genres and year count).
        """
        with tool_errors("similar_movies", "pass the movie's id (find it with search_movies)."):
            filters = _filters(genres, exclude_genres, year_min, year_max)
            result = schemas.SimilarMovies.model_validate(
                rec.similar_movies(movie, k=k, filters=filters)
            )
            return _answer(result, render.similar_text(result))

    @mcp.read_only_tool
    def search_movies(
        query: QueryArg,
        k: Count = 10,
        genres: GenresFilterArg = None,
        year_min: YearMinArg = None,
        year_max: YearMaxArg = None,
    ) -> Annotated[CallToolResult, schemas.SearchResults]:
        """Find movies by title words (loose matching: 'the matrix', 'heat 1995'), best match first.

        Use it to get the id of a movie before calling similar_movies or get_movie.
        """
        with tool_errors("search_movies", "retry with a shorter query."):
            filters = _filters(genres, None, year_min, year_max)
            found = rec.title_matches(query, k=k, filters=filters)
            # An empty answer under filters: say whether the title or the filters emptied it.
            filtered_out = not found and filters != NO_FILTERS and bool(rec.search(query, k=1))
            result = _search_results(query, found, filtered_out)
            return _answer(result, render.search_text(result))

    @mcp.read_only_tool
    def get_movie(movie_id: MovieIdArg) -> Annotated[CallToolResult, schemas.Movie]:
        """One movie's details: title, year, genres, number of ratings and mean rating."""
        with tool_errors("get_movie", "find the id with search_movies and retry."):
            result = schemas.Movie.model_validate(rec.movie(movie_id))
            return _answer(result, render.movie_text(result))

    @mcp.resource(
        "movierec://genres",
        name="genres",
        description="Valid genre names (case-insensitive; common aliases are accepted too).",
        mime_type="application/json",
    )
    def genres_resource() -> str:
        return json.dumps({"genres": list(rec.genres)}, indent=1)

    @mcp.resource(
        "movierec://occupations",
        name="occupations",
        description="The occupation vocabulary free-text occupations are mapped onto.",
        mime_type="application/json",
    )
    def occupations_resource() -> str:
        payload = {
            "occupations": list(rec.occupations),
            "demographics_used": rec.has_demographics,
        }
        if not rec.has_demographics:
            payload["note"] = "This model was trained without demographics; occupation is ignored."
        return json.dumps(payload, indent=1)

    @mcp.resource(
        "movierec://model",
        name="model",
        description="Model card: dataset, when trained, size, demographics used, evaluation.",
        mime_type="application/json",
    )
    def model_resource() -> str:
        lo, hi = rec.user_id_range()
        card = {**rec.model_card(), "user_id_range": [lo, hi]}
        return json.dumps(card, indent=1, default=str)

    if service is not None:
        profile_tools.register(mcp, service)
    register_surface(mcp, rec, service)
    return mcp
