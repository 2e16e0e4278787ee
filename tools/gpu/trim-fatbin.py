#!/usr/bin/env python3
"""Blank every GPU code image in a CUDA library except those for one architecture.

A CUDA library carries its kernels in an ELF section, `.nv_fatbin`, as a run of fat-binary
containers; each container holds one image per target (a cubin for sm_75, sm_80, … and maybe
PTX). At load time the CUDA driver picks the image that matches the GPU. ONNX Runtime's CUDA
provider ships six architectures in 284 MB; a machine with one kind of GPU needs one.

This rewrites the section in place, keeping its size and every header, and fills the payload of
each image for another architecture (PTX included) with zero bytes. The file stays a valid ELF
with the same layout, and the zeros compress to almost nothing, so `xz` of the result is what
travels. The driver never reads the blanked images: it selects by the header's architecture,
which is left as it was.

Usage: trim-fatbin.py SRC ARCH DST   (ARCH as a number: 90 for sm_90, the H100/H200)
"""

import struct
import sys

FATBIN_MAGIC = 0xBA55ED50


def section(data: bytes, wanted: str) -> tuple[int, int]:
    """Offset and size of the named section of a little-endian 64-bit ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("not a little-endian 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    names_offset = header(shstrndx)[4]
    for i in range(shnum):
        name, _, _, _, offset, size, *_ = header(i)
        start = names_offset + name
        if data[start:data.index(b"\0", start)].decode() == wanted:
            return offset, size
    sys.exit(f"no {wanted} section")


def trim(data: bytearray, keep_arch: int) -> tuple[int, int, int]:
    """Blank the images for other architectures; returns (kept, blanked, bytes blanked)."""
    start, size = section(bytes(data), ".nv_fatbin")
    end = start + size
    pos = start
    kept = blanked = blanked_bytes = 0
    while pos + 16 <= end:
        magic, _version, header_size, fat_size = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # containers are 8-byte aligned; padding lies between some
            continue
        entry = pos + header_size
        container_end = entry + fat_size
        while entry < container_end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            arch, = struct.unpack_from("<I", data, entry + 28)
            body = entry + entry_header
            if kind == 2 and arch == keep_arch:
                kept += 1
            else:
                data[body:body + payload] = bytes(payload)
                blanked += 1
                blanked_bytes += payload
            entry = body + payload
        pos = container_end
    return kept, blanked, blanked_bytes


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, arch, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    data = bytearray(open(src, "rb").read())
    kept, blanked, nbytes = trim(data, arch)
    if kept == 0:
        sys.exit(f"no sm_{arch} image in {src}: nothing would run")
    open(dst, "wb").write(data)
    print(f"kept {kept} sm_{arch} images, blanked {blanked} others ({nbytes / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
