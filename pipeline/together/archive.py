"""Safe extraction of a downloaded checkpoint archive and location of the PEFT adapter in it.

Together serves a tar compressed with zstd (or gzip when the content-type says
x-tar); the file name's extension is not trusted, the magic bytes are. Members
are checked before anything is written: no absolute paths, no ``..``, no links,
no devices or FIFOs. Extraction goes to a temporary folder renamed into place,
so a failed extraction leaves nothing behind.

An archive is also hostile in size: 33 KB of zstd can expand to 1 GiB, 310 KB to 50,000
files. Extraction stops (and removes what it wrote) past :class:`Limits` — a member count,
and a byte total defaulting to a multiple of the archive's own size (adapter weights barely
compress, so a real adapter archive expands to little more than itself) — and checks the free
disk space before it starts and before each member.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from gerbil_eval.errors import GerbilEvalError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
#: A PEFT adapter archive holds a handful of files (config, weights, tokenizer files, README).
DEFAULT_MAX_MEMBERS = 1000
#: Default byte cap: this many times the archive's size, and never below MIN_EXTRACT_BYTES.
EXPANSION_FACTOR = 8
MIN_EXTRACT_BYTES = 64 << 20


@dataclass(frozen=True)
class Limits:
    """Caps on one extraction; ``max_bytes=None`` means the default for the archive's size."""

    max_bytes: int | None = None
    max_members: int = DEFAULT_MAX_MEMBERS

    def bytes_for(self, archive: Path) -> int:
        if self.max_bytes is not None:
            return self.max_bytes
        return max(MIN_EXTRACT_BYTES, EXPANSION_FACTOR * archive.stat().st_size)


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def detect_format(path: Path) -> str:
    """``"zstd"``, ``"gzip"`` or ``"tar"`` from the file's first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    raise GerbilEvalError(f"{path}: not a zstd, gzip or tar archive (first bytes {head[:4].hex()}); the download may be corrupt")


@contextlib.contextmanager
def _tar_stream(path: Path) -> Iterator[tarfile.TarFile]:
    fmt = detect_format(path)
    with open(path, "rb") as raw:
        stream: IO[bytes] = raw
        if fmt == "zstd":
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw)
        with tarfile.open(fileobj=stream, mode="r|gz" if fmt == "gzip" else "r|") as tar:
            yield tar


def check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse a member that could write outside the destination or is not a plain file/folder."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (parts and ":" in parts[0]):
        raise GerbilEvalError(f"{archive}: refusing absolute path {name!r} in the archive")
    if ".." in parts:
        raise GerbilEvalError(f"{archive}: refusing path with '..' {name!r} in the archive")
    if member.issym() or member.islnk():
        raise GerbilEvalError(f"{archive}: refusing link {name!r} -> {member.linkname!r} in the archive")
    if not (member.isfile() or member.isdir()):
        raise GerbilEvalError(f"{archive}: refusing special file {name!r} (device, FIFO) in the archive")


def _check_size(member: tarfile.TarInfo, archive: Path, count: int, total: int, limits: Limits, max_bytes: int,
                folder: Path) -> None:
    """Refuse the ``count``-th member if it passes a cap or the free disk space (``total`` includes it)."""
    if count > limits.max_members:
        raise GerbilEvalError(f"{archive}: more than {limits.max_members} files in the archive; an adapter has a "
                              "handful. Refusing it (--max-members N to allow more)")
    if total > max_bytes:
        raise GerbilEvalError(f"{archive}: expands to more than {_mib(max_bytes)} (at {member.name!r}); refusing "
                              "a likely decompression bomb (--max-extract-bytes N to allow more)")
    if member.size > _free_bytes(folder):
        raise GerbilEvalError(f"{folder}: not enough free disk space for {member.name!r} ({_mib(member.size)}); "
                              "free some space and download again")


def safe_extract(archive: Path, dest: Path, limits: Limits = Limits()) -> Path:
    """Extract ``archive`` into the new folder ``dest`` (which must not exist), within ``limits``; returns ``dest``."""
    dest = Path(dest)
    if dest.exists():
        raise GerbilEvalError(f"{dest}: already exists; remove it or choose another output folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _free_bytes(dest.parent) < archive.stat().st_size:
        raise GerbilEvalError(f"{dest.parent}: less free disk space than the archive's own size "
                              f"({_mib(archive.stat().st_size)}); free some space first")
    max_bytes = limits.bytes_for(archive)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        count = total = 0
        with _tar_stream(archive) as tar:
            for member in tar:
                check_member(member, archive)
                count, total = count + 1, total + max(member.size, 0)
                _check_size(member, archive, count, total, limits, max_bytes, tmp)
                tar.extract(member, tmp, set_attrs=False, filter="data")
                tar.members.clear()  # a stream of 50,000 headers must not pile up in memory
        tmp.rename(dest)
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GerbilEvalError(f"{archive}: damaged or truncated archive ({exc}); download it again") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def find_adapter(root: Path) -> Path:
    """The folder under ``root`` holding ``adapter_config.json`` and the adapter weights."""
    candidates = sorted(p.parent for p in Path(root).rglob(ADAPTER_CONFIG))
    for folder in candidates:
        if any((folder / w).is_file() for w in ADAPTER_WEIGHTS):
            return folder
    if candidates:
        raise GerbilEvalError(f"{candidates[0]}: {ADAPTER_CONFIG} found but no {' or '.join(ADAPTER_WEIGHTS)} beside it")
    raise GerbilEvalError(f"{root}: no {ADAPTER_CONFIG} in the archive; was the merged model downloaded instead of the adapter?")
