"""The corruption campaign in small (tests/campaign.py; the large run is
benchmarks/corruption_campaign.py): real MiniLM tensors and synthetic ones,
every truncation of the small streams, thousands of random bit flips, byte
overwrites, fills, insertions, deletions, splices and checksum-consistent
rewrites. decompress raises CorruptDataError or returns the original, bit for
bit; nothing else."""

from collections import Counter

import numpy as np
import pytest

import campaign
import enec


@pytest.fixture(scope="module")
def synthetic():
    return campaign.compress_all(campaign.synthetic_arrays())


@pytest.fixture(scope="module")
def real(minilm_f32):
    return campaign.compress_all(campaign.minilm_arrays(minilm_f32))


@pytest.fixture(scope="module")
def checkpoints(minilm_f32):
    return campaign.checkpoint_subjects(minilm_f32)


def _by_outcome(counts: Counter) -> Counter:
    c = Counter()
    for (_, _, outcome), v in counts.items():
        c[outcome] += v
    return c


def _check(counts, bad, expected_total):
    totals = _by_outcome(counts)
    assert sum(totals.values()) == expected_total
    assert not bad, bad[:5]
    # CRCs cover every byte that matters: almost every mutation is detected
    assert totals["raised"] >= 0.97 * expected_total, totals
    return totals


def test_subjects_cover_every_mode(synthetic, real):
    modes = Counter(enec.inspect(s).mode for _, s in list(synthetic.values()) + list(real.values()))
    assert modes["fast"] >= 9 and modes["stored"] >= 4
    dtypes = {str(a.dtype) for a, s in real.values() if enec.inspect(s).mode == "fast"}
    assert dtypes == {"bfloat16", "float32", "float16"}


def test_every_truncation(synthetic, real):
    rng = np.random.default_rng(6)
    subjects = {**synthetic, **real}
    counts, bad = campaign.truncations(subjects, every_up_to=6000, rng=rng)
    assert not bad, bad[:5]
    small = [k for k, (_, s) in subjects.items() if len(s) <= 6000]
    assert len(small) >= 5  # the LayerNorm and bias streams, the small synthetic ones
    assert sum(counts.values()) >= 20000


@pytest.mark.parametrize("group", ["real", "synthetic"])
def test_random_mutations(group, synthetic, real):
    subjects = real if group == "real" else synthetic
    per = 1500
    counts, bad = campaign.run(subjects, per, seed=20260403)
    _check(counts, bad, per * len(subjects))
    kinds = Counter(k for (_, k, _), v in counts.items() for _ in range(v))
    assert set(kinds) == set(campaign.KINDS)


def test_rewrites_never_change_data(real):
    """Header and table bits changed with every checksum recomputed: the
    block CRCs of the data still stop any change to the decoded bits."""
    per = 300
    counts, bad = campaign.run(real, per, seed=7, kinds=("rewrite",))
    totals = _by_outcome(counts)
    assert not bad, bad[:5]
    assert totals["raised"] + totals["exact"] + totals["relabelled"] == per * len(real)
    assert totals["raised"] >= 0.9 * per * len(real), totals


def test_classify_detects_wrong_output():
    """The classifier itself: a stream of other data is a mismatch, not a pass."""
    a = np.arange(100, dtype=np.float32)
    other = enec.compress(a + 1)
    assert campaign.classify(other, a)[0] == "mismatch"
    assert campaign.classify(enec.compress(a.reshape(10, 10)), a)[0] == "mismatch"
    assert campaign.classify(enec.compress(a.reshape(10, 10)), a, "rewrite")[0] == "relabelled"
    assert campaign.classify(enec.compress(a), a)[0] == "exact"
    assert campaign.classify(b"ENEC", a)[0] == "raised"


@pytest.mark.parametrize("shape0, shape1", [(2 ** 62, 0), (0, 2 ** 63), (0, 2 ** 64 - 1), (2 ** 40, 0)])
def test_empty_tensor_with_unrepresentable_shape(shape0, shape1):
    """Found by the campaign: a checksum-consistent header of an empty tensor
    may declare dimensions NumPy cannot build; that is corrupt input, not a
    NumPy ValueError."""
    import struct

    s = bytearray(enec.compress(np.zeros((4, 0), np.float32)))
    struct.pack_into("<QQ", s, 44, shape0, shape1)
    campaign.fix_checksums(s)
    assert enec.inspect(bytes(s)).shape == (shape0, shape1)  # the header itself is valid
    try:
        out = enec.decompress(bytes(s))
    except enec.CorruptDataError:
        return
    assert out.shape == (shape0, shape1) and out.size == 0


def test_checkpoints_every_truncation_and_mutations(checkpoints):
    """.enec checkpoints (enec.checkpoint.load_file): the container's own
    checks and every stream's CRCs leave only CorruptDataError or the exact tensors."""
    for name, (tensors, blob) in checkpoints.items():
        assert campaign.classify(blob, tensors) == ("exact", "")  # the unmutated file loads
    small = campaign.checkpoint_bytes({"w": np.arange(7, dtype=np.float32)})
    counts, bad = campaign.truncations({"tiny checkpoint": ({"w": np.arange(7, dtype=np.float32)}, small)},
                                       every_up_to=10 ** 6, rng=np.random.default_rng(0))
    assert not bad and sum(counts.values()) == len(small)
    per = 600
    counts, bad = campaign.run(checkpoints, per, seed=11)
    _check(counts, bad, per * len(checkpoints))
    assert {k for (_, k, _) in counts} == set(campaign.CHECKPOINT_KINDS)
