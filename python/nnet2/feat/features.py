"""MFCC and log-mel filterbank features, computed by kaldi-native-fbank with Kaldi's option names
and defaults (`src/feat/feature-window.h`, `feature-mfcc.h`, `feature-fbank.h`,
`mel-computations.h`).

Options are dataclasses whose flags are Kaldi's (`--sample-frequency`, `--use-energy`, ...), so a
Kaldi `conf/mfcc.conf` reads unchanged: `MfccOptions.from_conf("conf/mfcc.conf")`.

Samples are passed on the int16 scale (as Kaldi reads WAV files). Dither: Kaldi adds
`dither * N(0,1)` noise to every frame; kaldi-native-fbank's own dither is unseeded, so we turn it
off there and add seeded Gaussian noise of the same scale to the waveform ourselves (seeded by
`--seed` and the utterance id), which makes features reproducible. Recipes use `--dither=0`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Self

import kaldi_native_fbank as knf
import numpy as np

from nnet2.utils.errors import DataError
from nnet2.utils.options import opt, parse_options


@dataclass
class FrameMelOptions:
    """Framing and mel-bank options shared by MFCC and fbank (Kaldi defaults)."""

    sample_frequency: float = opt(16000.0, "waveform sampling rate in Hz (must match the audio)")
    frame_length: float = opt(25.0, "frame length in milliseconds")
    frame_shift: float = opt(10.0, "frame shift in milliseconds")
    dither: float = opt(1.0, "dithering constant on the int16 sample scale (0 = off)")
    preemphasis_coefficient: float = opt(0.97, "pre-emphasis coefficient")
    remove_dc_offset: bool = opt(True, "subtract the mean of each frame before windowing")
    window_type: str = opt("povey", "window type", choices=["hamming", "hanning", "povey",
                                                             "rectangular", "sine", "blackman"])
    round_to_power_of_two: bool = opt(True, "round the FFT size up to a power of two")
    blackman_coeff: float = opt(0.42, "constant coefficient of the generalized Blackman window")
    snip_edges: bool = opt(True, "only output frames that fit entirely in the file "
                                 "(#frames = 1 + (S - length) / shift)")
    num_mel_bins: int = opt(23, "number of triangular mel-frequency bins")
    low_freq: float = opt(20.0, "low cutoff frequency of the mel bins (Hz)")
    high_freq: float = opt(0.0, "high cutoff of the mel bins (Hz; <= 0 means offset from Nyquist)")
    energy_floor: float = opt(0.0, "floor on energy (absolute, not relative) in MFCC/fbank")
    raw_energy: bool = opt(True, "compute energy before pre-emphasis and windowing")
    htk_compat: bool = opt(False, "put energy/C0 last (HTK order)")
    seed: int = opt(0, "seed of the dither noise (nnet2 addition; Kaldi's dither is unseeded)")

    @classmethod
    def from_conf(cls, path: str | None, extra: list[str] | None = None) -> Self:
        """Read a Kaldi conf file (`--name=value` lines; `extra` arguments win). An unknown option is an
        error naming it."""
        return parse_options(cls, ([f"--config={path}"] if path else []) + list(extra or []))

    @classmethod
    def from_argv(cls, argv: list[str], source: str = "command line") -> Self:
        """Options from `--name=value` arguments; an unknown option or bad value is one UserError."""
        return parse_options(cls, argv, source)

    def _fill(self, o) -> None:
        fo = o.frame_opts
        fo.samp_freq = float(self.sample_frequency)
        fo.frame_length_ms = float(self.frame_length)
        fo.frame_shift_ms = float(self.frame_shift)
        fo.dither = 0.0  # dither is applied by us, seeded (see module docstring)
        fo.preemph_coeff = float(self.preemphasis_coefficient)
        fo.remove_dc_offset = bool(self.remove_dc_offset)
        fo.window_type = self.window_type
        fo.round_to_power_of_two = bool(self.round_to_power_of_two)
        fo.blackman_coeff = float(self.blackman_coeff)
        fo.snip_edges = bool(self.snip_edges)
        mo = o.mel_opts
        mo.num_bins = int(self.num_mel_bins)
        mo.low_freq = float(self.low_freq)
        mo.high_freq = float(self.high_freq)
        o.energy_floor = float(self.energy_floor)
        o.raw_energy = bool(self.raw_energy)
        o.htk_compat = bool(self.htk_compat)


@dataclass
class MfccOptions(FrameMelOptions):
    """Kaldi `compute-mfcc-feats` options."""

    num_ceps: int = opt(13, "number of cepstra (including C0)")
    use_energy: bool = opt(True, "use log energy instead of C0")
    cepstral_lifter: float = opt(22.0, "cepstral liftering coefficient (0 = none)")

    def to_knf(self) -> knf.MfccOptions:
        """These options as kaldi-native-fbank's MfccOptions."""
        o = knf.MfccOptions()
        self._fill(o)
        o.num_ceps = int(self.num_ceps)
        o.use_energy = bool(self.use_energy)
        o.cepstral_lifter = float(self.cepstral_lifter)
        return o

    @property
    def dim(self) -> int:
        """Dimension of the features."""
        return self.num_ceps


@dataclass
class FbankOptions(FrameMelOptions):
    """Kaldi `compute-fbank-feats` options."""

    use_energy: bool = opt(False, "add log energy as an extra first dimension")
    use_log_fbank: bool = opt(True, "output log filterbank energies (else linear)")
    use_power: bool = opt(True, "use power spectrum (else magnitude)")

    def to_knf(self) -> knf.FbankOptions:
        """These options as kaldi-native-fbank's FbankOptions."""
        o = knf.FbankOptions()
        self._fill(o)
        o.use_energy = bool(self.use_energy)
        o.use_log_fbank = bool(self.use_log_fbank)
        o.use_power = bool(self.use_power)
        return o

    @property
    def dim(self) -> int:
        """Dimension of the features."""
        return self.num_mel_bins + int(self.use_energy)


def _dithered(samples: np.ndarray, dither: float, seed: int, utt: str) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if dither == 0.0:
        return x
    rng = np.random.default_rng([seed, zlib.crc32(utt.encode("utf-8"))])
    return (x + dither * rng.standard_normal(x.shape)).astype(np.float32)


def _compute(computer_cls, knf_opts, opts: FrameMelOptions, samples, rate, utt) -> np.ndarray:
    if rate is not None and abs(rate - opts.sample_frequency) > 1e-3:
        raise DataError(f"utterance '{utt}': sample rate {rate} Hz does not match "
                        f"--sample-frequency={opts.sample_frequency:g}")
    x = _dithered(samples, opts.dither, opts.seed, utt)
    comp = computer_cls(knf_opts)
    comp.accept_waveform(float(opts.sample_frequency), x)
    comp.input_finished()
    n = comp.num_frames_ready
    if n == 0:
        return np.zeros((0, opts.dim), dtype=np.float32)
    feats = np.stack([comp.get_frame(i) for i in range(n)]).astype(np.float32, copy=False)
    if not np.all(np.isfinite(feats)):
        bad = int(np.argwhere(~np.isfinite(feats))[0, 0])
        raise DataError(f"utterance '{utt}': NaN/Inf in features at frame {bad}")
    return feats


def compute_mfcc(samples: np.ndarray, opts: MfccOptions, *, rate: float | None = None,
                 utt: str = "<utt>") -> np.ndarray:
    """MFCC of one utterance. samples: (S,) on the int16 scale. Returns float32 (T, num_ceps),
    T = 1 + (S - window) // shift with snip_edges (0 frames when S < window)."""
    return _compute(knf.OnlineMfcc, opts.to_knf(), opts, samples, rate, utt)


def compute_fbank(samples: np.ndarray, opts: FbankOptions, *, rate: float | None = None,
                  utt: str = "<utt>") -> np.ndarray:
    """Log mel filterbank of one utterance. samples: (S,) int16 scale -> float32 (T, num_mel_bins
    [+1 with use_energy])."""
    return _compute(knf.OnlineFbank, opts.to_knf(), opts, samples, rate, utt)


def add_deltas(feats: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Kaldi `add-deltas` (defaults order 2, window 2): (T, D) -> (T, D*(order+1))."""
    if feats.shape[0] == 0:
        return np.zeros((0, feats.shape[1] * (order + 1)), dtype=np.float32)
    return np.asarray(knf.compute_deltas(knf.DeltaOptions(order=order, window=window),
                                         np.ascontiguousarray(feats, dtype=np.float32)))
