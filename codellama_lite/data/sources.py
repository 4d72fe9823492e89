"""Where documents come from: the user's files and directories, or three embedded sources (Code Llama §2.2).

The paper trains on a mix of code (85%), natural language about code (8%) and general natural language (7%)
(docs/paper_facts.md §5). Nothing is downloaded: the embedded defaults are texts that ship with the interpreter itself
or with the packages this project depends on. Measured on CPython 3.11.7 with this project's dependencies installed:

``builtin:stdlib`` (code)
    Every ``.py`` file of the standard library (:func:`codellama_lite.tokenizer.default_corpus_files`):
    about 1,790 files, 31.5 MB.
``builtin:c-headers`` (code in another language)
    The interpreter's C headers (``sysconfig.get_paths()["include"]``): about 190 files, 0.9 MB of C.
``builtin:pydoc-topics`` (natural language about code)
    ``pydoc_data.topics``: the Python language reference rendered as plain prose for ``help()`` — one document per
    topic, 79 documents, 0.46 MB.
``builtin:prose`` (general natural language)
    What prose really ships: the standard library's licence, IDLE's README / NEWS / HISTORY / TODO / CREDITS and
    the email package's architecture notes (``.txt`` / ``.rst`` outside the tests: 10 files, 0.14 MB), plus the
    licence, notice and author files in the installed distributions of this project's own dependencies
    (``*.dist-info`` and package data: 131 files, 0.55 MB, mostly repeated licence texts). 141 files, 0.69 MB
    read; 58 documents, 0.41 MB after exact and near dedup. This is legal and release-note English, not web text:
    an honest stand-in, small enough to be repeated over many epochs.

After dedup the default corpus is 1,726 code documents (31.3 MB), 78 about code (0.47 MB) and 58 prose (0.41 MB);
:func:`~codellama_lite.data.build_corpus` takes 12–16 s for it on a 2-core laptop (MinHash of ~1,860 documents).
``codellama-lite data stats`` prints the sizes found on the running machine.
"""

from __future__ import annotations

import importlib.metadata
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from pydoc_data.topics import topics

from codellama_lite.data.toyworld import training_files
from codellama_lite.support.resources import SHIPPED, resource_dir
from codellama_lite.tokenizer import corpus_files, default_corpus_files, read_corpus


@dataclass(frozen=True)
class Document:
    """One training document: its text, the mix source it belongs to, its language and where it came from."""

    text: str
    source: str  # mix source name, e.g. "code", "nl_code", "nl", or a user's
    language: str  # from the file extension ("python", "c", "markdown", "text", ...)
    path: str  # where it came from (for error messages and stats)


# --- Languages ------------------------------------------------------------------------------------------------------

LANGUAGE_BY_EXTENSION = {
    ".py": "python", ".pyi": "python", ".pyx": "python", ".c": "c", ".h": "c", ".cc": "c++", ".cpp": "c++",
    ".cxx": "c++", ".hpp": "c++", ".java": "java", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript",
    ".go": "go", ".rs": "rust", ".rb": "ruby", ".php": "php", ".cs": "c#", ".swift": "swift", ".kt": "kotlin",
    ".scala": "scala", ".sh": "shell", ".bash": "shell", ".lua": "lua", ".pl": "perl", ".r": "r", ".jl": "julia",
    ".sql": "sql", ".html": "html", ".htm": "html", ".css": "css", ".xml": "xml", ".json": "json", ".toml": "toml",
    ".yaml": "yaml", ".yml": "yaml", ".ini": "ini", ".cfg": "ini", ".md": "markdown", ".rst": "restructuredtext",
    ".tex": "latex", ".txt": "text", "": "text",
}


def language_of(path: str | Path) -> str:
    """The language of a file, from its extension; an unknown extension names itself (``.foo`` → ``foo``)."""
    suffix = Path(path).suffix.lower()
    return LANGUAGE_BY_EXTENSION.get(suffix, suffix.lstrip(".") or "text")


# --- Embedded sources -----------------------------------------------------------------------------------------------


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_prose_files() -> list[Path]:
    """The standard library's prose: ``.txt`` / ``.rst`` files outside test folders and grammar files."""
    skip = {"test", "tests", "idle_test", "lib2to3", "site-packages", "dist-packages"}
    root = _stdlib()
    return sorted(path for path in root.rglob("*") if path.suffix in (".txt", ".rst") and path.is_file()
                  and not skip.intersection(path.relative_to(root).parts))


_NOTICE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)


def dependency_notice_files() -> list[Path]:
    """Licence, notice and author files shipped in the installed distributions of this project's dependencies."""
    try:
        requirements = importlib.metadata.requires("codellama-lite") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    names = sorted({re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0] for requirement in requirements
                    if "extra ==" not in requirement})
    files: set[Path] = set()
    for name in names:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for entry in distribution.files or []:
            path = Path(entry.locate())
            if _NOTICE.search(entry.name) and path.suffix not in (".json", ".py") and path.is_file():
                files.add(path.resolve())
    return sorted(files)


def pydoc_topic_documents(source: str) -> list[Document]:
    """The language reference as prose (``pydoc_data.topics``), one document per topic, in topic order."""
    where = _stdlib() / "pydoc_data" / "topics.py"
    return [Document(text, source, "text", f"{where}#{name}") for name, text in sorted(topics.items())]


BUILTIN_SOURCES = ("builtin:stdlib", "builtin:c-headers", "builtin:pydoc-topics", "builtin:prose", "builtin:toyworld")
TOYWORLD_DOCUMENTS = 4000  # default count of builtin:toyworld; builtin:toyworld:N asks for N


def toyworld_documents(entry: str, source: str, max_documents: int | None) -> list[Document]:
    """Code files of the toy world's ``train`` split.

    Each holds problems with their solutions (:mod:`codellama_lite.data.toyworld`).

    ``builtin:toyworld:N`` gives N problems, one per file; ``builtin:toyworld:N:K`` puts them K to a file and
    ``builtin:toyworld:N:J-K`` from J to K to a file (drawn per file), so that, as in the paper's source files, a FIM
    cut leaves most functions of a file whole and the body of a function is not always the file's end;
    ``builtin:toyworld`` gives 4,000 (or ``max_documents`` when smaller). Generated with seed 0.
    """
    _, _, spec = entry.partition("builtin:toyworld")
    fields = spec[1:].split(":") if spec.startswith(":") else []
    sizes = fields[1].split("-") if len(fields) == 2 else ["1"]
    if spec and (not spec.startswith(":") or not 1 <= len(fields) <= 2 or not fields[0].isdigit()
                 or len(sizes) > 2 or not all(s.isdigit() and int(s) >= 1 for s in sizes)
                 or int(sizes[0]) > int(sizes[-1])):
        raise ValueError(f"source entry {entry!r}: expected builtin:toyworld, builtin:toyworld:N, "
                         "builtin:toyworld:N:K or builtin:toyworld:N:J-K (N problems, 1 <= J <= K per file)")
    count = int(fields[0]) if fields else TOYWORLD_DOCUMENTS
    if not fields and max_documents:
        count = min(count, max_documents)
    per_file = int(sizes[0]) if len(sizes) == 1 else (int(sizes[0]), int(sizes[1]))
    return [Document(text, source, "python", f"toyworld:train#{number}")
            for number, text in enumerate(training_files(0, count, per_file))]


def builtin_files(name: str) -> list[Path]:
    """The files behind a file-based embedded source."""
    if name == "builtin:stdlib":
        return default_corpus_files()
    if name == "builtin:prose":
        return stdlib_prose_files() + dependency_notice_files()
    if name == "builtin:c-headers":
        return sorted(Path(sysconfig.get_paths()["include"]).rglob("*.h"))
    raise ValueError(f"unknown builtin source {name!r}; known: {', '.join(BUILTIN_SOURCES)}")


# --- Reading --------------------------------------------------------------------------------------------------------


def locate(entry: str) -> Path:
    """A user's path as given; a relative path into a folder the workbook ships (``data_samples/languages``) that is
    not under the working directory is read from the installed copy (a notebook or a wheel runs elsewhere)."""
    path = Path(entry)
    if path.is_absolute() or path.exists() or not path.parts or path.parts[0] not in SHIPPED:
        return path
    return resource_dir(path.parts[0]).joinpath(*path.parts[1:])


def read_entry(entry: str, source: str, max_documents: int | None) -> tuple[list[Document], list[str]]:
    """The documents of one source entry (a file, a directory or a ``builtin:`` name), and the files skipped.

    ``max_documents`` caps how many are read (``None``: all). A path that does not exist raises
    ``FileNotFoundError`` naming it; unreadable or non-UTF-8 files are skipped and returned, never fatal.
    """
    if entry == "builtin:pydoc-topics":
        return pydoc_topic_documents(source)[:max_documents], []
    if entry.startswith("builtin:toyworld"):
        return toyworld_documents(entry, source, max_documents), []
    files = builtin_files(entry) if entry.startswith("builtin:") else corpus_files(locate(entry))
    texts, report = read_corpus(files, max_files=max_documents)
    skipped = set(report.skipped)
    read = [path for path in files if str(path) not in skipped]
    return [Document(text, source, language_of(path), str(path)) for path, text in zip(read, texts)], report.skipped


def read_source(source: str, entries: list[str], max_documents: int | None) -> tuple[list[Document], list[str]]:
    """The documents of one mix source (its entries in order, at most ``max_documents``) and the files skipped."""
    documents: list[Document] = []
    skipped: list[str] = []
    for entry in entries:
        remaining = None if max_documents is None else max_documents - len(documents)
        if remaining is not None and remaining <= 0:
            break
        read, unreadable = read_entry(str(entry), source, remaining)
        documents += read
        skipped += unreadable
    return documents, skipped
