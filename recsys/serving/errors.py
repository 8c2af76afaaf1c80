"""What the serving layer refuses, each with a message the caller (often an LLM) can act on."""

from __future__ import annotations

from recsys.serving.results import MovieInfo


class RecommenderError(ValueError):
    """Base class; the message is an instruction the caller can act on."""


class UnknownUserError(RecommenderError):
    pass


class UnknownGenreError(RecommenderError):
    pass


class MovieNotFoundError(RecommenderError):
    pass


class AmbiguousMovieError(RecommenderError):
    def __init__(self, message: str, candidates: tuple[MovieInfo, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = candidates


class InvalidArgumentError(RecommenderError):
    pass
