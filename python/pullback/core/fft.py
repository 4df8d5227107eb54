"""Discrete Fourier transforms (``mx.fft``), as MLX's ``mlx.core.fft``.

The transforms, shifts and frequency helpers are C++ (``pullback._core._fft``); ``stft`` and
``istft`` are composed here from them and ordinary ops, so their derivatives come for free.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from pullback._core import _fft
from pullback._core import array

fft = _fft.fft
ifft = _fft.ifft
rfft = _fft.rfft
irfft = _fft.irfft
fft2 = _fft.fft2
ifft2 = _fft.ifft2
rfft2 = _fft.rfft2
irfft2 = _fft.irfft2
fftn = _fft.fftn
ifftn = _fft.ifftn
rfftn = _fft.rfftn
irfftn = _fft.irfftn
fftshift = _fft.fftshift
ifftshift = _fft.ifftshift
fftfreq = _fft.fftfreq
rfftfreq = _fft.rfftfreq

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
           "rfftn", "irfftn", "fftshift", "ifftshift", "fftfreq", "rfftfreq", "stft", "istft"]


def _positive_int(value, name: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"[{name}] {what} must be an integer, got {type(value).__name__}.")
    if value <= 0:
        raise ValueError(f"[{name}] {what} must be positive, got {value}.")
    return int(value)


def _window(window, win_length: Optional[int], n_fft: int, name: str) -> array:
    """The analysis window: ones(win_length) when absent, centered and zero-padded to n_fft."""
    import pullback.core as mx

    if win_length is not None:
        win_length = _positive_int(win_length, name, "win_length")
    if window is None:
        length = n_fft if win_length is None else win_length
        if length > n_fft:
            raise ValueError(f"[{name}] window length {length} must not exceed n_fft {n_fft}.")
        w = mx.ones((length,), dtype=mx.float32)
    else:
        if not isinstance(window, array):
            raise TypeError(f"[{name}] window must be an array, got {type(window).__name__}.")
        if window.ndim != 1:
            raise ValueError(f"[{name}] window must be a one-dimensional array, got shape "
                             f"{tuple(window.shape)}.")
        w = window
        length = w.shape[0]
        if length == 0 or length > n_fft:
            raise ValueError(f"[{name}] window length {length} must be in [1, n_fft {n_fft}].")
    if length < n_fft:
        left = (n_fft - length) // 2
        w = mx.pad(w, [(left, n_fft - length - left)])
    return w


def _frame_indices(n_frames: int, n_fft: int, hop: int) -> array:
    import pullback.core as mx

    idx = np.arange(n_frames, dtype=np.int64)[:, None] * hop + np.arange(n_fft, dtype=np.int64)
    return mx.array(idx.astype(np.int32 if idx.size == 0 or idx.max() < 2**31 else np.int64))


def stft(x: array, n_fft: int = 2048, hop_length: Optional[int] = None,
         win_length: Optional[int] = None, window: Optional[array] = None, center: bool = True,
         pad_mode: str = "reflect", norm: str = "backward", onesided: Optional[bool] = None,
         stream=None) -> array:
    """Short-Time Fourier Transform.

    Splits the last axis of ``x`` into overlapping frames of length ``n_fft``, applies
    ``window``, and takes the Fourier Transform of each frame. The output is always complex
    with shape ``(..., n_freq, n_frames)``.
    """
    import pullback.core as mx

    n_fft = _positive_int(n_fft, "stft", "n_fft")
    hop = n_fft // 4 if hop_length is None else _positive_int(hop_length, "stft", "hop_length")
    hop = max(hop, 1)
    if not isinstance(x, array):
        x = mx.array(x)
    if x.ndim < 1:
        raise ValueError("[stft] Input must have at least one dimension.")
    if pad_mode not in ("reflect", "constant", "edge"):
        raise ValueError(f"[stft] Invalid pad_mode '{pad_mode}'. Expected one of "
                         "{'reflect', 'constant', 'edge'}.")
    w = _window(window, win_length, n_fft, "stft")
    if onesided is None:
        onesided = not mx.issubdtype(x.dtype, mx.complexfloating)
    if center:
        half = n_fft // 2
        x = mx.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode=pad_mode, stream=stream)
    length = x.shape[-1]
    if length < n_fft:
        raise ValueError(f"[stft] Input of length {length} is too short for n_fft {n_fft}.")
    n_frames = 1 + (length - n_fft) // hop
    frames = mx.take(x, _frame_indices(n_frames, n_fft, hop), axis=-1, stream=stream)
    frames = frames * w
    if onesided:
        if mx.issubdtype(frames.dtype, mx.complexfloating):
            raise ValueError("[stft] onesided=True needs a real input.")
        spectrum = rfft(frames, axis=-1, norm=norm, stream=stream)
    else:
        spectrum = fft(frames, axis=-1, norm=norm, stream=stream)
    return mx.swapaxes(spectrum, -1, -2, stream=stream)


def istft(stft_matrix: array, n_fft: Optional[int] = None, hop_length: Optional[int] = None,
          win_length: Optional[int] = None, window: Optional[array] = None, center: bool = True,
          norm: str = "backward", onesided: Optional[bool] = None, length: Optional[int] = None,
          stream=None) -> array:
    """Inverse Short-Time Fourier Transform.

    Inverts :func:`stft` by overlap-adding the windowed inverse transform of each frame,
    normalized by the squared-window envelope.
    """
    import pullback.core as mx

    if not isinstance(stft_matrix, array):
        stft_matrix = mx.array(stft_matrix)
    if stft_matrix.ndim < 2:
        raise ValueError("[istft] Input must have at least two dimensions (freq, frames).")
    if onesided is None:
        onesided = True
    n_freq, n_frames = stft_matrix.shape[-2], stft_matrix.shape[-1]
    if n_fft is None:
        n_fft = 2 * (n_freq - 1) if onesided else n_freq
    n_fft = _positive_int(n_fft, "istft", "n_fft")
    expected = n_fft // 2 + 1 if onesided else n_fft
    if n_freq != expected:
        raise ValueError(f"[istft] {n_freq} frequencies do not match n_fft {n_fft} "
                         f"(expected {expected}).")
    if n_frames == 0:
        raise ValueError("[istft] Input has no frames.")
    hop = n_fft // 4 if hop_length is None else _positive_int(hop_length, "istft", "hop_length")
    hop = max(hop, 1)
    w = _window(window, win_length, n_fft, "istft")
    spectrum = mx.swapaxes(stft_matrix, -1, -2, stream=stream)
    if onesided:
        frames = irfft(spectrum, n=n_fft, axis=-1, norm=norm, stream=stream)
    else:
        frames = mx.real(ifft(spectrum, n=n_fft, axis=-1, norm=norm, stream=stream))
    frames = frames * w
    total = n_fft + hop * (n_frames - 1)
    idx = _frame_indices(n_frames, n_fft, hop).reshape(-1)
    batch = frames.shape[:-2]
    flat = frames.reshape(batch + (n_frames * n_fft,))
    signal = mx.zeros(batch + (total,), dtype=flat.dtype).at[..., idx].add(flat)
    envelope = mx.zeros((total,), dtype=flat.dtype).at[idx].add(
        mx.broadcast_to(w * w, (n_frames, n_fft)).reshape(-1))
    # Where no window reaches (a zero envelope) the signal is left as overlap-added (zero).
    covered = envelope > 1e-11
    signal = mx.where(covered, signal / mx.where(covered, envelope, 1.0), signal)
    start = n_fft // 2 if center else 0
    stop = total - n_fft // 2 if center else total
    if length is not None:
        length = int(length)
        if length < 0:
            raise ValueError(f"[istft] length must be non-negative, got {length}.")
        stop = start + length
    signal = signal[..., start:min(stop, total)]
    if stop > total:
        signal = mx.pad(signal, [(0, 0)] * (signal.ndim - 1) + [(0, stop - total)])
    return signal
