"""Checks for chapter 3: the FIM layouts against codellama_lite.fim, token for token, and the document read back."""

from __future__ import annotations

import functools
import random
import tempfile
from pathlib import Path

from codellama_lite.fim import psm_ids, spm_ids, undo_fim
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
