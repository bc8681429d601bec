"""Damaged, truncated and foreign input: enec.CorruptDataError or the original
bytes, never anything else (FORMAT.md section 6)."""

import io
import struct

import numpy as np
import pytest

import enec
from costmodel import (BLOCK, KINDS, coded_sizes, crc32c, exponents, fix_header_crc, kind_of,
                       parse_header, ref_search, words_of)
from testdata import assert_bitexact, make, rng_for

CorruptDataError = enec.CorruptDataError


def P(b, n, m, L):
    return enec.Params(b=b, n=n, m=m, L=L, bits=0.0)


def _streams():
    out = {}
    out["bf16-coded"] = make("bfloat16", "gauss", (3 * BLOCK + 500,), ("corrupt",))
    out["fp16-coded"] = make("float16", "mixed", (2, BLOCK + 389), ("corrupt",))
    out["fp32-coded"] = make("float32", "gauss", (2 * BLOCK + 33,), ("corrupt",))
    out["bf16-wide"] = make("bfloat16", "wide", (BLOCK + 100,), ("corrupt",))  # m = 0
    out["bf16-stored"] = make("bfloat16", "randbits", (1000,), ("corrupt",))
    out["i32-stored"] = np.arange(3000, dtype=np.int32).reshape(30, 100)
    out["f64-stored-0d"] = np.array(np.pi)
    out["empty"] = np.zeros((3, 0), dtype=np.float32)
    return {k: (a, enec.compress(a)) for k, a in out.items()}


STREAMS = _streams()
CODED = [k for k in STREAMS if enec.inspect(STREAMS[k][1]).mode == "fast"]


def test_fixture_modes():
    assert sorted(CODED) == ["bf16-coded", "bf16-wide", "fp16-coded", "fp32-coded"]
    assert enec.inspect(STREAMS["bf16-wide"][1]).params.m == 0


def test_corrupt_is_value_error():
    assert issubclass(CorruptDataError, ValueError)
    assert isinstance(CorruptDataError(), ValueError)
    assert isinstance(CorruptDataError("x"), Exception)


def decode_outcome(data, original):
    """'raised' or 'same'; anything else fails the test."""
    try:
        out = enec.decompress(data)
    except CorruptDataError:
        return "raised"
    assert_bitexact(out, original)
    return "same"


def _lengths(n, rng):
    if n <= 6000:
        return list(range(n))
    lens = set(range(2500)) | set(range(n - 300, n))
    lens |= set(int(v) for v in rng.integers(0, n, 2500))
    return sorted(lens)


@pytest.mark.parametrize("key", sorted(STREAMS))
def test_truncation(key):
    a, s = STREAMS[key]
    rng = rng_for("trunc", key)
    for n in _lengths(len(s), rng):
        with pytest.raises(CorruptDataError):
            enec.decompress(s[:n])
    for n in _lengths(len(s), rng)[::37]:
        with pytest.raises(CorruptDataError):
            enec.inspect(s[:n])
    # the untouched stream decodes
    assert_bitexact(enec.decompress(s), a)


@pytest.mark.parametrize("key", sorted(STREAMS))
def test_trailing_bytes(key):
    a, s = STREAMS[key]
    rng = rng_for("trail", key)
    for extra in [b"\x00", b"\x00" * 4, bytes(rng.integers(0, 256, 7, dtype=np.uint8)),
                  b"\x00" * 1000, s]:
        with pytest.raises(CorruptDataError):
            enec.decompress(s + extra)
        with pytest.raises(CorruptDataError):
            enec.inspect(s + extra)


@pytest.mark.parametrize("key", sorted(STREAMS))
def test_random_bit_flips(key):
    a, s = STREAMS[key]
    rng = rng_for("flip", key)
    h = parse_header(s)
    front = min(len(s), h.size + h.table_size + 256)
    nflip = 3000 if len(s) > 1000 else 1500
    outcomes = {"raised": 0, "same": 0}
    buf = bytearray(s)
    for i in range(nflip):
        # half of the flips in the header, table and first payload bytes
        pos = int(rng.integers(0, front)) if i % 2 else int(rng.integers(0, len(s)))
        bit = 1 << int(rng.integers(0, 8))
        buf[pos] ^= bit
        outcomes[decode_outcome(bytes(buf), a)] += 1
        buf[pos] ^= bit
    assert bytes(buf) == s
    # every header and table byte is covered by a CRC
    assert outcomes["raised"] >= nflip * 0.95, outcomes


@pytest.mark.parametrize("key", sorted(STREAMS))
def test_random_byte_overwrites(key):
    a, s = STREAMS[key]
    rng = rng_for("overwrite", key)
    buf = bytearray(s)
    outcomes = {"raised": 0, "same": 0}
    for i in range(1500):
        pos = int(rng.integers(0, len(s)))
        k = int(rng.integers(1, 5))  # 1..4 consecutive bytes
        old = bytes(buf[pos : pos + k])
        new = bytes(rng.integers(0, 256, len(old), dtype=np.uint8))
        buf[pos : pos + k] = new
        outcomes[decode_outcome(bytes(buf), a)] += 1
        buf[pos : pos + k] = old
    assert bytes(buf) == s
    # a few overwrites rewrite the same value or hit discarded padding
    assert outcomes["raised"] >= 1500 * 0.9, outcomes


def test_bit_flips_every_header_bit():
    for key in ["bf16-coded", "fp32-coded", "i32-stored", "empty", "f64-stored-0d"]:
        a, s = STREAMS[key]
        h = parse_header(s)
        end = h.size + h.table_size
        buf = bytearray(s)
        for pos in range(end):
            for bit in range(8):
                buf[pos] ^= 1 << bit
                with pytest.raises(CorruptDataError):
                    enec.decompress(bytes(buf))
                buf[pos] ^= 1 << bit


def test_payload_flips_coded_every_byte_sample():
    """Flips in each payload section of a coded stream: RAW, LOW, MASK, HIGH."""
    a, s = STREAMS["bf16-coded"]
    info = enec.inspect(s)
    p = info.params
    cs = coded_sizes(a, p.b, p.n, p.m, p.L)
    h = parse_header(s)
    start = h.size + h.table_size
    nb = cs.nblocks
    valid = [min(BLOCK, a.size - i * BLOCK) for i in range(nb)]
    Bs = [-(-v // p.L) * p.L for v in valid]
    raw = sum(B * KINDS["bfloat16"].rawbits // 8 for B in Bs)
    low = sum(B * p.m // 8 for B in Bs)
    mask = sum(-(-(B // p.L) // 8) for B in Bs)
    high = sum(cs.high_sizes)
    assert start + raw + low + mask + high == len(s)
    sections = {"raw": (start, raw), "low": (start + raw, low),
                "mask": (start + raw + low, mask), "high": (start + raw + low + mask, high)}
    # where the last (partial) block's share of each section starts: bits of
    # its padding elements are decoded and discarded, so flips there may pass
    last = {"raw": start + sum(B * 8 // 8 for B in Bs[:-1]),
            "low": start + raw + sum(B * p.m // 8 for B in Bs[:-1]),
            "mask": start + raw + low + sum(-(-(B // p.L) // 8) for B in Bs[:-1]),
            "high": start + raw + low + mask + sum(cs.high_sizes[:-1])}
    rng = rng_for("sections")
    buf = bytearray(s)
    for name, (off, size) in sections.items():
        assert size > 0, name
        for pos in rng.integers(off, off + size, 150):
            pos = int(pos)
            bit = 1 << int(rng.integers(0, 8))
            buf[pos] ^= bit
            if pos < last[name]:  # full blocks: every flip is detected
                with pytest.raises(CorruptDataError):
                    enec.decompress(bytes(buf))
            else:
                decode_outcome(bytes(buf), a)
            buf[pos] ^= bit


# --------------------------------------------------------------------------
# foreign input


def _npy_bytes():
    f = io.BytesIO()
    np.save(f, np.arange(100, dtype=np.float32))
    return f.getvalue()


def _zstd_frame():
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(b"hello world " * 100)


FOREIGN = {
    "empty": lambda: b"",
    "magic": lambda: b"ENEC",
    "magic+version": lambda: b"ENEC\x01\x00",
    "short-header": lambda: STREAMS["bf16-coded"][1][:47],
    "zeros48": lambda: b"\x00" * 48,
    "zeros1k": lambda: b"\x00" * 1024,
    "ff1k": lambda: b"\xff" * 1024,
    "random16": lambda: bytes(rng_for("f16").integers(0, 256, 16, dtype=np.uint8)),
    "random100": lambda: bytes(rng_for("f100").integers(0, 256, 100, dtype=np.uint8)),
    "random64k": lambda: bytes(rng_for("f64k").integers(0, 256, 65536, dtype=np.uint8)),
    "ENEC+random": lambda: b"ENEC" + bytes(rng_for("fer").integers(0, 256, 500, dtype=np.uint8)),
    "ENEC+v1+random": lambda: b"ENEC\x01\x00\x01\x01" + bytes(
        rng_for("fer1").integers(0, 256, 500, dtype=np.uint8)),
    "zstd": _zstd_frame,
    "npy": _npy_bytes,
    "text": lambda: b"ENEC is a lossless compressor for model weights.\n" * 20,
    "gzip": lambda: __import__("gzip").compress(b"abc" * 1000),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_input(name):
    data = FOREIGN[name]()
    with pytest.raises(CorruptDataError):
        enec.decompress(data)
    with pytest.raises(CorruptDataError):
        enec.inspect(data)


def test_random_garbage_many():
    rng = rng_for("garbage")
    for i in range(2000):
        n = int(rng.integers(0, 300))
        data = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        if i % 3 == 0:
            data = b"ENEC" + data
        with pytest.raises(CorruptDataError):
            enec.decompress(data)


def test_concatenated_streams():
    _, s1 = STREAMS["bf16-coded"]
    _, s2 = STREAMS["i32-stored"]
    with pytest.raises(CorruptDataError):
        enec.decompress(s1 + s2)
    with pytest.raises(CorruptDataError):
        enec.decompress(s2 + s1)


# --------------------------------------------------------------------------
# targeted edits with valid CRCs: the structural checks themselves


FIELDS = {  # name: (offset, struct format)
    "version": (4, "<H"), "mode": (6, "<B"), "dtype": (7, "<B"), "itemsize": (8, "<I"),
    "ndim": (12, "<B"), "descr_len": (13, "<B"), "b": (14, "<B"), "n": (15, "<B"),
    "m": (16, "<B"), "L": (17, "<B"), "reserved": (18, "<H"), "block": (20, "<I"),
    "count": (24, "<Q"), "payload_size": (32, "<Q"), "data_crc": (40, "<I"),
}


def edit(s, fix_crc=True, **fields):
    buf = bytearray(s)
    for name, value in fields.items():
        if name.startswith("shape"):
            i = int(name[5:])
            struct.pack_into("<Q", buf, 44 + 8 * i, value)
        else:
            off, fmt = FIELDS[name]
            struct.pack_into(fmt, buf, off, value)
    if fix_crc:
        try:
            h = parse_header(bytes(buf))
            if h.size <= len(buf):
                fix_header_crc(buf)
        except struct.error:
            pass
    return bytes(buf)


def fix_table_crc(buf: bytearray):
    h = parse_header(bytes(buf))
    nb = h.nblocks
    struct.pack_into("<I", buf, h.size + 8 * nb, crc32c(bytes(buf[h.size : h.size + 8 * nb])))
    return buf


def _raises(data):
    with pytest.raises(CorruptDataError):
        enec.decompress(data)


def test_edit_helper_keeps_valid_stream():
    for key, (a, s) in STREAMS.items():
        assert edit(s) == s
        assert_bitexact(enec.decompress(edit(s)), a)


@pytest.mark.parametrize("key", ["bf16-coded", "fp16-coded", "fp32-coded", "i32-stored",
                                 "bf16-stored", "empty", "bf16-wide"])
def test_header_field_checks(key):
    a, s = STREAMS[key]
    h = parse_header(s)
    coded = h.mode == 1
    kind = kind_of(a.dtype)
    # out of range for the header itself: decompress and inspect both reject
    structural = [
        dict(version=0), dict(version=3), dict(version=0xFFFF),
        dict(mode=2), dict(mode=255),
        dict(dtype=4), dict(dtype=255),
        dict(itemsize=h.itemsize + 1), dict(itemsize=0), dict(itemsize=2 * h.itemsize),
        dict(ndim=33), dict(ndim=255),
        dict(reserved=1), dict(reserved=0x8000),
        dict(count=h.count + 1), dict(count=2 ** 63), dict(count=2 ** 64 - 1),
        dict(payload_size=h.payload_size + 1), dict(payload_size=2 ** 64 - 1),
        dict(ndim=h.ndim + 1), dict(descr_len=h.descr_len + 1),
    ]
    if h.ndim and h.count:
        structural.append(dict(shape0=h.shape[0] + 1))  # product != count
    if h.count:
        structural += [dict(count=h.count - 1), dict(count=0),
                       dict(payload_size=h.payload_size - 1), dict(payload_size=0)]
    # valid headers with wrong content: must raise (the data CRCs / sizes)
    content = [dict(mode=0 if coded else 1)]
    # valid headers that may even decode to the same values: raise or same
    either = []
    if coded:
        E = kind.E
        structural += [
            dict(dtype=0), dict(block=8192), dict(block=16385), dict(block=0),
            dict(n=0), dict(n=E + 2), dict(n=255), dict(m=h.n + 1), dict(m=255),
            dict(L=8), dict(L=0), dict(L=128), dict(L=48), dict(L=65),
        ]
        if E < 8:
            structural += [dict(b=1 << E), dict(b=255)]
        content += [dict(b=(h.b + 1) % (1 << E)), dict(b=(h.b - 1) % (1 << E))]
        for nn in range(1, E + 2):
            if nn != h.n:
                either.append(dict(n=nn, m=min(h.m, nn)))
        for mm in range(0, h.n + 1):
            if mm != h.m:
                either.append(dict(m=mm))
        for LL in (16, 32, 64):
            if LL != h.L:
                either.append(dict(L=LL))
        either.append(dict(data_crc=0x12345678))
    else:
        content += [dict(data_crc=h.data_crc ^ 1)]
        if h.dtype != 0:
            content += [dict(dtype=0)]  # dtype 0 needs a descr
        # parameter bytes of a stored stream are specified as 0
        either += [dict(n=1), dict(L=16), dict(b=1), dict(m=3)]
    for fields in structural + content:
        data = edit(s, **fields)
        try:
            enec.decompress(data)
        except CorruptDataError:
            pass
        else:
            pytest.fail(f"{key}: edit {fields} was accepted")
    for fields in structural:
        data = edit(s, **fields)
        try:
            enec.inspect(data)
        except CorruptDataError:
            pass
        else:
            pytest.fail(f"{key}: inspect accepted the edit {fields}")
    for fields in either:
        decode_outcome(edit(s, **fields), a)


def test_header_crc_checked():
    for key, (a, s) in STREAMS.items():
        h = parse_header(s)
        buf = bytearray(s)
        buf[h.size - 1] ^= 0x10
        _raises(bytes(buf))
        with pytest.raises(CorruptDataError):
            enec.inspect(bytes(buf))


@pytest.mark.parametrize("key", ["bf16-coded", "fp16-coded", "fp32-coded", "bf16-wide"])
def test_block_table_checks(key):
    a, s = STREAMS[key]
    h = parse_header(s)
    nb = h.nblocks
    p = enec.inspect(s).params
    unit = p.L * (p.n - p.m) // 8
    for i in range(nb):
        crc, hs = struct.unpack_from("<II", s, h.size + 8 * i)
        # table CRC not fixed
        buf = bytearray(s)
        struct.pack_into("<I", buf, h.size + 8 * i + 4, hs + max(unit, 1))
        _raises(bytes(buf))
        # table CRC fixed: high_size no longer matches the mask / payload
        for new in {hs + unit, hs - unit, hs + 1, 0, 2 ** 32 - 1} - {hs}:
            if new < 0:
                continue
            buf = bytearray(s)
            struct.pack_into("<I", buf, h.size + 8 * i + 4, new)
            _raises(bytes(fix_table_crc(buf)))
        # data CRC of a block changed, table CRC fixed
        buf = bytearray(s)
        struct.pack_into("<I", buf, h.size + 8 * i, crc ^ 0x80000000)
        _raises(bytes(fix_table_crc(buf)))
    # table CRC itself
    buf = bytearray(s)
    buf[h.size + 8 * nb] ^= 1
    _raises(bytes(buf))


def test_moving_high_bytes_between_blocks():
    """Shift high_size between two blocks (sum unchanged, table CRC fixed)."""
    a, s = STREAMS["bf16-coded"]
    h = parse_header(s)
    p = enec.inspect(s).params
    unit = p.L * (p.n - p.m) // 8
    e0 = struct.unpack_from("<II", s, h.size)
    e1 = struct.unpack_from("<II", s, h.size + 8)
    assert e0[1] >= unit
    buf = bytearray(s)
    struct.pack_into("<II", buf, h.size, e0[0], e0[1] - unit)
    struct.pack_into("<II", buf, h.size + 8, e1[0], e1[1] + unit)
    _raises(bytes(fix_table_crc(buf)))


def test_mask_bits_beyond_G():
    """Set a mask bit beyond G in the last, partial block."""
    rng = rng_for("maskG")
    a = make("bfloat16", "gauss", (BLOCK + 100,), ("maskG",))
    ref = ref_search(a)
    s = enec.compress(a, params=P(ref.b, ref.n, ref.m, 16))
    info = enec.inspect(s)
    assert info.mode == "fast" and info.params.L == 16
    h = parse_header(s)
    L, m = 16, info.params.m
    Bs = [BLOCK, 112]  # 100 valid elements padded to 7 groups of 16
    G_last = 112 // 16  # = 7: bit 7 of the last mask byte is beyond G
    start = h.size + h.table_size
    raw = sum(Bs)  # rawbits 8
    low = sum(B * m // 8 for B in Bs)
    mask_last = start + raw + low + (BLOCK // L) // 8
    assert mask_last - start + 1 <= h.payload_size
    # self-check of the offset: the byte holds the last block's 7 flags
    x = exponents(words_of(a, KINDS["bfloat16"]), KINDS["bfloat16"])
    y = np.zeros(112, dtype=np.int64)
    y[:100] = ((ref.b - x) % (1 << ref.n))[BLOCK:]
    flags = (y.reshape(16, 7) >= (1 << m)).any(axis=0)
    buf = bytearray(s)
    assert buf[mask_last] == int(np.packbits(flags, bitorder="little")[0])
    assert buf[mask_last] >> G_last == 0
    buf[mask_last] |= 1 << G_last
    _raises(bytes(buf))
    # also when high_size is made consistent with the extra flag
    buf2 = bytearray(buf)
    crc, hs = struct.unpack_from("<II", buf2, h.size + 8)
    extra = L * (ref.n - m) // 8
    struct.pack_into("<II", buf2, h.size + 8, crc, hs + extra)
    fix_table_crc(buf2)
    buf2 = buf2 + bytes(rng.integers(0, 256, extra, dtype=np.uint8))
    struct.pack_into("<Q", buf2, 32, h.payload_size + extra)
    fix_header_crc(buf2)
    _raises(bytes(buf2))


def test_overflowing_sizes_do_not_allocate():
    # count * itemsize overflows 64 bits: 2^61 * 8 = 2^64 == 0 (mod 2^64)
    s = enec.compress(np.zeros((0,), dtype=np.int64))
    h = parse_header(s)
    assert h.payload_size == 0
    _raises(edit(s, count=2 ** 61, shape0=2 ** 61))
    _raises(edit(s, count=2 ** 62, shape0=2 ** 62))
    # huge but not overflowing: bounded by the input length, no MemoryError
    _raises(edit(s, count=2 ** 40, shape0=2 ** 40))
    _raises(edit(s, count=2 ** 40, shape0=2 ** 40, payload_size=2 ** 43))
    # shape product overflows 64 bits (2^33 * 2^31 = 2^64 == 0)
    s2 = enec.compress(np.zeros((0, 0), dtype=np.int8))
    _raises(edit(s2, shape0=2 ** 33, shape1=2 ** 31))
    _raises(edit(s2, shape0=2 ** 64 - 1, shape1=2))
    # coded stream claiming a huge count
    a, s3 = STREAMS["bf16-coded"]
    _raises(edit(s3, count=2 ** 50, shape0=2 ** 50))
    with pytest.raises(CorruptDataError):
        enec.inspect(edit(s3, count=2 ** 50, shape0=2 ** 50))


def test_bad_descr():
    """A stored dtype-0 stream whose descr is not a usable dtype."""
    a = np.arange(10, dtype=np.int32)
    s = enec.compress(a)
    h = parse_header(s)
    assert h.dtype == 0 and h.descr_len >= 3

    def with_descr(text: bytes):
        hdr = bytearray(s[: 44 + 8 * h.ndim])
        hdr[13] = len(text)
        body = bytes(hdr) + text
        return body + struct.pack("<I", crc32c(body)) + s[h.size :]

    assert with_descr(h.descr) == s
    for text in [b"", b"'<i8'", b"<i8", b"'|O'", b"|O", b"'<f4'x", b"\xff\xfe'<", b"garbage",
                 b"ml_dtypes:nonexistent", b"ml_dtypes:bfloat16", b"__import__('os')",
                 b"[('a', '<i4'), ('b', '|O')]", b"'<U5'"]:
        data = with_descr(text)
        try:
            out = enec.decompress(data)
        except CorruptDataError:
            continue
        # accepted only if it rebuilds a 4-byte, object-free dtype
        assert out.dtype.itemsize == 4 and not out.dtype.hasobject, text
        assert out.tobytes() == a.tobytes()


@pytest.mark.parametrize("key", ["bf16-coded", "fp16-coded", "fp32-coded", "i32-stored"])
def test_flips_with_out_and_threads(key):
    a, s = STREAMS[key]
    rng = rng_for("flip-out", key)
    buf = bytearray(s)
    out = np.empty(a.shape, dtype=a.dtype)
    for i in range(300):
        pos = int(rng.integers(0, len(s)))
        bit = 1 << int(rng.integers(0, 8))
        buf[pos] ^= bit
        try:
            res = enec.decompress(bytes(buf), out=out, threads=2)
        except CorruptDataError:
            pass
        else:
            assert np.shares_memory(res, out)
            assert out.tobytes() == a.tobytes()
        buf[pos] ^= bit
    for n in (0, 10, len(s) // 2, len(s) - 1):
        with pytest.raises(CorruptDataError):
            enec.decompress(s[:n], out=out, threads=2)
