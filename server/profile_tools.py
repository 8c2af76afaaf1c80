"""The profile tools (issue #14), registered on the server by `register`.

Annotations say honestly what each does: rate_movies, watchlist_add and import_profile
write (import_profile with replace=true deletes the profile it replaces, so it is marked
destructive); watchlist_remove and forget delete; the rest only read. Every tool works in
the caller's namespace (`server.auth.namespace_of`), so over HTTP a token reaches only its
own profiles. The work is in `server.profiles.ProfileService`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from recsys.serving.filters import Filters
from server import profile_render as text
from server import profile_schemas as ps
from server.errors import tool_errors
from server.profiles import ProfileService
from server.schemas import (
    Count,
    ExcludeGenresArg,
    GenresFilterArg,
    YearMaxArg,
    YearMinArg,
)

ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])


class ToolHost(Protocol):
    """What registering needs of the server (`server.app.MovierecServer`)."""

    def read_only_tool(self, fn: ToolFn) -> ToolFn: ...

    def checked_tool(self, annotations: ToolAnnotations) -> Callable[[ToolFn], ToolFn]: ...


# Writes that only add or update (a movie rated again gets the new rating).
WRITES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
ADDS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
DELETES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
HINT = "retry; if it fails again, the server's log says why."


def _answer(result: BaseModel, shown: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=shown)],
        structured_content=result.model_dump(mode="json"),
    )


def register(mcp: ToolHost, service: ProfileService) -> None:
    """Add the profile tools to `mcp`."""

    def namespace(ctx: Context) -> str:
        return service.namespace(ctx.headers)

    @mcp.checked_tool(WRITES)
    def rate_movies(
        profile: ps.ProfileArg,
        ctx: Context,
        ratings: ps.RatingsArg = None,
        seen: ps.SeenArg = None,
    ) -> Annotated[CallToolResult, ps.RateResult]:
        """Remember what a person thought of movies, across conversations (creates the profile).

        ratings: [{"movie": id or title, "rating": 0.5-5 stars, or "liked" / "disliked"}];
        seen: movies watched without a rating. All or nothing: if any item is bad (unknown or
        ambiguous title, rating off the scale), nothing is stored and the error lists every
        bad item. Returns exactly what was stored, stamped with the time it was stored.
        """
        with tool_errors("rate_movies", HINT):
            result = service.rate(namespace(ctx), profile, ratings or [], seen or [])
            return _answer(result, text.rate_text(result))

    @mcp.read_only_tool
    def get_profile(
        profile: ps.ProfileArg, ctx: Context
    ) -> Annotated[CallToolResult, ps.ProfileView]:
        """A person's profile: ratings (oldest first), seen movies, watchlist, favourite genres
        and counts. Long lists show their most recent 100 entries (export_profile has all)."""
        with tool_errors("get_profile", HINT):
            result = service.get(namespace(ctx), profile)
            return _answer(result, text.profile_text(result))

    @mcp.read_only_tool
    def list_profiles(ctx: Context) -> Annotated[CallToolResult, ps.ProfileList]:
        """The profiles you can use (over HTTP: your token's), with their counts."""
        with tool_errors("list_profiles", HINT):
            result = service.list_profiles(namespace(ctx))
            return _answer(result, text.list_text(result))

    @mcp.checked_tool(ADDS)
    def watchlist_add(
        profile: ps.ProfileArg, movies: ps.WatchlistMoviesArg, ctx: Context
    ) -> Annotated[CallToolResult, ps.WatchlistResult]:
        """Put movies (ids or titles) on a person's watchlist; those already there stay.
        Watchlist movies are still recommended (unlike rated or seen ones)."""
        with tool_errors("watchlist_add", HINT):
            result = service.watchlist_add(namespace(ctx), profile, movies)
            return _answer(result, text.watchlist_text(result))

    @mcp.checked_tool(DELETES)
    def watchlist_remove(
        profile: ps.ProfileArg, movies: ps.WatchlistMoviesArg, ctx: Context
    ) -> Annotated[CallToolResult, ps.WatchlistResult]:
        """Take movies off a person's watchlist (ids, or titles matched among the watchlist's
        own movies); says which were removed and which were not on it."""
        with tool_errors("watchlist_remove", HINT):
            result = service.watchlist_remove(namespace(ctx), profile, movies)
            return _answer(result, text.watchlist_text(result))

    @mcp.checked_tool(DELETES)
    def forget(
        profile: ps.ProfileArg, ctx: Context, movies: ps.ForgetMoviesArg = None
    ) -> Annotated[CallToolResult, ps.ForgetResult]:
        """Delete movies from a person's profile, or (without movies) the whole profile.

        Says exactly what was deleted, and whether the bytes are erased from the database
        files too (SQLite: yes; PostgreSQL: dead rows remain until VACUUM).
        """
        with tool_errors("forget", HINT):
            result = service.forget(namespace(ctx), profile, movies)
            return _answer(result, text.forget_text(result))

    @mcp.read_only_tool
    def export_profile(
        profile: ps.ProfileArg, ctx: Context
    ) -> Annotated[CallToolResult, ps.ExportResult]:
        """The whole profile as a JSON document the person can keep; import_profile reads it
        back, here or on another movierec server (another dataset's is mapped by title)."""
        with tool_errors("export_profile", HINT):
            result = service.export(namespace(ctx), profile)
            return _answer(result, text.export_text(result))

    @mcp.checked_tool(DELETES)
    def import_profile(
        document: ps.DocumentArg,
        ctx: Context,
        profile: ps.ImportNameArg = None,
        replace: ps.ReplaceArg = False,
    ) -> Annotated[CallToolResult, ps.ImportResult]:
        """Store a document from export_profile as a profile, whole or not at all.

        A document made with another dataset is mapped onto this one by title and year; the
        entries no movie here matches are listed and left out. With replace=true an existing
        profile of that name is deleted first (so this tool is marked destructive).
        """
        with tool_errors("import_profile", HINT):
            result = service.import_profile(namespace(ctx), document, profile, replace)
            return _answer(result, text.import_text(result))

    @mcp.read_only_tool
    def recommend_for_group(
        profiles: ps.GroupArg,
        ctx: Context,
        k: Count = 10,
        genres: GenresFilterArg = None,
        exclude_genres: ExcludeGenresArg = None,
        year_min: YearMinArg = None,
        year_max: YearMaxArg = None,
    ) -> Annotated[CallToolResult, ps.GroupRecommendations]:
        """Movies for several people watching together (their stored profiles), fair to each.

        Every member's rated and seen movies are left out. Each member's scores are
        standardised, and a movie's group score is the lowest member's, so every pick suits
        everyone; each movie shows its percentile in each member's own taste.
        """
        with tool_errors("recommend_for_group", HINT):
            filters = Filters(
                genres=tuple(genres or ()),
                exclude_genres=tuple(exclude_genres or ()),
                year_min=year_min,
                year_max=year_max,
            )
            result = service.group(namespace(ctx), profiles, k, filters)
            return _answer(result, text.group_text(result))
