"""CSV bytes in and out the way merchants' spreadsheets write and read them.

Excel on Chinese Windows saves "CSV (comma delimited)" as GBK (GB18030 in practice) and
"Unicode text" as UTF-16; "CSV UTF-8" starts with a byte-order mark. Incoming files are decoded
by their BOM when they have one, as UTF-8 when they are valid UTF-8, and otherwise by
charset-normalizer limited to the encodings merchants really use. Exports may start with a BOM
so that Excel opens them as UTF-8 instead of garbling the Chinese.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from charset_normalizer import from_bytes

from omniretail.errors import ValidationFailed
from omniretail.i18n import ENGLISH, message

UTF8_BOM = codecs.BOM_UTF8
# GB18030 is a superset of GBK and GB2312: decoding as it reads all three.
CANDIDATES = ["utf_8", "gb18030", "big5", "utf_16"]
_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (BOM)"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
]


class UndecodableFile(ValidationFailed):
    code = "undecodable_file"
    title = "Unknown file encoding"


@dataclass(frozen=True, slots=True)
class DecodedFile:
    text: str
    encoding: str  # as a person would name it: "UTF-8", "GB18030", "UTF-16"


def decode_csv(data: bytes, *, locale: str = ENGLISH) -> DecodedFile:
    """Decode an uploaded CSV file; :class:`UndecodableFile` (422) when it is not text."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedFile(data.decode(codec), label)
            except UnicodeDecodeError:
                raise _undecodable(locale) from None
    try:
        return DecodedFile(data.decode("utf-8"), "UTF-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096] and len(data) % 2 == 0:
        # UTF-16 without a BOM: NULs every other byte in ASCII-heavy CSV.
        codec = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        try:
            return DecodedFile(data.decode(codec), "UTF-16")
        except UnicodeDecodeError:
            raise _undecodable(locale) from None
    best = from_bytes(data, cp_isolation=CANDIDATES).best()
    if best is None or "\x00" in str(best):
        raise _undecodable(locale)
    name = best.encoding
    if name in ("gb2312", "gbk", "gb18030"):
        # GB18030 decodes everything GBK and GB2312 do: never lose a rare character.
        return DecodedFile(data.decode("gb18030"), "GB18030")
    return DecodedFile(str(best), name.upper().replace("_", "-"))


def encode_csv(text: str, *, bom: bool) -> bytes:
    """UTF-8, with a BOM for Excel when asked."""
    body = text.encode("utf-8")
    return UTF8_BOM + body if bom else body


def _undecodable(locale: str) -> UndecodableFile:
    error = UndecodableFile(
        message("undecodable_file", locale),
        [{"field": "body", "message": message("undecodable_hint", locale)}],
    )
    error.locale = locale
    return error
