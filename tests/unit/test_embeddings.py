"""The token vectors: only the recorded files load, and they mean something."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bot.nlp import embeddings
from bot.nlp.embeddings import (
    DEFAULT_DIRECTORY,
    DERIVED,
    FILES,
    WEIGHTS,
    EmbeddingFilesError,
    StaticEmbeddings,
)

ALL_FILES = [*FILES, *DERIVED]


@pytest.fixture(scope="module")
def vectors() -> StaticEmbeddings:
    return StaticEmbeddings.load(DEFAULT_DIRECTORY)


def test_words_get_the_ids_llama_gives_them(vectors):
    """Ids as Llama-2's own tokenizer gives them (▁Hello 15043, ▁world 3186)."""
    assert vectors.ids("Hello world") == [15043, 3186]
    symbols = [vectors.tokenizer.symbols("\u2581" + w) for w in ("dry", "needling")]
    assert symbols == [["\u2581dry"], ["\u2581need", "ling"]]


def test_characters_outside_the_vocabulary_fall_back_to_bytes(vectors):
    ids = vectors.ids("\U0001f9ea")
    byte_ids = [
        vectors.tokenizer.vocabulary.get(f"<0x{b:02X}>") for b in "\U0001f9ea".encode()
    ]
    assert ids == [vectors.tokenizer.vocabulary.get("\u2581"), *byte_ids]
    assert np.isclose(np.linalg.norm(vectors.embed("needle \U0001f9ea")), 1.0)


def test_nothing_to_embed_is_a_zero_vector(vectors):
    assert not vectors.embed("   ").any()
    assert vectors.embed_all([]).shape == (0, vectors.dimensions)


def test_a_paraphrase_sits_closer_than_another_topic(vectors):
    hurt = vectors.embed("does dry needling hurt")
    assert hurt @ vectors.embed("is it painful") > hurt @ vectors.embed(
        "where do I park my car"
    )


def test_the_word_cache_is_bounded(vectors):
    vectors.embed(" ".join(f"blorp{i}" for i in range(100)))
    info = vectors._word_ids.cache_info()
    assert info.maxsize == embeddings.CACHED_WORDS
    assert info.currsize <= info.maxsize


def test_a_changed_file_is_refused(tmp_path):
    for name in ALL_FILES:
        shutil.copy(DEFAULT_DIRECTORY / name, tmp_path / name)
    StaticEmbeddings.load(tmp_path)
    with (tmp_path / WEIGHTS).open("r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    with pytest.raises(EmbeddingFilesError, match="not the file recorded.*make setup"):
        StaticEmbeddings.load(tmp_path)


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(EmbeddingFilesError, match="missing.*make setup"):
        StaticEmbeddings.load(tmp_path / "nowhere")


def test_fetch_leaves_good_files_alone(tmp_path, monkeypatch):
    """Files already in place and matching are not downloaded again."""
    for name in ALL_FILES:
        shutil.copy(DEFAULT_DIRECTORY / name, tmp_path / name)

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded although the files were in place")

    monkeypatch.setattr(embeddings.subprocess, "run", no_download)
    embeddings.fetch(tmp_path)
    assert embeddings.check(tmp_path) == []


def test_the_derived_tables_are_made_again_byte_for_byte(tmp_path):
    """Setup derives the tokenizer's tables; the same input gives the same
    bytes, so their recorded hashes hold on every machine."""
    for name in FILES:
        shutil.copy(DEFAULT_DIRECTORY / name, tmp_path / name)
    embeddings.derive(tmp_path)
    assert embeddings.check(tmp_path) == []
    assert StaticEmbeddings.load(tmp_path).ids("Hello world") == [15043, 3186]


def test_the_vectors_are_mapped_not_read(vectors):
    assert isinstance(vectors.vectors, np.memmap)
