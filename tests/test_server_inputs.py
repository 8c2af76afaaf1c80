"""The server's pure helpers: argument types, error text, bind rules (no model needed)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from server import auth, errors, schemas


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert auth.is_loopback(host) is loopback


def test_check_bind_refuses_exposed_address_without_token() -> None:
    auth.check_bind("127.0.0.1", None)
    auth.check_bind("0.0.0.0", "secret")
    with pytest.raises(errors.StartupError, match="MOVIEREC_TOKEN"):
        auth.check_bind("0.0.0.0", None)


def test_genre_list_accepts_the_shapes_llms_send() -> None:
    adapter = TypeAdapter(schemas.GenreList)
    assert adapter.validate_python(["Comedy"]) == ["Comedy"]
    assert adapter.validate_python("comedy, sci fi") == ["comedy", "sci fi"]
    assert adapter.validate_python('["Drama", "War"]') == ["Drama", "War"]
    with pytest.raises(ValidationError):
        adapter.validate_python(["x"] * 21)
    with pytest.raises(ValidationError):
        adapter.validate_python(["y" * 201])


def test_liked_movies_keep_commas_inside_titles() -> None:
    adapter = TypeAdapter(schemas.LikedMoviesArg)
    assert adapter.validate_python("Matrix, The") == ["Matrix, The"]
    assert adapter.validate_python([2571, "Heat"]) == [2571, "Heat"]
    assert adapter.validate_python(None) is None


def test_numbers_refuse_booleans() -> None:
    with pytest.raises(ValidationError, match="boolean"):
        TypeAdapter(schemas.Count).validate_python(True)


def test_usage_lists_every_argument_with_its_range() -> None:
    schema = {
        "properties": {
            "user_id": {"type": "integer"},
            "k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        },
        "required": ["user_id"],
    }
    text = errors.usage(schema)
    assert "user_id (required, an integer)" in text
    assert "k (an integer 1-100, default 10)" in text
    err = errors.unknown_arguments("tool_x", ["usr_id"], schema)
    assert "did you mean 'user_id'" in str(err)
    assert "Valid argument names: user_id, k" in str(err)
