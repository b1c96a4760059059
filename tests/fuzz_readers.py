"""Fuzzing child for tests/test_fuzz.py: mutate model files and feature archives, read each mutation with
the readers the CLI uses, and report every outcome that is not success or a one-line user error.

    python fuzz_readers.py SEED ITERS OUT_JSON AS_LIMIT_MB INPUT...

Each INPUT is `mdl:PATH` (read with nnet2.nnet.model.load_model, as every verb that takes a model does) or
`ark:PATH` (read with nnet2.io.table.read_table, as every verb that takes features does, also through an
scp line pointing into it). The address-space limit (RLIMIT_AS) is set to the memory in use after the imports
plus AS_LIMIT_MB, so a reader that trusts a size field and allocates for it fails with MemoryError, which is
reported as a failure. The index of the case being read is written to OUT_JSON.progress first, so a case
that kills the process (a signal) can be named by the parent.
"""

from __future__ import annotations

import json
import os
import random
import resource
import struct
import sys
import tempfile
import traceback

INTERESTING_I32 = [0, 1, -1, 2, 255, 256, 65535, 2**31 - 1, -2**31, 2**30, 2**24, 300000000, 7]


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.randrange(7)
        if not b:
            b = bytearray(b"\0")
        i = rng.randrange(len(b))
        if op == 0:  # flip one bit
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            b[i] = rng.randrange(256)
        elif op == 2:  # truncate
            del b[i:]
        elif op == 3:  # delete a span
            del b[i:i + rng.randrange(1, 16)]
        elif op == 4:  # insert random bytes
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op == 5:  # overwrite an int32 with an interesting value
            b[i:i + 4] = struct.pack("<i", rng.choice(INTERESTING_I32))
        else:  # replace a decimal number of a text file with a large or odd one
            s = bytes(b)
            j = i
            while j < len(s) and not chr(s[j]).isdigit():
                j += 1
            k = j
            while k < len(s) and chr(s[k]).isdigit():
                k += 1
            if j < len(s):
                b[j:k] = str(rng.choice([0, 2**31, 2**32, 300000000, 4294967296, 10**30, 7])).encode()
    return bytes(b)


def read_one(kind: str, path: str, tmpdir: str):
    if kind == "mdl":
        from nnet2.nnet.model import load_model

        load_model(path)
    else:
        from nnet2.io.table import read_table

        for _ in read_table("ark:" + path, "matrix"):
            pass
        scp = os.path.join(tmpdir, "f.scp")
        with open(scp, "w") as f:
            f.write(f"u {path}:{random.Random(os.path.getsize(path)).randrange(max(1, os.path.getsize(path)))}\n")
        for _ in read_table("scp:" + scp, "matrix"):
            pass


def main() -> int:
    seed, iters, out, as_mb = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    inputs = [a.split(":", 1) for a in sys.argv[5:]]
    import numpy  # noqa: F401  (imports before the limit is set)

    import nnet2.io.table  # noqa: F401
    import nnet2.nnet.model  # noqa: F401
    from nnet2.utils.errors import UserError

    with open("/proc/self/statm") as f:
        vm_bytes = int(f.read().split()[0]) * resource.getpagesize()
    limit = vm_bytes + as_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = random.Random(seed)
    bad, counts = [], {"ok": 0, "user_error": 0}
    progress = open(out + ".progress", "w")
    with tempfile.TemporaryDirectory() as tmpdir:
        for kind, src in inputs:
            with open(src, "rb") as f:
                orig = f.read()
            for i in range(iters):
                data = mutate(orig, rng)
                path = os.path.join(tmpdir, "case." + kind)
                with open(path, "wb") as f:
                    f.write(data)
                progress.seek(0)
                progress.write(json.dumps({"kind": kind, "src": src, "i": i, "data": data.hex()}) + "\n")
                progress.flush()
                try:
                    read_one(kind, path, tmpdir)
                    counts["ok"] += 1
                except UserError as e:
                    counts["user_error"] += 1
                    if "\n" in str(e):
                        bad.append({"src": src, "i": i, "error": f"multi-line message: {e!r}", "data": data.hex()})
                except BaseException as e:  # noqa: BLE001 -- anything else is the finding
                    bad.append({"src": src, "i": i, "error": f"{type(e).__name__}: {e}"[:300],
                                "traceback": traceback.format_exc()[-1500:], "data": data.hex()})
    progress.close()
    with open(out, "w") as f:
        json.dump({"counts": counts, "bad": bad}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
