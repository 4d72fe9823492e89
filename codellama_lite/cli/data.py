"""``codellama-lite data stats``: what the data pipeline reads, removes and mixes (Code Llama §2.2); ``data prepare``:
a corpus deduplicated, shuffled and sharded once, for the trainer to stream (:mod:`codellama_lite.data.prepared`).

Sub-commands are registered from :data:`SUBCOMMANDS`: each entry adds one parser to the ``data`` group.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codellama_lite.data import DataConfig, PackedStream, build_corpus, default_data_config
from codellama_lite.data.prepared import prepare
from codellama_lite.data.toyworld.cli import register as add_toyworld
from codellama_lite.tokenizer import Tokenizer

SAMPLE_WINDOWS = 4096  # windows packed to measure the realized mix (about 1M tokens at seq 256)


def add_stats(actions: argparse._SubParsersAction) -> None:
    stats = actions.add_parser("stats", help="documents, languages, duplicates removed, bytes / tokens per source, "
                                             "realized mix")
    stats.add_argument("paths", nargs="*", type=Path,
                       help="files or directories, one source 'files' (default: the embedded 85/8/7 sources)")
    stats.add_argument("--seq-len", type=int, default=256, help="context used to pack the sample")
    stats.add_argument("--tokenizer", type=Path, default=None,
                       help="a SentencePiece .model: count tokens and pack a sample to measure the realized mix")
    stats.add_argument("--max-documents", type=int, default=None, help="read at most this many per source")
    stats.add_argument("--windows", type=int, default=SAMPLE_WINDOWS, help="windows packed for the realized mix")
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    stats.set_defaults(func=_stats)


def add_prepare(actions: argparse._SubParsersAction) -> None:
    prepare = actions.add_parser(
        "prepare", help="read, dedup (exact + MinHash, worker processes), shuffle and shard a corpus once, offline; "
                        "a recipe then names it as a source, data.sources.NAME = [\"prepared:DIR\"]")
    prepare.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="folders (one document per file; .jsonl[.gz|.zst] and .parquet files inside are read "
                              "as records) or record files; a record's text is its 'content' or 'text' field")
    prepare.add_argument("--out", type=Path, required=True, help="the prepared folder (new, empty, or the same "
                                                                 "command's unfinished one: it resumes)")
    prepare.add_argument("--tokenizer", type=Path, default=None, metavar="MODEL",
                         help="a SentencePiece .model: count each shard's tokens into the manifest")
    prepare.add_argument("--shards", type=int, default=64,
                         help="shards (at most one per training document); the number of processes training on it "
                              "must divide it")
    prepare.add_argument("--seed", type=int, default=0, help="the shuffle's and the validation split's seed")
    prepare.add_argument("--valid-fraction", type=float, default=0.001, help="documents set aside for validation")
    prepare.add_argument("--near-dup-threshold", type=float, default=0.85,
                         help="MinHash Jaccard similarity from which a document is a near duplicate (1: keep them)")
    prepare.add_argument("--num-perm", type=int, default=128, help="MinHash permutations")
    prepare.add_argument("--shingle-words", type=int, default=5, help="words per near-dedup shingle")
    prepare.add_argument("--workers", type=int, default=None, help="worker processes (default: the usable cores)")
    prepare.set_defaults(func=_prepare)


# Each function adds one sub-command to the ``data`` group; add yours here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_stats, add_prepare, add_toyworld]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="the training data pipeline: sources, dedup, mix, packing")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add in SUBCOMMANDS:
        add(actions)


def _stats(args: argparse.Namespace) -> int:
    if args.paths:
        config = DataConfig(sources={"files": [str(p) for p in args.paths]}, weights={"files": 1.0},
                            seq_len=args.seq_len, max_documents=args.max_documents)
    else:
        config = default_data_config(args.seq_len, max_documents=args.max_documents)
    corpus = build_corpus(config, progress=not args.json)
    report: dict[str, Any] = {"sources": config.sources, "target_shares": config.shares(),
                              **corpus.stats.as_dict()}
    if args.tokenizer is not None:
        report.update(_token_report(corpus, config, args.tokenizer, args.windows))
    print(json.dumps(report, indent=2) if args.json else _table(report))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    manifest = prepare(args.inputs, args.out, shards=args.shards, seed=args.seed, valid_fraction=args.valid_fraction,
                       near_dup_threshold=args.near_dup_threshold, num_perm=args.num_perm,
                       shingle_words=args.shingle_words, tokenizer=args.tokenizer, workers=args.workers,
                       log=lambda message: print(message, flush=True))
    dedup = manifest["dedup"]
    tokens = f", {manifest['tokens']:,} tokens" if "tokens" in manifest else ""
    print(f"{args.out}: {manifest['documents']:,} training documents{tokens} in {len(manifest['shards'])} shards, "
          f"{manifest['valid']['documents']:,} validation; removed {dedup['empty']:,} empty, "
          f"{dedup['exact_duplicates']:,} exact and {dedup['near_duplicates']:,} near duplicates of "
          f"{dedup['documents_read']:,} read")
    return 0


def _token_report(corpus: Any, config: Any, model: Path, windows: int) -> dict[str, Any]:
    """Tokens per source over all documents, and the mix realized by packing ``windows`` windows."""
    tokenizer = Tokenizer(model)
    tokens: dict[str, int] = {}
    for document in corpus.train + corpus.valid:
        tokens[document.source] = tokens.get(document.source, 0) + len(tokenizer.encode(document.text))
    stream = PackedStream(corpus.train, tokenizer,
                          config if tokenizer.has_infilling else _without_fim(config))
    stream.next_batch(max(1, windows))
    return {"tokens": tokens, "sample_windows": windows, "realized_shares": stream.realized_shares(),
            "epochs": stream.epochs(), "fim_documents": stream.fim_documents,
            "plain_documents": stream.plain_documents}


def _without_fim(config: Any) -> Any:
    return config.replace(fim_rate=0.0)


def _table(report: dict[str, Any]) -> str:
    lines = ["source    entries / documents read → kept / bytes" + (" / tokens" if "tokens" in report else "")]
    for source, entries in report["sources"].items():
        row = (f"{source:9} {', '.join(entries)}: {report['documents_read'][source]:,} → "
               f"{report['documents'][source]:,} documents, {report['bytes'][source]:,} bytes")
        if "tokens" in report:
            row += f", {report['tokens'][source]:,} tokens"
        lines.append(row)
    lines.append("languages: " + ", ".join(f"{k} {v:,}" for k, v in report["languages"].items()))
    lines.append(f"duplicates removed: {report['exact_duplicates']:,} exact, {report['near_duplicates']:,} near; "
                 f"{len(report['skipped_files'])} files skipped (unreadable or not UTF-8)")
    lines.append(f"split: {report['train_documents']:,} train, {report['valid_documents']:,} validation documents")
    targets = ", ".join(f"{k} {v:.1%}" for k, v in report["target_shares"].items())
    if "realized_shares" not in report:
        lines.append(f"target mix: {targets} (bytes only: pass --tokenizer MODEL for tokens and the realized mix)")
        return "\n".join(lines)
    realized = ", ".join(f"{k} {v:.1%}" for k, v in report["realized_shares"].items())
    epochs = ", ".join(f"{k} {v:.2f}" for k, v in report["epochs"].items())
    lines.append(f"mix over {report['sample_windows']} packed windows: {realized} (target {targets}); "
                 f"epochs {epochs}; FIM'd documents {report['fim_documents']} of "
                 f"{report['fim_documents'] + report['plain_documents']}")
    return "\n".join(lines)
