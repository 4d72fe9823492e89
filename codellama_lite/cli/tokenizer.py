"""``codellama-lite tokenizer train|encode|decode|infill``: the chapter 1 tokenizer from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codellama_lite.tokenizer import Tokenizer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokenizer", help="train and use a Code Llama-style SentencePiece tokenizer")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    train = actions.add_parser("train", help="train Llama 2-style BPE and add Code Llama's infilling pieces")
    train.add_argument("inputs", nargs="*", type=Path,
                       help="files or directories of any language (default: this Python's standard library)")
    train.add_argument("--vocab-size", type=int, required=True,
                       help="base vocabulary size V; the model gets V + 16 pieces with --infilling (the default)")
    train.add_argument("--output", "-o", type=Path, required=True, help="where to write the .model file")
    train.add_argument("--max-files", type=int, default=None, help="read at most this many files")
    train.add_argument("--max-bytes", type=int, default=None, help="stop reading once this many bytes are read")
    train.add_argument("--no-infilling", dest="infilling", action="store_false",
                       help="leave out the 16 extra pieces (like Code Llama 34B and the Python models)")
    train.set_defaults(func=_train)

    encode = actions.add_parser("encode", help="print the token ids (or pieces) of a text")
    _model_argument(encode)
    encode.add_argument("text", nargs="?", help="the text (default: read standard input; see also --file)")
    encode.add_argument("--file", type=Path, help="encode this file's contents")
    encode.add_argument("--bos", action="store_true", help="start with BOS")
    encode.add_argument("--eos", action="store_true", help="end with EOS")
    encode.add_argument("--pieces", action="store_true", help="print pieces instead of ids")
    encode.add_argument("--no-leading-space", dest="infilling", action="store_true",
                        help="encode without the implicit leading space (how a suffix is encoded for infilling)")
    encode.set_defaults(func=_encode)

    decode = actions.add_parser("decode", help="print the text of token ids")
    _model_argument(decode)
    decode.add_argument("ids", nargs="+", type=int, help="token ids to decode")
    decode.set_defaults(func=_decode)

    infill = actions.add_parser("infill", help="print the infilling prompt ids for a prefix and a suffix")
    _model_argument(infill)
    infill.add_argument("--prefix", required=True, help="the code before the gap")
    infill.add_argument("--suffix", required=True, help="the code after the gap")
    infill.add_argument("--spm", action="store_true", help="suffix first (SPM) instead of PSM")
    infill.set_defaults(func=_infill)


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", type=Path, required=True, help="a SentencePiece .model file")


def _train(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.train(args.inputs or None, vocab_size=args.vocab_size, model_path=args.output,
                                max_files=args.max_files, max_bytes=args.max_bytes, infilling=args.infilling)
    print(f"corpus: {tokenizer.training_report}")
    for path in tokenizer.training_report.skipped[:10]:
        print(f"  skipped: {path}")
    print(f"wrote {args.output}: {tokenizer.vocab_size} pieces", end="")
    if tokenizer.has_infilling:
        print(f"; ▁<PRE> ▁<SUF> ▁<MID> ▁<EOT> = {tokenizer.prefix_id} {tokenizer.suffix_id} "
              f"{tokenizer.middle_id} {tokenizer.eot_id}", end="")
    print()
    return 0


def _encode(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer(args.model)
    if args.file is not None:
        if not args.file.is_file():
            raise FileNotFoundError(f"file to encode not found: {args.file}")
        text = args.file.read_text(encoding="utf-8")
    else:
        text = args.text if args.text is not None else sys.stdin.read()
    if args.infilling:
        ids = tokenizer.encode_infilling(text)
    else:
        ids = tokenizer.encode(text, bos=args.bos, eos=args.eos)
    print(" ".join(tokenizer.id_to_piece(i) for i in ids) if args.pieces else " ".join(map(str, ids)))
    return 0


def _decode(args: argparse.Namespace) -> int:
    print(Tokenizer(args.model).decode(args.ids))
    return 0


def _infill(args: argparse.Namespace) -> int:
    ids = Tokenizer(args.model).infill_prompt(args.prefix, args.suffix, suffix_first=args.spm)
    print(" ".join(map(str, ids)))
    return 0
