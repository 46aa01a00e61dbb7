"""Pydantic building blocks every context's schemas share."""

from __future__ import annotations

import contextvars
import datetime as dt
import typing
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    model_validator,
)

Code = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Money = Annotated[int, Field(ge=0, le=10**13, description="integer minor units (fen)")]

_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


def _within_calendar(value: dt.datetime) -> dt.datetime:
    """Convert to UTC, refusing times no retail record can carry: near the ends of the
    calendar, converting (or adding a period) would overflow instead of being stored."""
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("the time is outside the calendar") from exc
    if not _EARLIEST <= utc < _LATEST:
        raise ValueError("a time from 1900 to 2999 (leave it out for no limit)")
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(_within_calendar)]
"""A point in time with its zone, between 1900 and 2999, converted to UTC."""


class ShownOnce:
    """Field marker: a secret shown in the response that creates it and never again. It is not
    kept with the Idempotency-Key's stored response, so a replay returns it as null."""


SHOWN_ONCE = ShownOnce()


def dump_without_secrets(model: BaseModel) -> Any:
    """``model_dump(mode="json")`` with every :class:`ShownOnce` field (at any depth) nulled."""
    data = model.model_dump(mode="json")
    _null_secrets(model, data)
    return data


def _null_secrets(model: BaseModel, data: dict[str, Any]) -> None:
    for name, secret in _secret_plan(type(model)):
        if secret:
            data[name] = None
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            _null_secrets(value, data[name])
        elif isinstance(value, list):
            for item, dumped in zip(value, data[name], strict=True):
                if isinstance(item, BaseModel):
                    _null_secrets(item, dumped)


# Per model class: its fields that are secrets (True) or may hold a model with a secret
# (False), worked out once; a checkout's reply has dozens of fields and none of them is
# looked at on every request.
_plans: dict[type[BaseModel], tuple[tuple[str, bool], ...]] = {}
_planning: set[type[BaseModel]] = set()


def _secret_plan(cls: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    plan = _plans.get(cls)
    if plan is None:
        _planning.add(cls)
        try:
            plan = tuple(
                (name, secret)
                for name, info in cls.model_fields.items()
                for secret in [any(isinstance(m, ShownOnce) for m in info.metadata)]
                if secret or _may_hold_secrets(info.annotation)
            )
        finally:
            _planning.discard(cls)
        _plans[cls] = plan
    return plan


def _may_hold_secrets(annotation: Any) -> bool:
    """Whether a field of this type may hold a model with a secret field: a model class with
    one (or being worked out: a model that holds itself), or any model at all (``Any``, a bare
    ``BaseModel``), is looked at."""
    if annotation is Any or annotation is BaseModel:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation in _planning or bool(_secret_plan(annotation))
    return any(_may_hold_secrets(arg) for arg in typing.get_args(annotation))


# Set while an input's outermost model is validated, its text checked already.
_text_checked: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "omni_text_checked", default=False
)


def _check_text(value: Any) -> None:
    """JSON may carry lone surrogates (``"\\ud800"``) or NUL characters, which no database
    stores as text (PostgreSQL refuses NUL)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        if value.isascii():
            return  # most text: nothing to encode (a surrogate is not ASCII)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


_M = TypeVar("_M", bound=BaseModel)


def validate_json(model: type[_M], body: bytes) -> _M:
    """``model.model_validate_json(body)``, its text walked (see :class:`Input`) only when the
    JSON has a ``\\u`` escape: without one it can carry neither NUL nor a lone surrogate (the
    parser refuses raw control characters and bytes that are not UTF-8), and the walk was a
    twentieth of a hold's CPU."""
    if b"\\u" in body:
        return model.model_validate_json(body)
    token = _text_checked.set(True)
    try:
        return model.model_validate_json(body)
    finally:
        _text_checked.reset(token)


class Input(BaseModel):
    """Request bodies: unknown fields, NaN/inf and invalid Unicode are errors, not silently
    ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=10_000)

    @model_validator(mode="wrap")
    @classmethod
    def _valid_text(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        # The outermost model checks its whole input once; the models nested in it (lines,
        # payments, ...) are validated within and have nothing left to check.
        if _text_checked.get():
            return handler(data)
        _check_text(data)
        token = _text_checked.set(True)
        try:
            return handler(data)
        finally:
            _text_checked.reset(token)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="this page's items, in the list's order")
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; null on the last page"
    )
