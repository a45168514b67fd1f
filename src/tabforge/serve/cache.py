"""An optional response cache per model version, keyed by the canonical input bytes.

The key is a hash over each input tensor's name, dtype, shape and values (text as
length-prefixed UTF-8), so equal rows hit whatever JSON spelling or protocol carried them.
One cache per version: a version swap can never serve an answer computed by another.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

Feed = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]

MAX_CACHED_ROWS = 256  # bigger requests are rarely repeated; they would crowd out the rest


def key(feed: Feed) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(feed):
        arr = feed[name]
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        if arr.dtype == object:
            for value in arr.reshape(-1).tolist():
                data = str(value).encode()
                h.update(len(data).to_bytes(4, "little"))
                h.update(data)
        else:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.digest()


class ResponseCache:
    """A bounded LRU; used from the event loop only, so no lock."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._data: OrderedDict[bytes, Outputs] = OrderedDict()

    def get(self, k: bytes) -> Outputs | None:
        found = self._data.get(k)
        if found is not None:
            self._data.move_to_end(k)
        return found

    def put(self, k: bytes, outputs: Outputs) -> None:
        self._data[k] = outputs
        self._data.move_to_end(k)
        while len(self._data) > self.entries:
            self._data.popitem(last=False)
