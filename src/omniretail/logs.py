"""Structured logs: one JSON object per line, with the request's id, tenant and key wherever the
line was written, and secrets and personal data masked before anything leaves the process.

``configure_logging()`` is called by ``omni serve`` (through uvicorn's ``log_config``) and
``omni worker``, so request lines, job lines and errors share one format.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# What the current request has told about itself so far. The middleware puts a fresh dict here
# for each request; the authentication dependency adds the tenant and key to it.
REQUEST_FIELDS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "omni_request_fields", default=None
)

_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 ***"),
    # API keys: omk_<lookup>_<secret>; the lookup part is not secret and helps support.
    (re.compile(r"\b(omk_[A-Za-z0-9]+)_[A-Za-z0-9_\-]+"), r"\1_***"),
    (re.compile(r"(?i)\b(password|secret|signature|token|pickup_code)=[^\s&,;]+"), r"\1=***"),
    (re.compile(r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})"), r"***@\1"),
    # Phone numbers (E.164, or a mainland mobile with or without spaces): keep the last 4.
    (re.compile(r"\+\d[\d \-]{5,16}(\d{4})(?!\d)"), r"***\1"),
    (re.compile(r"(?<![\d+])1[3-9]\d[ \-]?\d{4}[ \-]?(\d{4})(?!\d)"), r"***\1"),
]

_SECRET_FIELDS = {"authorization", "password", "secret", "api_key", "signature", "pickup_code"}


def redact(text: str) -> str:
    """Mask API keys, bearer tokens, e-mail addresses and phone numbers in ``text``."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks the message, its arguments and its extra fields, and stamps the request's fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.__dict__.pop("color_message", None)  # uvicorn's terminal copy of the message
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name, value in list(vars(record).items()):
            if name.lower() in _SECRET_FIELDS:
                setattr(record, name, "***")
            elif name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        fields = REQUEST_FIELDS.get()
        if fields:
            for name, value in fields.items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def json_formatter() -> logging.Formatter:
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``
    and every extra field (request_id, tenant, key_id, route, status, latency_ms, job...)."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        json_ensure_ascii=False,
    )


def logging_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the whole process, uvicorn's loggers included."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["redact"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactingFilter}},
        "formatters": {"json": {"()": json_formatter}},
        "handlers": {"default": handler},
        "loggers": {
            "omniretail": {"level": level.upper(), "handlers": ["default"], "propagate": False},
            "uvicorn": {"level": level.upper(), "handlers": ["default"], "propagate": False},
            "uvicorn.error": {"level": level.upper(), "propagate": True},
            # The request lines are ours (omniretail.access): uvicorn's would say it twice.
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": ["default"]},
    }


def configure_logging(level: str = "info") -> None:
    logging.config.dictConfig(logging_config(level))
