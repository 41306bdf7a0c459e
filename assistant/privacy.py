"""Personal data out of what the assistant keeps: identity numbers, phone numbers and
e-mail addresses masked before feedback is stored or a question is logged.

Why here, on the ground floor: staff type personnummer, pupils' phone numbers and
e-mail addresses into a chat box, and under GDPR the municipality must be able to say
what it keeps. The cheapest personal data to account for is the data never written, so
every place that stores or logs what a user typed (``assistant.web.feedback``, the
request and answer logs of ``assistant.web.observe``) passes it through :func:`mask`.

Precision matters as much as recall: a masked date or sum makes feedback useless for
evaluation. So an identity number is masked only when it is one (a real date, or a
samordningsnummer's day + 60, and a valid Luhn check digit), a phone number only in the
Swedish shapes (a trunk ``0`` and area code, or ``+46``) with a plausible digit count,
and look-alikes stay: a Luhn-invalid ten-digit number, ``2024-05-06``, ``2019–2023``,
``1 250 000 kr``, a version ``2.10.3``, a diarienummer ``KS 2023/123``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["EMAIL", "IDENTITY_NUMBER", "PHONE", "luhn_valid", "mask", "mask_json"]

# What the masked text says instead (Swedish: it is read in exported feedback).
IDENTITY_NUMBER = "[personnummer]"
PHONE = "[telefonnummer]"
EMAIL = "[e-postadress]"

# YYMMDD-XXXX, YYMMDD+XXXX (a hundred years or older), YYMMDDXXXX, YYYYMMDD-XXXX,
# YYYYMMDDXXXX; not part of a longer number, word, or a dashed/slashed sequence.
_IDENTITY = re.compile(r"(?<![\w/.,+-])(\d{8}|\d{6})([-+]?)(\d{4})(?![\w/]|[.,-]\d)")
# +46 (0)70-123 45 67, +46 8 123 456 78, 0046 …: the country code, then digits in groups.
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)46[\s-]?(?:\(0\)[\s-]?)?[1-9](?:[\s-]?\d){5,9}"
                         r"(?![\w]|[.,/-]\d)")
# 070-123 45 67, 08-123 456 78, 031 - 12 34 56, 0701234567: a trunk 0 and an area code,
# a dash or a space, then groups of two or three digits; or a mobile number unbroken.
_PHONE_NATIONAL = re.compile(
    r"(?<![\w+/.,-])(?:0\d{1,3}\s?[-\s]\s?\d{2,4}(?:\s?\d{2,3}){1,3}|07\d{8})"
    r"(?![\w]|[.,/-]\d)")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?!\w)")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of a personnummer's ten digits (YYMMDDNNNC): C makes the sum of
    the doubled-and-digit-summed odd positions and the even ones a multiple of ten."""
    total = 0
    for i, char in enumerate(digits):
        value = int(char) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _is_identity_number(date: str, serial: str) -> bool:
    """``date`` is YYMMDD or YYYYMMDD: a month, a day (or a samordningsnummer's day + 60),
    a plausible century, and the ten digits pass the Luhn check."""
    if len(date) == 8 and date[:2] not in ("18", "19", "20"):
        return False
    short = date[-6:]
    month, day = int(short[2:4]), int(short[4:6])
    if day > 60:
        day -= 60
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    return luhn_valid(short + serial)


def _identity(match: re.Match[str]) -> str:
    return IDENTITY_NUMBER if _is_identity_number(match[1], match[3]) else match[0]


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _national(match: re.Match[str]) -> str:
    # Swedish numbers with the trunk 0: 8 (08-12 34 56) to 10 digits (070-123 45 67).
    return PHONE if 8 <= _digit_count(match[0]) <= 10 else match[0]


def _international(match: re.Match[str]) -> str:
    # After +46: 7 to 9 digits (the trunk 0 dropped), +(0) not counted.
    text = match[0].replace("(0)", "")
    prefix = 3 if text.startswith("+") else 4
    return PHONE if 7 <= _digit_count(text[prefix:]) <= 9 else match[0]


def mask(text: str) -> str:
    """``text`` with identity numbers, phone numbers and e-mail addresses replaced by
    :data:`IDENTITY_NUMBER`, :data:`PHONE` and :data:`EMAIL`; everything else unchanged.
    Masking masked text changes nothing."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _IDENTITY.sub(_identity, text)
    text = _PHONE_INTL.sub(_international, text)
    return _PHONE_NATIONAL.sub(_national, text)


def mask_json(value: Any) -> Any:
    """Every string inside a JSON-like value (a conversation history) masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_json(v) for k, v in value.items()}
    return value
