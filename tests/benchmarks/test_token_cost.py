"""The token benchmark: its tokenizer is tiktoken's o200k_base, built with no
network; its arithmetic; and the goals it guards, on the full scripted trip."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from importlib import resources

import bpe_openai

from benchmarks.encoding import O200K_SHA256, o200k
from benchmarks.request_tokens import answer_tokens, request_tokens, shared_prefix
from benchmarks.token_cost import MAX_INPUT_RATIO, MIN_PREFIX_SHARE, main

TEXTS = (
    "hello world",
    "Lisbon — São Jorge castle, 12 €; naïve café at 09:40",
    "東京タワーと富士山 🚋🏰, Ελληνικά, русский текст, עברית",
    "<|endoftext|> is text when a page writes it",
    "x" * 5_000,
)


def test_the_bundled_file_is_the_one_tiktoken_pins():
    packed = resources.files("bpe_openai").joinpath("data/o200k_base.tiktoken.gz").read_bytes()
    assert hashlib.sha256(gzip.decompress(packed)).hexdigest() == O200K_SHA256
    # tiktoken_ext pins the same hash for the file it would download.
    from tiktoken_ext import openai_public
    assert O200K_SHA256 in open(openai_public.__file__, encoding="utf-8").read()


def test_counts_are_tiktokens_and_agree_with_an_independent_tokenizer():
    enc = o200k()
    assert enc.name == "o200k_base"
    assert enc.encode("hello world") == [24912, 2375]
    rust = bpe_openai.get_encoding("o200k_base")  # bpe-openai's own Rust implementation
    for text in TEXTS:
        ours = enc.encode(text, disallowed_special=())
        assert list(rust.encode_ordinary(text)) == ours, text
        assert enc.decode(ours) == text


def test_the_encoding_loads_without_any_network(tmp_path):
    # A fresh process with an empty cache and every socket refused.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from benchmarks.encoding import o200k\n"
        "print(len(o200k().encode('Lisbon in May, São Jorge')))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("TIKTOKEN_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(o200k().encode("Lisbon in May, São Jorge"))


def test_a_request_is_counted_with_framing_and_tools_first():
    enc = o200k()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "system", "content": "Plan trips."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"q": "lisbon"}'}}]},
    ]
    tokens = request_tokens(enc, messages, tools)
    tools_json = '[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]'
    text = [tools_json, "system", "Plan trips.", "assistant", "f", '{"q": "lisbon"}']
    assert len(tokens) == sum(len(enc.encode(t)) for t in text) + 2 * 3 + 3  # 3 a message, 3 priming the reply
    assert tokens[: len(enc.encode(tools_json))] == enc.encode(tools_json)
    # Appending a message keeps the whole request but its reply priming as a prefix.
    longer = request_tokens(enc, [*messages, {"role": "user", "content": "ok"}], tools)
    assert shared_prefix(tokens, longer) == len(tokens) - 3
    assert answer_tokens(enc, {"content": "Which dates?"}) == len(enc.encode("Which dates?"))
    assert answer_tokens(enc, {"tool_calls": [{"name": "f", "arguments": "{}"}]}) == 2


def test_the_benchmark_prints_the_table_and_our_side_meets_both_goals(capsys):
    assert main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "50 steps" in out
    for row in ("| requests | 22 | 22 |", "| input tokens total |", "| output tokens total |",
                "| largest request (tokens) |", "| avg cacheable prefix share |"):
        assert row in out, out
    assert f"PASS: our input tokens <= {MAX_INPUT_RATIO}x" in out
    assert f"PASS: our avg cacheable prefix share >= {MIN_PREFIX_SHARE}" in out
    assert "FAIL" not in out
