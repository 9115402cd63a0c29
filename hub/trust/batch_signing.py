"""One signature for a batch of records: a Merkle tree over the records, the root signed once.

The hub signs its audit entries this way (``OutboxWriter``): an Ed25519 signature per entry
was the largest single cost of writing the trail. Each record of a batch still carries
everything needed to check it **alone** (a reader fetching one case's entries by offset never
needs the rest of the batch): the usual ``nrm-sig`` / ``nrm-key-id`` / ``nrm-ts`` headers,
where ``nrm-sig`` now signs the batch's root, plus ``nrm-merkle``, the record's place in the
tree and the sibling hashes from its leaf to the root (an inclusion proof).

The tree is RFC 9162's (Certificate Transparency v2, section 2.1): leaves are
``SHA-256(0x00 || canonical_bytes(topic, key, value, ts))`` (``hub.trust.signing``, so a leaf
covers the topic, key, value and time exactly as a per-record signature does), interior nodes
``SHA-256(0x01 || left || right)``; the prefixes keep a leaf from ever passing for a node. The
signed message is ``BATCH_DOMAIN || u64 ts || u32 size || root``: its domain differs from a
per-record signature's, so neither can be replayed as the other.

``nrm-merkle`` = ``u32 index || u32 size || path`` (32 bytes per sibling, leaf to root,
big-endian integers). A batch has at most ``MAX_LEAVES`` records (hub policy: a path of at
most 6 hashes, 200 bytes per record, for one signature per 64 entries); longer batches are
cut into trees of that size.

Pure: bytes in, bytes out. Verification caches each (key, signature, root) it has checked, so
a whole-log verification checks one signature per batch, not per record.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from functools import lru_cache

from hub.contracts.enums import DeadLetterReason
from hub.trust.ed25519 import verifies
from hub.trust.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Header,
    ReceivedHeaders,
    RecordSigner,
    canonical_bytes,
    now_ms,
)
from hub.trust.verification import SignatureError, parse_signature_headers, parsed_public_key

MERKLE_HEADER = "nrm-merkle"
BATCH_DOMAIN = b"nrm-hub/batch/v1\x00"
MAX_LEAVES = 64
HASH_SIZE = 32
_LEAF = b"\x00"
_NODE = b"\x01"
_PLACE = struct.Struct(">II")
_ROOT_HEAD = struct.Struct(">QI")


def leaf_hash(topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int) -> bytes:
    """The tree leaf of one record (the bytes a per-record signature would cover, hashed)."""
    return hashlib.sha256(_LEAF + canonical_bytes(topic, key, value, timestamp_ms)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last (one hash).

    Pairs are hashed left to right and a level's odd last node moves up unchanged: the same
    tree as RFC 9162's recursive definition (split at the largest power of two below n).
    """
    if not leaves:
        raise ValueError("a batch has at least one record")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def inclusion_paths(levels: Sequence[Sequence[bytes]]) -> list[bytes]:
    """Every leaf's inclusion path, in leaf order: its sibling hashes from the leaf to the
    root, concatenated (a promoted node has no sibling at its level).

    Made from the root down, each level's paths from the level above: a node's path is its
    sibling, then its parent's path; one concatenation per node instead of a walk per leaf.
    """
    paths = [b""]
    for level in reversed(levels[:-1]):
        size = len(level)
        paths = [
            (level[index ^ 1] if index ^ 1 < size else b"") + paths[index >> 1]
            for index in range(size)
        ]
    return paths


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` leads to from ``leaf`` at ``index`` of ``size`` leaves; None
    when the path cannot belong to such a tree (RFC 9162, section 2.1.3.2)."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = _node(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = _node(node, sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


def root_message(root: bytes, size: int, timestamp_ms: int) -> bytes:
    """The bytes a batch signature covers."""
    return BATCH_DOMAIN + _ROOT_HEAD.pack(timestamp_ms, size) + root


def sign_batch(
    signer: RecordSigner,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None]],
    *,
    timestamp_ms: int | None = None,
) -> list[list[Header]]:
    """The headers of each record (key, value) of a batch for ``topic``, in order: one
    signature per ``MAX_LEAVES`` records."""
    stamp = now_ms() if timestamp_ms is None else timestamp_ms
    key_id, stamp_bytes = signer.key_id.encode(), str(stamp).encode("ascii")
    headers: list[list[Header]] = []
    for start in range(0, len(records), MAX_LEAVES):
        chunk = records[start : start + MAX_LEAVES]
        size = len(chunk)
        levels = tree_levels([leaf_hash(topic, key, value, stamp) for key, value in chunk])
        signature = signer.sign_bytes(root_message(levels[-1][0], size, stamp))
        # The chunk's records share these three headers (immutable): fewer objects to collect.
        shared = (
            (SIGNATURE_HEADER, signature),
            (KEY_ID_HEADER, key_id),
            (TIMESTAMP_HEADER, stamp_bytes),
        )
        headers += [
            [*shared, (MERKLE_HEADER, _PLACE.pack(index, size) + path)]
            for index, path in enumerate(inclusion_paths(levels))
        ]
    return headers


def is_batch_signed(headers: ReceivedHeaders) -> bool:
    """True when the record claims a batch signature (it carries ``nrm-merkle``); False for
    headers that cannot even be read (the per-record check names what is wrong)."""
    try:
        return any(name == MERKLE_HEADER for name, _ in headers or ())
    except (TypeError, ValueError):
        return False


def verify_batch_record(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: ReceivedHeaders,
    public_keys: Sequence[str],
) -> str:
    """The key id of the batch signature that covers this record for ``topic``.

    ``SignatureError`` (BAD_SIGNATURE) when the headers are malformed, the path leads to no
    root of its claimed size, or no key of ``public_keys`` (base64) signed that root.
    """
    parsed = parse_signature_headers(headers)
    index, size, path = _place(headers)
    leaf = leaf_hash(topic, key, value, parsed.timestamp_ms)
    root = root_from_path(leaf, index, size, path)
    if root is None:
        raise _bad(f"{MERKLE_HEADER} is not a path of a {size}-record batch")
    message = root_message(root, size, parsed.timestamp_ms)
    if any(_root_verifies(k, parsed.signature, message) for k in public_keys):
        return parsed.key_id
    raise _bad("batch signature does not verify with the hub's public key")


def _place(headers: ReceivedHeaders) -> tuple[int, int, list[bytes]]:
    found = [value for name, value in headers or () if name == MERKLE_HEADER]
    if len(found) != 1 or not isinstance(found[0], bytes):
        raise _bad(f"header {MERKLE_HEADER} must appear once, with a value")
    raw = found[0]
    if len(raw) < _PLACE.size or (len(raw) - _PLACE.size) % HASH_SIZE:
        raise _bad(f"{MERKLE_HEADER} is {len(raw)} bytes: not an index, a size and hashes")
    index, size = _PLACE.unpack_from(raw)
    hashes = raw[_PLACE.size :]
    return index, size, [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]


@lru_cache(maxsize=4096)
def _root_verifies(public_key: str, signature: bytes, message: bytes) -> bool:
    # Cached: every record of a batch checks the same (key, signature, root). Ed25519
    # verification is deterministic, so a cached answer is the answer.
    return verifies(parsed_public_key(public_key), signature, message)


def _bad(detail: str) -> SignatureError:
    return SignatureError(DeadLetterReason.BAD_SIGNATURE, detail)
