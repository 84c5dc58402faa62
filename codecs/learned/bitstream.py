"""The learned codecs' byte format: an 18-byte header, then CompressAI's entropy-coded strings.

Header (little endian): magic b'MV', format version, channels, bit depth, rate point index
(one byte each after the magic), image height and width, latent z height and width (uint16
each), and the byte length of the y string (uint32); the z string fills the rest. Everything
`decode` needs is in these bytes, so bpp = 8 × len(bytes) / (H × W) counts the header too.
"""

from __future__ import annotations

import struct

MAGIC = b"MV"
VERSION = 1
_HEADER = struct.Struct("<2sBBBBHHHHI")  # magic, version, channels, bit depth, rate point, H, W, zH, zW, len(y)


def pack(channels: int, bit_depth: int, rate_point: int, shape: tuple[int, int], z_shape: tuple[int, int],
         y_string: bytes, z_string: bytes) -> bytes:
    header = _HEADER.pack(MAGIC, VERSION, channels, bit_depth, rate_point, shape[0], shape[1],
                          z_shape[0], z_shape[1], len(y_string))
    return header + y_string + z_string


def unpack(data: bytes) -> dict:
    if len(data) < _HEADER.size:
        raise ValueError(f"learned-codec stream of {len(data)} bytes is shorter than its {_HEADER.size}-byte header")
    magic, version, channels, bit_depth, rate_point, h, w, zh, zw, y_len = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not a learned-codec stream (magic {magic!r}, version {version})")
    body = data[_HEADER.size:]
    if len(body) < y_len:
        raise ValueError("learned-codec stream is truncated")
    return {"channels": channels, "bit_depth": bit_depth, "rate_point": rate_point, "shape": (h, w),
            "z_shape": (zh, zw), "y_string": body[:y_len], "z_string": body[y_len:]}
