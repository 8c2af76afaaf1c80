"""The catalogue as the tools see it: each movie's facts, the genre vocabulary, and resolving
what a person calls a movie (an id, or a title typed loosely) to one movie or a clear error."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys.data import vocab
from recsys.data.titles import display_title
from recsys.features.space import FeatureSpace
from recsys.serving.errors import (
    AmbiguousMovieError,
    InvalidArgumentError,
    MovieNotFoundError,
    UnknownGenreError,
)
from recsys.serving.inputs import is_int
from recsys.serving.results import MovieInfo
from recsys.serving.titles import TitleIndex, asked_year
from recsys.serving.wording import either


def _label(info: MovieInfo) -> str:
    return f"{info.title} (id {info.movie_id})"


class Catalogue:
    """Movie facts in dense movie order (row i = dense index i), and title look-ups."""

    def __init__(self, movies: pd.DataFrame, features: FeatureSpace) -> None:
        self._fs = features
        self.genres: tuple[str, ...] = tuple(features.genres)
        self.movie_ids = movies["movie_id"].to_numpy(dtype=np.int64)
        self.titles: list[str] = [str(t) for t in movies["title"]]  # as the dataset spells them
        self.years = movies["year"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        # As people write them: "The Matrix (1999)" for "Matrix, The (1999)".
        self.display = [
            display_title(t, None if y < 0 else int(y))
            for t, y in zip(self.titles, self.years, strict=True)
        ]
        self.imdb_ids = movies["imdb_id"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        self.tmdb_ids = movies["tmdb_id"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        self.movie_genres: list[tuple[str, ...]] = list(movies["genres"])
        self.genre_matrix = np.asarray(features.movie_genres) > 0
        self.genre_col = {g: j for j, g in enumerate(self.genres)}
        self.n_ratings = movies["n_ratings"].to_numpy(dtype=np.int64)
        self.mean_rating = movies["mean_rating"].to_numpy(dtype=np.float64)
        self.title_index = TitleIndex.build(self.titles, self.years, self.n_ratings)

    def __len__(self) -> int:
        return len(self.movie_ids)

    def info(self, i: int) -> MovieInfo:
        mean = self.mean_rating[i]
        year = int(self.years[i])
        imdb, tmdb = int(self.imdb_ids[i]), int(self.tmdb_ids[i])
        return MovieInfo(
            movie_id=int(self.movie_ids[i]),
            title=self.display[i],
            dataset_title=self.titles[i],
            year=None if year < 0 else year,
            genres=tuple(self.movie_genres[i]),
            n_ratings=int(self.n_ratings[i]),
            mean_rating=None if math.isnan(mean) else round(float(mean), 3),
            imdb_url=f"https://www.imdb.com/title/tt{imdb:07d}/" if imdb >= 0 else None,
            tmdb_url=f"https://www.themoviedb.org/movie/{tmdb}" if tmdb >= 0 else None,
        )

    def index_of(self, movie_id: int) -> int | None:
        return self._fs.movie_index(movie_id)

    def movie(self, movie_id: object) -> MovieInfo:
        return self.info(self._index_by_id(movie_id))

    def _index_by_id(self, movie_id: object) -> int:
        if not is_int(movie_id):
            raise InvalidArgumentError(f"movie_id must be an integer, got {movie_id!r}")
        i = self.index_of(int(movie_id))
        if i is None:
            raise MovieNotFoundError(
                f"No movie has id {movie_id} in this model's catalogue "
                f"({len(self.movie_ids)} movies, ids {self.movie_ids.min()}.."
                f"{self.movie_ids.max()}). Use search_movies to find a movie's id by title."
            )
        return i

    def canonical_genres(
        self, genres: Sequence[str] | str, argument: str | None = None
    ) -> tuple[str, ...]:
        """Canonical names, each once (a word naming two genres gives both); an unknown one
        is an error naming `argument` if given."""
        out: list[str] = []
        for group in self.genre_groups(genres, argument):
            out += [g for g in group if g not in out]
        return tuple(out)

    def genre_groups(
        self, genres: Sequence[str] | str, argument: str | None = None
    ) -> tuple[tuple[str, ...], ...]:
        """Each typed genre as the canonical genres it names, all required together ("sci fi":
        Sci-Fi; "rom-com": Romance and Comedy), each group once; an unknown one is an error
        naming `argument` if given."""
        if isinstance(genres, str):
            genres = [genres]
        out: list[tuple[str, ...]] = []
        for raw in genres:
            group = vocab.genre_group(str(raw))
            if group is None or any(g not in self.genre_col for g in group):
                close = [g for g in vocab.closest_genres(str(raw)) if g in self.genre_col]
                hint = f" Did you mean {either(close)}?" if close else ""
                if close and vocab.meant_genres(str(raw)):
                    hint = f" MovieLens records no such genre; closest in meaning: {either(close)}."
                where = f"{argument}: " if argument else ""
                raise UnknownGenreError(
                    f"{where}Unknown genre {raw!r}.{hint} Valid genres: {', '.join(self.genres)}."
                )
            if group not in out:
                out.append(group)
        return tuple(out)

    def group_mask(self, groups: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Movies carrying every genre of at least one group."""
        mask = np.zeros(len(self), dtype=bool)
        for group in groups:
            mask |= self.genre_matrix[:, [self.genre_col[g] for g in group]].all(axis=1)
        return mask

    def resolve(self, ref: object) -> int:
        """The dense index of the movie `ref` names: an id, or a title (loosely matched)."""
        if is_int(ref):
            return self._index_by_id(ref)
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidArgumentError(
                f"a movie must be given as an id (integer) or a title, got {ref!r}"
            )
        text = ref.strip()
        if re.fullmatch(r"\d+", text):
            by_id = self.index_of(int(text))
            by_title = self.title_index.exact(text)
            if by_id is not None and len(by_title):
                cands = (self.info(by_id), *(self.info(int(i)) for i in by_title))
                raise AmbiguousMovieError(
                    f"{text!r} is both a movie id and a title: "
                    f"{'; '.join(_label(c) for c in cands)}. Pass the id as a number.",
                    cands,
                )
            if by_id is not None:
                return by_id
        res = self.title_index.resolve(text)
        if res.status == "found" and res.index is not None:
            return int(res.index)
        cands = tuple(self.info(i) for i in res.candidates)
        last = self.last_year()
        year = asked_year(text)
        if res.status == "ambiguous" and year is not None and last is not None and year > last:
            # "Dune 2021" in a catalogue that ends in 2018: the film asked for is not in it.
            raise MovieNotFoundError(
                f"No movie from {year} titled {text!r} in this model's catalogue. "
                f"{self.until()}Close titles: "
                f"{'; '.join(_label(c) for c in cands)}."
            )
        if res.status == "ambiguous":
            # Only near spellings: the film may be newer than the catalogue.
            newer = "" if len(self.title_index.exact(text)) else f" {self.until()}".rstrip()
            raise AmbiguousMovieError(
                f"{text!r} matches several movies: {'; '.join(_label(c) for c in cands)}. "
                f"Pass the movie id, or add the year (e.g. 'Heat 1995').{newer}",
                cands,
            )
        closest = self.title_index.closest(text, n=5)
        near = "; ".join(_label(self.info(i)) for i in closest)
        hint = f" Closest titles: {near}." if near else ""
        raise MovieNotFoundError(
            f"No movie titled {text!r} in this model's catalogue.{hint} "
            f"{self.until()}Use search_movies to look titles up, then pass the movie id."
        )

    def last_year(self) -> int | None:
        known = self.years[self.years >= 0]
        return int(known.max()) if len(known) else None

    def until(self) -> str:
        """Where the catalogue ends in time, for "not found" answers ("" when no year is known)."""
        last = self.last_year()
        if last is None:
            return ""
        return f"The catalogue's movies go up to {last}: a film from after {last} is not in it. "
