"""Safe extraction of downloaded checkpoint archives (pipeline/together/archive.py)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from gerbil_eval.errors import GerbilEvalError
from pipeline.together.archive import detect_format, find_adapter, safe_extract


def make_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def adapter_tar() -> bytes:
    return make_tar([file_member("out/ckpt/adapter_config.json", b"{}"),
                     file_member("out/ckpt/adapter_model.safetensors", b"weights"),
                     file_member("out/README.md", b"readme")])


@pytest.mark.parametrize("compress,fmt", [(zstandard.ZstdCompressor().compress, "zstd"), (gzip.compress, "gzip"),
                                          (lambda b: b, "tar")])
def test_format_comes_from_magic_bytes_not_the_file_name(tmp_path: Path, compress, fmt: str) -> None:
    archive = tmp_path / "model.tar.zst"  # the name lies for gzip and tar
    archive.write_bytes(compress(adapter_tar()))
    assert detect_format(archive) == fmt
    dest = safe_extract(archive, tmp_path / "out")
    assert find_adapter(dest) == dest / "out" / "ckpt"
    assert (dest / "out" / "ckpt" / "adapter_model.safetensors").read_bytes() == b"weights"


def _symlink() -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo("link")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info, None


def _device() -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    return info, None


@pytest.mark.parametrize("member,word", [
    (file_member("../escape.txt"), "'..'"),
    (file_member("a/../../escape.txt"), "'..'"),
    (file_member("/abs/path.txt"), "absolute"),
    (_symlink(), "link"),
    (_device(), "special file"),
])
def test_dangerous_members_are_refused_and_nothing_is_left(tmp_path: Path, member, word: str) -> None:
    archive = tmp_path / "evil.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(make_tar([file_member("ok.txt"), member])))
    with pytest.raises(GerbilEvalError, match=word):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escape.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["evil.tar.zst"]


def test_truncated_archive_is_an_error_with_nothing_left(tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor().compress(make_tar([file_member("big.bin", b"z" * 200_000)]))
    archive = tmp_path / "cut.tar.zst"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(GerbilEvalError, match="truncated"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_an_archive_names_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "download.tar.zst"
    junk.write_bytes(b"<html>error page</html>")
    with pytest.raises(GerbilEvalError, match="download.tar.zst: not a zstd, gzip or tar archive"):
        detect_format(junk)


def test_merged_model_instead_of_adapter_is_explained(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(GerbilEvalError, match="merged model"):
        find_adapter(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "adapter_config.json").write_text("{}")
    with pytest.raises(GerbilEvalError, match="no adapter_model.safetensors or adapter_model.bin"):
        find_adapter(tmp_path)
