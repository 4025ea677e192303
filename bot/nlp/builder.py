"""Build the project's spaCy 3.4 pipeline from files in the repository.

No pretrained English model can be downloaded here, so the pipeline is a blank
English tokenizer, lookup lemmas from ``spacy-lookups-data`` and an entity
ruler whose patterns come from ``bot/nlp/terms.yml``. Rasa loads the result by
path (see ``config.yml``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from pathlib import Path

import spacy
import spacy_lookups_data
from spacy.language import Language

from bot import PROJECT_ROOT
from bot.nlp.terms import TERMS_FILE, load_not_terms, load_terms

DEFAULT_OUTPUT = PROJECT_ROOT / "build" / "spacy_en_physio"
ENGLISH_WORDS_FILE = "english_words.txt"
ENGLISH_VOCABULARY_SIZE = 40_000
STAMP_FILE = "source.sha256"


NOT_A_TERM = "not_a_term"


def ruler_patterns(terms_file: Path = TERMS_FILE) -> list[dict]:
    """Entity ruler patterns: one phrase pattern per spelling, ids are canonical.

    Idioms like "ring me back" get a label of their own that Rasa's extractor
    ignores, so "back" inside them is not taken as a body part."""
    return [
        {"label": term.label, "pattern": phrase, "id": term.id}
        for term in load_terms(terms_file)
        for phrase in term.phrases
    ] + [
        {"label": NOT_A_TERM, "pattern": phrase}
        for phrase in load_not_terms(terms_file)
    ]


def build_pipeline(terms_file: Path = TERMS_FILE) -> Language:
    """Blank English with lookup lemmas and the body part/condition ruler."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe(
        "entity_ruler",
        config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True},
    )
    nlp.initialize()
    ruler.add_patterns(ruler_patterns(terms_file))
    nlp.meta.update(
        {
            "name": "en_physio",
            "version": "1.0.0",
            "description": "Blank English + lookup lemmas + body part/condition ruler",
        }
    )
    return nlp


def english_words(limit: int = ENGLISH_VOCABULARY_SIZE) -> list[str]:
    """The most frequent lowercase English words, for the language guard."""
    data_dir = Path(spacy_lookups_data.__file__).parent / "data"
    with gzip.open(data_dir / "en_lexeme_prob.json.gz", "rt", encoding="utf8") as f:
        probs = json.load(f)
    words: dict[str, float] = {}
    for word, prob in probs.items():
        lower = word.lower()
        if lower.isalpha() and prob > words.get(lower, float("-inf")):
            words[lower] = prob
    return sorted(words, key=words.__getitem__, reverse=True)[:limit]


def source_fingerprint(terms_file: Path = TERMS_FILE) -> str:
    """Hash of everything the pipeline is built from, to skip needless rebuilds."""
    digest = hashlib.sha256()
    for path in (Path(__file__), Path(terms_file)):
        digest.update(path.read_bytes())
    digest.update(spacy.__version__.encode())
    digest.update(spacy_lookups_data.__version__.encode())
    return digest.hexdigest()


def build(output: Path = DEFAULT_OUTPUT, terms_file: Path = TERMS_FILE) -> bool:
    """Write the pipeline to ``output``; return False when it was already current."""
    fingerprint = source_fingerprint(terms_file)
    stamp = output / STAMP_FILE
    if stamp.exists() and stamp.read_text().strip() == fingerprint:
        return False
    nlp = build_pipeline(terms_file)
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    (output / ENGLISH_WORDS_FILE).write_text("\n".join(english_words()) + "\n")
    stamp.write_text(fingerprint + "\n")
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--terms", type=Path, default=TERMS_FILE)
    args = parser.parse_args(argv)
    changed = build(args.output, args.terms)
    state = "built" if changed else "up to date"
    print(f"spaCy pipeline {state}: {args.output}")


if __name__ == "__main__":
    main()
