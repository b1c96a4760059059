"""Fuzz the model reader (binary and text .mdl) and the feature-archive reader (binary FM, compressed CM,
text): every mutated input must end in success or one clean `UserError` line -- no other exception, no
signal, and no allocation beyond a fixed margin over the memory in use (the child runs under RLIMIT_AS).

Seeded, so a failure reproduces. A few seconds by default; NNET2_FUZZ_ITERS=N (mutations per input file)
and NNET2_FUZZ_SEED=S run longer or other campaigns. A behaviour check of nnet2's readers (no reference).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from conftest import subprocess_pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))


def _feature_archives(d: str) -> list[str]:
    from nnet2.io.table import write_table

    rng = np.random.default_rng(0)
    feats = {f"utt{i}": rng.standard_normal((int(rng.integers(2, 9)), 3)).astype(np.float32) for i in range(3)}
    out = []
    for name, spec in (("fm.ark", "ark:{}"), ("text.ark", "ark,t:{}")):
        p = os.path.join(d, name)
        write_table(spec.format(p), feats.items(), "matrix")
        out.append(p)
    p = os.path.join(d, "cm.ark")
    write_table(f"ark:{p}", feats.items(), "matrix", compress=1)
    out.append(p)
    return out


def test_fuzz_readers(tmp_path):
    iters = int(os.environ.get("NNET2_FUZZ_ITERS", "100"))
    seed = int(os.environ.get("NNET2_FUZZ_SEED", "14"))
    inputs = [f"mdl:{os.path.join(HERE, 'data', n)}" for n in
              ("tiny_sigmoid.mdl.bin", "tiny_sigmoid.mdl.txt", "tiny_pnorm.mdl.bin", "tiny_pnorm.mdl.txt")]
    inputs += [f"ark:{p}" for p in _feature_archives(str(tmp_path))]
    out = str(tmp_path / "fuzz.json")
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_readers.py"), str(seed), str(iters), out, "256",
                        *inputs], env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        last = open(out + ".progress").read() if os.path.exists(out + ".progress") else "?"
        raise AssertionError(f"the fuzzing child ended with status {p.returncode} (a signal if negative) on "
                             f"{last[:2000]}\n{p.stderr[-3000:]}")
    res = json.load(open(out))
    assert not res["bad"], json.dumps(res["bad"][:5], indent=1)[:6000]
    total = res["counts"]["ok"] + res["counts"]["user_error"]
    assert total == iters * len(inputs)
    assert res["counts"]["user_error"] > 0  # the mutations do break things (the test can fail)
