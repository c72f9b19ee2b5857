"""Reading an .npz file that may come from anyone (a shared run, a downloaded
model) with bounded memory and no code run: only the members asked for are
read, each member's .npy header is checked against what the caller expects
before any of its data is read, and the data read in all may exceed the
file's own size only by EXPANSION (or up to FLOOR).

Every problem is a CharrnnError naming the member ("params: ..."); the
caller adds the file's path.  np.load is not used: it reads an .npy header
of any declared length, and allocates whatever shape a header declares.
"""

import io
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import CharrnnError

MAX_HEADER = 10_000  # bytes of an .npy header: numpy's own limit
# Data read from a file may exceed its size this many times: a deflated
# member expands, a stored one cannot.  A small file may still declare FLOOR.
EXPANSION = 4
FLOOR = 64 << 20
BLOCK = 1 << 20  # bytes read at a time
TEXT = "text"  # Archive.header's dtypes for a member that holds a string
COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# What a damaged zip member raises while it is read.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


@dataclass(frozen=True)
class Header:
    """An .npy member's header: what its data will be, and where it starts."""

    dtype: np.dtype
    shape: tuple
    offset: int  # bytes of magic, version and header before the data

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


class Archive:
    """The .npy members of an open .npz (zip) file, by name without ``.npy``."""

    def __init__(self, f):
        self.file_size = os.fstat(f.fileno()).st_size
        try:
            self.zip = zipfile.ZipFile(f)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
            raise CharrnnError(f"not a readable .npz file ({e})") from None
        self.members = {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy")}
        self.budget = max(EXPANSION * self.file_size, FLOOR)  # bytes of data left to read

    def __contains__(self, name):
        return name in self.members

    def header(self, name, dtypes, ndim):
        """The Header of member ``name``, refused unless its dtype is one of
        ``dtypes`` (or with TEXT: a unicode string) in native byte order, it
        has ``ndim`` dimensions and the zip declares exactly its bytes."""
        info = self._info(name)
        try:
            with self.zip.open(info) as member:
                header = _read_header(member)
        except CharrnnError as e:
            raise CharrnnError(f"{name}: {e}") from None
        except READ_ERRORS as e:
            raise CharrnnError(f"{name}: damaged ({e})") from None
        dtype, shape = header.dtype, header.shape
        if dtypes is TEXT:
            if not (dtype.kind == "U" and dtype.isnative):
                raise CharrnnError(f"{name}: holds {dtype.str}, not text")
        elif not (dtype.isnative and any(dtype == np.dtype(d) for d in dtypes)):
            wanted = " or ".join(str(np.dtype(d)) for d in dtypes)
            raise CharrnnError(f"{name}: holds {dtype.str}, not {wanted}")
        if len(shape) != ndim:
            raise CharrnnError(f"{name}: has shape {shape}, not {ndim} dimensions")
        if info.file_size != header.offset + header.nbytes:
            raise CharrnnError(
                f"{name}: the zip declares {info.file_size:,} bytes, its header "
                f"{header.offset + header.nbytes:,}"
            )
        return header

    def reserve(self, headers):
        """Refuse members (their Headers) whose data would exceed what is left
        of the budget in all, before any of them is read."""
        total = sum(header.nbytes for header in headers)
        if total > self.budget:
            raise CharrnnError(
                f"its arrays declare {total:,} bytes, more than a {self.file_size:,}-byte "
                f"file may ({EXPANSION} times its size, at least {FLOOR >> 20} MB)"
            )

    def read(self, name, header):
        """The data of member ``name`` as an array; its bytes count against the budget."""
        if header.nbytes > self.budget:
            raise CharrnnError(
                f"{name}: {header.nbytes:,} bytes of data, more than a "
                f"{self.file_size:,}-byte file may declare in all"
            )
        self.budget -= header.nbytes
        array = np.empty(header.shape, header.dtype)
        self._stream(name, header, memoryview(array.reshape(-1).view(np.uint8)))
        return array

    def all_finite(self, name, header):
        """Whether every value of the float member ``name`` is finite, read a
        block at a time and not kept."""
        block = np.empty(max(1, BLOCK // header.dtype.itemsize), header.dtype)
        finite = [True]

        def check(count):
            finite[0] = finite[0] and bool(np.isfinite(block[:count]).all())

        self._stream(name, header, memoryview(block.view(np.uint8)), check)
        return finite[0]

    def _stream(self, name, header, out, on_block=None):
        """Read the member's data into ``out``: all of it, or (with ``on_block``)
        a block at a time, calling ``on_block(items)`` after each."""
        done, total = 0, header.nbytes
        try:
            with self.zip.open(self._info(name)) as member:
                member.read(header.offset)
                while done < total:
                    n = min(total - done, len(out) if on_block else BLOCK)
                    _fill(member, out[:n] if on_block else out[done : done + n], name)
                    done += n
                    if on_block:
                        on_block(n // header.dtype.itemsize)
                member.read(1)  # at the end: the zip checks the member's CRC
        except READ_ERRORS as e:
            raise CharrnnError(f"{name}: damaged ({e})") from None

    def _info(self, name):
        info = self.members[name]
        if info.compress_type not in COMPRESSIONS:
            raise CharrnnError(f"{name}: compressed as zip method {info.compress_type}")
        if info.flag_bits & 0x1:
            raise CharrnnError(f"{name}: encrypted")
        return info


def _fill(member, view, name):
    """Read exactly len(view) bytes of the open member into ``view``."""
    filled = 0
    while filled < len(view):
        got = member.readinto(view[filled:])
        if not got:
            raise CharrnnError(f"{name}: truncated")
        filled += got


def _read_header(member):
    """The Header at the start of the open member: its length checked before
    the header is read, then parsed by numpy."""
    start = member.read(8)
    if len(start) < 8 or start[:6] != b"\x93NUMPY":
        raise CharrnnError("not an .npy array")
    version = (start[6], start[7])
    if version not in ((1, 0), (2, 0)):
        raise CharrnnError(f".npy format {version[0]}.{version[1]}, not 1.0 or 2.0")
    length_format = "<H" if version == (1, 0) else "<I"
    length_bytes = member.read(struct.calcsize(length_format))
    if len(length_bytes) < struct.calcsize(length_format):
        raise CharrnnError("truncated .npy header")
    (length,) = struct.unpack(length_format, length_bytes)
    if length > MAX_HEADER:
        raise CharrnnError(f".npy header of {length:,} bytes, more than {MAX_HEADER:,}")
    text = member.read(length)
    reader = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    try:
        shape, fortran_order, dtype = reader[version](io.BytesIO(length_bytes + text))
    except Exception as e:  # noqa: BLE001 - any parse failure of a stranger's header (literal_eval)
        raise CharrnnError(f"malformed .npy header ({type(e).__name__})") from None
    if any(d < 0 for d in shape):
        raise CharrnnError(f"negative shape {shape}")
    if fortran_order and len(shape) > 1:
        raise CharrnnError("stored in Fortran order")
    if dtype.hasobject:
        raise CharrnnError("holds Python objects (pickle), which charrnn never reads")
    return Header(dtype, tuple(shape), 8 + len(length_bytes) + length)
