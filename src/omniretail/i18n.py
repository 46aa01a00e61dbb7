# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""Messages that people read (the CLI, CSV error reports), in English and Simplified Chinese.

The language is the request's ``Accept-Language`` when it names one we speak, else the tenant's
``locale`` setting, else English. On the command line it is ``OMNI_LANG`` or ``LANG``.
"""

from __future__ import annotations

import os
from typing import Any

ENGLISH = "en"
CHINESE = "zh-CN"
LOCALES = (ENGLISH, CHINESE)

MESSAGES: dict[str, dict[str, str]] = {
    "error": {ENGLISH: "error", CHINESE: "错误"},
    "database_unreachable": {
        ENGLISH: "cannot reach the database at {url}: {reason}",
        CHINESE: "无法连接数据库 {url}：{reason}",
    },
    "database_error": {
        ENGLISH: "database error at {url}: {reason} (has `omni migrate` run?)",
        CHINESE: "数据库 {url} 出错：{reason}（是否已运行 `omni migrate`？）",
    },
    "invalid_setting": {
        ENGLISH: "the setting {name} is not valid: {reason}",
        CHINESE: "配置项 {name} 无效：{reason}",
    },
    "line": {ENGLISH: "line {line}", CHINESE: "第 {line} 行"},
    "undecodable_file": {
        ENGLISH: "the file is not text in a known encoding (UTF-8, UTF-16, GBK, GB18030)",
        CHINESE: "无法识别文件编码（支持 UTF-8、UTF-16、GBK、GB18030）",
    },
    "undecodable_hint": {
        ENGLISH: "save the CSV from Excel as 'CSV UTF-8' or 'CSV (comma delimited)'",
        CHINESE: "请在 Excel 中另存为 “CSV UTF-8” 或 “CSV（逗号分隔）”",
    },
    "file_read": {
        ENGLISH: "read {name}: {encoding}, {rows} rows",
        CHINESE: "已读取 {name}：{encoding} 编码，{rows} 行",
    },
    "checking": {ENGLISH: "checking {rows} rows", CHINESE: "正在检查 {rows} 行"},
    "importing": {ENGLISH: "importing {rows} rows", CHINESE: "正在导入 {rows} 行"},
    "import_done": {
        ENGLISH: "{rows} rows {verb}: {created} new, {updated} updated",
        CHINESE: "{rows} 行已{verb}：新增 {created}，更新 {updated}",
    },
    "checked": {ENGLISH: "checked", CHINESE: "检查"},
    "imported": {ENGLISH: "imported", CHINESE: "导入"},
    "demo_step": {ENGLISH: "demo: {step}", CHINESE: "演示数据：{step}"},
    "demo_exists": {
        ENGLISH: "demo tenant already there: issued a new admin key",
        CHINESE: "演示商户已存在：已签发新的管理员密钥",
    },
    "key_revoked": {ENGLISH: "key {key_id} revoked", CHINESE: "密钥 {key_id} 已吊销"},
    "wrote": {ENGLISH: "wrote {path}", CHINESE: "已写入 {path}"},
}


def pick_locale(accept_language: str | None, fallback: str | None = None) -> str:
    """The first language of ``Accept-Language`` we speak (``zh``, ``zh-CN``, ``zh-Hans`` are
    Chinese), else ``fallback`` (the tenant's locale), else English."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return CHINESE
        if tag.startswith("en") or tag == "*":
            return ENGLISH
    return fallback if fallback in LOCALES else ENGLISH


_cli_choice: str | None = None


def choose_cli_locale(locale: str | None) -> None:
    """``omni --lang``: set for this invocation (``None`` leaves the environment to decide)."""
    global _cli_choice
    _cli_choice = locale


def cli_locale(tenant_locale: str | None = None) -> str:
    """The command line's language: ``--lang``, else ``OMNI_LANG``, else the tenant's locale
    (for a command about one tenant), else ``LANG`` (``zh_CN.UTF-8``), else English."""
    chosen = _cli_choice or os.environ.get("OMNI_LANG")
    if not chosen and tenant_locale in LOCALES:
        return str(tenant_locale)
    chosen = chosen or os.environ.get("LANG") or ""
    return CHINESE if chosen.lower().startswith("zh") else ENGLISH


def message(key: str, locale: str, /, **values: Any) -> str:
    texts = MESSAGES[key]
    return texts.get(locale, texts[ENGLISH]).format(**values)
