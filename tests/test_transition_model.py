"""TransitionModel: byte-exact round trips, tid->pdf against kaldi-hmm-gmm, validation errors."""

import numpy as np
import pytest

from nnet2.io.kaldi_io import KaldiReader
from nnet2.io.transition_model import TransitionModel
from nnet2.utils.errors import ModelFormatError

TOPO = """<Topology>
<TopologyEntry>
<ForPhones>
2 3 4
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.75 <Transition> 2 0.25 </State>
<State> 2 <PdfClass> 2 <Transition> 2 0.75 <Transition> 3 0.25 </State>
<State> 3 </State>
</TopologyEntry>
<TopologyEntry>
<ForPhones>
1
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.25 <Transition> 1 0.25 <Transition> 2 0.25 <Transition> 3 0.25 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.5 <Transition> 2 0.5 </State>
<State> 2 <PdfClass> 2 <Transition> 2 0.5 <Transition> 3 0.5 </State>
<State> 3 </State>
</TopologyEntry>
</Topology>
"""


@pytest.fixture(scope="module")
def khg_tm():
    khg = pytest.importorskip("kaldi_hmm_gmm")
    topo = khg.HmmTopology()
    topo.read(TOPO)
    ctx = khg.monophone_context_dependency(list(topo.phones), topo.get_phone_to_num_pdf_classes())
    return khg.TransitionModel(ctx, topo)


def test_tid2pdf_matches_kaldi_hmm_gmm(khg_tm):
    tm = TransitionModel.from_kaldi_hmm_gmm(khg_tm)
    assert tm.num_pdfs == khg_tm.num_pdfs == 12
    assert tm.num_transition_ids == khg_tm.num_transition_ids
    ref = list(khg_tm.id2pdf_id)
    assert tm.tid2pdf[0] == -1
    assert tm.tid2pdf[1:].tolist() == ref[1:]
    for tid in range(1, tm.num_transition_ids + 1):
        assert tm.tid2phone[tid] == khg_tm.transition_id_to_phone(tid)
    assert tm.phones == [1, 2, 3, 4]
    # kaldi-hmm-gmm's str() prints 6 significant digits (default ostream precision), Kaldi's
    # files 7; hence the 1e-5 relative tolerance.
    np.testing.assert_allclose(tm.log_probs, np.array(khg_tm.log_probs), rtol=1e-5)


def test_text_roundtrip_of_kaldi_hmm_gmm_output_is_byte_exact(khg_tm):
    text = str(khg_tm).encode()
    tm = TransitionModel.from_bytes(text)
    assert tm.to_bytes(binary=False) == text


def test_binary_roundtrip_and_conversion(khg_tm):
    tm = TransitionModel.from_kaldi_hmm_gmm(khg_tm)
    b = tm.to_bytes(binary=True)
    assert b.startswith(b"\0B<TransitionModel> <Topology> ")
    tm2 = TransitionModel.from_bytes(b)
    assert tm2.to_bytes(True) == b
    assert tm2.to_bytes(False) == tm.to_bytes(False)
    assert np.array_equal(tm2.tid2pdf, tm.tid2pdf)


GOLDEN_TM = open(__file__.replace("test_transition_model.py", "data/tiny_pnorm.mdl.txt"),
                 "rb").read().split(b"<Nnet>")[0]


def test_golden_tm_tables():
    tm = TransitionModel.from_bytes(GOLDEN_TM)
    assert tm.tid2pdf.tolist() == [-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert tm.tid2phone.tolist() == [-1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    assert tm.tid2hmm_state.tolist() == [-1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]
    assert tm.to_bytes(False) == GOLDEN_TM


def test_tuples_topology_forward_selfloop_forms():
    text = (b"<TransitionModel> \n<Topology> \n<TopologyEntry> \n<ForPhones> \n1 2 \n</ForPhones> \n"
            b"<State> 0 <ForwardPdfClass> 0 <SelfLoopPdfClass> 1 <Transition> 0 0.5 "
            b"<Transition> 1 0.5 </State> \n<State> 1 </State> \n</TopologyEntry> \n</Topology> \n"
            b"<Tuples> 2 \n1 0 0 1 \n2 0 2 3 \n</Tuples> \n<LogProbs> \n [ 0 -0.6931472 -0.6931472 "
            b"-0.6931472 -0.6931472 ]\n</LogProbs> \n</TransitionModel> \n")
    tm = TransitionModel.from_bytes(text)
    assert not tm.is_hmm()
    # self-loop (0->0) uses the self-loop pdf, the forward arc the forward pdf
    assert tm.tid2pdf.tolist() == [-1, 1, 0, 3, 2]
    assert tm.num_pdfs == 4
    assert tm.to_bytes(False) == text
    b = tm.to_bytes(True)
    assert TransitionModel.from_bytes(b).to_bytes(True) == b
    assert TransitionModel.from_bytes(b).to_bytes(False) == text


@pytest.mark.parametrize("old,new,msg", [
    (b"1 0 0 \n2 0 1", b"9 0 0 \n2 0 1", "phone 9"),
    (b"<LogProbs> \n [ 0 -0.6931472 ", b"<LogProbs> \n [ 0 ", "dimension"),
    (b"-1.386294 ]", b"1.386294 ]", "<= 0"),
    (b"<Triples> 5", b"<Triplez> 5", "<Triples> or <Tuples>"),
    (b"<State> 1 </State> \n</TopologyEntry> \n<TopologyEntry>", b"<State> 2 </State> \n</TopologyEntry> \n<TopologyEntry>", "state index"),
    (b"<Transition> 0 0.5 <Transition> 1 0.5", b"<Transition> 0 0.5 <Transition> 5 0.5", "destination"),
    (b"2 3 \n</ForPhones>", b"2 1 \n</ForPhones>", "two entries"),
    (b"1 0 0 \n2 0 1 \n", b"2 0 1 \n1 0 0 \n", "sorted"),
])
def test_invalid_transition_models(old, new, msg):
    assert old in GOLDEN_TM
    with pytest.raises(ModelFormatError) as ei:
        TransitionModel.from_bytes(GOLDEN_TM.replace(old, new, 1), name="final.mdl")
    assert msg in str(ei.value) and "final.mdl" in str(ei.value)


def test_truncated_transition_model_every_offset():
    tm = TransitionModel.from_bytes(GOLDEN_TM)
    for data in (GOLDEN_TM, tm.to_bytes(True)):
        for cut in range(0, len(data) - 1):
            with pytest.raises(ModelFormatError):
                TransitionModel.read(KaldiReader(data[:cut], "cut"))
