"""What kind of answer a question asks for, and whether a sentence holds one.

A near-miss question is answered by a sentence *about* the right thing that lacks what
was asked: "Hur många besökare kom?" by "två välbesökta seminarier", "Vem är rektor på
Nossebro skola?" by a sentence naming the school and no person, "Vilket år …?" by
"5 juli". The question phrase says what the answer must contain, so each question gets
at most one :class:`Slot`:

* ``count``: "hur många X" / "how many": a number; in Swedish next to X (the counted
  noun, or a compound ending in it: "50-tal förvaltningschefer" counts "chefer");
* ``amount``: "hur mycket/ofta/länge/stor", "how much/often/long": any number or
  frequency ("var tredje år", "årligen");
* ``money``: "vad kostar", "hur mycket pengar", "budget", "what does … cost": an
  amount of money;
* ``year`` / ``day`` / ``date``: "vilket år" needs a year, "vilket datum" a day, and
  "när"/"when" any point in time. "När krävs …?" asks for a condition, not a date;
* ``rank``: "vilken placering/plats": a place in a ranking;
* ``person``: "vem är <roll>", "vem leder", "who chairs": a person's name, next to the
  role in Swedish. "Vem ansvarar för …?" is not asked for a name (the answer is often
  a party: "bostadsrättshavaren");
* ``place``: "var hålls …", "where": a name the question does not already give;
* ``name``: "vilken skola/kommun/högskola …": the name of one, not given in the question.
  "Vilket meritvärde/antal/belopp …" asks for an ``amount``.

Every rule here is about the language of questions and answers, none about one
corpus. The thresholds that decide what a missing slot means live in the policy.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from assistant.language import (
    FIGURE_JOINERS,
    POSSESSIVE,
    Language,
    analyse,
    capitalised_words,
    detect_language,
    frame_stems,
    has_listed_tail,
    person_names,
    question_names,
    term_match,
    token_pattern,
    tokens,
)
from assistant.params import tuning

__all__ = ["Cue", "CueKind", "Slot", "SlotKind", "asked_slot", "lead_cue", "lead_slot", "numbers"]

SlotKind = Literal["count", "amount", "money", "year", "day", "date", "rank", "person",
                   "place", "name"]

_NUMBER_WORDS = (
    "två tre fyra fem sex sju åtta nio tio elva tolv tretton fjorton femton tjugo trettio "
    "fyrtio femtio sextio sjuttio åttio nittio hundra hundratals tusen tusentals dussin "
    "miljon miljoner miljard miljarder dubbelt hälften "
    "two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion dozen"
)
_MONTHS = (
    "januari februari mars april maj juni juli augusti september oktober november december "
    "january february march june july august october december"
)
_DAYS = "måndag tisdag onsdag torsdag fredag lördag söndag monday tuesday wednesday " \
        "thursday friday saturday sunday"
_SEASONS = "våren sommaren hösten vintern vår sommar höst vinter spring summer autumn winter " \
           "igår idag imorgon yesterday today tomorrow"
# Roles a person holds. Compounds count by their tail ("förbundsordförande",
# language.MIN_LISTED_SUFFIX), as do those of the measures and named kinds below.
_ROLES = (
    "ordförande chef direktör rektor samordnare ledare värd strateg sekreterare minister "
    "president vd kommunalråd handläggare talesperson ombudsman borgmästare "
    "chair chairman chairwoman head director principal coordinator leader host secretary "
    "manager president mayor"
)
# "När krävs …", "when can …": the answer is a condition, not a point in time.
_CONDITIONAL_WORDS = ("krävs behövs kan får måste bör behöver gäller lönar passar brukar "
                      "is are can should must do does need")
# A number before these measures time, not how many of something there are.
_TIME_UNITS = frozenset(("år", "månad", "månader", "vecka", "veckor", "dag", "dagar", "gång",
                         "gånger", "timme", "timmar", "minut", "minuter", "year", "years",
                         "month", "months", "week", "weeks", "day", "days", "time", "times",
                         "hour", "hours"))
# "Vilket meritvärde …": nouns (or compound tails) whose value is a number.
_MEASURES = ("värde antal andel belopp summa pris kostnad budget lön procent siffra "
             "value number share amount sum price cost budget salary percentage")
# "Vilken skola …": nouns (or compound tails) whose instances have names.
_NAMED = ("skola skolor kommun kommuner stad städer högskola högskolor universitet "
          "myndighet myndigheter organisation organisationer förening föreningar företag "
          "förbund land länder län region regioner "
          "school schools municipality municipalities city cities university universities "
          "agency agencies organisation organisations organization organizations company "
          "companies country countries region regions")
_CONDITIONAL = frozenset(_CONDITIONAL_WORDS.split())

_TOKEN = token_pattern(FIGURE_JOINERS)  # "6,5 miljoner": a figure is one token
_DIGIT = re.compile(r"\d")
_NUMBER_TOKEN = re.compile(rf"^(?:\d[\d\s.,]*|{'|'.join(_NUMBER_WORDS.split())})(?:-tal)?$",
                           re.IGNORECASE)
_AMOUNT = re.compile(rf"\b({'|'.join(_NUMBER_WORDS.split())}|annan|annat|vartannat|tredje|"
                     r"fjärde|femte|sjätte|varje|årligen|dagligen|every|annually|daily)\b",
                     re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)(?:-talet)?\b")
_MONTH = re.compile(rf"\b({'|'.join(_MONTHS.split())})\b", re.IGNORECASE)
_DAY = re.compile(rf"\b\d{{1,2}}(?:\s*[-–]\s*\d{{1,2}})?\s+({'|'.join(_MONTHS.split())})\b|"
                  rf"\b({'|'.join(_DAYS.split())})\w*|\b\d{{1,2}}/\d{{1,2}}\b|"
                  r"\b\d{4}-\d\d-\d\d\b", re.IGNORECASE)
_WHEN = re.compile(rf"\b({'|'.join(_SEASONS.split())})\w*\b|förra|nästa|last|next",
                   re.IGNORECASE)
# Money is a currency word right after a number ("6,5 miljoner kronor", "1 200 SEK") or
# a currency sign right before one ("$5"). Found from the currency outwards, so the
# search stays linear on untrusted text ("1 1 1 …" has no currency to start from).
_CURRENCY = re.compile(r"\b(?:kr|kronor|sek|mkr|tkr|miljon|miljoner|miljard|miljarder|euro|"
                       r"dollar)\b|[€$]|:-", re.IGNORECASE)
_ENDS_IN_NUMBER = re.compile(r"\d[\d.,]*\s?$")
_STARTS_WITH_NUMBER = re.compile(r"^\s?\d")
_RANK = re.compile(
    r"\b(?:nummer|plats|placering|number|place|rank\w*)\s+(?:\d+|en|ett|två|tre|fyra|fem|"
    r"one|two|three|four|five)\b|\b(?:första|andra|tredje|fjärde|femte|sjätte|\d+:[ae]|"
    r"first|second|third|fourth|fifth|\d+(?:st|nd|rd|th))\b", re.IGNORECASE)

_MONEY_Q = re.compile(
    r"\b(vad kost\w*|hur mycket (pengar|kost\w*|satsa\w*|betala\w*)|hur dyr\w*|"
    r"vilken budget|vilket belopp|vilken summa|what (does|did|will) .*\bcost\b|"
    r"how much (money|does|did|will|is|was)\b.*\b(cost|pay|budget)|"
    r"what (was|is) the (budget|cost|price))", re.IGNORECASE)
_COUNT_Q = re.compile(r"^\W*(hur många|how many)\s+(\w+)", re.IGNORECASE)
_AMOUNT_Q = re.compile(r"\b(hur (mycket|stor|stort|stora|ofta|länge|gammal)|"
                       r"how (much|often|long|old|big|large))\b", re.IGNORECASE)
_YEAR_Q = re.compile(r"\b(vilket år|what year|which year|in what year)\b", re.IGNORECASE)
_DAY_Q = re.compile(r"\b(vilket datum|vilken dag|what date|which date|which day|what day)\b",
                    re.IGNORECASE)
_WHEN_Q = re.compile(r"^\W*(när|when)\s+(\w+)", re.IGNORECASE)
_RANK_Q = re.compile(r"^\W*(vilken (placering|plats)|which (place|position|rank)|"
                     r"what (place|position|rank))\b", re.IGNORECASE)
_WHO_ROLE_Q = re.compile(r"^\W*(vem|vilka|who)\s+(är|var|blir|blev|is|was)\s+(the\s+)?"
                         r"([\w-]+)", re.IGNORECASE)
_WHICH_Q = re.compile(r"^\W*(vilken|vilket|vilka|which|what)\s+([\w-]+)(?:\s+([\w-]+))?",
                      re.IGNORECASE)
_WHERE_Q = re.compile(r"^\W*(var|where)\s", re.IGNORECASE)
# "Vem tog emot …?", "Vilka personer …?", "Vilka från lärarfacken …?", "Who met …?": a
# person is asked about, by name; "vem får/kan/ansvarar …", "who can/is responsible …"
# ask for a kind of person or a party, not a name.
_WHO_NAMED_Q = re.compile(r"^\W*(?:vem|who|vilka\s+(?:personer|person|från|av|inom|vid|på)|"
                          r"which\s+(?:people|persons|person))\s+(\w+)", re.IGNORECASE)
# "Vem/Vilka (personer) från/inom/vid/hos <body>": where the asked person comes from.
_FROM_Q = re.compile(r"^\W*(?:vem|vilka|vilken)(?:\s+personer|\s+person)?\s+"
                     r"(?:från|inom|vid|hos)\s+([\w:-]+)(?:\s+([\w:-]+))?(?:\s+([\w:-]+))?",
                     re.IGNORECASE)
POSSESSIVE_S = re.compile(r"(?::s|s)$")
_COORDINATORS = frozenset(("och", "eller", "respektive"))
_RESPONSIBLE = re.compile(r"\b(ansvar\w*|responsib\w*)", re.IGNORECASE)
_WHO_LEADS_Q = re.compile(r"^\W*(vem|who)\s+(leder|ledde|leds|chairs|chaired|heads|headed|"
                          r"leads|led)\b", re.IGNORECASE)


def numbers(text: str) -> list[str]:
    """Stand-alone numbers in a text ("2011", "9"); parts of words ("14-kommuners") are
    names, not quantities."""
    return re.findall(r"(?<![\w-])\d+(?![\w-])", text)


@lru_cache(maxsize=4096)
def _stems(word: str) -> frozenset[str]:
    return frozenset(analyse(word))


def _near(tokens: list[str], index: int, heads: frozenset[str], window: int) -> bool:
    """A token within ``window`` after ``index`` (or the number's own compound) matches."""
    for token in tokens[index:index + window + 1]:
        bag = _stems(token)
        if any(term_match(head, bag) > 0 for head in heads):
            return True
    return False


@dataclass(frozen=True)
class Slot:
    """The answer a question asks for; ``heads`` are the stems it must stand next to."""

    kind: SlotKind
    heads: frozenset[str] = frozenset()
    # Stems of names the question itself gives: a sentence naming only them names no one
    # new ("Vem är Karin Falck?" is not answered by "Karin Falck" alone).
    given: frozenset[str] = frozenset()

    def attested(self, bags: Sequence[Collection[str]]) -> Slot:
        """This slot, without its heads if no candidate text uses them.

        "Hur många förslag …?" answered by "30 rekommendationer": when the texts never
        use the asked noun, they name the thing differently, and requiring it next to
        the number would refuse the answer. When they do use it ("elever"), a number
        next to another noun counts something else.
        """
        if not self.heads or any(term_match(h, bag) > 0 for h in self.heads for bag in bags):
            return self
        return Slot(self.kind)

    def fills(self, text: str) -> bool:
        """``text`` holds an answer of this kind (next to its heads where they apply)."""
        if self.kind == "money":
            return any(_ENDS_IN_NUMBER.search(text, max(0, m.start() - 2), m.start())
                       or _STARTS_WITH_NUMBER.match(text[m.end():m.end() + 2])
                       for m in _CURRENCY.finditer(text))
        if self.kind == "year":
            return bool(_YEAR.search(text))
        if self.kind == "day":
            return bool(_DAY.search(text))
        if self.kind == "date":
            return bool(_YEAR.search(text) or _DAY.search(text) or _MONTH.search(text)
                        or _WHEN.search(text))
        if self.kind == "rank":
            return bool(_RANK.search(text))
        if self.kind == "person":
            return self._person(text)
        if self.kind in ("place", "name"):
            return self._named(text)
        return self._count(text)

    def _named(self, text: str) -> bool:
        """A capitalised word inside the sentence that is not one the question gave."""
        return any(not (_stems(word) & self.heads) for word in capitalised_words(text))

    def _count(self, text: str) -> bool:
        if self.kind == "amount":  # "hur ofta/länge/stor": any number or frequency will do
            return bool(_DIGIT.search(text) or _AMOUNT.search(text))
        tokens = _TOKEN.findall(text)
        for i, token in enumerate(tokens):
            numeric = _NUMBER_TOKEN.match(token) or (_DIGIT.search(token) and "-" in token)
            if not numeric or _YEAR.fullmatch(token):
                continue
            after = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
            if _MONTH.fullmatch(after):
                continue  # "5 juli" is a date, not a count
            if not self.heads and after in _TIME_UNITS and self.kind == "count":
                continue  # "under snart sju år" says for how long, not how many
            if not self.heads or _near(tokens, i, self.heads, tuning().slots.count_window):
                return True
        return False

    def _person(self, text: str) -> bool:
        """A name ("Matz Nilsson"); in Swedish within ``role_window`` tokens of the role."""
        names = [start for start, name in person_names(text)
                 if not self.given or not set(analyse(name)) <= self.given]
        if not names or not self.heads:
            return bool(names)
        spans = list(_TOKEN.finditer(text))
        at = [next((i for i, t in enumerate(spans) if t.start() >= start), len(spans))
              for start in names]
        roles = [i for i, t in enumerate(spans) if _near([t.group()], 0, self.heads, 0)]
        window = tuning().slots.role_window
        return any(abs(i - j) <= window for i in at for j in roles)


def _role_heads(word: str) -> frozenset[str] | None:
    """The stems of ``word`` if it names a role ("förbundsordförande" ends in one)."""
    low = word.lower()
    if has_listed_tail(low, _ROLES.split()):
        return _stems(low) or frozenset({low})
    return None


def asked_slot(question: str, language: Language | None = None) -> Slot | None:
    """The slot a question's phrase asks to fill, or None ("Vad innebär …?").

    ``language`` is the question's (:func:`~assistant.language.detect_language` when not
    given).
    """
    text = question.strip()
    # Heads are matched against the (Swedish) texts, so only a Swedish question has them.
    swedish = (language or detect_language(text)) == "sv"
    slot = _by_phrase(text, swedish)
    if slot is not None:
        return slot
    if _WHEN_Q.search(text):
        return None  # "när krävs …": a condition (a plain "när" asked for a date above)
    return _by_noun(text, swedish)


# Question phrases whose answer kind needs nothing else from the question, in order.
# (Money comes first and a count second: "hur mycket pengar", "hur många" are checked
# before the broader "hur mycket" of an amount.)
_PHRASES: tuple[tuple[re.Pattern[str], SlotKind], ...] = (
    (_AMOUNT_Q, "amount"), (_YEAR_Q, "year"), (_DAY_Q, "day"), (_RANK_Q, "rank"),
)


def _by_phrase(text: str, swedish: bool) -> Slot | None:
    if _MONEY_Q.search(text):
        return Slot("money")
    count = _COUNT_Q.search(text)
    if count:
        return Slot("count", _stems(count.group(2)) if swedish else frozenset())
    for pattern, kind in _PHRASES:
        if pattern.search(text):
            return Slot(kind)
    when = _WHEN_Q.search(text)
    if when and when.group(2).lower() not in _CONDITIONAL:
        return Slot("date")
    return None


def _by_noun(text: str, swedish: bool) -> Slot | None:
    """Slots that depend on the noun asked about: "vilken skola", "vem är rektor"."""
    which = _WHICH_Q.search(text)
    if which:  # the noun, or the one after an adjective ("vilket genomsnittligt meritvärde")
        for noun in (w.lower() for w in which.group(2, 3) if w):
            if has_listed_tail(noun, _MEASURES.split()):
                return Slot("amount")
            if has_listed_tail(noun, _NAMED.split()):
                return Slot("name", frozenset(question_names(text)))
    if _WHERE_Q.search(text):
        return Slot("place", frozenset(question_names(text)))
    role = _WHO_ROLE_Q.search(text)
    if role:
        roles = _role_heads(role.group(4))
        return None if roles is None else Slot("person", roles if swedish else frozenset())
    return Slot("person") if _WHO_LEADS_Q.search(text) else None


def lead_slot(question: str, language: Language | None = None) -> Slot | None:
    """What the first sentence of an answer should hold: the :func:`asked_slot`, or for a
    question about who did something ("Vem tog emot gästerna?", "Vilka från lärarfacken
    kommenterade?") a person's name the question does not give.

    Wider than :func:`asked_slot` on purpose: it only orders the sentences an answer
    quotes, never refuses one (a "vem" question may be answered by a party or a role,
    and the refusal rules must not demand a name there).
    """
    slot = asked_slot(question, language)
    if slot is not None:
        return slot
    who = _WHO_NAMED_Q.search(question.strip())
    if who is None or who.group(1).lower() in _CONDITIONAL or _RESPONSIBLE.search(question):
        return None
    given = frozenset(question_names(question))
    swedish = (language or detect_language(question)) == "sv"
    where = _FROM_Q.search(question.strip()) if swedish else None
    if where is None:
        return Slot("person", given=given)
    # "Vilka personer från Landskronas utbildningsförvaltning …": someone named next to
    # the body they come from (the noun, past an owner's possessive), as next to a role.
    owner, noun, other = where.group(1, 2, 3)
    if noun and noun.lower() in _COORDINATORS:  # "från SKL respektive SKR": both
        bodies = [owner, other or ""]
    else:
        bodies = [noun if noun and POSSESSIVE_S.search(owner) else owner]
    heads = frozenset(s for body in bodies for s in analyse(POSSESSIVE.sub("", body)))
    return Slot("person", heads, given - heads) if heads else Slot("person", given=given)


# --------------------------------------------------------------------------- lead cues

CueKind = Literal["kind", "reason", "expansion", "besides", "said", "ordinal", "predicate"]

# "Vad står PRIO för?", "What does BBR stand for?", "Vad betyder förkortningen OVK?"
_EXPANSION_Q = re.compile(
    r"(?i:\bvad\s+(?:står|betyder)\s+(?:förkortningen\s+)?)([A-ZÅÄÖ]{3,8})\b|"
    r"(?i:\bwhat\s+does\s+(?:the\s+)?(?:abbreviation\s+|acronym\s+)?)([A-Z]{3,8})"
    r"(?i:\s+(?:stand\s+for|mean))")
# Words an expansion may have between its initials' words ("… Initiativ och Organisation").
_EXPANSION_JOINERS = frozenset(("och", "and", "of", "for", "för", "i", "in", "the", "av"))
_REASON_Q = re.compile(r"\b(varför|why)\b", re.IGNORECASE)
_REASON = re.compile(r"\b(därför|eftersom|på grund av|beror på|orsaken|anledningen|"
                     r"because|since|therefore|due to|the reason)\b", re.IGNORECASE)
# "… utöver ny skollag och läroplaner?", "Besides PRIO, which …": up to a comma or the end.
_BESIDES_Q = re.compile(r"\b(?:utöver|förutom|bortsett från|besides|apart from|aside from|"
                        r"other than|except(?: for)?)\s+([^,?.;:]+)", re.IGNORECASE)
# "Hur beskrev Karin Falck …?", "Vad säger Tomas Johansson om …?", "What did X say …?"
_SAID_Q = re.compile(r"\b(beskrev|beskriver|sa|sade|säger|tycker|tyckte|anser|ansåg|menar|"
                     r"menade|berättade|berättar|describe|described|describes|say|said|says|"
                     r"think|thought|thinks)\b", re.IGNORECASE)
_SAYING = re.compile(r"\b(säger|sa|sade|menar|menade|berättar|berättade|konstaterar|"
                     r"konstaterade|förklarar|förklarade|tycker|anser|beskriver|beskrev|"
                     r"påpekade|says|said)\b", re.IGNORECASE)
_QUOTATION = re.compile(r"^\s*[-–—”\"]")
# "det första seminariet", "the second meeting": which one of several is asked about,
# in both languages, since an English question is answered from Swedish texts.
_ORDINALS = (("första", "first"), ("andra", "second"), ("tredje", "third"),
             ("fjärde", "fourth"), ("femte", "fifth"), ("sista", "last"))
# ("andra" is also "other": only "den/det andra" is the second one.)
_ORDINAL_Q = re.compile(
    rf"\b({'|'.join(w for pair in _ORDINALS for w in pair if w != 'andra')}|"
    rf"(?<=den |det )andra)\b(?=\s+\w)", re.IGNORECASE)
# "Vad är viktigast …", "Vad har varit prioriterat …": what is said of the asked thing.
_COPULA_Q = re.compile(r"^\W*vad\s+(?:är|var|blir|blev|(?:har|hade)\s+(?:varit|blivit))\s+"
                       r"([\w-]+)(?=\s*(?:[?,.!]|$)|\s+(?:för|att|i|på|om|med|när|enligt|som|"
                       r"av|inom|hos|vid|till|mot|under)\b)", re.IGNORECASE)
# "Vad har modellklasserna fokuserat på?": a supine closing the question, with its particle.
_SUPINE_Q = re.compile(r"^\W*vad\s+(?:har|hade)\s+.+?\s([\w-]{4,}(?:at|it|tt))"
                       r"(?:\s+(?:på|om|för|till|med|åt|av|mot|in|ut|fram))?\s*\?*\s*$",
                       re.IGNORECASE)
# After "vad är" an adjective or participle is said of something ("viktigast",
# "prioriterat", "avgörande"); a noun is the subject asked to be defined ("Vad är stambyte?").
# (A noun ending so is rare; "-at"/"-ad" alone are nouns too: "certifikat", "fasad".)
_SAID_OF = re.compile(r"\w{3,}(?:ast|aste|igt?|iga|iskt?|iska|bart?|bara|erat|erad|erade|"
                      r"ande|ende)$", re.IGNORECASE)
# Words after "vad är" that open the subject, not a predicate ("Vad är en bostadsrätt?").
_NOT_PREDICATE_WORDS = (
    "en ett den det de detta denna dessa man vi ni du jag han hon hen mitt min mina ditt din "
    "dina sitt sin sina vår vårt våra er ert era deras hans hennes dess skillnaden "
    "syftet målet orsaken anledningen"
)
_NOT_PREDICATES = frozenset(_NOT_PREDICATE_WORDS.split())


@dataclass(frozen=True)
class Cue:
    """What shows that a sentence answers the question, beyond the slot it fills.

    Only orders the sentences an answer quotes (which one leads); the refusal rules
    never read it. Each kind is a way questions and answers are phrased, in any corpus:

    * ``kind``: "vilka skolor …" is answered by a sentence naming a school as one
      ("Kronans skola", "Paradisskolan"), or listing names beside the noun, not by any
      sentence with a capitalised word;
    * ``reason``: "varför"/"why" by a sentence giving a reason ("därför", "eftersom");
    * ``expansion``: "vad står PRIO för" by words whose initials spell it;
    * ``besides``: "utöver X"/"besides X" by a sentence that does not restate X;
    * ``said``: "hur beskrev/vad säger <person>" by that person's attributed words;
    * ``ordinal``: "the first seminar", "det andra mötet" by a sentence about that one
      ("Under det första seminariet …"), not the one about all of them;
    * ``predicate``: "vad är viktigast", "vad har de fokuserat på" by a sentence that
      says it of something ("… är det viktigaste", "Fokus har legat på …"), rather
      than one that only names the subject.
    """

    kind: CueKind
    terms: frozenset[str] = frozenset()  # stems: the noun, predicate, excluded or named words
    letters: str = ""  # the abbreviation an expansion spells

    def holds(self, text: str) -> bool:
        """``text`` (one sentence, or a quotation with its speaker) shows the cue."""
        if self.kind == "reason":
            return bool(_REASON.search(text))
        if self.kind == "expansion":
            return self._expands(text)
        if self.kind == "kind":
            return self._names_kind(text)
        if self.kind == "ordinal":
            return any(re.search(rf"\b{w}\b", text, re.IGNORECASE) for w in self.terms)
        bag = _stems_of(text)
        if self.kind == "besides":  # restating most of what the asker already has
            share = sum(term_match(t, bag) > 0 for t in self.terms) / len(self.terms)
            return share <= tuning().slots.besides_share
        found = any(term_match(t, bag) > 0 for t in self.terms)
        if self.kind == "said":
            return found and bool(_SAYING.search(text) or _QUOTATION.match(text))
        return found  # predicate

    def _expands(self, text: str) -> bool:
        """Words whose initials spell the abbreviation: capitalised ("Planering,
        Resultat, Initiativ och Organisation"), or any words in the brackets right after
        it ("OVK (obligatorisk ventilations kontroll)"); lower-case words elsewhere spell
        it by chance ("Kommunen följer upp")."""
        letters = self.letters
        after = re.search(rf"{re.escape(letters)}\S*\s*\(([^)]*)\)", text, re.IGNORECASE)
        spans = [(after.group(1), False)] if after else []
        spans.append((text, True))
        for span, capitalised in spans:
            found = [w for w in re.findall(r"[^\W\d_]+", span)
                     if w.lower() not in _EXPANSION_JOINERS]
            for i in range(len(found) - len(letters) + 1):
                run = found[i:i + len(letters)]
                if "".join(w[0] for w in run).upper() == letters and \
                        run[0].upper() != letters and \
                        (not capitalised or all(w[0].isupper() for w in run)):
                    return True
        return False

    def _names_kind(self, text: str) -> bool:
        """A name of the asked kind: a capitalised compound ending in the noun
        ("Paradisskolan"), a name before the noun ("Kronans skola", "Lunds kommun"), or
        the noun beside a list of names ("Deltagande kommuner är: Sundsvall, Gävle, …")."""
        def is_kind(word: str) -> bool:
            low, ending = word.lower(), tuning().slots.inflection_letters
            return any(stem in low[-len(stem) - ending:] for stem in self.terms)

        names = set(capitalised_words(text))
        toks = tokens(text)
        for i, tok in enumerate(toks):
            if not is_kind(tok):
                continue
            if tok[0].isupper() and not any(tok.lower().startswith(s) for s in self.terms):
                return True  # a compound name
            if i > 0 and toks[i - 1] in names:
                return True
            if _name_list(tuning().slots.list_names).search(text, text.find(tok)):
                return True
        return False


@lru_cache(maxsize=4)
def _name_list(n: int) -> re.Pattern[str]:
    """``n`` or more capitalised words in a row, separated by commas: a list of names."""
    name = r"[A-ZÅÄÖ][\w-]+"
    return re.compile(rf"{name}(?:\s*,\s*{name}){{{n - 1},}}")


@lru_cache(maxsize=4096)
def _stems_of(text: str) -> frozenset[str]:
    return frozenset(analyse(text))


def lead_cue(question: str, language: Language | None = None) -> Cue | None:
    """What the lead sentence should show beyond the asked slot (:class:`Cue`), from the
    question's phrase alone, or None."""
    text = question.strip()
    swedish = (language or detect_language(text)) == "sv"
    expansion = _EXPANSION_Q.search(text)
    if expansion:
        return Cue("expansion", letters=(expansion.group(1) or expansion.group(2)).upper())
    if _REASON_Q.search(text):
        return Cue("reason")
    besides = _BESIDES_Q.search(text)
    if besides and len(besides.group(1).split()) <= tuning().slots.besides_words:
        excluded = frozenset(analyse(besides.group(1))) - frame_stems()
        if excluded:
            return Cue("besides", excluded)
    people = frozenset(s for _, name in person_names(text) for s in analyse(name))
    if people and _SAID_Q.search(text):
        return Cue("said", people)
    ordinal = _ORDINAL_Q.search(text)
    if ordinal:
        word = ordinal.group(1).lower()
        return Cue("ordinal", next(frozenset(p) for p in _ORDINALS if word in p))
    if not swedish:
        return None
    which = _WHICH_Q.search(text)
    if which and has_listed_tail(which.group(2).lower(), _NAMED.split()):
        return Cue("kind", frozenset(analyse(which.group(2))))
    predicate = _COPULA_Q.search(text) or _SUPINE_Q.search(text)
    if predicate:
        word = predicate.group(1)
        if word.lower() not in _NOT_PREDICATES and not word[0].isupper() and \
                (predicate.re is _SUPINE_Q or _SAID_OF.fullmatch(word)):
            stems = frozenset(analyse(word))
            return Cue("predicate", stems) if stems else None
    return None
