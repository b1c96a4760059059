"""Kaldi's AmDiagGmm in text form (`src/gmm/am-diag-gmm.cc`, `src/gmm/diag-gmm.cc` Write/Read):
`<DIMENSION> D <NUMPDFS> N` then per pdf `<DiagGMM>` with `<GCONSTS>`, `<WEIGHTS>` vectors and
`<MEANS_INVVARS>`, `<INV_VARS>` matrices, `</DiagGMM>`."""

from __future__ import annotations

import kaldi_hmm_gmm as khg
import numpy as np

from nnet2.utils.errors import ModelFormatError


def _vec(v) -> str:
    return " [ " + " ".join(f"{x:.9g}" for x in np.ravel(v)) + " ]\n"


def _mat(m) -> str:
    m = np.atleast_2d(m)
    rows = ["  " + " ".join(f"{x:.9g}" for x in r) for r in m]
    return " [\n" + " \n".join(rows) + " ]\n"


def am_diag_gmm_text(am) -> str:
    """Kaldi's AmDiagGmm::Write in text mode."""
    parts = [f"<DIMENSION> {am.dim} <NUMPDFS> {am.num_pdfs} "]
    for i in range(am.num_pdfs):
        g = am.get_pdf(i)
        parts.append("<DiagGMM> \n<GCONSTS> " + _vec(g.gconsts) + "<WEIGHTS> " + _vec(g.weights)
                     + "<MEANS_INVVARS> " + _mat(g.means_invvars) + "<INV_VARS> " + _mat(g.inv_vars)
                     + "</DiagGMM> \n")
    return "".join(parts)


def parse_am_diag_gmm_text(text: str, path: str):
    """Inverse of `am_diag_gmm_text` -> kaldi_hmm_gmm.AmDiagGmm."""
    toks = text.replace("[", " [ ").replace("]", " ] ").split()
    pos = 0

    def expect(tok):
        nonlocal pos
        if pos >= len(toks) or toks[pos] != tok:
            got = toks[pos] if pos < len(toks) else "end of file"
            raise ModelFormatError(f"{path}: expected {tok}, got {got} (token {pos})")
        pos += 1

    def array():
        nonlocal pos
        expect("[")
        end = toks.index("]", pos)
        vals = np.array(toks[pos:end], dtype=np.float64)
        pos = end + 1
        return vals

    expect("<DIMENSION>")
    dim = int(toks[pos]); pos += 1
    expect("<NUMPDFS>")
    n = int(toks[pos]); pos += 1
    am = khg.AmDiagGmm()
    for _ in range(n):
        expect("<DiagGMM>")
        expect("<GCONSTS>"); array()
        expect("<WEIGHTS>"); w = array()
        expect("<MEANS_INVVARS>"); mi = array().reshape(len(w), dim)
        expect("<INV_VARS>"); iv = array().reshape(len(w), dim)
        expect("</DiagGMM>")
        g = khg.DiagGmm(len(w), dim)
        g.set_weights(w.astype(np.float32))
        g.set_invvars_and_means(iv.astype(np.float32), (mi / iv).astype(np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return am
