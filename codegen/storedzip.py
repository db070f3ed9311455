"""A zip archive of stored (not deflated) members, written in one pass with flat memory.

``zipfile.ZipFile`` keeps a ``ZipInfo`` object per member until it writes the central
directory at close, so a chunk of 100,000 QR images holds tens of MiB for the whole run
and its peak RSS grows with the chunk; it also seeks back over every member's header.
Here each member's central-directory record goes to a spill file beside the archive as
the member is written, and is copied in at :meth:`StoredZip.close`; memory stays the
same for any number of members. Members are stored: PNGs are compressed already.
ZIP64 records are written when the member count or an offset needs them, as
``zipfile`` does, so any reader (``zipfile``, ``unzip``, Windows Explorer) opens it.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

# 1980-01-01 00:00 in MS-DOS date/time, the zip epoch: no wall-clock time in the output.
_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1
_VERSION_MADE_BY = (3 << 8) | 45  # Unix, spec 4.5 (as zipfile writes it for ZIP64-capable archives)
_VERSION_NEEDED = 20
_VERSION_NEEDED_ZIP64 = 45
_UNIX_FILE_0644 = (0o100644 << 16) & 0xFFFFFFFF
_MAX_32 = 0xFFFFFFFF  # also the "see the ZIP64 record" marker in a 32-bit field
_MAX_16 = 0xFFFF
_ZIP64_FROM = _MAX_32  # offsets and sizes from here on need ZIP64 records (a test lowers it)

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_OFFSET_EXTRA = struct.Struct("<HHQ")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")


class StoredZip:
    """Write ``add(name, data)`` members to a new file at ``path``; :meth:`close` completes the archive."""

    def __init__(self, path: Path) -> None:
        self._out: BinaryIO = path.open("xb")
        # Closed by close() or abandon(); unnamed, so nothing is left even if the process dies.
        self._central = tempfile.TemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".cd")  # noqa: SIM115
        self._offset = 0
        self._count = 0
        self._central_size = 0

    def add(self, name: str, data: bytes) -> None:
        encoded = name.encode("ascii")
        crc = zlib.crc32(data)
        size = len(data)
        if size >= _MAX_32:
            raise ValueError(f"zip member {name} is too large for a stored member ({size} bytes)")
        header = _LOCAL.pack(
            0x04034B50, _VERSION_NEEDED, 0, 0, _DOS_TIME, _DOS_DATE, crc, size, size, len(encoded), 0
        )
        self._out.write(header + encoded + data)
        if self._offset >= _ZIP64_FROM:  # past 4 GiB the header's offset lives in a ZIP64 extra field
            extra = _ZIP64_OFFSET_EXTRA.pack(0x0001, 8, self._offset)
            offset, needed = _MAX_32, _VERSION_NEEDED_ZIP64
        else:
            extra, offset, needed = b"", self._offset, _VERSION_NEEDED
        record = _CENTRAL.pack(
            0x02014B50, _VERSION_MADE_BY, needed, 0, 0, _DOS_TIME, _DOS_DATE, crc, size, size,
            len(encoded), len(extra), 0, 0, 0, _UNIX_FILE_0644, offset,
        ) + encoded + extra
        self._central.write(record)
        self._central_size += len(record)
        self._offset += len(header) + len(encoded) + size
        self._count += 1

    def close(self) -> None:
        """Copy the central directory in, write the end records, close the file."""
        try:
            self._central.seek(0)
            shutil.copyfileobj(self._central, self._out, 1 << 20)
            start, size, count = self._offset, self._central_size, self._count
            if count > _MAX_16 or start >= _ZIP64_FROM or size >= _ZIP64_FROM:
                zip64_end_at = start + size
                self._out.write(
                    _ZIP64_END.pack(0x06064B50, 44, _VERSION_MADE_BY, _VERSION_NEEDED_ZIP64, 0, 0,
                                    count, count, size, start)
                    + _ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_end_at, 1)
                )
                count16 = _MAX_16 if count > _MAX_16 else count
                size32 = _MAX_32 if size >= _ZIP64_FROM else size
                start32 = _MAX_32 if start >= _ZIP64_FROM else start
            else:
                count16, size32, start32 = count, size, start
            self._out.write(_END.pack(0x06054B50, 0, 0, count16, count16, size32, start32, 0))
        finally:
            self._central.close()
            self._out.close()

    def abandon(self) -> None:
        """Close without completing (after an error; the caller removes the file)."""
        self._central.close()
        self._out.close()
