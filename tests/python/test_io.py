"""save / load: .npy, .npz and .safetensors round trips, interop with NumPy and the safetensors
package both ways, every dtype and layout, errors on bad input, atomic writes."""

import io
import os
import pathlib
import random
import subprocess
import sys
import textwrap
import zipfile

import ml_dtypes
import numpy as np
import pytest

import pullback.core as mx
from helpers import DTYPE_NAMES, dt

safetensors_numpy = pytest.importorskip("safetensors.numpy")
from safetensors import safe_open  # noqa: E402

NP_OF = {"bool_": np.bool_, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
         "uint64": np.uint64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
         "int64": np.int64, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16,
         "float32": np.float32, "float64": np.float64, "complex64": np.complex64}


NAME_OF = {np.dtype(v): k for k, v in NP_OF.items()}


def arr(v):
    """v as a pullback array of the same dtype (float64 included: mx.array alone makes it
    float32, as MLX does)."""
    return mx.array(v, dtype=dt(NAME_OF[np.asarray(v).dtype]))


def sample(name, shape, seed=0):
    """NumPy values of dtype `name` covering its range (negative, large, fractional)."""
    r = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if name == "bool_":
        v = r.integers(0, 2, n).astype(np.bool_)
    elif name == "complex64":
        v = (r.standard_normal(n) + 1j * r.standard_normal(n)).astype(np.complex64)
    elif name in ("float16", "bfloat16", "float32", "float64"):
        v = (r.standard_normal(n) * 100).astype(NP_OF[name])
    else:
        info = np.iinfo(NP_OF[name])
        v = r.integers(info.min, info.max, n, dtype=NP_OF[name], endpoint=True)
    return v.reshape(shape)


def bits(x):
    """The bytes of an array in C order, for exact comparisons (NaN included)."""
    x = np.ascontiguousarray(np.asarray(x))
    return x.dtype.itemsize, x.shape, x.tobytes()


def same(out, want):
    out_np = np.array(out)
    assert out_np.shape == want.shape
    assert out_np.dtype == want.dtype, (out_np.dtype, want.dtype)
    assert bits(out_np) == bits(want)


# Layouts every writer must store in logical order.
LAYOUTS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.T,
    "sliced": lambda a: a[1:, ::2],
    "reversed": lambda a: a[::-1],
    "broadcast": lambda a: mx.broadcast_to(a[:1], a.shape),
}


def layout_cases():
    base = sample("float32", (4, 6))
    for name, f in LAYOUTS.items():
        yield name, f(arr(base)), np.ascontiguousarray(
            {"contiguous": base, "transposed": base.T, "sliced": base[1:, ::2],
             "reversed": base[::-1], "broadcast": np.broadcast_to(base[:1], base.shape)}[name])


def no_leftovers(directory):
    assert not [f for f in os.listdir(directory) if ".tmp-" in f], os.listdir(directory)


# ---------------------------------------------------------------------------------------------
# .npy

@pytest.mark.parametrize("name", DTYPE_NAMES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (3, 4), (2, 3, 4)])
def test_npy_round_trip_and_numpy_reads_it(tmp_path, name, shape):
    want = sample(name, shape)
    a = arr(want)
    assert a.dtype == dt(name)
    path = tmp_path / "x.npy"
    mx.save(path, a)
    got = np.load(path)
    if name == "bfloat16":  # stored as MLX stores it: two-byte voids holding the bits
        assert got.dtype == np.dtype("V2")
        got = got.view(ml_dtypes.bfloat16)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert bits(got) == bits(want)
    back = mx.load(str(path))
    assert back.dtype == dt(name)
    same(back, want)
    no_leftovers(tmp_path)


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_npy_written_by_numpy_loads(tmp_path, name):
    want = sample(name, (3, 5), seed=1)
    for order, arr in (("C", want), ("F", np.asfortranarray(want)),
                       ("view", want[:, ::-2])):
        path = tmp_path / f"{order}.npy"
        np.save(path, arr)
        same(mx.load(path), np.ascontiguousarray(arr))


@pytest.mark.parametrize("name", [n for n in DTYPE_NAMES if n not in ("bool_", "uint8", "int8",
                                                                       "bfloat16")])
def test_npy_big_endian_is_converted(tmp_path, name):
    want = sample(name, (2, 3), seed=2)
    path = tmp_path / "be.npy"
    np.save(path, want.astype(want.dtype.newbyteorder(">")))
    assert b"'>" in path.read_bytes()[:128]
    same(mx.load(path), want)
    np.save(path, np.asfortranarray(want.astype(want.dtype.newbyteorder(">"))))
    same(mx.load(path), want)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_npy_non_contiguous_written_in_logical_order(tmp_path, layout):
    for name, a, want in layout_cases():
        if name != layout:
            continue
        mx.save(tmp_path / "v.npy", a)
        assert bits(np.load(tmp_path / "v.npy")) == bits(want)
        same(mx.load(tmp_path / "v.npy"), want)


def test_npy_transposed_is_written_fortran_order_without_copy(tmp_path):
    base = sample("float64", (3, 4))
    mx.save(tmp_path / "t.npy", arr(base).T)
    header = (tmp_path / "t.npy").read_bytes()[:128]
    assert b"'fortran_order': True" in header
    got = np.load(tmp_path / "t.npy")
    assert got.flags.f_contiguous and bits(got) == bits(base.T)
    back = mx.load(tmp_path / "t.npy")
    same(back, np.ascontiguousarray(base.T))
    # the Fortran-ordered result behaves as any array in later ops
    np.testing.assert_array_equal(np.array(back + 1), base.T + 1)
    np.testing.assert_array_equal(np.array(back.reshape(-1)), base.T.reshape(-1))


def test_npy_header_is_aligned_and_versions_load(tmp_path):
    import numpy.lib.format as fmt
    mx.save(tmp_path / "a.npy", mx.ones((2, 3)))
    data = (tmp_path / "a.npy").read_bytes()
    header_len = int.from_bytes(data[8:10], "little")
    assert (10 + header_len) % 64 == 0 and data[10 + header_len - 1:10 + header_len] == b"\n"
    want = sample("int32", (4,))
    for version in [(1, 0), (2, 0), (3, 0)]:
        with open(tmp_path / "v.npy", "wb") as f:
            fmt.write_array(f, want, version=version)
        same(mx.load(tmp_path / "v.npy"), want)


def test_npy_bfloat16_matches_mlx(tmp_path):
    mlx = pytest.importorskip("mlx.core")
    values = [1.5, -2.0, 3.25, float("inf")]
    mx.save(tmp_path / "ours.npy", mx.array(values, dtype=mx.bfloat16))
    theirs = mlx.load(str(tmp_path / "ours.npy"))
    assert theirs.dtype == mlx.bfloat16 and theirs.tolist() == values
    mlx.save(str(tmp_path / "mlx.npy"), mlx.array(values, dtype=mlx.bfloat16))
    back = mx.load(tmp_path / "mlx.npy")
    assert back.dtype == mx.bfloat16 and back.tolist() == values


def test_npy_bfloat16_layout(tmp_path):
    # MLX (0.32.4) and ml_dtypes write bfloat16 as two-byte voids ('<V2') holding the upper
    # half of the float32 bits; the mlx round trip is checked in test_npy_bfloat16_matches_mlx.
    values = [1.5, -2.0, 3.25, float("inf")]
    mx.save(tmp_path / "ours.npy", mx.array(values, dtype=mx.bfloat16))
    raw = np.load(tmp_path / "ours.npy")
    assert raw.dtype == np.dtype("V2") and raw.shape == (4,)
    want = (np.array(values, np.float32).view(np.uint32) >> 16).astype("<u2")
    np.testing.assert_array_equal(raw.view("<u2"), want)
    assert np.array(raw.view("<u2")).view(ml_dtypes.bfloat16).astype(np.float32).tolist() == values
    # ml_dtypes' bfloat16 NumPy arrays are saved the same way, and load back.
    np.save(tmp_path / "ml.npy", np.array(values, dtype=ml_dtypes.bfloat16))
    back = mx.load(tmp_path / "ml.npy")
    assert back.dtype == mx.bfloat16 and back.tolist() == values


def test_save_appends_extension_and_takes_paths(tmp_path):
    a = mx.arange(3)
    mx.save(str(tmp_path / "plain"), a)
    mx.save(tmp_path / "other.txt", a)
    mx.save_safetensors(str(tmp_path / "st"), {"a": a})
    mx.savez(tmp_path / "z", a)
    mx.savez_compressed(str(tmp_path / "zc"), a)
    assert sorted(os.listdir(tmp_path)) == ["other.txt.npy", "plain.npy", "st.safetensors",
                                            "z.npz", "zc.npz"]
    assert mx.load(tmp_path / "plain.npy").tolist() == [0, 1, 2]
    assert mx.load(os.fsencode(tmp_path / "plain.npy")).tolist() == [0, 1, 2]


def test_file_like_objects(tmp_path):
    a = arr(sample("float32", (3, 2)))
    for saver, fmt, check in [
            (lambda f: mx.save(f, a.T), "npy", lambda r: same(r, np.array(a).T.copy())),
            (lambda f: mx.savez(f, a, y=a), "npz", lambda r: same(r["y"], np.array(a))),
            (lambda f: mx.savez_compressed(f, a), "npz", lambda r: same(r["arr_0"], np.array(a))),
            (lambda f: mx.save_safetensors(f, {"w": a}, {"m": "1"}), "safetensors",
             lambda r: same(r["w"], np.array(a)))]:
        buf = io.BytesIO()
        saver(buf)
        buf.seek(0)
        check(mx.load(buf, format=fmt))
        # a real file object: the format comes from its name
        path = tmp_path / f"f.{fmt}"
        with open(path, "wb") as f:
            saver(f)
        with open(path, "rb") as f:
            check(mx.load(f))
        # what was written to the buffer is what the path writer writes
        if fmt != "npz":
            assert buf.getvalue() == path.read_bytes()
    buf = io.BytesIO()
    mx.save(buf, a)
    buf.seek(0)
    with pytest.raises(ValueError, match=r"\[load\].*format"):
        mx.load(buf)
    buf.seek(0)
    np.testing.assert_array_equal(np.load(buf), np.array(a))


# ---------------------------------------------------------------------------------------------
# .npz

def test_savez_round_trip_and_numpy_reads_it(tmp_path):
    arrays = {n: arr(sample(n, (2, 3), seed=i)) for i, n in enumerate(DTYPE_NAMES)}
    first, second = arr(sample("int16", (4,))), arr(sample("float64", ()))
    for saver in (mx.savez, mx.savez_compressed):
        path = tmp_path / f"{saver.__name__}.npz"
        saver(path, first, second, **arrays)
        with zipfile.ZipFile(path) as zf:
            kinds = {i.compress_type for i in zf.infolist()}
        assert kinds == {zipfile.ZIP_STORED if saver is mx.savez else zipfile.ZIP_DEFLATED}
        with np.load(path) as z:
            assert sorted(z.files) == sorted(["arr_0", "arr_1", *arrays])
            same(arr(z["arr_0"]), np.array(first))
            for n, a in arrays.items():
                got = z[n].view(ml_dtypes.bfloat16) if n == "bfloat16" else z[n]
                assert bits(got) == bits(np.array(a))
        back = mx.load(path)
        assert list(back) == ["arr_0", "arr_1", *arrays]
        same(back["arr_1"], np.array(second))
        for n, a in arrays.items():
            same(back[n], np.array(a))
    no_leftovers(tmp_path)


def test_npz_written_by_numpy_loads(tmp_path):
    x, y = sample("float32", (3, 4)), np.asfortranarray(sample("int64", (2, 5)))
    empty = np.zeros((0, 3), np.float16)
    np.savez(tmp_path / "n.npz", x, y=y, e=empty)
    np.savez_compressed(tmp_path / "c.npz", x, y=y, e=empty)
    for f in ("n.npz", "c.npz"):
        got = mx.load(tmp_path / f)
        same(got["arr_0"], x)
        same(got["y"], np.ascontiguousarray(y))
        same(got["e"], empty)


def test_npz_zip64_and_extra_fields(tmp_path):
    # Members with zip64 extra fields: the reader finds the payload past the local header.
    path = tmp_path / "z64.npz"
    want = sample("float32", (5, 7))
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("w.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, want)
        zf.writestr("notes.txt", b"not an array")  # names without .npy keep their name
    with pytest.raises(RuntimeError, match=r"z64\.npz:notes\.txt"):
        mx.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("w.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, want)
    same(mx.load(path)["w"], want)


def test_savez_errors(tmp_path):
    a = mx.ones(2)
    with pytest.raises(ValueError, match=r"\[savez\].*arr_0"):
        mx.savez(tmp_path / "e.npz", a, arr_0=a)
    with pytest.raises(TypeError, match=r"\[savez\].*array"):
        mx.savez(tmp_path / "e.npz", a, np.ones(2))
    with pytest.raises(TypeError, match=r"\[savez_compressed\].*array"):
        mx.savez_compressed(tmp_path / "e.npz", w=[1, 2])
    with pytest.raises(TypeError, match=r"\[savez\].*file"):
        mx.savez(3, a)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="metadata not supported"):
        mx.savez(tmp_path / "m.npz", a)
        mx.load(tmp_path / "m.npz", return_metadata=True)


def test_savez_empty(tmp_path):
    mx.savez(tmp_path / "none.npz")
    assert mx.load(tmp_path / "none.npz") == {}
    assert len(np.load(tmp_path / "none.npz").files) == 0


# ---------------------------------------------------------------------------------------------
# .safetensors

def test_safetensors_every_dtype_both_ways(tmp_path):
    arrays = {n: sample(n, shape, seed=i) for i, (n, shape) in enumerate(
        (n, s) for n in DTYPE_NAMES for s in [(2, 3)])}
    arrays["scalar"] = np.array(2.5, np.float32)
    arrays["empty"] = np.zeros((0, 4), np.int32)
    ours = {k: arr(v) for k, v in arrays.items()}
    path = tmp_path / "ours.safetensors"
    mx.save_safetensors(path, ours, {"format": "pt", "note": "ünïcödé \"quoted\"\n\t\\"})
    theirs = safetensors_numpy.load_file(path)
    assert set(theirs) == set(arrays)
    for k, v in arrays.items():
        assert theirs[k].dtype == v.dtype and bits(theirs[k]) == bits(v), k
    with safe_open(path, framework="numpy") as f:
        assert f.metadata() == {"format": "pt", "note": "ünïcödé \"quoted\"\n\t\\"}
    back, meta = mx.load(path, return_metadata=True)
    assert meta == {"format": "pt", "note": "ünïcödé \"quoted\"\n\t\\"}
    assert list(back) == list(arrays)
    for k, v in arrays.items():
        same(back[k], v)
    # and the other way round
    safetensors_numpy.save_file(arrays, tmp_path / "theirs.safetensors", metadata={"k": "v"})
    back, meta = mx.load(tmp_path / "theirs.safetensors", return_metadata=True)
    assert meta == {"k": "v"}
    for k, v in arrays.items():
        same(back[k], v)
    no_leftovers(tmp_path)


def test_safetensors_layouts_names_and_alignment(tmp_path):
    named = {f"{name}/ключ \"{i}\"": a for i, (name, a, _) in enumerate(layout_cases())}
    named["bytes"] = arr(sample("uint8", (3,)))
    named["wide"] = arr(sample("float64", (2,)))
    path = tmp_path / "l.safetensors"
    mx.save_safetensors(path, named)
    theirs = safetensors_numpy.load_file(path)
    wants = {f"{name}/ключ \"{i}\"": w for i, (name, _, w) in enumerate(layout_cases())}
    for k, w in wants.items():
        assert bits(theirs[k]) == bits(w)
        same(mx.load(path)[k], w)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0
    import json
    header = json.loads(data[8:8 + n])
    for k, entry in header.items():  # every tensor starts at a multiple of its element size
        size = {"F64": 8, "F32": 4, "U8": 1}[entry["dtype"]]
        assert entry["data_offsets"][0] % size == 0, k
    _, meta = mx.load(path, return_metadata=True)
    assert meta == {}


def test_safetensors_argument_errors(tmp_path):
    a = mx.ones(2)
    path = tmp_path / "e.safetensors"
    with pytest.raises(ValueError, match=r"\[save_safetensors\] Metadata"):
        mx.save_safetensors(path, {"a": a}, {"k": 3})
    with pytest.raises(ValueError, match=r"\[save_safetensors\] Metadata"):
        mx.save_safetensors(path, {"a": a}, ["k"])
    with pytest.raises(TypeError, match=r"\[save_safetensors\].*str"):
        mx.save_safetensors(path, {3: a})
    with pytest.raises(TypeError, match=r"\[save_safetensors\].*must be an array"):
        mx.save_safetensors(path, {"a": np.ones(2)})
    with pytest.raises(TypeError, match=r"\[save_safetensors\].*dict"):
        mx.save_safetensors(path, [a])
    with pytest.raises(ValueError, match="__metadata__"):
        mx.save_safetensors(path, {"__metadata__": a})
    assert os.listdir(tmp_path) == []
    mx.save_safetensors(path, {})
    assert mx.load(path, return_metadata=True) == ({}, {})
    assert safetensors_numpy.load_file(path) == {}


# ---------------------------------------------------------------------------------------------
# GGUF, formats, arguments

def test_gguf_is_not_supported(tmp_path):
    with pytest.raises(ValueError, match=r"\[save_gguf\].*not supported"):
        mx.save_gguf(tmp_path / "m.gguf", {"a": mx.ones(2)}, {})
    (tmp_path / "m.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(ValueError, match=r"\[load\].*not supported"):
        mx.load(tmp_path / "m.gguf")
    with pytest.raises(ValueError, match=r"\[load\].*not supported"):
        mx.load(tmp_path / "m.gguf", format="gguf")
    assert os.listdir(tmp_path) == ["m.gguf"]


def test_format_argument(tmp_path):
    a = mx.arange(4)
    mx.save(tmp_path / "x.npy", a)
    os.rename(tmp_path / "x.npy", tmp_path / "x.bin")
    assert mx.load(tmp_path / "x.bin", format="npy").tolist() == [0, 1, 2, 3]
    mx.save_safetensors(tmp_path / "s.safetensors", {"a": a})
    os.rename(tmp_path / "s.safetensors", tmp_path / "noext")
    assert mx.load(tmp_path / "noext", format="safetensors")["a"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"\[load\] Unknown file format 'bin'"):
        mx.load(tmp_path / "x.bin")
    with pytest.raises(ValueError, match=r"\[load\] Unknown file format 'NPY'"):
        mx.load(tmp_path / "x.bin", format="NPY")
    with pytest.raises(ValueError, match=r"\[load\] Could not infer.*noext"):
        mx.load(tmp_path / "noext")
    with pytest.raises(TypeError, match=r"\[load\] format"):
        mx.load(tmp_path / "x.bin", format=3)
    with pytest.raises(ValueError, match=r"metadata not supported for format npy"):
        mx.load(tmp_path / "x.bin", format="npy", return_metadata=True)
    with pytest.raises(TypeError, match=r"\[load\] file"):
        mx.load(3)
    with pytest.raises(TypeError, match=r"\[load\] stream"):
        mx.load(tmp_path / "x.bin", format="npy", stream=3)
    assert mx.load(tmp_path / "x.bin", format="npy", stream=mx.cpu).tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError, match=r"\[save\] arr must be an array"):
        mx.save(tmp_path / "y.npy", np.ones(2))
    with pytest.raises(TypeError, match=r"\[save\] file"):
        mx.save(None, a)


def test_missing_and_unwritable_files(tmp_path):
    for name in ("gone.npy", "gone.safetensors"):
        with pytest.raises(FileNotFoundError, match=r"\[load\].*" + name.replace(".", r"\.")) as e:
            mx.load(tmp_path / name)
        assert e.value.errno == 2
    with pytest.raises(FileNotFoundError):
        mx.load(tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match=r"\[save\].*nodir"):
        mx.save(tmp_path / "nodir" / "a.npy", mx.ones(2))
    with pytest.raises(FileNotFoundError, match=r"\[save_safetensors\].*nodir"):
        mx.save_safetensors(tmp_path / "nodir" / "a", {"a": mx.ones(2)})
    with pytest.raises(FileNotFoundError):
        mx.savez(tmp_path / "nodir" / "a", mx.ones(2))
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(IsADirectoryError, match=r"\[load\].*d\.npy"):
        mx.load(tmp_path / "d.npy")
    with pytest.raises(IsADirectoryError, match=r"\[save\].*d\.npy"):
        mx.save(tmp_path / "d.npy", mx.ones(2))
    no_leftovers(tmp_path)


# ---------------------------------------------------------------------------------------------
# Corrupt and truncated files

def npy_bytes(header_dict, payload=b"\x00" * 64, version=b"\x01\x00"):
    h = header_dict.encode("latin1")
    h += b" " * ((-(10 + len(h) + 1)) % 64) + b"\n"
    return b"\x93NUMPY" + version + len(h).to_bytes(2, "little") + h + payload


@pytest.mark.parametrize("content,error,pattern", [
    (b"", RuntimeError, "truncated"),
    (b"hello world, not numpy", RuntimeError, "not a .npy file"),
    (b"\x93NUMPY\x09\x00\x10\x00", RuntimeError, "version 9"),
    (b"\x93NUMPY\x01\x00\xff\xff{", RuntimeError, "truncated"),
    (b"\x93NUMPY\x02\x00\xff\xff\xff\x7f", RuntimeError, "header of"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }"), RuntimeError,
     "truncated.*400 bytes"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2**40,), }"), RuntimeError,
     "malformed 'shape'"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
               "99999999999), }"), RuntimeError, "too large"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), RuntimeError,
     "malformed 'shape'"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }"), RuntimeError,
     "fortran_order"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, }"), RuntimeError, "without"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"), RuntimeError,
     "unknown key"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)"), RuntimeError,
     "malformed header"),
    (npy_bytes("{'descr': '<f4"), RuntimeError, "malformed header"),
    (npy_bytes("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }"), ValueError,
     "dtype '<c16'"),
    (npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), ValueError,
     "dtype '|O'"),
    (npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), ValueError,
     "structured"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 65 + "), }"),
     ValueError, "more than 64"),
])
def test_corrupt_npy(tmp_path, content, error, pattern):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(error, match=r"\[load\].*bad\.npy.*" + pattern.replace("(", r"\(")):
        mx.load(path)
    with pytest.raises(error, match=r"\[load\]"):
        mx.load(io.BytesIO(content), format="npy")


def st_bytes(header, payload=b""):
    h = header.encode()
    return len(h).to_bytes(8, "little") + h + payload


@pytest.mark.parametrize("content,error,pattern", [
    (b"\x05\x00", RuntimeError, "truncated"),
    (b"\xff\x00\x00\x00\x00\x00\x00\x00{}", RuntimeError, "claims a JSON header"),
    (st_bytes("{abc}"), RuntimeError, "malformed JSON"),
    (st_bytes("[1, 2]"), RuntimeError, "not an object"),
    (st_bytes('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', b"\0" * 8),
     RuntimeError, "truncated"),
    (st_bytes('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}', b"\0" * 16),
     RuntimeError, "do not span"),
    (st_bytes('{"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}', b"\0" * 16),
     RuntimeError, "shape"),
    (st_bytes('{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 16]}}', b"\0" * 16),
     RuntimeError, "shape"),
    (st_bytes('{"a": {"dtype": "F32", "shape": [4]}}', b"\0" * 16), RuntimeError, "data_offsets"),
    (st_bytes('{"a": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}', b"\0" * 4),
     ValueError, "F8_E4M3"),
    (st_bytes('{"a": 1, "a": 2}'), RuntimeError, "duplicate"),
    (st_bytes('{"__metadata__": {"k": 1}}'), RuntimeError, "metadata"),
    (st_bytes('{"__metadata__": [1]}'), RuntimeError, "metadata"),
    (st_bytes('{"a": "\\ud800"}'), RuntimeError, "surrogate"),
    (st_bytes("[" * 100000 + "]" * 100000), RuntimeError, "too deeply"),
    (st_bytes('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 99999999999999999999]}}'),
     RuntimeError, "data_offsets"),
])
def test_corrupt_safetensors(tmp_path, content, error, pattern):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(error, match=r"\[load\].*bad\.safetensors.*" + pattern):
        mx.load(path)


def test_invalid_utf8_in_safetensors_header(tmp_path):
    path = tmp_path / "u.safetensors"
    path.write_bytes(len(b'{"\xc3(": null}').to_bytes(8, "little") + b'{"\xc3(": null}')
    with pytest.raises(RuntimeError, match="invalid UTF-8"):
        mx.load(path)


def test_corrupt_npz(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"\[load\].*bad\.npz.*not a valid"):
        mx.load(tmp_path / "bad.npz")
    mx.savez(tmp_path / "t.npz", x=mx.arange(1000))
    data = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"\[load\].*t\.npz"):
        mx.load(tmp_path / "t.npz")


@pytest.mark.parametrize("fmt", ["npy", "safetensors", "npz"])
def test_truncations_and_bit_flips_never_crash(tmp_path, fmt):
    """Every prefix and many single-byte corruptions of a valid file: each loads or raises a
    clean Python error (a crash here would take the test process down)."""
    a = arr(sample("float32", (3, 5)))
    path = tmp_path / f"ok.{fmt}"
    {"npy": lambda: mx.save(path, a), "npz": lambda: mx.savez(path, a, b=a),
     "safetensors": lambda: mx.save_safetensors(path, {"a": a}, {"m": "v"})}[fmt]()
    data = path.read_bytes()
    rng = random.Random(7)
    variants = [data[:n] for n in range(0, len(data), 3)]
    for _ in range(300):
        b = bytearray(data)
        i = rng.randrange(min(len(b), 200))
        b[i] = rng.randrange(256)
        variants.append(bytes(b))
    bad = tmp_path / f"bad.{fmt}"
    for v in variants:
        bad.write_bytes(v)
        for source in (bad, io.BytesIO(v)):
            try:
                out = mx.load(source, format=fmt)
                mx.eval(out if isinstance(out, mx.array) else list(out.values()))
            except (RuntimeError, ValueError, OSError) as e:
                assert "std::" not in str(e) and str(e).startswith("[load]"), e


# ---------------------------------------------------------------------------------------------
# Atomic writes

def test_failed_save_leaves_earlier_file(tmp_path):
    path = tmp_path / "keep.npz"
    mx.savez(path, mx.ones(3))
    before = path.read_bytes()
    # the second member fails while being computed (a start index out of range, found only at
    # evaluation), after the first member was written
    failing = mx.slice(mx.arange(4), mx.array([9]), [0], [2])
    with pytest.raises(IndexError, match="does not fit"):
        mx.savez(path, mx.zeros(1000), failing)
    assert path.read_bytes() == before
    no_leftovers(tmp_path)


WRITE_FAILS = textwrap.dedent("""
    import resource, signal, sys
    import pullback.core as mx
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Writes past 64 KiB fail with EFBIG: the save dies midway through its payload.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
    big = mx.ones((100000,))
    path, fmt = sys.argv[1], sys.argv[2]
    try:
        if fmt == "npy":
            mx.save(path, big)
        elif fmt == "safetensors":
            mx.save_safetensors(path, {"a": big})
        else:
            mx.savez(path, big)
    except OSError as e:
        print("OSError", e)
""")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics")
@pytest.mark.parametrize("fmt", ["npy", "safetensors", "npz"])
def test_write_failing_midway_is_not_half_written(tmp_path, fmt):
    path = tmp_path / f"keep.{fmt}"
    path.write_bytes(b"earlier contents")
    script = tmp_path / "fail.py"
    script.write_text(WRITE_FAILS)
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, str(script), str(path), fmt], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "OSError" in proc.stdout and "File too large" in proc.stdout, proc.stdout
    assert path.read_bytes() == b"earlier contents"
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, "fail.py"])


def test_saves_replace_existing_files(tmp_path):
    path = tmp_path / "r.npy"
    mx.save(path, mx.ones(100))
    mx.save(path, mx.zeros(2))
    assert mx.load(path).tolist() == [0, 0]
    mode = os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    no_leftovers(tmp_path)


# ---------------------------------------------------------------------------------------------
# Hostile arguments (the crash fuzz in test_fuzz.py leaves the savers out: they write files)

HOSTILE = [None, "x", 1.5, 2**70, -1, [[1], [2, 3]], {}, object(), float("nan"), [1] * 70, (),
           b"", np.ones((2, 2), np.int8), lambda *a: None, {"a": 1}, {1: 2}, {"a": np.ones(2)}]


@pytest.mark.parametrize("fn", ["save", "savez", "savez_compressed", "save_safetensors",
                                "save_gguf", "load"])
def test_hostile_arguments_raise_python_errors(tmp_path, monkeypatch, fn):
    monkeypatch.chdir(tmp_path)
    x = mx.arange(6.0).reshape(2, 3)
    f = getattr(mx, fn)
    base = {"save": ["out.npy", x], "savez": ["out.npz", x], "savez_compressed": ["out.npz", x],
            "save_safetensors": ["out.safetensors", {"x": x}],
            "save_gguf": ["out.gguf", {"x": x}, {}], "load": ["out.npy"]}[fn]
    mx.save("out.npy", x)
    for i in range(len(base)):
        for h in HOSTILE:
            args = list(base)
            args[i] = h
            try:
                f(*args)
            except (TypeError, ValueError, OSError, RuntimeError) as e:
                assert "std::" not in str(e) and "bad_cast" not in str(e), (fn, i, h, e)
    for kw in ("format", "return_metadata", "stream", "metadata"):
        for h in HOSTILE:
            try:
                f(*base, **{kw: h})
            except (TypeError, ValueError, OSError, RuntimeError) as e:
                assert "std::" not in str(e), (fn, kw, h, e)
