"""Every pointer to the documentation leads somewhere.

Sections move (most of the README's went to docs/), and a comment that
still sends the reader to the old place is worse than none. Checked: the
relative links of the README and docs/*.md (file, and heading for a
``#anchor``), and the sections cited in code, tests, scripts, the Makefile
and the docs in the project's forms: a document (the README or a
docs/<name>.md) followed by a quoted section, with or without a comma or
"'s", or by an unquoted one inside parentheses; a docs/<name>.md alone; and
a parenthesised README, or "in the README", which must name its section.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bot import PROJECT_ROOT

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
CODE_DIRS = ("bot", "actions", "tests", "scripts", "tools", "rasa_sdk_plugins")
CODE_DIRS += ("deploy", ".ci")
CODE_FILES = ("Makefile", "Dockerfile", "docker-compose.yml", "config.yml")
CODE_FILES += ("domain.yml", "pyproject.toml", "endpoints.yml", "credentials.yml")
SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".toml", ".conf", ".js", ".html", ""}
SKIPPED = {"vendor", "node_modules", "__pycache__"}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)

DOC = r"(?<![\w/.-])(?P<doc>README(?:\.md)?|docs/[\w-]+\.md)"
QUOTED = re.compile(DOC + r"(?:'s)?,?\s+[\"“](?P<section>[^\"”]+)[\"”]")
UNQUOTED = re.compile(r"\((?:see\s+)?" + DOC + r",\s+(?P<section>[^)\"“]+)\)")
ANCHORED = re.compile(r"(?<![\w/.-])(?P<doc>docs/[\w-]+\.md)#(?P<anchor>[\w-]+)")
FILE = re.compile(r"(?<![\w/.-])(?P<doc>docs/[\w-]+\.md)")
VAGUE = re.compile(
    r"(?<![\w.])\((?:see\s+)?(?:the\s+)?README\)|\bin the README\b(?!'s)"
)
# A line break inside a pointer, and the comment marker that starts the next
# line: "(docs/" at the end of one line, "security.md, ..." on the next.
BREAK = re.compile(r"[ \t]*\n[ \t]*(?:#+|//|\*)?[ \t]*")


def headings(path: Path) -> list[str]:
    return HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def anchors(path: Path) -> set[str]:
    """GitHub's ids for the headings: lower case, punctuation dropped,
    spaces to hyphens, a repeated one numbered."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in headings(path):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def _plain(text: str) -> str:
    return " ".join(text.replace("`", "").split()).lower().rstrip(".")


def section_problem(doc: str, section: str) -> str | None:
    path = PROJECT_ROOT / ("README.md" if doc.startswith("README") else doc)
    if not path.exists():
        return f"{doc} does not exist"
    if _plain(section) not in {_plain(h) for h in headings(path)}:
        return f'{doc} has no section "{section}"'
    return None


def sources() -> list[Path]:
    """Code, tests, scripts and configuration that may cite the docs."""
    found = [PROJECT_ROOT / name for name in CODE_FILES]
    for folder in CODE_DIRS:
        for path in (PROJECT_ROOT / folder).rglob("*"):
            if (
                path.is_file()
                and path.suffix in SUFFIXES
                and not SKIPPED & set(path.parts)
                and path != Path(__file__)
            ):
                found.append(path)
    return [path for path in found if path.exists()]


def pointer_problems(text: str) -> list[str]:
    """Each cited document or section that is not there, in words."""
    flat = BREAK.sub(" ", text).replace("docs/ ", "docs/")
    problems = []
    for pattern in (QUOTED, UNQUOTED):
        for match in pattern.finditer(flat):
            problem = section_problem(match["doc"], match["section"].strip())
            if problem:
                problems.append(f"{match[0]!r}: {problem}")
    for match in ANCHORED.finditer(flat):
        path = PROJECT_ROOT / match["doc"]
        if path.exists() and match["anchor"] not in anchors(path):
            problems.append(f"{match[0]!r}: no heading #{match['anchor']}")
    for match in FILE.finditer(flat):
        if not (PROJECT_ROOT / match["doc"]).exists():
            problems.append(f"{match[0]!r}: {match['doc']} does not exist")
    for match in VAGUE.finditer(flat):
        problems.append(f"{match[0]!r}: names no section")
    return problems


def link_problems(doc: Path) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", doc.read_text(encoding="utf-8")))
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:|//", target, re.I):
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            problems.append(f"({target}): {file_part} does not exist")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"({target}): no heading #{anchor} in {path.name}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_and_heading(doc):
    assert link_problems(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_section_the_docs_cite_exists(doc):
    assert pointer_problems(doc.read_text(encoding="utf-8")) == []


def test_every_section_code_tests_and_scripts_cite_exists():
    problems = [
        f"{path.relative_to(PROJECT_ROOT)}: {problem}"
        for path in sources()
        for problem in pointer_problems(path.read_text(encoding="utf-8"))
    ]
    assert problems == [], "\n".join(problems)


def test_the_scan_reaches_the_code_and_reads_a_pointer_split_over_lines():
    """So the checks above cannot pass by finding nothing."""
    names = {p.relative_to(PROJECT_ROOT).as_posix() for p in sources()}
    assert {"Makefile", "bot/settings.py", ".ci/run"} <= names
    assert len(names) > 100
    assert pointer_problems('# see (docs/\n# security.md, "Staff login")') == []
    assert pointer_problems('(docs/\n    security.md, "Bad input")') == []


@pytest.mark.parametrize(
    "text",
    [
        '# (README, "Benchmark")',
        '"""See README, "No such part"."""',
        "# (see README, profile)",
        '# the README\'s "Tiers"',
        '(docs/security.md, "Staff logins")',
        "# docs/no-such-file.md",
        "# docs/nlu.md#no-such-heading",
        "# each found by profiling (see README).",
        "# the one-line snippet in the README.",
    ],
)
def test_a_stale_pointer_is_found(text):
    assert pointer_problems(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Path(README).write_text(wanted)",
        'README = PROJECT_ROOT / "README.md"',
        "# the README's `make test`",
        '(docs/security.md, "Staff login")',
        '# the README\'s "Deploy"',
        'deploy/k8s/README.md, "Anything"',
        "# docs/nlu.md#safety-routing",
    ],
)
def test_a_live_pointer_or_plain_code_is_not_flagged(text):
    assert pointer_problems(text) == []


def test_a_stale_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Part two\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n[fine](other.md#part-two) [here](#doc) [web](https://x.org)\n"
        "[gone](missing.md) [no part](other.md#part-three)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert link_problems(doc) == [
        "(missing.md): missing.md does not exist",
        "(other.md#part-three): no heading #part-three in other.md",
    ]


def test_github_anchors_drop_punctuation_and_keep_hyphens(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Failover, chaos test, reloads\n## What `make bench` does\n"
        "## Accounts (`bot/console/accounts.py`)\n## Notes\n## Notes\n"
    )
    assert anchors(doc) == {
        "failover-chaos-test-reloads",
        "what-make-bench-does",
        "accounts-botconsoleaccountspy",
        "notes",
        "notes-1",
    }
