"""Hostile environment and hostile options (issue: one clear line, nothing lost, nothing clobbered).

Every test runs the real CLI in a child process and asserts the exit status, that stderr holds one
`nnet2 <verb>: error: ...` line naming the path/field and the cause (no "Traceback"), and that no output or
partial file appeared. These are behaviour checks of nnet2 itself (no reference implementation involved).
Cases that need root (a tiny tmpfs for ENOSPC, a read-only mount, a device node) skip without it.
"""

from __future__ import annotations

import fcntl
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import subprocess_pythonpath
from train_fixtures import make_egs_dir, make_init_model

TRAIN = ["--minibatch-size", "64", "--average-every", "2", "--threads", "1", "--prior-frames", "200",
         "--progress", "false"]


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hostile"))
    egs = make_egs_dir(d)
    mdl = make_init_model(os.path.join(d, "0.mdl"))
    return {"dir": d, "egs": egs, "mdl": mdl, "feats": os.path.join(d, "feats.ark"),
            "scp": os.path.join(d, "feats.scp")}


def env():
    return dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1")


def nnet2(*args, cwd=None, preexec_fn=None, timeout=300, mpi: int = 0, stdout=subprocess.PIPE):
    cmd = [sys.executable, "-m", "nnet2", *map(str, args)]
    if mpi:
        mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [mpiexec, "-n", str(mpi), sys.executable, "-m", "mpi4py", *cmd[1:]]
    return subprocess.run(cmd, cwd=cwd, env=env(), stdout=stdout, stderr=subprocess.PIPE, timeout=timeout,
                          preexec_fn=preexec_fn)


def one_error_line(p, verb: str, *needles: str) -> str:
    """Assert exit 1 and exactly one error line (no traceback) containing every needle; return it."""
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1, err
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(errors) == 1 and errors[0].startswith(f"nnet2 {verb}: error: "), err
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def listing(d: str) -> set[str]:
    out = set()
    for root, dirs, files in os.walk(d):
        for x in dirs + files:
            out.add(os.path.relpath(os.path.join(root, x), d))
    return out


def limit_file_size(nbytes: int):
    """preexec_fn: RLIMIT_FSIZE (writes past it fail with EFBIG; SIGXFSZ ignored so the write returns)."""
    def f():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return f


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def tmpfs(tmp_path):
    """A mounter of small tmpfs file systems under tmp_path (root only), unmounted afterwards."""
    if not can_mount():
        pytest.skip("needs root to mount a tmpfs")
    mounted = []

    def mount(name: str, opts: str) -> str:
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
        mounted.append(str(d))
        return str(d)
    yield mount
    for d in mounted:
        subprocess.run(["umount", "-l", d])


# ------------------------------------------------------------------------------------------------
# 1. Outputs that are not regular files are written through; symlinks are followed.

def _reader(path: str, got: dict):
    with open(path, "rb") as f:
        got["data"] = f.read()


@pytest.mark.parametrize("verb", ["am-copy", "am-compute"])
def test_fifo_output_written_through(fx, tmp_path, verb):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    got = {}
    t = threading.Thread(target=_reader, args=(fifo, got), daemon=True)
    t.start()
    if verb == "am-copy":
        args, ref_args = ["am-copy", fx["mdl"], fifo], ["am-copy", fx["mdl"], tmp_path / "ref"]
    else:
        args = ["am-compute", fx["mdl"], f"ark:{fx['feats']}", f"ark:{fifo}"]
        ref_args = ["am-compute", fx["mdl"], f"ark:{fx['feats']}", f"ark:{tmp_path / 'ref'}"]
    p = nnet2(*args)
    if t.is_alive():  # nothing was written to the FIFO: open it once so the reader thread ends
        with open(fifo, "wb"):
            pass
    t.join(30)
    assert p.returncode == 0, p.stderr.decode()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a file"
    assert nnet2(*ref_args).returncode == 0
    assert got["data"] == (tmp_path / "ref").read_bytes()
    assert listing(str(tmp_path)) == {"fifo", "ref"}


@pytest.mark.parametrize("verb", ["am-copy", "am-compute"])
def test_symlink_output_followed(fx, tmp_path, verb):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out"
    target.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to("real/out")
    if verb == "am-copy":
        p = nnet2("am-copy", fx["mdl"], link)
    else:
        p = nnet2("am-compute", fx["mdl"], f"ark:{fx['feats']}", f"ark:{link}")
    assert p.returncode == 0, p.stderr.decode()
    assert os.path.islink(link) and os.readlink(link) == "real/out"
    assert target.read_bytes() != b"old" and len(target.read_bytes()) > 100
    assert listing(str(tmp_path)) == {"real", "real/out", "link"}  # no temporary file left


def test_character_device_written_through(fx, tmp_path):
    """A private copy of /dev/null (same major/minor) stands in for it, so a failure cannot harm the real one."""
    null = str(tmp_path / "null")
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as e:
        pytest.skip(f"cannot create a device node: {e.strerror}")
    for args in (["am-copy", fx["mdl"], null], ["am-compute", fx["mdl"], f"ark:{fx['feats']}", f"ark,t:{null}"]):
        p = nnet2(*args)
        assert p.returncode == 0, p.stderr.decode()
        assert stat.S_ISCHR(os.lstat(null).st_mode), f"{args[0]} replaced the device by a file"
    assert listing(str(tmp_path)) == {"null"}


def test_dev_null_is_left_a_device(fx):
    """The real /dev/null: only run where it is a character device (and stays one whatever happens)."""
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("/dev/null is not a character device here")
    p = nnet2("am-compute", fx["mdl"], f"ark:{fx['feats']}", "ark,t:/dev/null")
    assert p.returncode == 0, p.stderr.decode()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dash_is_stdout(fx, tmp_path):
    p = nnet2("am-copy", fx["mdl"], "-")
    assert p.returncode == 0, p.stderr.decode()
    assert nnet2("am-copy", fx["mdl"], tmp_path / "ref").returncode == 0
    assert p.stdout == (tmp_path / "ref").read_bytes()
    assert not os.path.exists("-")


# ------------------------------------------------------------------------------------------------
# 2. One `nnet2 train` per output directory.

@pytest.mark.parametrize("resume", ["false", "true"])
def test_out_dir_lock_refuses_second_run(fx, tmp_path, resume):
    out = tmp_path / "exp"
    out.mkdir()
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        p = nnet2("train", *TRAIN, "--num-epochs", "1", "--resume", resume, fx["egs"], fx["mdl"], out)
    finally:
        os.close(fd)
    one_error_line(p, "train", str(out), "in use", f"pid {os.getpid()}")
    assert listing(str(out)) == {".lock"}
    # the lock is released with its holder: the same command now runs
    p = nnet2("train", *TRAIN, "--num-epochs", "1", fx["egs"], fx["mdl"], out)
    assert p.returncode == 0, p.stderr.decode()
    assert (out / "final.mdl").exists()


# ------------------------------------------------------------------------------------------------
# 3. Environment failures: one line naming the path and the cause, no partial output.

def test_output_under_a_file(fx, tmp_path):
    (tmp_path / "afile").write_text("x")
    cases = [
        (["am-copy", fx["mdl"], tmp_path / "afile" / "o.mdl"], "am-copy"),
        (["am-compute", fx["mdl"], f"ark:{fx['feats']}", f"ark:{tmp_path / 'afile' / 'o.ark'}"], "am-compute"),
        (["train", *TRAIN, "--num-epochs", "1", fx["egs"], fx["mdl"], tmp_path / "afile" / "exp"], "train"),
        (["get-egs", "--ali-is-pdf", "true", "--num-pdfs", "5", f"scp:{fx['scp']}",
          f"ark:{fx['dir']}/ali.ark", tmp_path / "afile" / "egs"], "get-egs"),
    ]
    _write_pdf_alis(fx)
    for args, verb in cases:
        line = one_error_line(nnet2(*args), verb, "afile")
        assert "Not a directory" in line or "no directory" in line, line
    assert listing(str(tmp_path)) == {"afile"}


def _write_pdf_alis(fx):
    import kaldiio

    ali = os.path.join(fx["dir"], "ali.ark")
    if not os.path.exists(ali):
        feats = dict(kaldiio.load_ark(fx["feats"]))
        kaldiio.save_ark(ali, {k: np.arange(len(v), dtype=np.int32) % 5 for k, v in feats.items()})
    return ali


@pytest.mark.parametrize("verb", ["am-copy", "am-compute", "get-egs"])
def test_file_size_limit(fx, tmp_path, verb):
    """EFBIG: RLIMIT_FSIZE below the output's size (the first bytes are written, then the write fails)."""
    ali = _write_pdf_alis(fx)
    args = {"am-copy": ["am-copy", "--binary", "false", fx["mdl"], "o.mdl"],
            "am-compute": ["am-compute", fx["mdl"], f"ark:{fx['feats']}", "ark:o.ark"],
            "get-egs": ["get-egs", "--ali-is-pdf", "true", "--num-pdfs", "5", "--left-context", "1",
                        "--right-context", "1", "--num-utts-subset", "4", "--num-frames-diagnostic", "50",
                        f"scp:{fx['scp']}", f"ark:{ali}", "egs"]}[verb]
    p = nnet2(*args, cwd=tmp_path, preexec_fn=limit_file_size(1500))
    one_error_line(p, verb, args[-1].split(":")[-1], "File too large")  # names the output
    assert listing(str(tmp_path)) == set()


def test_read_only_output_dir(fx, tmpfs):
    ro = tmpfs("ro", "ro,size=64k")
    one_error_line(nnet2("am-copy", fx["mdl"], os.path.join(ro, "o.mdl")), "am-copy", ro, "Read-only file system")
    one_error_line(nnet2("train", *TRAIN, "--num-epochs", "1", fx["egs"], fx["mdl"], os.path.join(ro, "exp")),
                   "train", ro, "Read-only file system")
    assert listing(ro) == set()


def test_disk_full_then_resume_identical(fx, tmp_path, tmpfs):
    """ENOSPC in the middle of training: one line naming the checkpoint, the last complete checkpoint
    intact, no temporary file; after the space is freed (remount bigger) --resume ends with the same
    final.mdl as a run that never failed."""
    ref = tmp_path / "ref"
    p = nnet2("train", *TRAIN, "--num-epochs", "3", fx["egs"], fx["mdl"], ref)
    assert p.returncode == 0, p.stderr.decode()
    small = tmpfs("small", "size=16k")  # four pages: the run fails after a few files
    out = os.path.join(small, "exp")
    p = nnet2("train", *TRAIN, "--num-epochs", "3", fx["egs"], fx["mdl"], out)
    one_error_line(p, "train", out, "No space left on device")
    assert not [f for f in listing(out) if ".tmp" in f]
    assert not os.path.exists(os.path.join(out, "final.mdl"))
    subprocess.run(["mount", "-o", "remount,size=4m", small], check=True)
    p = nnet2("train", *TRAIN, "--num-epochs", "3", "--resume", "true", fx["egs"], fx["mdl"], out)
    assert p.returncode == 0, p.stderr.decode()
    assert (ref / "final.mdl").read_bytes() == open(os.path.join(out, "final.mdl"), "rb").read()


def test_disk_full_am_compute(fx, tmpfs):
    small = tmpfs("small", "size=16k")
    p = nnet2("am-compute", fx["mdl"], f"ark:{fx['feats']}", f"ark,scp:{small}/o.ark,{small}/o.scp")
    one_error_line(p, "am-compute", "o.ark", "No space left on device")
    assert listing(small) == set()


# ------------------------------------------------------------------------------------------------
# 5./6. Options: out-of-range values up front; resume refuses changed options that decide the result.

@pytest.mark.parametrize("flag,value,msg", [
    ("--initial-lr", "-1", "--initial-lr must be > 0"), ("--initial-lr", "nan", "--initial-lr must be a finite"),
    ("--final-lr", "inf", "--final-lr must be a finite"), ("--num-epochs", "0", "--num-epochs must be >= 1"),
    ("--num-epochs", "-2", "--num-epochs must be >= 1"), ("--average-every", "-1", "--average-every must be >= 0"),
    ("--threads", "-1", "--threads must be >= 0"), ("--prior-frames", "-5", "--prior-frames must be >= 0"),
    ("--block-momentum", "5", "--block-momentum must be auto or a number in [0, 1)"),
    ("--minibatch-size", "0", "--minibatch-size must be >= 1"),
    ("--newbob-halving-factor", "2", "--newbob-halving-factor must be in (0, 1]"),
])
@pytest.mark.parametrize("averaging", ["bmuf", "plain"])
def test_train_rejects_bad_option(fx, tmp_path, flag, value, msg, averaging):
    p = nnet2("train", *TRAIN, "--averaging", averaging, flag, value, fx["egs"], fx["mdl"], tmp_path / "exp")
    one_error_line(p, "train", msg, value)
    assert listing(str(tmp_path)) == set()


def test_get_egs_rejects_bad_option(fx, tmp_path):
    p = nnet2("get-egs", "--ali-is-pdf", "true", "--left-context", "-1", f"scp:{fx['scp']}",
              f"ark:{_write_pdf_alis(fx)}", tmp_path / "egs")
    one_error_line(p, "get-egs", "--left-context must be >= 0")
    assert listing(str(tmp_path)) == set()


@pytest.fixture(scope="module")
def interrupted_run(fx, tmp_path_factory):
    """A 2-epoch run whose last checkpoint and final.mdl are removed (as if killed after iteration 1)."""
    d = str(tmp_path_factory.mktemp("resume"))
    out = os.path.join(d, "exp")
    p = nnet2("train", *TRAIN, "--num-epochs", "2", "--averaging", "bmuf", "--lr-schedule", "exponential",
              fx["egs"], fx["mdl"], out)
    assert p.returncode == 0, p.stderr.decode()
    os.unlink(os.path.join(out, "final.mdl"))
    os.unlink(os.path.join(out, "state", "2.json"))
    return out


@pytest.mark.parametrize("flag,value", [
    ("--initial-lr", "0.02"), ("--final-lr", "0.0001"), ("--block-momentum", "0.5"), ("--block-lr", "0.5"),
    ("--scale-lr-by-workers", "true"), ("--prior-frames", "50"), ("--update", "sgd"),
    ("--minibatch-size", "32"), ("--averaging", "plain"), ("--average-every", "3"), ("--seed", "1"),
])
def test_resume_refuses_changed_option(fx, interrupted_run, flag, value):
    before = {f: os.stat(os.path.join(interrupted_run, f)).st_mtime_ns for f in listing(interrupted_run)
              if not f.startswith("log")}
    args = dict(zip(TRAIN[::2], TRAIN[1::2]))
    args.update({"--num-epochs": "2", "--averaging": "bmuf", "--resume": "true", flag: value})
    p = nnet2("train", *[x for kv in args.items() for x in kv], fx["egs"], fx["mdl"], interrupted_run)
    one_error_line(p, "train", "cannot resume", flag, value)
    after = {f: os.stat(os.path.join(interrupted_run, f)).st_mtime_ns for f in listing(interrupted_run)
             if not f.startswith("log")}
    after.pop(".lock"), before.pop(".lock")
    assert after == before  # nothing written, nothing removed


# ------------------------------------------------------------------------------------------------
# 10. No skeleton outputs when a command fails on its inputs.

def test_no_skeleton_outputs(fx, tmp_path):
    one_error_line(nnet2("train", *TRAIN, tmp_path / "no_egs", fx["mdl"], tmp_path / "exp"), "train", "no_egs")
    one_error_line(nnet2("train", *TRAIN, fx["egs"], tmp_path / "no.mdl", tmp_path / "exp"), "train", "no.mdl")
    one_error_line(nnet2("pretrain-dbn", f"scp:{tmp_path / 'no.scp'}", tmp_path / "dbn"), "pretrain-dbn", "no.scp")
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(f"u1 {tmp_path / 'missing.wav'}\n")
    (data / "utt2spk").write_text("u1 s1\n")
    (data / "spk2utt").write_text("s1 u1\n")
    p = nnet2("make-mfcc", data, tmp_path / "log", tmp_path / "mfcc" / "deeper")
    one_error_line(p, "make-mfcc", "missing.wav")
    p = nnet2("compute-mfcc-feats", f"scp:{data / 'wav.scp'}",
              f"ark,scp:{tmp_path / 'mfcc' / 'deeper' / 'raw.ark'},{tmp_path / 'mfcc' / 'deeper' / 'raw.scp'}")
    assert p.returncode == 1 and "Traceback" not in p.stderr.decode()  # (Kaldi: skipped utterance, then exit 1)
    assert listing(str(tmp_path)) == {"data", "data/wav.scp", "data/utt2spk", "data/spk2utt"}


# ------------------------------------------------------------------------------------------------
# 9. Under MPI: one line for one error, and Ctrl-C is `interrupted` with exit 130 as with one rank.

def test_mpi_bad_input_one_line(fx, tmp_path):
    p = nnet2("train", *TRAIN, tmp_path / "no_egs", fx["mdl"], tmp_path / "exp", mpi=2)
    line = one_error_line(p, "train", "no_egs")
    assert "rank" not in line  # both ranks found it; rank 0 says it
    assert listing(str(tmp_path)) == set()


def test_mpi_ctrl_c(fx, tmp_path):
    out = tmp_path / "exp"
    mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "nnet2", "train", *TRAIN,
           "--num-epochs", "100000", fx["egs"], fx["mdl"], str(out)]
    p = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait until the ranks are inside the training loop (a checkpoint exists), then press Ctrl-C
        import time

        for _ in range(1200):
            if (out / "state" / "2.json").exists() or p.poll() is not None:
                break
            time.sleep(0.1)
        assert p.poll() is None, p.stderr.read().decode()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    err = err.decode(errors="replace")
    assert p.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert [ln for ln in err.splitlines() if "interrupted" in ln] == ["nnet2 train: interrupted"], err
    assert not (out / "final.mdl").exists()


# ------------------------------------------------------------------------------------------------
# 4. Feature archives and models from outside: sizes checked against the input before allocating.

def _ark_cases(fx) -> dict[str, bytes]:
    import struct

    good = open(fx["feats"], "rb").read()
    fm = b"\0BFM \x04" + struct.pack("<i", 2**31 - 1) + b"\x04" + struct.pack("<i", 3) + b"\0" * 64
    cm = b"\0BCM " + struct.pack("<ffii", 0.0, 1.0, 2**31 - 1, 3) + b"\0" * 64
    return {"truncated": good[:500], "rows_2^31": b"u0 " + fm, "cm_rows_2^31": b"u0 " + cm,
            "junk_token": b"u0 \0B" + b"\x07" * 40}


@pytest.mark.parametrize("case,needle", [("truncated", "truncated input"), ("rows_2^31", "truncated input"),
                                         ("cm_rows_2^31", "truncated input"), ("junk_token", "type token")])
def test_am_compute_bad_archive(fx, tmp_path, case, needle):
    (tmp_path / "bad.ark").write_bytes(_ark_cases(fx)[case])
    p = nnet2("am-compute", fx["mdl"], "ark:bad.ark", "ark:out.ark", cwd=tmp_path,
              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
    line = one_error_line(p, "am-compute", "bad.ark", needle, "byte offset")
    assert "utterance 'u0" in line or case == "truncated"
    assert listing(str(tmp_path)) == {"bad.ark"}


def test_am_compute_scp_into_the_middle_of_an_archive(fx, tmp_path):
    (tmp_path / "bad.scp").write_text(f"u000 {fx['feats']}:17\n")
    one_error_line(nnet2("am-compute", fx["mdl"], "scp:bad.scp", "ark:out.ark", cwd=tmp_path), "am-compute",
                   "bad.scp", "u000", "expected '[' or a binary header")
    assert listing(str(tmp_path)) == {"bad.scp"}


def test_am_compute_empty_matrix_is_skipped_as_kaldi_does(fx, tmp_path):
    """Kaldi's nnet-am-compute skips an utterance whose output would be empty, and fails if none is left."""
    import struct

    empty = b"e0 \0BFM \x04" + struct.pack("<i", 0) + b"\x04" + struct.pack("<i", 3)
    (tmp_path / "only_empty.ark").write_bytes(empty)
    p = nnet2("am-compute", fx["mdl"], "ark:only_empty.ark", "ark:out.ark", cwd=tmp_path)
    one_error_line(p, "am-compute", "no utterance with frames")
    assert "Skipping utterance e0" in p.stderr.decode()
    assert listing(str(tmp_path)) == {"only_empty.ark"}
    (tmp_path / "mixed.ark").write_bytes(empty + open(fx["feats"], "rb").read())
    p = nnet2("am-compute", fx["mdl"], "ark:mixed.ark", "ark,t:out.txt", cwd=tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    text = (tmp_path / "out.txt").read_text()
    assert "e0" not in text and "u000" in text


def _text_model(fx, tmp_path) -> bytes:
    assert nnet2("am-copy", "--binary", "false", fx["mdl"], tmp_path / "t.mdl").returncode == 0
    data = (tmp_path / "t.mdl").read_bytes()
    os.unlink(tmp_path / "t.mdl")
    return data


@pytest.mark.parametrize("phone", ["300000000", "4294967296"])
def test_model_with_huge_phone_id(fx, tmp_path, phone):
    t = _text_model(fx, tmp_path)
    i = t.index(b"<ForPhones>") + len(b"<ForPhones> \n")
    (tmp_path / "bad.mdl").write_bytes(t[:i] + phone.encode() + b" " + t[i:])
    p = nnet2("am-copy", "bad.mdl", "o.mdl", cwd=tmp_path,
              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
    one_error_line(p, "am-copy", "bad.mdl", "byte offset", "phone id", phone)
    assert listing(str(tmp_path)) == {"bad.mdl"}


def test_model_with_phone2idx_out_of_range(fx, tmp_path):
    """One corrupted entry of the binary phone2idx table (Kaldi's HmmTopology binary layout)."""
    import struct

    b = bytearray(open(fx["mdl"], "rb").read())
    i = b.index(b"<Topology> ") + len(b"<Topology> ")
    n = struct.unpack_from("<i", b, i + 1)[0]  # the phones vector: size byte, count, values
    j = i + 5 + 4 * n  # the phone2idx vector
    m = struct.unpack_from("<i", b, j + 1)[0]
    struct.pack_into("<i", b, j + 5 + 4 * (m - 1), 7)  # the last phone -> entry 7 (there is no such entry)
    (tmp_path / "bad.mdl").write_bytes(bytes(b))
    one_error_line(nnet2("am-copy", "bad.mdl", "o.mdl", cwd=tmp_path), "am-copy", "bad.mdl",
                   "maps to topology entry 7")
    assert listing(str(tmp_path)) == {"bad.mdl"}


# ------------------------------------------------------------------------------------------------
# 7. Divergence stops the run with one line; final.mdl is never written from a diverged model.

@pytest.mark.parametrize("update,mpi,mb", [("sgd", 0, "64"), ("ngd", 0, "1024"), ("sgd", 2, "64"), ("ngd", 2, "1024")])
def test_divergence_stops_without_final_model(fx, tmp_path, update, mpi, mb):
    """A learning rate far too high (NG-SGD's per-minibatch step limit hides it with small minibatches)."""
    out = tmp_path / "exp"
    p = nnet2("train", *TRAIN, "--num-epochs", "3", "--update", update, "--initial-lr", "100", "--final-lr", "100",
              "--minibatch-size", mb, fx["egs"], fx["mdl"], out, mpi=mpi)
    line = one_error_line(p, "train", "training diverged", "lower --initial-lr (now 100)")
    assert "rank" not in line.split("diverged")[0]  # one line from rank 0, not one per rank
    assert not (out / "final.mdl").exists()
    it = int(line.split("diverged in iteration ")[1].split()[0])
    assert not (out / f"{it + 1}.mdl").exists()  # the diverged iteration is not checkpointed either


# ------------------------------------------------------------------------------------------------
# 8. Bad data: corrupt egs, empty data dirs, too few utterances for a validation set.

@pytest.mark.parametrize("col,value,needle", [(0, 10**6, "outside its utterance"), (3, 99, "label 99 is not a pdf-id"),
                                              (2, 10**7, "outside the")])
def test_train_refuses_corrupt_egs_index(fx, tmp_path, col, value, needle):
    egs = tmp_path / "egs"
    shutil.copytree(fx["egs"], egs)
    a = np.load(egs / "index.2.npy")
    a[5, col] = value
    np.save(egs / "index.2.npy", a)
    p = nnet2("train", *TRAIN, egs, fx["mdl"], tmp_path / "exp")
    one_error_line(p, "train", "index.2.npy", "example 5", needle)
    assert not (tmp_path / "exp").exists()


def test_empty_data_dir_is_an_error(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for f in ("wav.scp", "utt2spk", "spk2utt"):
        (d / f).write_text("")
    one_error_line(nnet2("validate-data-dir", d), "validate-data-dir", "utt2spk", "empty file")
    one_error_line(nnet2("make-mfcc", d, tmp_path / "log", tmp_path / "mfcc"), "make-mfcc", "utt2spk", "empty file")
    assert listing(str(tmp_path)) == {"data", "data/wav.scp", "data/utt2spk", "data/spk2utt"}


def test_unsorted_feats_scp_is_refused(fx, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "utt2spk").write_text("u000 s\nu001 s\n")
    (d / "spk2utt").write_text("s u000 u001\n")
    (d / "feats.scp").write_text(f"u001 {fx['feats']}:5\nu000 {fx['feats']}:5\n")
    one_error_line(nnet2("validate-data-dir", "--need-feats", "true", d), "validate-data-dir", "feats.scp:2",
                   "not sorted")
    # get-egs (whose egs depend on the order) refuses it alike
    p = nnet2("get-egs", "--ali-is-pdf", "true", "--num-pdfs", "5", f"scp:{d / 'feats.scp'}",
              f"ark:{_write_pdf_alis(fx)}", tmp_path / "egs")
    one_error_line(p, "get-egs", "feats.scp:2", "not sorted in C order", "u000")
    assert not (tmp_path / "egs").exists()


def test_get_egs_too_few_utterances_for_validation(tmp_path):
    from nnet2.io.table import write_table

    rng = np.random.default_rng(0)
    feats = {f"u{i}": rng.standard_normal((50, 3)).astype(np.float32) for i in range(3)}
    write_table(f"ark,scp:{tmp_path / 'f.ark'},{tmp_path / 'feats.scp'}", feats)
    write_table(f"ark:{tmp_path / 'ali.ark'}", {k: np.zeros(50, np.int32) for k in feats}, "int_vector")
    p = nnet2("get-egs", "--ali-is-pdf", "true", "--num-pdfs", "5", "scp:feats.scp", "ark:ali.ark", "egs", cwd=tmp_path)
    one_error_line(p, "get-egs", "only 3 utterances", "too few for a validation set")
    assert not (tmp_path / "egs").exists()
