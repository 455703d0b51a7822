"""Phrasing pydantic validation errors for people: ``key.path: what is wrong``."""

from pydantic import ValidationError


def describe(error: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """Join every error of ``error`` as ``key.path: message``, keys under ``prefix``."""
    phrases = []
    for item in error.errors(include_url=False):
        key = ".".join([*prefix, *(str(part) for part in item["loc"])]) or "body"
        phrases.append(f"{key}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(phrases)
