#!/usr/bin/env python3
"""Carve the raw kernel BTF blob out of a (possibly compressed) kernel image.

usage: extract_btf.py VMLINUZ OUT.btf
"""
import gzip, struct, sys, zlib

def decompress(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    # EFI zboot images (arm64 since 6.x): gzip payload somewhere inside
    i = data.find(b"\x1f\x8b\x08")
    if i >= 0:
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i:])
        except zlib.error:
            pass  # a plain Image (Debian's arm64 vmlinuz) holding those bytes by chance
    return data

def main():
    img = decompress(open(sys.argv[1], "rb").read())
    best = None
    pos = 0
    while True:
        i = img.find(b"\x9f\xeb\x01\x00", pos)
        if i < 0:
            break
        pos = i + 1
        hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", img, i + 4)
        if hdr_len != 24 or type_off != 0 or str_off != type_len:
            continue
        total = hdr_len + str_off + str_len
        if best is None or total > best[1]:
            best = (i, total)
    if best is None:
        sys.exit("no BTF found in " + sys.argv[1])
    open(sys.argv[2], "wb").write(img[best[0]:best[0] + best[1]])

main()
