"""Answer text as untrusted output: the markup it may not carry to a client.

An answer quotes article text (extractive mode) or is written by a model that read
article text (LLM mode), and either can carry markup aimed at whoever renders the
answer: `/v1` chat front ends render Markdown, some with raw HTML. So, whatever the
mode, the text a client gets is cleaned here, in two steps:

- :func:`clean_markup` removes what would render as something other than text:
  HTML tags (``<img onerror=…>``, autolinks; ``<script>``/``<style>`` elements with
  their content), Markdown images (a
  remote image loads by itself, and its URL can carry data out), and every
  Markdown link that does not point at one of the answer's own sources (an http(s)
  URL the source list shows); such a link becomes its text. Character references
  are decoded first (``&lt;``, ``&#91;``), so nothing hides behind them.
- :func:`defang` breaks, by replacement only, whatever could still form markup:
  a ``<`` that could open a tag becomes ``‹``, ``](`` and ``]:`` (a link, or a
  reference definition that would turn every ``[1]`` into a link) get a space,
  and ``javascript:``/``vbscript:``/``data:`` lose their colon. Adding or
  swapping a character never creates a citation marker, so this step can run
  after the citation check.

A bare ``https://…`` is left as text: it shows its whole address, unlike a link
whose text hides where it goes. The citation markers themselves, and look-alikes
such as ``［7］``, are :mod:`assistant.citations`' business; the characters they
are written with are defined here, because a stream must never be cut inside one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection

__all__ = ["CLOSE_BRACKETS", "MARKER_GAP", "MAX_PASSES", "OPEN_BRACKETS", "clean_markup",
           "decoded", "defang", "half_open_tag"]

# Brackets a citation can be written (or faked) with: ASCII, full-width and the
# CJK brackets some models cite with. Any opener pairs with any closer.
OPEN_BRACKETS = "[［【〔〖⟦"
CLOSE_BRACKETS = "]］】〕〗⟧"
# What may sit inside a marker without changing what a reader sees: whitespace, line
# breaks, zero-width and direction marks, Markdown escapes and emphasis ("[7\u200b]",
# "[\\7]", "[*7*]" all show as [7]).
MARKER_GAP = (r"[\s\\*_`\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
              r"\u2066-\u206f\ufeff]")

_TAG_START = r"[A-Za-z/!?]"
# A complete tag, comment start or autolink: removed whole. It ends at its first ">" and
# cannot contain "<", so the same text always parses the same way, however it is cut.
_TAG = re.compile(rf"<{_TAG_START}[^<>]*>")
_HALF_TAG = re.compile(rf"<{_TAG_START}[^<>]*$")
# A script or style element goes with its content ("alert(1)" is no answer text either).
_ELEMENT = re.compile(r"<(script|style)\b[^<>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HALF_ELEMENT = re.compile(r"<(script|style)\b[^<>]*>(?:(?!</\1).)*$",
                           re.IGNORECASE | re.DOTALL)
_LT = re.compile(rf"<(?={_TAG_START})")

# A Markdown link or image; the text may hold one level of brackets ("[[1]](…)"), the
# destination and title none, so removing a link never unbalances the brackets around it.
_LABEL = r"(?:[^\[\]]|\[[^\[\]]*\])*"
_DEST = r"<[^<>\n\[\]]*>|(?:[^\s()\[\]<>]|\([^\s()\[\]<>]*\))*"
_TITLE = r"""(?:\s+(?:"[^"\[\]]*"|'[^'\[\]]*'|\([^()\[\]]*\)))?"""
_LINK = re.compile(rf"(?P<image>!?)\[(?P<label>{_LABEL})\]\(\s*(?P<dest>{_DEST}){_TITLE}\s*\)")
# A link as clean_markup leaves it: only these survive defang.
_KEPT_LINK = re.compile(rf"\[(?P<label>{_LABEL})\]\((?P<dest>[^\s()\[\]<>]+)\)")
# A label that is a citation ("[1](#)"): the brackets stay, the destination goes.
_CITATION_LABEL = re.compile(r"[\d\s,;\-–]*\d[\d\s,;\-–]*")
_OPENS_LINK = re.compile(r"\](?=[(:])")
# A scheme that runs or embeds something; "data" only as in "data:text/html,…", not "Data: 2023".
_SCHEME = re.compile(r"\b(?:(?:java|vb|live)script|data(?=\s*:\s*[\w.+-]+/))\s*:",
                     re.IGNORECASE)

MAX_PASSES = 8  # nested tricks ("<<b>b>", "[[a](x)](y)") peel one layer per pass


def decoded(text: str) -> str:
    """``text`` with HTML character references decoded, until none is left
    (``&amp;#91;`` → ``[``): what a Markdown client would show, so a marker or tag
    cannot hide behind ``&#91;``."""
    for _ in range(MAX_PASSES):
        plain = html.unescape(text)
        if plain == text:
            break
        text = plain
    return text


def half_open_tag(text: str) -> bool:
    """Whether ``text`` ends inside a tag that may still close (``<img alt="a. ``) or a
    script or style element: a stream is not cut there, or the two halves would be
    cleaned apart."""
    return _HALF_TAG.search(text) is not None or _HALF_ELEMENT.search(text) is not None


def clean_markup(text: str, urls: Collection[str] = ()) -> str:
    """``text`` without HTML tags and images, and with every link that does not point at
    one of ``urls`` (the sources' own http(s) URLs) replaced by its text.

    Removal can join what was apart (``<<b>script>``, ``[[a](x)](y)``), so it runs
    until nothing changes; what is left for :func:`defang` is never markup.
    """
    def link(match: re.Match[str]) -> str:
        if match["image"]:
            return ""
        label, dest = match["label"], match["dest"].strip("<>").strip()
        if dest in urls:
            return f"[{label}]({dest})"
        return f"[{label}]" if _CITATION_LABEL.fullmatch(label) else label

    for _ in range(MAX_PASSES):
        cleaned = _TAG.sub("", _ELEMENT.sub("", _LINK.sub(link, decoded(text))))
        if cleaned == text:
            break
        text = cleaned
    return text


def defang(text: str, urls: Collection[str] = ()) -> str:
    """``text`` with anything that could still open markup broken by a replacement: no
    ``<`` before a tag name, no ``](``/``]:`` outside a link to one of ``urls``, no
    script or data scheme. Replacing never removes a bracket or digit, so it cannot
    make a citation marker, and it can run last."""
    text = _SCHEME.sub(lambda m: m[0][:-1] + " ", _LT.sub("‹", text))
    out: list[str] = []
    last = 0
    for match in _KEPT_LINK.finditer(text):
        if match["dest"] in urls:
            out.append(_OPENS_LINK.sub("] ", text[last:match.start()]))
            out.append(f"[{_OPENS_LINK.sub('] ', match['label'])}]({match['dest']})")
            last = match.end()
    out.append(_OPENS_LINK.sub("] ", text[last:]))
    return "".join(out)
