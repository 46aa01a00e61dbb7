"""Every error code the API answers with has a title and detail in English and Chinese."""

from __future__ import annotations

import importlib
import pkgutil

import omniretail
from omniretail.errors import DomainError, NotFound
from omniretail.i18n import CHINESE, ENGLISH
from omniretail.problem_texts import PROBLEM_TEXTS, has_texts, problem_detail, problem_title

# Codes the HTTP layer answers with itself (omniretail.problems, omniretail.app).
HTTP_LAYER_CODES = [
    "malformed_json",
    "validation_error",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "http_error",
    "database_busy",
    "database_conflict",
    "internal_error",
    "invalid_url",
]


def every_domain_error() -> list[type[DomainError]]:
    for module in pkgutil.walk_packages(omniretail.__path__, "omniretail."):
        importlib.import_module(module.name)
    found: list[type[DomainError]] = []
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_the_walk_finds_the_contexts_errors() -> None:
    codes = {cls.code for cls in every_domain_error()}
    assert {"insufficient_stock", "order_not_paid", "coupon_expired", "import_rejected"} <= codes


def test_every_domain_error_code_is_in_english_and_chinese() -> None:
    missing = sorted(
        f"{cls.__module__}.{cls.__qualname__} ({cls.code}): {lang}"
        for cls in every_domain_error()
        for lang, present in has_texts(cls.code).items()
        if not present
    )
    assert missing == []


def test_every_http_layer_code_is_in_english_and_chinese() -> None:
    missing = [
        (code, lang)
        for code in HTTP_LAYER_CODES
        for lang, present in has_texts(code).items()
        if not present
    ]
    assert missing == []


def test_the_english_titles_are_the_errors_own() -> None:
    differing = [
        (cls.code, cls.title, PROBLEM_TEXTS[cls.code][0])
        for cls in every_domain_error()
        if PROBLEM_TEXTS[cls.code][0] != cls.title
    ]
    assert differing == []


def test_a_chinese_detail_keeps_the_english_particulars() -> None:
    error = NotFound("product", "TEE-S")
    assert problem_title(error.code, CHINESE, error.title) == "未找到"
    detail = problem_detail(error.code, CHINESE, error.detail)
    assert detail.startswith("所请求的记录不存在")
    assert "'TEE-S'" in detail
    assert problem_detail(error.code, ENGLISH, error.detail) == "product 'TEE-S' not found"
    assert problem_title("no_such_code", CHINESE, "Fallback") == "Fallback"
