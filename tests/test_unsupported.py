"""Streams from a newer enec: a newer format version, mode or dtype code is named, not called damage."""
import struct

import numpy as np
import pytest

import enec
from costmodel import fix_header_crc
from testdata import make


def stream():
    return bytearray(enec.compress(make("bfloat16", "gauss", (3 * enec.BLOCK + 5,))))


def test_unsupported_is_a_corrupt_data_error():
    # handlers written for 0.1 (except CorruptDataError) still catch it
    assert issubclass(enec.UnsupportedFormatError, enec.CorruptDataError)
    assert issubclass(enec.UnsupportedFormatError, ValueError)


@pytest.mark.parametrize("version", [3, 4, 0xFFFF])
def test_newer_format_version_is_named(version):
    s = stream()
    s[4:6] = struct.pack("<H", version)
    # a newer version may lay out its header differently, so nothing after the version is
    # checked: the CRC is left as it was (wrong for these bytes) on purpose
    for call in (enec.inspect, enec.decompress):
        with pytest.raises(enec.UnsupportedFormatError, match=rf"format version {version}\b.*reads versions 1 to 2"):
            call(bytes(s))


def test_version_zero_is_corrupt_not_unsupported():
    s = stream()
    s[4:6] = b"\0\0"
    with pytest.raises(enec.CorruptDataError) as e:
        enec.decompress(bytes(fix_header_crc(s)))
    assert not isinstance(e.value, enec.UnsupportedFormatError)


@pytest.mark.parametrize("mode", [3, 7, 255])
def test_unknown_mode_is_named(mode):
    s = stream()
    s[6] = mode
    with pytest.raises(enec.UnsupportedFormatError, match=rf"mode {mode}\b"):
        enec.decompress(bytes(fix_header_crc(s)))
    with pytest.raises(enec.UnsupportedFormatError, match=rf"mode {mode}\b"):
        enec.inspect(bytes(fix_header_crc(s)))


@pytest.mark.parametrize("dtype", [6, 100, 255])
def test_unknown_dtype_is_named(dtype):
    s = stream()
    s[7] = dtype
    with pytest.raises(enec.UnsupportedFormatError, match=rf"dtype code {dtype}\b"):
        enec.decompress(bytes(fix_header_crc(s)))


def test_unknown_mode_with_a_damaged_header_is_corrupt():
    # only an intact header (its CRC holds) can claim to be from a newer writer
    s = stream()
    s[6] = 9
    with pytest.raises(enec.CorruptDataError) as e:
        enec.decompress(bytes(s))
    assert not isinstance(e.value, enec.UnsupportedFormatError)


def test_version_2_changes_mode_max_only():
    """A fast stream is version 1; one labelled 2 (its header intact) reads the same: version 2
    added mode max's per-block plane kinds and left the other modes as they were."""
    a = make("bfloat16", "gauss", (3 * enec.BLOCK + 5,))
    s = stream()
    assert enec.inspect(bytes(s)).version == 1
    assert enec.inspect(enec.compress(a, mode="max")).version == 2
    s[4:6] = struct.pack("<H", 2)
    assert enec.decompress(bytes(fix_header_crc(s))).tobytes() == a.tobytes()


def test_forged_version_3_through_the_npu_decoder():
    """The simulated NPU reads streams through the same frame layer: the same error."""
    import enec.npu

    s = stream()
    s[4:6] = struct.pack("<H", 3)
    with pytest.raises(enec.UnsupportedFormatError, match="format version 3"):
        enec.npu.decompress(bytes(s))


def test_version_at_run_time():
    major, minor, patch = (int(v) for v in enec.__version__.split("."))
    assert enec.version_number == major * 10000 + minor * 100 + patch
    assert enec._enec.FORMAT_VERSION_MIN <= enec.FORMAT_VERSION

