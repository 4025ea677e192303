"""Every medical statement can be traced to the clinic's article."""

from __future__ import annotations

import re

import pytest
import yaml

from bot import PROJECT_ROOT

SOURCES = PROJECT_ROOT / "sources"
ARTICLE = SOURCES / "dry-needling-article.txt"
SEED = PROJECT_ROOT.parent / "shared" / "seed" / "dry-needling-article.txt"
MAP = yaml.safe_load((SOURCES / "map.yml").read_text(encoding="utf8"))
WEBSITE_BLOCKS = ("hero", "dry_needling", "first_visit")


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


@pytest.fixture(scope="module")
def article() -> str:
    return flat(ARTICLE.read_text(encoding="utf8"))


def test_the_copy_is_the_clinics_article():
    if not SEED.exists():
        pytest.skip("the shared seed is not next to this checkout")
    assert ARTICLE.read_bytes() == SEED.read_bytes()


def test_every_response_has_a_source_entry(domain):
    missing = sorted(set(domain["responses"]) - set(MAP["responses"]))
    assert missing == []


@pytest.mark.parametrize("section", ["responses", "website"])
def test_every_medical_entry_rests_on_passages_in_the_article(article, section):
    for name, entry in MAP[section].items():
        if entry.get("medical") is False:
            assert not entry.get("passages"), name
            continue
        assert entry.get("passages"), f"{name} states medical facts with no passage"
        for passage in entry["passages"]:
            assert flat(passage) in article, (name, passage)
        assert not entry.get("unsupported"), name


def test_the_website_blocks_are_mapped():
    assert set(WEBSITE_BLOCKS) <= set(MAP["website"])


@pytest.mark.parametrize(
    "overreach",
    [
        "nothing is injected",
        "single-use",
        "no medicine in the needle",
        "hands-on treatment",
        "a short treatment",
        "away from where the problem sits",
        "it's common",
        "yes, the clinic's article lists",
        "often called a knot",
    ],
)
def test_statements_the_audit_found_are_gone(domain, overreach):
    page = (PROJECT_ROOT / "bot/web/templates/index.html").read_text()
    texts = [
        v.get("text", "") for variants in domain["responses"].values() for v in variants
    ]
    for text in [*texts, flat(page)]:
        assert overreach not in text.lower().replace("’", "'"), text
