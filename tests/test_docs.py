"""The documentation holds together: a short README, every page reachable, every link alive.

The README is a guide, not a notebook: measurements live in ``docs/`` and history in
``CHANGELOG.md``, so a length limit keeps it that way. A page nobody links to is never
read, and a link to a moved page or a renamed heading fails silently on GitHub, so
both are checked here from the files themselves (links inside code are not links).
A clone holds nothing but this repository, so no file may point outside it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DOCS_INDEX = DOCS / "index.md"
MAX_README_LINES = 300
# Spelled in two parts so this file does not contain what it forbids.
OUTSIDE = ("../" + "shared").encode()
# Not the project's: version control, and the machinery that runs sessions on it.
SKIPPED_DIRS = frozenset({".git", ".ci"})
# Ignored by git: only searched when there is no git to say so (a source tarball).
UNTRACKED_DIRS = frozenset({".venv", "index", "artifacts", "build", "dist", "__pycache__",
                            ".pytest_cache", ".mypy_cache", ".ruff_cache", ".schemathesis"})

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    return _CODE_SPAN.sub("", _FENCE.sub("", markdown))


def links(markdown: str) -> list[str]:
    """Targets of the Markdown links and images in ``markdown``'s prose, in order."""
    return _LINK.findall(prose(markdown))


def is_relative(target: str) -> bool:
    """A link into this repository (a file, a file with an anchor, or an anchor)."""
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = heading.replace("`", "")
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text stays
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a page; repeated headings get -1, -2 … as on GitHub."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``page`` whose file or heading anchor does not exist."""
    problems = []
    text = page.read_text(encoding="utf-8")
    for target in links(text):
        if not is_relative(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        try:
            destination.relative_to(root)
        except ValueError:
            problems.append(f"{target} (outside the repository)")
            continue
        if not destination.exists():
            problems.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md" and \
                anchor not in anchors(destination.read_text(encoding="utf-8")):
            problems.append(f"{target} (no heading with that anchor)")
    return problems


def linked_pages(page: Path) -> set[Path]:
    """The files ``page`` links to (anchors dropped)."""
    out = set()
    for target in links(page.read_text(encoding="utf-8")):
        path_part = target.partition("#")[0]
        if is_relative(target) and path_part:
            out.add((page.parent / path_part).resolve())
    return out


def repository_files(root: Path = ROOT) -> Iterator[Path]:
    """The project's files: what git tracks or would add, or else a walk that skips
    what git ignores; never version control or the session machinery."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
        names = [name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(root).as_posix() for p in root.rglob("*")
                 if not UNTRACKED_DIRS & set(p.relative_to(root).parts)]
    for name in names:
        path = root / name
        if not SKIPPED_DIRS & set(Path(name).parts) and path.is_file() and not path.is_symlink():
            yield path


def pages_outside_the_guide(readme: Path = README, index: Path = DOCS_INDEX,
                            docs: Path = DOCS) -> list[str]:
    """``docs/`` pages the README links neither directly nor through ``docs/index.md``."""
    reachable = linked_pages(readme)
    if index.resolve() in reachable:
        reachable |= linked_pages(index)
    return sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
                  if p.resolve() not in reachable)


def documentation() -> list[Path]:
    return [README, ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]


def test_the_readme_is_a_guide_not_a_notebook() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES})"


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    assert DOCS_INDEX.resolve() in linked_pages(README), "the README links docs/index.md"
    assert pages_outside_the_guide() == []


@pytest.mark.parametrize("page", documentation(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_nothing_refers_outside_the_repository() -> None:
    offenders = [p.relative_to(ROOT).as_posix() for p in repository_files()
                 if OUTSIDE in p.read_bytes()]
    assert offenders == []


def test_the_calibration_tables_have_their_markers() -> None:
    """`assistant eval calibrate` writes its tables between these markers."""
    text = (DOCS / "evaluation.md").read_text(encoding="utf-8")
    begin = text.find("<!-- calibrate:begin")
    assert 0 <= begin < text.find("<!-- calibrate:end -->")


# The checks themselves, on pages made for the purpose: each must be able to fail.

def test_links_skip_code_and_anchors_follow_github(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Comparing runs: `eval compare A.json`\n\n## The widget's keys\n\n"
        "## Page\n\n[ok](#comparing-runs-eval-compare-ajson) [ok](#the-widgets-keys) "
        "[ok](#page-1) [bad](#nope) [gone](missing.md) ![img](pic.png) "
        "[web](https://example.org/x.md)\n\n```\n[in code](also-missing.md)\n# not a heading\n```\n"
        "`[span](missing-too.md)`\n", encoding="utf-8")
    (tmp_path / "pic.png").write_bytes(b"")
    assert broken_links(page, tmp_path) == ["#nope (no heading with that anchor)",
                                            "missing.md (no such file)"]
    assert "not-a-heading" not in anchors(page.read_text(encoding="utf-8"))


def test_a_page_linked_from_nowhere_is_found(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("index.md", "a.md", "b.md", "c.md"):
        (docs / name).write_text(f"# {name}\n", encoding="utf-8")
    (docs / "index.md").write_text("[b](b.md)\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("[a](docs/a.md) [all](docs/index.md)\n", encoding="utf-8")
    assert pages_outside_the_guide(readme, docs / "index.md", docs) == ["c.md"]
    readme.write_text("[a](docs/a.md)\n", encoding="utf-8")  # without the index
    assert pages_outside_the_guide(readme, docs / "index.md", docs) == ["b.md", "c.md",
                                                                        "index.md"]


def test_a_reference_outside_the_repository_is_found(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text("see docs/api.md\n", encoding="utf-8")
    (tmp_path / "bad.py").write_bytes(b'"""See ' + OUTSIDE + b'/NOTES.md."""\n')
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_bytes(OUTSIDE)
    found = [p.name for p in repository_files(tmp_path) if OUTSIDE in p.read_bytes()]
    assert found == ["bad.py"]
