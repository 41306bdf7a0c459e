"""A synthetic Swedish corpus of any size, grown from the sample articles.

Scale problems only show with thousands of documents, and the five sample articles are
all there is. Each synthetic document is one sample article with its municipality,
people, numbers and dates swapped and some of its words turned into new compounds, so
the corpus has the sample's sentence shapes but a growing vocabulary, many
municipalities and many distinct facts, like a real archive. Deterministic: the same
seed and size give byte-identical files, so an unchanged re-ingest is really unchanged.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "articles"


def _names(text: str) -> list[str]:
    """Word lists are written as running text: easier to read and extend."""
    return text.split()


MUNICIPALITIES = _names(
    "Ale Alingsås Alvesta Arboga Arvika Askersund Avesta Bengtsfors Bjuv Boden Bollnäs "
    "Borlänge Borås Botkyrka Eksjö Enköping Eskilstuna Eslöv Falkenberg Falköping Falun "
    "Filipstad Gislaved Gnosjö Gävle Hallsberg Halmstad Haninge Haparanda Hedemora "
    "Helsingborg Hudiksvall Håbo Hässleholm Höganäs Jönköping Kalix Kalmar Karlshamn "
    "Karlskoga Karlskrona Karlstad Katrineholm Kiruna Kristianstad Kristinehamn Kumla "
    "Kungsbacka Kungälv Köping Laholm Lerum Lidköping Lindesberg Linköping Ljungby "
    "Ludvika Luleå Lycksele Malmö Mariestad Mjölby Motala Mora Norrköping Norrtälje "
    "Nybro Nyköping Nynäshamn Nässjö Oskarshamn Partille Piteå Ronneby Sala Sandviken "
    "Sigtuna Simrishamn Skara Skellefteå Skövde Sollefteå Solna Staffanstorp Strängnäs "
    "Strömstad Sundsvall Sunne Svedala Säffle Sävsjö Tidaholm Tierp Timrå Tranås "
    "Trelleborg Uddevalla Ulricehamn Umeå Uppsala Vaggeryd Vallentuna Varberg Vetlanda "
    "Vimmerby Visby Vänersborg Värnamo Västervik Västerås Växjö Ystad Åmål Ängelholm "
    "Örebro Örnsköldsvik Östersund Östhammar"
)
FIRST_NAMES = _names(
    "Anna Maria Karin Eva Lena Sara Emma Elin Ida Linnea Johanna Malin Sofia Helena Ingrid "
    "Erik Lars Anders Johan Per Karl Peter Magnus Mikael Jonas Fredrik Daniel Mats Ola "
    "Stefan Henrik Niklas Patrik Oskar Gustav Hanna Maja Ebba Tove Astrid Nils Viktor"
)
LAST_NAMES = _names(
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson "
    "Gustafsson Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson "
    "Magnusson Lindström Olofsson Lindqvist Lindgren Berg Axelsson Bergström Lundberg "
    "Lind Lundgren Lundqvist Mattsson Berglund Fredriksson Sandberg Henriksson Ali Forsberg "
    "Sjöberg Wallin Engström Eklund Danielsson Håkansson Lundin Björk Bergman Gunnarsson "
    "Holm Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson"
)
# Compound heads: "skolutveckling" → "läsutveckling", "mattelyftet" … new index terms.
HEADS = _names(
    "läs matte språk digital förskole fritids gymnasie elev lärar rektors kommun region "
    "värdegrund hälso trygghets idrotts musik natur teknik kultur bibliotek modersmåls "
    "studie yrkes vuxen integrations närvaro betygs kvalitets likvärdighets kompetens"
)
# The sample's own names: replaced per document, longest first, so "Söderhamns" is
# caught before "Söderhamn" and the genitive form survives.
SAMPLE_MUNICIPALITIES = ("Trollhättan", "Landskrona", "Söderhamn", "Lund")
_NAME = re.compile(r"\b([A-ZÅÄÖ][a-zåäöé]+) ([A-ZÅÄÖ][a-zåäöé]+)\b")
_NUMBER = re.compile(r"\b\d{1,4}\b")
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_LONG_WORD = re.compile(r"\b[a-zåäö]{9,}\b")


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    meta: dict[str, str | None]


def templates() -> list[Template]:
    sidecar = json.loads((SAMPLE / "metadata.json").read_text(encoding="utf-8"))
    return [Template(p.name, p.read_text(encoding="utf-8"), sidecar.get(p.name, {}))
            for p in sorted(SAMPLE.glob("*.txt"))]


def _people(text: str) -> list[str]:
    """Person names of a sample article: two capitalised words, the first a first name
    the name list knows or one the article itself uses before a surname."""
    known = set(FIRST_NAMES) | {"Karin", "Katarina", "Stefan", "Filippa", "Tomas", "Eva",
                                "Arne", "Christian", "Anders", "Sören", "Matz", "Helena",
                                "Annette"}
    return sorted({m.group(0) for m in _NAME.finditer(text) if m.group(1) in known})


def _number(old: str, rng: random.Random) -> str:
    """A year stays a plausible year; other numbers keep their number of digits."""
    if _YEAR.fullmatch(old):
        return str(rng.randint(2005, 2025))
    digits = len(old)
    return str(rng.randint(1 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1))


Meta = dict[str, str | None]


def synthesise(index: int, seed: int, pool: list[Template]) -> tuple[str, str, Meta]:
    """(file name, text, sidecar entry) of synthetic document ``index``."""
    rng = random.Random(f"{seed}:{index}")
    template = pool[index % len(pool)]
    text = template.text
    municipality = rng.choice(MUNICIPALITIES)
    for old in SAMPLE_MUNICIPALITIES:
        text = re.sub(rf"\b{old}", municipality, text)
    for person in _people(template.text):
        text = text.replace(person, f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
    text = _NUMBER.sub(lambda m: _number(m.group(0), rng), text)
    words = sorted(set(_LONG_WORD.findall(text)))
    for word in rng.sample(words, min(len(words), rng.randint(3, 8))):
        text = re.sub(rf"\b{word}\b", rng.choice(HEADS) + word, text)
    paragraphs = text.split("\n\n")
    if len(paragraphs) > 4 and rng.random() < 0.5:  # lengths vary: drop one paragraph
        del paragraphs[rng.randrange(2, len(paragraphs))]
    text = "\n\n".join(paragraphs)
    title = str(template.meta.get("title") or "Artikel")
    for old in SAMPLE_MUNICIPALITIES:
        title = re.sub(rf"\b{old}", municipality, title)
    date = f"{rng.randint(2008, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    name = f"{index:06d}_{template.name[4:]}"
    return name, text, {"title": f"{title} ({index})", "municipality": municipality,
                        "date": date, "url": None}


def write_corpus(target: Path, size: int, seed: int = 12) -> Path:
    """Write ``size`` synthetic documents and their metadata sidecar into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    pool = templates()
    sidecar: dict[str, Meta] = {}
    for index in range(size):
        name, text, meta = synthesise(index, seed, pool)
        path = target / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        sidecar[name] = meta
    (target / "metadata.json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=0),
                                          encoding="utf-8")
    return target


def questions(count: int, seed: int, corpus_size: int) -> list[str]:
    """Distinct questions about the synthetic corpus: the eval set's question shapes with
    the municipalities and people of synthetic documents, so no two are the same and a
    per-question cache cannot flatter the figures."""
    from assistant.evaluation.dataset import load_eval_file

    eval_questions, _ = load_eval_file(ROOT / "eval" / "questions.jsonl")
    shapes = [q.question for q in eval_questions if not q.history]
    pool = templates()
    rng = random.Random(f"questions:{seed}")
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        shape = rng.choice(shapes)
        index = rng.randrange(corpus_size)
        _, _, meta = synthesise(index, seed, pool)
        question = shape
        for old in SAMPLE_MUNICIPALITIES:
            question = re.sub(rf"\b{old}", str(meta["municipality"]), question)
        if question in seen:
            question = f"{question.rstrip('?')} år {rng.randint(2005, 2025)}?"
        if question not in seen:
            seen.add(question)
            out.append(question)
    return out
