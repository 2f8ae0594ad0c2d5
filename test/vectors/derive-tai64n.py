#!/usr/bin/env python3
"""Writes tai64n.json: TAI64N timestamps for src/crypto/tai64n.ts.

Derived by following wireguard-go tai64n/tai64n.go: 8 bytes big-endian
seconds = 0x400000000000000a (2^62 + 10) + Unix seconds, then 4 bytes
big-endian nanoseconds with the low 24 bits cleared (whitenerMask =
0x1000000 - 1). Inputs are whole milliseconds so no float rounding applies.
"""
import json

BASE = 0x400000000000000A
WHITENER_MASK = 0x1000000 - 1


def stamp(wall_ms):
    secs, ms = divmod(wall_ms, 1000)
    nanos = (ms * 1_000_000) & ~WHITENER_MASK
    return ((BASE + secs).to_bytes(8, "big") + nanos.to_bytes(4, "big")).hex()


cases = [0, 1, 16, 17, 999, 1000, 1001, 1_700_000_000_123, 1_700_000_000_999,
         4_102_444_800_000, 9_007_199_254_740_991]
out = {
    "source": ("derived with python following wireguard-go tai64n/tai64n.go (base 0x400000000000000a + Unix "
               "seconds, big-endian; nanoseconds big-endian with the low 24 bits cleared by whitenerMask); "
               "see derive-tai64n.py. monotonic: the cases of wireguard-go tai64n/tai64n_test.go TestMonotonic "
               "(start 123456789 ns after the epoch; later by 10 ns, 10 us, 1 ms, 10 ms is not After, 20 ms is)."),
    "vectors": [{"wallMs": ms, "tai64n": stamp(ms)} for ms in cases],
    "monotonic": {
        "startNs": 123456789,
        "cases": [
            {"name": "after_10_ns", "deltaNs": 10, "after": False},
            {"name": "after_10_us", "deltaNs": 10_000, "after": False},
            {"name": "after_1_ms", "deltaNs": 1_000_000, "after": False},
            {"name": "after_10_ms", "deltaNs": 10_000_000, "after": False},
            {"name": "after_20_ms", "deltaNs": 20_000_000, "after": True},
        ],
    },
}
with open("tai64n.json", "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print("wrote tai64n.json")
