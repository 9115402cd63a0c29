"""The batch signature's Merkle tree: RFC 9162's tree, every record provable alone, and no
path, size or signature an attacker can bend to cover a record the hub did not sign."""

from __future__ import annotations

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.trust.batch_signing import (
    MAX_LEAVES,
    MERKLE_HEADER,
    inclusion_paths,
    leaf_hash,
    root_from_path,
    sign_batch,
    tree_levels,
    verify_batch_record,
)
from hub.trust.hub_keys import signed_by_hub
from hub.trust.signing import SIGNATURE_HEADER, Header, HubSigner, public_key_b64
from hub.trust.verification import SignatureError

TOPIC = "nrm.audit"
HUB = HubSigner(Ed25519PrivateKey.generate(), "hub-test")
KEYS = (public_key_b64(HUB.private_key),)
STRANGER = HubSigner(Ed25519PrivateKey.generate(), "hub-test")  # claims the hub's key id


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, word for word: split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = _reference_root(leaves[:k]), _reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def _records(count: int) -> list[tuple[bytes | None, bytes | None]]:
    return [(f"case-{i % 3}".encode(), f"entry {i}".encode()) for i in range(count)]


@pytest.mark.parametrize("size", [*range(1, 20), 31, 32, 33, 63, 64])
def test_the_tree_is_rfc_9162_and_every_path_leads_to_its_root(size: int) -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(size)]
    levels = tree_levels(leaves)
    assert levels[-1] == [_reference_root(leaves)]
    for index, (leaf, joined) in enumerate(zip(leaves, inclusion_paths(levels), strict=True)):
        path = [joined[i : i + 32] for i in range(0, len(joined), 32)]
        assert root_from_path(leaf, index, size, path) == levels[-1][0]
        assert len(path) <= (size - 1).bit_length()
        # The same path claimed for another place proves nothing. (The same path may fit a
        # tree of another size: the size is signed with the root, see "size changed" below.)
        for other in {index - 1, index + 1} & set(range(size)):
            assert root_from_path(leaf, other, size, path) != levels[-1][0]
        assert root_from_path(leaf, index, size, [*path, leaf]) is None
        assert root_from_path(leaf, size, size, path) is None


def _walked_path(levels: list[list[bytes]], index: int) -> bytes:
    """A leaf's path as first written: walk up from the leaf, taking each level's sibling."""
    path = b""
    for level in levels[:-1]:
        if index ^ 1 < len(level):
            path += level[index ^ 1]
        index >>= 1
    return path


@pytest.mark.parametrize("size", range(1, MAX_LEAVES + 1))
def test_the_paths_made_from_the_root_down_are_the_paths_walked_up_from_each_leaf(
    size: int,
) -> None:
    levels = tree_levels([hashlib.sha256(bytes([i])).digest() for i in range(size)])
    assert inclusion_paths(levels) == [_walked_path(levels, i) for i in range(size)]


@pytest.mark.parametrize("count", [1, 2, 5, MAX_LEAVES, MAX_LEAVES + 1, 3 * MAX_LEAVES + 7])
def test_every_record_of_a_batch_verifies_alone(count: int) -> None:
    records = _records(count)
    signed = sign_batch(HUB, TOPIC, records, timestamp_ms=1_700_000_000_000)
    assert len(signed) == count
    for (key, value), headers in zip(records, signed, strict=True):
        assert verify_batch_record(TOPIC, key, value, headers, KEYS) == "hub-test"
        assert signed_by_hub(TOPIC, key, value, headers, KEYS) == "hub-test"
    # One signature per tree of at most MAX_LEAVES records.
    signatures = {dict(h)[SIGNATURE_HEADER] for h in signed}
    assert len(signatures) == -(-count // MAX_LEAVES)


def _with(headers: list[Header], name: str, value: bytes) -> list[Header]:
    return [(n, value if n == name else v) for n, v in headers]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _attacks() -> list[tuple[str, bytes | None, bytes | None, list[Header]]]:
    records = _records(5)
    signed = sign_batch(HUB, TOPIC, records)
    (key, value), headers = records[2], signed[2]
    place = dict(headers)[MERKLE_HEADER]
    index, size = struct.unpack_from(">II", place)
    per_record = HUB.sign(TOPIC, key, value)
    return [
        ("value altered", key, value + b"!", headers),
        ("key altered (moved to another case)", b"case-9", value, headers),
        ("another record's headers", key, value, signed[3]),
        (
            "signature altered",
            key,
            value,
            _with(headers, SIGNATURE_HEADER, _flip(dict(headers)[SIGNATURE_HEADER], 0)),
        ),
        ("a sibling hash altered", key, value, _with(headers, MERKLE_HEADER, _flip(place, 9))),
        (
            "index moved",
            key,
            value,
            _with(headers, MERKLE_HEADER, struct.pack(">II", index + 1, size) + place[8:]),
        ),
        (
            "size changed",
            key,
            value,
            _with(headers, MERKLE_HEADER, struct.pack(">II", index, size + 1) + place[8:]),
        ),
        ("path cut", key, value, _with(headers, MERKLE_HEADER, place[:-32])),
        ("path not whole hashes", key, value, _with(headers, MERKLE_HEADER, place + b"\x00")),
        ("merkle header twice", key, value, [*headers, (MERKLE_HEADER, place)]),
        (
            "batch signed by a stranger under the hub's key id",
            key,
            value,
            sign_batch(STRANGER, TOPIC, records)[2],
        ),
        (
            "batch signed for an inbox",
            key,
            value,
            sign_batch(HUB, "nrm.inbox.prefecture-93", records)[2],
        ),
        (
            "a per-record signature dressed as a batch",
            key,
            value,
            [*per_record, (MERKLE_HEADER, struct.pack(">II", 0, 1))],
        ),
        (
            "a batch signature without its path",
            key,
            value,
            [h for h in headers if h[0] != MERKLE_HEADER],
        ),
        (
            "a one-record batch's root signature, read as a record signature",
            key,
            value,
            [h for h in sign_batch(HUB, TOPIC, [(key, value)])[0] if h[0] != MERKLE_HEADER],
        ),
    ]


@pytest.mark.parametrize(
    ("key", "value", "headers"), [a[1:] for a in _attacks()], ids=[a[0] for a in _attacks()]
)
def test_no_bent_batch_signature_proves_a_record(
    key: bytes | None, value: bytes | None, headers: list[Header]
) -> None:
    with pytest.raises(SignatureError):
        signed_by_hub(TOPIC, key, value, headers, KEYS)


def test_a_leaf_is_never_an_interior_node() -> None:
    # Domain separation: the hash of a record and the hash of two children never coincide,
    # so a two-leaf subtree cannot be passed off as one record of a smaller tree.
    left, right = leaf_hash(TOPIC, b"a", b"1", 0), leaf_hash(TOPIC, b"b", b"2", 0)
    [leaves, [root]] = tree_levels([left, right])
    assert root not in leaves
    assert root != hashlib.sha256(b"\x00" + left + right).digest()
