"""Masking personal data: real-format identity numbers (Luhn-valid), Swedish phone
numbers and e-mail addresses go; look-alikes that carry meaning stay."""

from __future__ import annotations

import pytest

from assistant.privacy import EMAIL, IDENTITY_NUMBER, PHONE, luhn_valid, mask, mask_json

# Luhn-valid: Skatteverket's example person, the same with century, a person over a
# hundred (+), and a samordningsnummer (day + 60).
IDENTITY_NUMBERS = ["811218-9876", "8112189876", "19811218-9876", "198112189876",
                    "811218+9876", "701063-2391", "197010632391"]
PHONES = ["070-123 45 67", "0701234567", "070 123 45 67", "+46 70 123 45 67",
          "+46701234567", "+46 (0)8 123 456 78", "08-123 456 78", "08-12 34 56",
          "031-12 34 56", "0046 70 123 45 67"]
EMAILS = ["anna.svensson@skola.kommun.se", "elev+test@example.com", "åsa.öberg@förskola.se"]
LOOK_ALIKES = [
    "811218-9877",       # Luhn-invalid ten digits
    "8112189877",
    "811232-9876",       # no such day
    "2024-05-06",        # a date
    "2019–2023",         # a year range (en dash)
    "2019-2023",
    "1 250 000 kr",      # a sum
    "version 2.10.3",
    "KS 2023/123",       # a diarienummer
    "Dnr 2023-00123",
    "kl. 08-10",
    "1234567890",
    "0123456789",        # ten digits, not a phone number in any Swedish shape
    "ISBN 978-91-27-12345-6",
    "anna@",             # not an address
]


@pytest.mark.parametrize("number", IDENTITY_NUMBERS)
def test_identity_numbers_are_masked(number: str) -> None:
    assert mask(f"Eleven har personnummer {number}, vad gäller?") == (
        f"Eleven har personnummer {IDENTITY_NUMBER}, vad gäller?")


@pytest.mark.parametrize("number", PHONES)
def test_phone_numbers_are_masked(number: str) -> None:
    assert mask(f"Ring mig på {number}.") == f"Ring mig på {PHONE}."


@pytest.mark.parametrize("address", EMAILS)
def test_email_addresses_are_masked(address: str) -> None:
    assert mask(f"Mejla {address} i dag") == f"Mejla {EMAIL} i dag"


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_stay(text: str) -> None:
    sentence = f"Enligt beslutet ({text}) gäller regeln."
    assert mask(sentence) == sentence


def test_luhn() -> None:
    assert luhn_valid("8112189876") and not luhn_valid("8112189877")
    assert [d for d in range(10) if luhn_valid(f"811218987{d}")] == [6]


def test_a_question_with_everything() -> None:
    question = ("Min son 20120315-3281 går i 3B, ring 070-123 45 67 eller mejla "
                "pappa@exempel.se om utvecklingssamtalet 2024-05-06 (dnr KS 2023/123).")
    assert luhn_valid("1203153281")
    assert mask(question) == (
        f"Min son {IDENTITY_NUMBER} går i 3B, ring {PHONE} eller mejla "
        f"{EMAIL} om utvecklingssamtalet 2024-05-06 (dnr KS 2023/123).")
    assert mask(mask(question)) == mask(question)  # masking masked text changes nothing


def test_mask_json_masks_every_string() -> None:
    history = [{"role": "user", "content": "Jag heter Per, 811218-9876."},
               {"role": "assistant", "content": "Svar [1].", "n": 3}]
    assert mask_json(history) == [
        {"role": "user", "content": f"Jag heter Per, {IDENTITY_NUMBER}."},
        {"role": "assistant", "content": "Svar [1].", "n": 3}]
