"""The cost of new case keys in each key store, in the same run: what the routing worker pays
per new case before it may send the case's records.

* ``file_per_key``  ``FileKeyStore`` in immediate mode (tools): one journal ``fsync`` per key;
* ``file_batched``  the worker's mode: keys in memory, one ``flush`` (one ``fsync``) per batch
                    of ``--batch`` new cases (the worker reads up to 500 records a batch);
* ``memory``        ``MemoryKeyStore``, the floor (AES key generation only).

The journal lives in ``--dir`` (default: a temporary directory, usually tmpfs-free /tmp);
fsync cost depends on the disk, so compare stores within one run only.

    .venv/bin/python bench/key_store.py [--keys 2000] [--batch 500] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from hub.audit.keys import FileKeyStore, KeyStore, MemoryKeyStore
from hub.runtime.logs import configure_logging


def keys_per_s(store: KeyStore, keys: int, batch: int) -> float:
    """New case keys made durable per second, flushing every ``batch`` keys."""
    started = time.perf_counter()
    for index in range(keys):
        store.get_or_create(uuid.uuid4())
        if (index + 1) % batch == 0:
            store.flush()
    store.flush()
    return keys / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    configure_logging(level="WARNING")  # stdout is the JSON result only
    result: dict[str, Any] = {"benchmark": "key_store", "keys": args.keys, "batch": args.batch}
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        stores: dict[str, KeyStore] = {
            "file_per_key": FileKeyStore(Path(root) / "per-key"),
            "file_batched": FileKeyStore(Path(root) / "batched", defer_durability=True),
            "memory": MemoryKeyStore(),
        }
        for name, store in stores.items():
            result[f"{name}_keys_per_s"] = round(keys_per_s(store, args.keys, args.batch))
    result["batched_vs_per_key"] = round(
        result["file_batched_keys_per_s"] / result["file_per_key_keys_per_s"], 1
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
