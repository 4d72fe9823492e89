"""Prepared corpora: a corpus read, deduplicated, shuffled and sharded once, offline, then streamed by the trainer.

``codellama-lite data prepare INPUT... --out DIR`` (:func:`prepare`) reads folders of files (one document per file),
JSONL records (``.jsonl``, ``.jsonl.gz``; ``.jsonl.zst`` with the ``zstandard`` package) and parquet files (with
``pyarrow``; The Stack's layout), taking each record's ``content`` or ``text`` field. It then

1. drops empty documents and exact duplicates (SHA-256 of the text) and near duplicates (MinHash over word shingles
   with LSH, the first of a group kept; :mod:`codellama_lite.data.dedup`'s rule, Code Llama §2.2), the signatures
   computed by worker processes;
2. sets aside validation documents (a hash of (seed, path, content) below ``valid_fraction``, as
   :func:`codellama_lite.data.corpus.split` does);
3. shuffles the remaining documents with one seeded permutation and writes them, whole (FIM cuts a document's
   characters, so a document's text is stored, never its tokens), into ``shard-NNNNN.jsonl.gz`` files in the
   permuted order, one line per document.

``manifest.json`` holds the shard files with their document counts, bytes and SHA-256 (and tokens when a tokenizer
was given), the seed, the inputs and the dedup figures. Every file is written atomically. A prepare that is killed
restarts where it stood: the dedup result, the per-shard buckets and each finished shard are kept under
``DIR/.prepare/`` and ``DIR/`` until the manifest is written; a finished shard is never written again.

Memory: one SHA-256 prefix and, for each kept document, one MinHash signature are held while deduplicating; a
document's text only while it is hashed or copied. No step holds the corpus.

A recipe names a prepared folder as a source entry ``prepared:DIR`` (:func:`open_prepared`); the trainer streams it
(:mod:`codellama_lite.data.streaming`).
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import hashlib
import importlib.util
import io
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from codellama_lite.data.config import DataConfig
from codellama_lite.data.corpus import Corpus, CorpusStats, split_key
from codellama_lite.data.dedup import shingles
from codellama_lite.data.sources import Document, language_of
from codellama_lite.support.fileio import atomic_open, atomic_path, sha256_file
from codellama_lite.tokenizer import Tokenizer, corpus_files, cpu_cores

PREFIX = "prepared:"
MANIFEST = "manifest.json"
FORMAT = 1
WORK_DIR = ".prepare"
VALID_FILE = "valid.jsonl.gz"
TEXT_FIELDS = ("content", "text")
LANGUAGE_FIELDS = ("lang", "language")
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
_BATCH = 256  # documents per MinHash task sent to a worker
_SCHEME = "affine32"  # the hashing scheme of datasketch 2's MinHash.bulk, whose signatures the workers return


@dataclass(frozen=True)
class PrepareSettings:
    """What decides a prepared folder's content (a restart must be asked for the same)."""

    inputs: tuple[str, ...]
    shards: int = 64
    seed: int = 0
    near_dup_threshold: float = 0.85
    num_perm: int = 128
    shingle_words: int = 5
    valid_fraction: float = 0.001
    tokenizer: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "shards": self.shards, "seed": self.seed,
                "near_dup_threshold": self.near_dup_threshold, "num_perm": self.num_perm,
                "shingle_words": self.shingle_words, "valid_fraction": self.valid_fraction,
                "tokenizer": self.tokenizer}

    def check(self) -> None:
        if not self.inputs:
            raise ValueError("data prepare: give at least one INPUT (a folder, .jsonl[.gz|.zst] or .parquet file)")
        if self.shards < 1:
            raise ValueError(f"--shards must be at least 1, got {self.shards}")
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise ValueError(f"--near-dup-threshold must be in (0, 1], got {self.near_dup_threshold}")
        if self.num_perm < 2:
            raise ValueError(f"--num-perm must be at least 2, got {self.num_perm}")
        if self.shingle_words < 1:
            raise ValueError(f"--shingle-words must be at least 1, got {self.shingle_words}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"--valid-fraction must be in [0, 1), got {self.valid_fraction}")


# -- reading inputs -------------------------------------------------------------------------------------------------


def _record_kind(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in RECORD_SUFFIXES if name.endswith(suffix)), None)


def input_files(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every file of ``inputs`` (folders walked, sorted, hidden entries left out), each checked readable in its kind:
    a ``.zst`` or parquet file without its optional package is refused here, before anything is read."""
    files = corpus_files([Path(item) for item in inputs])
    for path in files:
        kind = _record_kind(path)
        if kind == ".jsonl.zst" and importlib.util.find_spec("zstandard") is None:
            raise ValueError(f"{path}: reading .zst needs the 'zstandard' package (pip install zstandard)")
        if kind == ".parquet" and importlib.util.find_spec("pyarrow") is None:
            raise ValueError(f"{path}: reading parquet needs the 'pyarrow' package "
                             "(pip install 'codellama-lite[data]')")
    return files


def _open_text(path: Path, kind: str) -> IO[str]:
    if kind == ".jsonl.gz":
        return gzip.open(path, "rt", encoding="utf-8")
    if kind == ".jsonl.zst":
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True),
                                encoding="utf-8")
    return open(path, encoding="utf-8")


def _field(record: dict[str, Any], where: str) -> str:
    for name in TEXT_FIELDS:
        if name in record:
            value = record[name]
            if not isinstance(value, str):
                raise ValueError(f"{where}: field {name!r} is {type(value).__name__}, not a string")
            return value
    raise ValueError(f"{where}: no 'content' or 'text' field (fields: {', '.join(sorted(record)) or 'none'})")


def _language(record: dict[str, Any], path: str) -> str:
    for name in LANGUAGE_FIELDS:
        if isinstance(record.get(name), str):
            return record[name].lower()
    return language_of(record["path"]) if isinstance(record.get("path"), str) else "text"


def _jsonl_documents(path: Path, kind: str) -> Iterator[Document]:
    with _open_text(path, kind) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{where}: not valid JSON ({error})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, found {type(record).__name__}")
            yield Document(_field(record, where), "prepared", _language(record, str(path)), where)


def _parquet_documents(path: Path) -> Iterator[Document]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    names = table.schema_arrow.names
    field = next((name for name in TEXT_FIELDS if name in names), None)
    if field is None:
        raise ValueError(f"{path}: no 'content' or 'text' column (columns: {', '.join(names)})")
    columns = [field] + [name for name in LANGUAGE_FIELDS + ("path",) if name in names]
    number = 0
    for batch in table.iter_batches(columns=columns, batch_size=1024):
        for record in batch.to_pylist():
            number += 1
            where = f"{path}#{number}"
            text = record[field]
            if text is None:
                continue
            yield Document(_field(record, where), "prepared", _language(record, str(path)), where)


def read_documents(files: Sequence[Path], skipped: list[str]) -> Iterator[Document]:
    """The documents of ``files`` in order: a record file's records, any other file whole (an unreadable or
    non-UTF-8 plain file is added to ``skipped``, as the in-memory sources do)."""
    for path in files:
        kind = _record_kind(path)
        if kind == ".parquet":
            yield from _parquet_documents(path)
        elif kind is not None:
            yield from _jsonl_documents(path, kind)
        else:
            try:
                text = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                skipped.append(str(path))
                continue
            yield Document(text, "prepared", language_of(path), str(path))


# -- pass 1: dedup --------------------------------------------------------------------------------------------------


def _signatures(task: tuple[list[str], int, int]) -> np.ndarray:
    """MinHash signatures (one row per text) of a batch: the work a worker process does."""
    from datasketch import MinHash

    texts, num_perm, width = task
    hashes = MinHash.bulk([shingles(text, width) for text in texts], num_perm=num_perm)
    if getattr(hashes[0], "scheme", _SCHEME) != _SCHEME:
        raise RuntimeError(f"datasketch's MinHash.bulk hashes with {hashes[0].scheme}, not {_SCHEME}")
    return np.stack([h.hashvalues for h in hashes])


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class DedupResult:
    """Pass 1's verdict per document read (in input order): ``0`` dropped, ``1`` train, ``2`` validation."""

    verdict: np.ndarray
    figures: dict[str, Any]


def deduplicate(files: Sequence[Path], settings: PrepareSettings, workers: int) -> DedupResult:
    """Exact, then near dedup over every document of ``files`` in order, signatures from ``workers`` processes."""
    from datasketch import MinHashLSH

    skipped: list[str] = []
    verdict = bytearray()
    counts: dict[str, Any] = {"documents_read": 0, "empty": 0, "exact_duplicates": 0, "near_duplicates": 0}
    near = settings.near_dup_threshold < 1.0
    lsh = MinHashLSH(threshold=settings.near_dup_threshold, num_perm=settings.num_perm) if near else None
    kept: dict[str, np.ndarray] = {}
    batches = _batches(_unique(read_documents(files, skipped), verdict, counts), _BATCH)
    with _pool(workers if near else 0) as pool:
        for batch, signatures in _signed(pool, batches, settings):
            for (slot, document), signature in zip(batch, signatures):
                if lsh is not None:
                    lean = _lean(signature)
                    if any(_jaccard(signature, kept[other]) >= settings.near_dup_threshold
                           for other in lsh.query(lean)):
                        counts["near_duplicates"] += 1
                        continue
                    lsh.insert(str(slot), lean)
                    kept[str(slot)] = signature
                verdict[slot] = 2 if split_key(document, settings.seed) < settings.valid_fraction else 1
    result = np.frombuffer(bytes(verdict), dtype=np.int8)
    counts.update(kept=int((result > 0).sum()), train_documents=int((result == 1).sum()),
                  valid_documents=int((result == 2).sum()), skipped_files=skipped)
    return DedupResult(result, counts)


def _unique(documents: Iterator[Document], verdict: bytearray, counts: dict[str, Any]
            ) -> Iterator[tuple[int, Document]]:
    """``(slot, document)`` for each document that is neither empty nor an exact repeat of an earlier one; every
    document read gets a verdict slot (0 until kept). Only a 16-byte SHA-256 prefix per document is held."""
    seen: set[bytes] = set()
    for document in documents:
        counts["documents_read"] += 1
        verdict.append(0)
        if not document.text.strip():
            counts["empty"] += 1
            continue
        digest = hashlib.sha256(document.text.encode("utf-8", "surrogatepass")).digest()[:16]
        if digest in seen:
            counts["exact_duplicates"] += 1
            continue
        seen.add(digest)
        yield len(verdict) - 1, document


def _signed(pool: Any, batches: Iterator[list[tuple[int, Document]]], settings: PrepareSettings
            ) -> Iterator[tuple[list[tuple[int, Document]], np.ndarray]]:
    """Each batch with its MinHash signatures (computed by ``pool``'s workers, in order); none without near dedup."""
    if settings.near_dup_threshold >= 1.0:
        for batch in batches:
            yield batch, np.zeros((len(batch), 0), dtype=np.uint32)
        return
    in_flight: collections.deque = collections.deque()
    limit = 2 * max(getattr(pool, "_processes", 1), 1)  # tasks queued at once: memory stays bounded
    for batch in batches:
        task = ([document.text for _, document in batch], settings.num_perm, settings.shingle_words)
        if pool is None:
            yield batch, _signatures(task)
            continue
        in_flight.append((batch, pool.apply_async(_signatures, (task,))))
        if len(in_flight) >= limit:
            done, result = in_flight.popleft()
            yield done, result.get()
    while in_flight:
        done, result = in_flight.popleft()
        yield done, result.get()


def _pool(workers: int) -> Any:
    """A process pool of ``workers`` (for 0 or 1, ``None``: the work runs in this process)."""
    if workers <= 1:
        return contextlib.nullcontext(None)
    methods = multiprocessing.get_all_start_methods()  # fork: the workers need not import the package again
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(workers)


def _lean(signature: np.ndarray) -> Any:
    from datasketch import LeanMinHash

    return LeanMinHash(seed=1, hashvalues=signature, scheme=_SCHEME)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """MinHash's estimate of the Jaccard similarity: the share of equal signature values."""
    return float(np.count_nonzero(a == b)) / len(a)


# -- passes 2 and 3: shuffle into shards ----------------------------------------------------------------------------


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.jsonl.gz"


def _record(document: Document) -> str:
    return json.dumps({"text": document.text, "path": document.path, "language": document.language},
                      ensure_ascii=False)


def _document(line: str, source: str) -> Document:
    record = json.loads(line)
    return Document(record["text"], source, record["language"], record["path"])


@contextlib.contextmanager
def _gzip_text(path: Path) -> Iterator[IO[str]]:
    """A gzip text writer whose bytes depend only on what is written (no file name or time in the header), so that
    the same corpus prepared twice gives the same SHA-256s."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed, \
            io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as text:
        yield text


def _bucket(work: Path, shards: int, verdict: np.ndarray, files: Sequence[Path], seed: int) -> None:
    """Pass 2: each training document, with its place in the seeded permutation, appended to its shard's bucket;
    the validation documents to the validation file. ``buckets.done`` marks the pass complete."""
    train = np.flatnonzero(verdict == 1)
    place = np.empty(len(verdict), dtype=np.int64)
    place[train] = np.random.default_rng(seed).permutation(len(train))
    bounds = [index * len(train) // shards for index in range(shards + 1)]
    buckets = work / "buckets"
    shutil.rmtree(buckets, ignore_errors=True)
    buckets.mkdir(parents=True)
    handles = [open(buckets / f"{index:05d}.jsonl", "w", encoding="utf-8") for index in range(shards)]
    read = 0
    try:
        with atomic_path(work / VALID_FILE) as tmp, _gzip_text(tmp) as valid:
            for slot, document in enumerate(read_documents(files, [])):
                read = slot + 1
                if read > len(verdict):
                    break
                if verdict[slot] == 2:
                    valid.write(_record(document) + "\n")
                elif verdict[slot] == 1:
                    shard = int(np.searchsorted(bounds, place[slot], side="right")) - 1
                    handles[shard].write(f"{place[slot]}\t{_record(document)}\n")
            if read != len(verdict):
                raise ValueError(f"the inputs changed since they were deduplicated ({len(verdict)} documents then, "
                                 f"{'more' if read > len(verdict) else read} now); delete {work.parent} and prepare "
                                 "again")
    finally:
        for handle in handles:
            handle.close()
    (work / "buckets.done").write_text("", encoding="utf-8")


def _write_shard(task: tuple[str, str, int, str | None]) -> dict[str, Any]:
    """Pass 3 for one shard (a worker's task): its bucket sorted by permutation place, written as gzip JSONL;
    returns the shard's entry for the manifest (also kept beside the bucket, so a restart need not reread it)."""
    work, out, index, tokenizer_path = Path(task[0]), Path(task[1]), task[2], task[3]
    bucket = work / "buckets" / f"{index:05d}.jsonl"
    lines = bucket.read_text(encoding="utf-8").splitlines()
    lines.sort(key=lambda line: int(line.split("\t", 1)[0]))
    records = [line.split("\t", 1)[1] for line in lines]
    tokenizer = None
    if tokenizer_path is not None:
        tokenizer = Tokenizer(tokenizer_path)
    entry: dict[str, Any] = {"file": shard_name(index), "documents": len(records),
                             "bytes": sum(len(json.loads(r)["text"].encode("utf-8")) for r in records)}
    if tokenizer is not None:
        entry["tokens"] = sum(len(tokenizer.encode(json.loads(r)["text"])) + 2 for r in records)  # + BOS, EOS
    with atomic_path(out / entry["file"]) as tmp:
        with _gzip_text(tmp) as handle:
            handle.writelines(record + "\n" for record in records)
        entry["sha256"] = sha256_file(tmp)
    with atomic_open(work / f"{index:05d}.json") as handle:
        json.dump(entry, handle)
    bucket.unlink()
    return entry


def prepare(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *, shards: int = 64,
            seed: int = 0, near_dup_threshold: float = 0.85, num_perm: int = 128, shingle_words: int = 5,
            valid_fraction: float = 0.001, tokenizer: str | os.PathLike[str] | None = None,
            workers: int | None = None, log: Any = None) -> dict[str, Any]:
    """Prepare ``inputs`` into ``out`` (see the module docstring); returns the manifest. Runs again where a killed
    run stopped; a finished folder is returned as it is. ``workers``: processes (default: the usable cores)."""
    out = Path(out)
    settings = PrepareSettings(tuple(str(Path(item)) for item in inputs), shards, seed, near_dup_threshold, num_perm,
                               shingle_words, valid_fraction, None if tokenizer is None else str(tokenizer))
    settings.check()
    if tokenizer is not None and not Path(tokenizer).is_file():
        raise FileNotFoundError(f"tokenizer not found: {tokenizer}")
    workers = cpu_cores() if workers is None else workers
    say = log or (lambda message: None)
    work = out / WORK_DIR
    done = _finished(out, settings)
    if done is not None:
        say(f"{out}: already prepared ({done['documents']:,} documents in {len(done['shards'])} shards)")
        return done
    files = input_files(settings.inputs)
    _claim(out, work, settings)
    dedup = _dedup_pass(work, files, settings, workers, say)
    count = max(1, min(shards, int(dedup.figures["train_documents"])))
    if dedup.figures["train_documents"] == 0:
        raise ValueError(f"{', '.join(settings.inputs)}: no training documents left after dedup "
                         f"({dedup.figures['documents_read']} read)")
    if not (work / "buckets.done").exists():
        say(f"shuffling {dedup.figures['train_documents']:,} documents into {count} shard buckets")
        _bucket(work, count, dedup.verdict, files, seed)
    entries = _shard_pass(work, out, count, settings.tokenizer, workers, say)
    return _write_manifest(out, work, settings, entries, dedup.figures)


def _finished(out: Path, settings: PrepareSettings) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    manifest = read_manifest(out)
    if manifest["settings"] != settings.as_dict():
        raise ValueError(f"{out}: already holds a corpus prepared with other inputs or settings "
                         f"({manifest['settings']}); choose another --out or delete it")
    return manifest


def _claim(out: Path, work: Path, settings: PrepareSettings) -> None:
    """Start in an empty (or absent) ``out``, or continue the unfinished prepare of the same settings there."""
    state = work / "settings.json"
    if state.is_file():
        saved = json.loads(state.read_text(encoding="utf-8"))
        if saved != settings.as_dict():
            raise ValueError(f"{out}: holds an unfinished prepare of other inputs or settings ({saved}); "
                             "choose another --out or delete it")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists and is not empty; data prepare writes into a new or empty folder")
    work.mkdir(parents=True, exist_ok=True)
    with atomic_open(state) as handle:
        json.dump(settings.as_dict(), handle)


def _dedup_pass(work: Path, files: Sequence[Path], settings: PrepareSettings, workers: int, say: Any) -> DedupResult:
    """Pass 1, or its saved result (``dedup.npy`` + ``dedup.json``) from a run that got further."""
    verdict_path, figures_path = work / "dedup.npy", work / "dedup.json"
    if figures_path.is_file():
        return DedupResult(np.load(verdict_path), json.loads(figures_path.read_text(encoding="utf-8")))
    say(f"dedup over {len(files):,} files with {workers} worker process(es)")
    result = deduplicate(files, settings, workers)
    with atomic_path(verdict_path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, result.verdict)
    with atomic_open(figures_path) as handle:
        json.dump(result.figures, handle)
    figures = result.figures
    say(f"read {figures['documents_read']:,} documents: {figures['empty']:,} empty, "
        f"{figures['exact_duplicates']:,} exact and {figures['near_duplicates']:,} near duplicates removed; "
        f"{figures['train_documents']:,} train, {figures['valid_documents']:,} validation")
    return result


def _shard_pass(work: Path, out: Path, count: int, tokenizer: str | None, workers: int, say: Any
                ) -> list[dict[str, Any]]:
    """Pass 3: every shard not yet written, by ``workers`` processes; the entries of all shards in order."""
    entries: dict[int, dict[str, Any]] = {}
    todo = []
    for index in range(count):
        saved = work / f"{index:05d}.json"
        if saved.is_file() and (out / shard_name(index)).is_file():
            entries[index] = json.loads(saved.read_text(encoding="utf-8"))
        else:
            todo.append((str(work), str(out), index, tokenizer))
    say(f"writing {len(todo)} of {count} shards ({count - len(todo)} already written)")
    with _pool(min(workers, len(todo))) as pool:
        written = pool.imap(_write_shard, todo) if pool is not None else map(_write_shard, todo)
        for task, entry in zip(todo, written):
            entries[task[2]] = entry
    return [entries[index] for index in range(count)]


def _write_manifest(out: Path, work: Path, settings: PrepareSettings, entries: list[dict[str, Any]],
                    figures: dict[str, Any]) -> dict[str, Any]:
    valid = out / VALID_FILE
    if (work / VALID_FILE).exists():  # not yet moved by a run killed here
        os.replace(work / VALID_FILE, valid)
    manifest = {"format": FORMAT, "seed": settings.seed, "documents": sum(e["documents"] for e in entries),
                "bytes": sum(e["bytes"] for e in entries), "shards": entries,
                "valid": {"file": VALID_FILE, "documents": figures["valid_documents"], "sha256": sha256_file(valid)},
                "sources": list(settings.inputs), "dedup": figures, "settings": settings.as_dict()}
    if all("tokens" in entry for entry in entries):
        manifest["tokens"] = sum(entry["tokens"] for entry in entries)
    with atomic_open(out / MANIFEST) as handle:
        json.dump(manifest, handle, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


# -- reading a prepared folder --------------------------------------------------------------------------------------


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``folder``'s manifest, checked: a folder that is not (or not yet) a prepared corpus is named as such."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a prepared corpus (no {MANIFEST}); run codellama-lite data prepare "
                                f"INPUT... --out {folder}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: not a prepared-corpus manifest of format {FORMAT}")
    return manifest


class PreparedCorpus:
    """A prepared folder, read lazily: its manifest, the documents of a shard streamed line by line."""

    def __init__(self, folder: str | os.PathLike[str], source: str) -> None:
        self.folder, self.source = Path(folder), source
        self.manifest = read_manifest(folder)
        self.shards = [entry["file"] for entry in self.manifest["shards"]]
        self.counts = [int(entry["documents"]) for entry in self.manifest["shards"]]
        missing = [name for name in self.shards if not (self.folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{self.folder}: shard {missing[0]} listed in {MANIFEST} is missing")

    def documents(self, shard: int) -> Iterator[Document]:
        with gzip.open(self.folder / self.shards[shard], "rt", encoding="utf-8") as handle:
            for line in handle:
                yield _document(line, self.source)

    def valid_documents(self) -> list[Document]:
        path = self.folder / self.manifest["valid"]["file"]
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [_document(line, self.source) for line in handle]

    def fingerprint(self) -> str:
        """What identifies the content: the shards' and validation file's SHA-256 (from the manifest)."""
        parts = [entry["sha256"] for entry in self.manifest["shards"]] + [self.manifest["valid"]["sha256"]]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class ShardDocuments(Sequence[Document]):
    """The documents of some shards of a :class:`PreparedCorpus`, one after another, as a sequence read in order.

    Reading index ``i`` right after ``i - 1`` (or ``i`` again) costs at most one line; any other index reopens the
    shard holding it and reads forward to it (what a resume does, once). Only the current document is held."""

    def __init__(self, corpus: PreparedCorpus, shards: Sequence[int]) -> None:
        self.corpus, self.shards = corpus, list(shards)
        self.starts = np.cumsum([0] + [corpus.counts[shard] for shard in self.shards])
        self._next, self._reader = -1, None
        self._last: tuple[int, Document] | None = None

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> Document:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        if index != self._next or self._reader is None:
            position = int(np.searchsorted(self.starts, index, side="right")) - 1
            self._reader = self._read_from(position, index - int(self.starts[position]))
        self._next = index + 1
        self._last = index, next(self._reader)
        return self._last[1]

    def _read_from(self, position: int, skip: int) -> Iterator[Document]:
        for number, shard in enumerate(self.shards[position:]):
            for line_number, document in enumerate(self.corpus.documents(shard)):
                if number == 0 and line_number < skip:
                    continue
                yield document


def prepared_folders(config: DataConfig) -> dict[str, Path]:
    """The sources of ``config`` that name a prepared folder (``prepared:DIR``), by source; ``{}`` when none do.

    Such a source has exactly that one entry, and a recipe with one has only such sources (the in-memory sources and
    the streamed ones are not mixed), each error naming the source."""
    folders: dict[str, Path] = {}
    for source, entries in config.sources.items():
        prepared = [entry for entry in entries if entry.startswith(PREFIX)]
        if prepared and len(entries) > 1:
            raise ValueError(f"data.sources.{source}: a prepared folder ({prepared[0]}) must be the source's only "
                             f"entry, got {entries}")
        if prepared:
            folders[source] = Path(prepared[0][len(PREFIX):])
    if folders and len(folders) != len(config.sources):
        plain = sorted(set(config.sources) - set(folders))
        raise ValueError(f"data.sources: {plain} are not prepared folders, but {sorted(folders)} are; prepare every "
                         "source (codellama-lite data prepare) or none")
    return folders


def open_prepared(config: DataConfig) -> dict[str, PreparedCorpus]:
    """Each prepared source of ``config`` opened (its manifest read and checked); ``{}`` when none is prepared."""
    return {source: PreparedCorpus(folder, source) for source, folder in prepared_folders(config).items()}


def prepared_corpus(corpora: dict[str, PreparedCorpus]) -> Corpus:
    """What the trainer needs in memory: the validation documents, and the first shard of each source (a sample to
    train a tokenizer on, when the recipe gives none). Stats are the manifests' figures."""
    stats = CorpusStats()
    sample: list[Document] = []
    valid: list[Document] = []
    for source, corpus in corpora.items():
        sample += list(corpus.documents(0))
        valid += corpus.valid_documents()
        figures = corpus.manifest["dedup"]
        stats.documents_read[source] = figures["documents_read"]
        stats.documents[source] = corpus.manifest["documents"] + figures["valid_documents"]
        stats.bytes[source] = corpus.manifest["bytes"]
        stats.exact_duplicates += figures["exact_duplicates"]
        stats.near_duplicates += figures["near_duplicates"]
        stats.train_documents += corpus.manifest["documents"]
        stats.valid_documents += figures["valid_documents"]
    return Corpus(sample, valid, stats)
