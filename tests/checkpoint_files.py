"""Checkpoint files made by hand for the tests of what load refuses: the
members of a real checkpoint, changed, written back as a zip; .npy headers
that declare more than their data; zip members of many zeros."""

import functools
import io
import struct
import zipfile
import zlib

import numpy as np


def members_of(path):
    """{name: array} of an .npz file."""
    with np.load(path, allow_pickle=False) as f:
        return {name: f[name] for name in f.files}


def npy_bytes(array):
    """An array as an .npy file's bytes (object arrays pickled, as np.save does)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def huge_npy_header(shape=(2**40,), dtype="<f4"):
    """An .npy file that declares ``shape`` (2^40 float32: 4 TB) and holds 64 bytes."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + bytes(64)


def write_members(path, members, deflate=False, zeros=0):
    """Members (arrays, or an .npy file's bytes) as a zip; with ``zeros``, an
    extra deflated member ``zeros.npy`` of that many zero bytes (about 1000:1)."""
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, value in members.items():
            zf.writestr(f"{name}.npy", value if isinstance(value, bytes) else npy_bytes(value))
        if zeros:  # deflated once (a second or so for 300 MB), then copied in as it is
            data, crc, size = deflated_zeros(zeros)
            zf.writestr(zipfile.ZipInfo("zeros.npy"), data, zipfile.ZIP_STORED)
            at = zf.getinfo("zeros.npy").header_offset
    if zeros:
        _mark_deflated(path, at, crc, size)


@functools.lru_cache(maxsize=4)
def deflated_zeros(n):
    """(raw deflate stream, CRC-32, size) of an .npy file of ``n`` zero bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": (n,)}
    )
    header = buffer.getvalue()
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    pieces, crc, block = [packer.compress(header)], zlib.crc32(header), bytes(1 << 20)
    for start in range(0, n, len(block)):
        piece = block[: n - start]
        pieces.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
    pieces.append(packer.flush())
    return b"".join(pieces), crc, len(header) + n


def _mark_deflated(path, header_offset, crc, size):
    """Turn the stored member at ``header_offset`` (which holds a deflate
    stream) into a deflated one of ``size`` bytes: method, CRC and size, in
    its local header and its central directory entry."""
    data = bytearray(open(path, "rb").read())
    fields = struct.pack("<H", zipfile.ZIP_DEFLATED), struct.pack("<I", crc)
    data[header_offset + 8 : header_offset + 10] = fields[0]
    data[header_offset + 14 : header_offset + 18] = fields[1]
    data[header_offset + 22 : header_offset + 26] = struct.pack("<I", size)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        if int.from_bytes(data[at + 42 : at + 46], "little") == header_offset:
            data[at + 10 : at + 12] = fields[0]
            data[at + 16 : at + 20] = fields[1]
            data[at + 24 : at + 28] = struct.pack("<I", size)
        at = data.find(b"PK\x01\x02", at + 4)
    open(path, "wb").write(bytes(data))


def declare_size(path, member, size):
    """Make the zip's central directory declare ``size`` uncompressed bytes for ``member``."""
    data = bytearray(open(path, "rb").read())
    name, at = f"{member}.npy".encode(), data.find(b"PK\x01\x02")
    while at >= 0:
        length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + length] == name:
            data[at + 24 : at + 28] = size.to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    open(path, "wb").write(bytes(data))
