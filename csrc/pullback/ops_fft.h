// ---- discrete Fourier transforms (ops_fft.cpp) ----
// MLX's mx.fft functions. `n` / `s` resize the input along the transformed axes first (zeros
// appended or trailing elements dropped; for the inverse real transforms the last axis is
// resized to n/2 + 1 and n is the output length, by default 2 (m - 1) for an input of m).
// `norm` is "backward" (the inverse scaled by 1/N), "ortho" (both by 1/sqrt N) or "forward"
// (the forward scaled by 1/N). Results are complex64, or float32 for the inverse real
// transforms; rfft* take the real part of a complex input. fftn with empty axes returns `a`.
// fftn-style functions with `s` need `axes` (MLX's rule); without either they transform all
// axes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pullback/array.h"

namespace pullback {

using Axes = std::vector<int>;

array fft(const array& a, std::optional<int64_t> n = {}, int axis = -1,
          const std::string& norm = "backward", Stream s = current_stream());
array ifft(const array& a, std::optional<int64_t> n = {}, int axis = -1,
           const std::string& norm = "backward", Stream s = current_stream());
array rfft(const array& a, std::optional<int64_t> n = {}, int axis = -1,
           const std::string& norm = "backward", Stream s = current_stream());
array irfft(const array& a, std::optional<int64_t> n = {}, int axis = -1,
            const std::string& norm = "backward", Stream s = current_stream());

array fftn(const array& a, const std::optional<Shape>& sizes = {},
           const std::optional<Axes>& axes = {}, const std::string& norm = "backward",
           Stream s = current_stream());
array ifftn(const array& a, const std::optional<Shape>& sizes = {},
            const std::optional<Axes>& axes = {}, const std::string& norm = "backward",
            Stream s = current_stream());
array rfftn(const array& a, const std::optional<Shape>& sizes = {},
            const std::optional<Axes>& axes = {}, const std::string& norm = "backward",
            Stream s = current_stream());
array irfftn(const array& a, const std::optional<Shape>& sizes = {},
             const std::optional<Axes>& axes = {}, const std::string& norm = "backward",
             Stream s = current_stream());

// The zero frequency moved to the middle of each of `axes` (all axes when absent), and back.
array fftshift(const array& a, const std::optional<Axes>& axes = {}, Stream s = current_stream());
array ifftshift(const array& a, const std::optional<Axes>& axes = {},
                Stream s = current_stream());

// Sample frequencies (float32) of a length-n transform with sample spacing d.
array fftfreq(int64_t n, double d = 1.0, Stream s = current_stream());
array rfftfreq(int64_t n, double d = 1.0, Stream s = current_stream());

}  // namespace pullback
