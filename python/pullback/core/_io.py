"""Saving and loading arrays: ``save``, ``savez``, ``savez_compressed``, ``save_safetensors``,
``save_gguf`` and ``load``.

The .npy and .safetensors formats are read and written in C++ (``_core._save_npy`` ...), straight
between files and array buffers. Here: paths versus file-like objects, the format from the
extension, and the .npz container, a zip of .npy members written and read with Python's own
``zipfile`` (zlib ships with Python, not with every wheel toolchain).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import zipfile
from typing import Any, Dict, Optional, Tuple, Union

from pullback._core import (Device, DeviceType, Stream, _load_npy, _load_npy_bytes,
                            _load_safetensors, _load_safetensors_bytes, _npy_encode,
                            _safetensors_encode, _save_npy, _save_safetensors, array)

_FORMATS = ("npy", "npz", "safetensors", "gguf")
_GGUF = "GGUF files are not supported yet (they come with quantized arrays)."
# zipfile needs zip64 records for members over 2 GiB; below that the plain format is kept.
_ZIP64_FROM = 1 << 30


def _path_of(file: Any) -> Optional[str]:
    """``file`` as a str path, or None when it is not a path."""
    if isinstance(file, (str, bytes, os.PathLike)):
        path = os.fspath(file)
        return os.fsdecode(path) if isinstance(path, bytes) else path
    return None


def _file_type_error(op: str, file: Any, mode: str) -> TypeError:
    return TypeError(f"[{op}] file must be a path (str or pathlib.Path) or a file-like object "
                     f"opened for binary {mode}; got {type(file).__name__}.")


def _writer(op: str, file: Any) -> Any:
    if callable(getattr(file, "write", None)):
        return file
    raise _file_type_error(op, file, "writing")


def _with_extension(path: str, extension: str) -> str:
    return path if path.endswith("." + extension) else path + "." + extension


def _check_array(op: str, what: str, a: Any) -> None:
    if not isinstance(a, array):
        raise TypeError(f"[{op}] {what} must be an array; got {type(a).__name__}.")


_temp_names = itertools.count()


@contextlib.contextmanager
def _atomic_output(path: str):
    """A binary file object for a temporary name beside ``path``, renamed over ``path`` when the
    block succeeds and removed when it fails, so no half-written file is ever left at ``path``."""
    while True:
        temp = f"{path}.tmp-{os.getpid()}-{next(_temp_names)}-{os.urandom(4).hex()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


# ---- save ----

def save(file: Any, arr: array) -> None:
    """save(file: file | str | pathlib.Path, arr: array) -> None

    Save the array to a binary file in ``.npy`` format (``.npy`` is appended to a path that
    lacks it)."""
    _check_array("save", "arr", arr)
    path = _path_of(file)
    if path is not None:
        _save_npy(_with_extension(path, "npy"), arr)
        return
    out = _writer("save", file)
    header, payload = _npy_encode(arr)
    out.write(header)
    out.write(memoryview(payload))


def _savez(op: str, file: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any],
           compression: int) -> None:
    named: Dict[str, array] = {}
    for i, a in enumerate(args):
        _check_array(op, f"Positional argument {i}", a)
        named[f"arr_{i}"] = a
    for name, a in kwargs.items():
        if name in named:
            raise ValueError(f"[{op}] Cannot use un-named variables and keyword {name}.")
        _check_array(op, f"Keyword argument {name}", a)
        named[name] = a

    def write_members(target: Any) -> None:
        with zipfile.ZipFile(target, "w", compression=compression) as zf:
            for name, a in named.items():
                header, payload = _npy_encode(a)
                big = len(header) + payload.size >= _ZIP64_FROM
                with zf.open(name + ".npy", "w", force_zip64=big) as member:
                    member.write(header)
                    member.write(memoryview(payload))

    path = _path_of(file)
    if path is None:
        write_members(_writer(op, file))
        return
    with _atomic_output(_with_extension(path, "npz")) as f:
        write_members(f)


def savez(file: Any, *args: array, **kwargs: array) -> None:
    """savez(file: file | str | pathlib.Path, *args, **kwargs)

    Save several arrays to a binary file in uncompressed ``.npz`` format: positional arrays as
    ``arr_0``, ``arr_1`` ..., keyword arrays under their keyword."""
    _savez("savez", file, args, kwargs, zipfile.ZIP_STORED)


def savez_compressed(file: Any, *args: array, **kwargs: array) -> None:
    """savez_compressed(file: file | str | pathlib.Path, *args, **kwargs)

    Save several arrays to a binary file in compressed ``.npz`` format (see ``savez``)."""
    _savez("savez_compressed", file, args, kwargs, zipfile.ZIP_DEFLATED)


def save_safetensors(file: Any, arrays: Dict[str, array],
                     metadata: Optional[Dict[str, str]] = None) -> None:
    """save_safetensors(file: file | str | pathlib.Path, arrays: dict[str, array], metadata: dict[str, str] | None = None)

    Save array(s) to a binary file in ``.safetensors`` format, with an optional dictionary of
    string metadata."""
    path = _path_of(file)
    if path is not None:
        _save_safetensors(_with_extension(path, "safetensors"), arrays, metadata)
        return
    out = _writer("save_safetensors", file)
    head, payload = _safetensors_encode(arrays, metadata)
    out.write(head)
    for p in payload:
        out.write(memoryview(p))


def save_gguf(file: Any, arrays: Dict[str, array], metadata: Any = None) -> None:
    """save_gguf(file: file | str | pathlib.Path, arrays: dict[str, array], metadata: dict[str, array | str | list[str]])

    Not supported yet: raises ValueError."""
    raise ValueError(f"[save_gguf] {_GGUF}")


# ---- load ----

def _format_of(file: Any, path: Optional[str], format: Optional[str]) -> str:
    if format is not None:
        if not isinstance(format, str):
            raise TypeError(f"[load] format must be a str or None; got {type(format).__name__}.")
        fmt = format
    else:
        name = path if path is not None else getattr(file, "name", None)
        if not isinstance(name, str):
            raise ValueError("[load] Could not infer the file format: the file-like object has no "
                             "name; pass format='npy', 'npz' or 'safetensors'.")
        base = os.path.basename(name)
        if "." not in base:
            raise ValueError(f"[load] Could not infer the file format from the extension of "
                             f"'{name}'; pass format='npy', 'npz' or 'safetensors'.")
        fmt = base.rsplit(".", 1)[1]
    if fmt not in _FORMATS:
        raise ValueError(f"[load] Unknown file format '{fmt}'; pullback reads npy, npz and "
                         "safetensors.")
    if fmt == "gguf":
        raise ValueError(f"[load] {_GGUF}")
    return fmt


def _stored_member_span(f: Any, path: str, info: zipfile.ZipInfo) -> Tuple[int, int]:
    """Where an uncompressed member's bytes lie in the zip file: (offset, length). The local
    header before them has its own name and extra-field lengths, so it is read here."""
    f.seek(info.header_offset)
    local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ValueError(f"[load] '{path}' has a corrupt zip entry for '{info.filename}'.")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def _load_npz(file: Any, path: Optional[str]) -> Dict[str, array]:
    shown = path if path is not None else getattr(file, "name", "<file>")
    source = open(path, "rb") if path is not None else file  # errors here are OSErrors
    with contextlib.ExitStack() as stack:
        if path is not None:
            stack.enter_context(source)
        try:
            zf = stack.enter_context(zipfile.ZipFile(source))
        except MemoryError:
            raise
        except Exception as e:  # whatever zipfile makes of a corrupt archive
            raise ValueError(f"[load] '{shown}' is not a valid .npz (zip) file: {e}") from None
        out: Dict[str, array] = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            where = f"{shown}:{info.filename}"
            if path is not None and info.compress_type == zipfile.ZIP_STORED and \
                    not info.flag_bits & 0x1:
                # Read straight from the file into the array, not through a bytes copy.
                offset, length = _stored_member_span(source, path, info)
                out[key] = _load_npy(path, offset, length, where)
                continue
            try:
                data = zf.read(info)
            except MemoryError:
                raise
            except Exception as e:
                raise ValueError(f"[load] '{where}' is corrupt: {e}") from None
            out[key] = _load_npy_bytes(data, where)
    return out


def load(file: Any, /, format: Optional[str] = None, return_metadata: bool = False, *,
         stream: Any = None) -> Union[array, Dict[str, array], Tuple[Dict[str, array], Dict[str, Any]]]:
    """load(file: file | str | pathlib.Path, /, format: str | None = None, return_metadata: bool = False, *, stream: StreamOrDevice = None) -> array | dict[str, array] | tuple[dict[str, array], dict[str, Any]]

    Load array(s) from a binary file: a single array from ``.npy``, a dict of names to arrays
    from ``.npz`` or ``.safetensors``. The format comes from the extension unless ``format``
    names it. With ``return_metadata`` (``.safetensors`` only) the result is ``(arrays,
    metadata)``."""
    if stream is not None and not isinstance(stream, (Stream, Device, DeviceType)):
        raise TypeError(f"[load] stream must be a Stream, a Device or None; got "
                        f"{type(stream).__name__}.")
    path = _path_of(file)
    if path is None and not callable(getattr(file, "read", None)):
        raise _file_type_error("load", file, "reading")
    fmt = _format_of(file, path, format)
    if return_metadata and fmt != "safetensors":
        raise ValueError(f"[load] metadata not supported for format {fmt}.")
    if fmt == "npz":
        return _load_npz(file, path)
    if path is not None:
        if fmt == "npy":
            return _load_npy(path)
        arrays, metadata = _load_safetensors(path)
    else:
        data = file.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise _file_type_error("load", file, "reading")
        name = getattr(file, "name", "<file>")
        name = name if isinstance(name, str) else "<file>"
        if fmt == "npy":
            return _load_npy_bytes(data, name)
        arrays, metadata = _load_safetensors_bytes(data, name)
    return (arrays, metadata) if return_metadata else arrays
