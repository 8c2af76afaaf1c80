"""Short readable text for each tool result, sent beside the structured content.

Clients that show only text (or models that read text more readily than JSON)
get the same answer in a few lines: one line per movie, then any note.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.schemas import (
    Item,
    Movie,
    PreferenceRecommendations,
    SearchItem,
    SearchResults,
    SimilarItem,
    SimilarMovies,
    UserRecommendations,
)


def _title(title: str, year: int | None) -> str:
    # MovieLens titles already end in "(1999)"; add the year only where it is missing.
    if year is None or title.rstrip().endswith(f"({year})"):
        return title
    return f"{title} ({year})"


def _number(item: Item | SimilarItem | SearchItem) -> str:
    if isinstance(item, SimilarItem):
        return f" | similarity {item.similarity:.2f}"
    if isinstance(item, Item):
        return f" | score {item.score:.2f}"
    return ""


def _why(item: Item | SimilarItem | SearchItem) -> str:
    if isinstance(item, SearchItem):
        return f"{item.match} title match; {item.n_ratings} ratings"
    return item.reason


def _lines(items: Sequence[Item | SimilarItem | SearchItem], note: str | None) -> list[str]:
    out = []
    for item in items:
        genres = ", ".join(item.genres) or "no genre"
        out.append(
            f"{item.rank}. {_title(item.title, item.year)} [{genres}] (id {item.movie_id})"
            f"{_number(item)} - {_why(item)}"
        )
    if not items:
        out.append("No movies matched.")
    if note:
        out.append(f"Note: {note}")
    return out


def movie_text(movie: Movie) -> str:
    genres = ", ".join(movie.genres) or "no genre listed"
    rating = (
        f"mean rating {movie.mean_rating:.2f} from {movie.n_ratings} ratings"
        if movie.mean_rating is not None
        else "no ratings in the training data"
    )
    return f"{_title(movie.title, movie.year)} (id {movie.movie_id}) [{genres}]: {rating}."


def user_text(result: UserRecommendations) -> str:
    user = result.user
    assert user is not None  # a profile's answer is server.profile_render.person_text
    who = ", ".join(str(x) for x in (user.gender, user.age, user.occupation) if x)
    favourites = ", ".join(user.favourite_genres) or "none"
    head = (
        f"Recommendations for user {user.user_id}"
        + (f" ({who})" if who else "")
        + f"; {user.n_ratings} ratings; favourite genres: {favourites}."
    )
    return "\n".join([head, *_lines(result.items, result.note)])


def preferences_text(result: PreferenceRecommendations) -> str:
    interp = result.interpreted
    parts = [f"genres {', '.join(interp.genres)}"]
    if interp.age_bucket:
        parts.append(f"age {interp.age_bucket}")
    if interp.occupation:
        parts.append(f"occupation {interp.occupation}")
    if interp.gender:
        parts.append(f"gender {interp.gender}")
    for said, movies in (
        ("liked", interp.liked_movies),
        ("disliked", interp.disliked_movies),
        ("leaving out", interp.excluded_movies),
    ):
        if movies:
            parts.append(f"{said} " + "; ".join(m.title for m in movies))
    head = "Recommendations for " + ", ".join(parts) + "."
    ignored = [f"Ignored: {why}" for why in interp.ignored]
    return "\n".join([head, *ignored, *_lines(result.items, result.note)])


def similar_text(result: SimilarMovies) -> str:
    head = f"Movies similar to {movie_text(result.movie)}"
    return "\n".join([head, *_lines(result.items, result.note)])


def search_text(result: SearchResults) -> str:
    head = f"Titles matching {result.query!r}:"
    return "\n".join([head, *_lines(result.items, result.note)])
