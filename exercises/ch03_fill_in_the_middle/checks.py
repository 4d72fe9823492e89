"""Checks for chapter 3: the FIM layouts and the transform against codellama_lite.fim, token for token, the document
read back, and the packer against codellama_lite.data.packing, window for window."""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

from codellama_lite.data.config import DataConfig
from codellama_lite.data.mix import SourceMixer
from codellama_lite.data.packing import PackedStream
from codellama_lite.data.sources import Document
from codellama_lite.fim import apply_fim, psm_ids, spm_ids, undo_fim
from codellama_lite.tokenizer import Tokenizer

_WORKDIR = tempfile.TemporaryDirectory(prefix="ch03-checks-")
DOCUMENTS = ("def add(x, y):\n    return x + y\n",
             "class Point:\n    def __init__(self, x):\n        self.x = x\n",
             "import os\nprint(os.path.join('a', 'b'))\n")


@functools.lru_cache(maxsize=None)
def _tokenizer() -> Tokenizer:
    return Tokenizer.train(vocab_size=600, model_path=Path(_WORKDIR.name) / "small.model", max_files=60)


def _cuts() -> list[tuple[str, int, int]]:
    """Each document cut inside words, at line ends, at both ends, and at random character positions (seeded)."""
    rng = random.Random(3)
    cuts = []
    for text in DOCUMENTS:
        word = text.index("return") + 3 if "return" in text else text.index("(") - 2
        cuts += [(text, word, word + 4), (text, 0, len(text)), (text, text.index("\n") + 1, len(text) - 1),
                 (text, 0, 0), (text, len(text), len(text))]
        cuts += [(text, *sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))) for _ in range(8)]
    return cuts


def _parts(text: str, start: int, end: int) -> tuple[str, str, str]:
    return text[:start], text[start:end], text[end:]


def check_psm(impl):
    tokenizer = _tokenizer()
    for text, start, end in _cuts():
        got, expected = impl.psm(tokenizer, *_parts(text, start, end)), psm_ids(*_parts(text, start, end), tokenizer)
        assert got == expected, f"PSM of {_parts(text, start, end)!r}: {got} != {expected}"


def check_spm(impl):
    tokenizer = _tokenizer()
    for text, start, end in _cuts():
        got, expected = impl.spm(tokenizer, *_parts(text, start, end)), spm_ids(*_parts(text, start, end), tokenizer)
        assert got == expected, f"SPM of {_parts(text, start, end)!r}: {got} != {expected}"


def check_fim_example(impl):
    tokenizer = _tokenizer()
    for text, start, end in _cuts():
        for suffix_first, layout in ((False, psm_ids), (True, spm_ids)):
            got = impl.fim_example(tokenizer, text, start, end, suffix_first)
            expected = layout(*_parts(text, start, end), tokenizer)
            name = "SPM" if suffix_first else "PSM"
            assert got == expected, f"{name} of {text!r} cut at characters {start}, {end}: {got} != {expected}"
            assert undo_fim(got, tokenizer) == text, f"{name} example does not read back into the document"


def check_apply_fim(impl):
    tokenizer = _tokenizer()
    for text in DOCUMENTS:
        for seed in range(40):
            for rate, spm_rate in ((0.9, 0.5), (1.0, 0.0), (1.0, 1.0), (0.5, 0.5)):
                got = impl.apply_fim(tokenizer, text, random.Random(seed), rate, spm_rate)
                expected = apply_fim(text, tokenizer, random.Random(seed), rate=rate, spm_rate=spm_rate)
                assert got == expected, (f"{text!r} with random.Random({seed}), rate {rate}, spm_rate {spm_rate}: "
                                         f"{got} != {expected} (draws: FIM?, two cuts in [0, len], SPM?)")
    rng = random.Random(0)
    impl.apply_fim(tokenizer, "abc", rng, 0.0, 0.5)
    assert rng.random() == (lambda r: (r.random(), r.random())[1])(random.Random(0)), \
        "a document left plain must draw one number only"


PACKED_TEXTS = DOCUMENTS + (
    "x = 1\n", "def f():\n    pass\n", "for i in range(3):\n    print(i * i)\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n"
    "        self.items.append(item)\n\n    def pop(self):\n        return self.items.pop()\n",
    "import sys\n", "def long_name_for_a_function(argument_one, argument_two):\n    return argument_one\n")


def _packed_documents(seed: int):
    """The documents in the order PackedStream takes them (one source), each with its own seeded random.Random."""
    mixer = SourceMixer({"code": len(PACKED_TEXTS)}, {"code": 1.0}, seed)
    while True:
        source, index, epoch = mixer.next_document()
        yield PACKED_TEXTS[index], random.Random(f"fim/{seed}/{source}/{epoch}/{index}")


def check_pack(impl):
    tokenizer = _tokenizer()
    documents = [Document(text, "code", "python", f"doc{i}.py") for i, text in enumerate(PACKED_TEXTS)]
    for seq_len, seed, fim_rate in ((32, 0, 0.9), (64, 1, 0.9), (16, 2, 1.0), (48, 3, 0.0)):
        config = DataConfig(sources={"code": ["inline"]}, weights={"code": 1.0}, seq_len=seq_len, fim_rate=fim_rate,
                            spm_rate=0.5, seed=seed)
        expected = PackedStream(documents, tokenizer, config).next_batch(30).tolist()
        got = impl.pack(tokenizer, _packed_documents(seed), seq_len, 30, fim_rate, 0.5)
        assert len(got) == 30 and all(len(w) == seq_len + 1 for w in got), \
            f"seq_len {seq_len}: expected 30 windows of {seq_len + 1} tokens"
        for number, (mine, theirs) in enumerate(zip(got, expected)):
            assert mine.count(tokenizer.prefix_id) == mine.count(tokenizer.eot_id), \
                f"seq_len {seq_len}, window {number}: a FIM example is cut across windows (<PRE> without <EOT>)"
            assert mine == theirs, f"seq_len {seq_len}, seed {seed}: window {number} differs from PackedStream's"
