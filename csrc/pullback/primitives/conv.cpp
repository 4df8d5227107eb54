#include "pullback/primitives/conv.h"

#include <optional>

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

bool ConvParams::operator==(const ConvParams& o) const {
  return strides == o.strides && padding_lo == o.padding_lo && padding_hi == o.padding_hi &&
         kernel_dilation == o.kernel_dilation && input_dilation == o.input_dilation &&
         groups == o.groups && flip == o.flip;
}

namespace {

// Extent of `n` points `step` apart (0 for none).
int64_t dilated(int64_t n, int64_t step) { return n == 0 ? 0 : (n - 1) * step + 1; }

}  // namespace

std::vector<int64_t> conv_output_spatial(const Shape& in, const Shape& w, const ConvParams& p) {
  const size_t d = p.strides.size();
  std::vector<int64_t> out(d);
  for (size_t i = 0; i < d; ++i) {
    const int64_t span = dilated(in[i + 1], p.input_dilation[i]) + p.padding_lo[i] +
                         p.padding_hi[i] - dilated(w[i + 1], p.kernel_dilation[i]);
    out[i] = span < 0 ? 0 : span / p.strides[i] + 1;
  }
  return out;
}

std::vector<Shape> Convolution::output_shapes(const Arrays& in) {
  Shape s{in[0].shape(0)};
  for (int64_t v : conv_output_spatial(in[0].shape(), in[1].shape(), p_)) s.push_back(v);
  s.push_back(in[1].shape(0));
  return {s};
}

bool Convolution::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Convolution*>(&other);
  return o && o->p_ == p_;
}

array convolution_node(const array& in, const array& w, ConvParams p, Stream s) {
  auto prim = std::make_shared<Convolution>(s, std::move(p));
  Shape shape = prim->output_shapes({in, w})[0];
  return array(shape, in.dtype(), prim, {in, w});
}

namespace {

// Axes (0, 1, ..., n-1) after `lead`, as a transpose permutation piece.
Axes range_axes(int from, int n) {
  Axes a;
  for (int i = 0; i < n; ++i) a.push_back(from + i);
  return a;
}

}  // namespace

// d out / d input: the cotangent (dilated by the strides) convolved with the weight reversed
// and with its channel axes swapped per group. The padding makes output i line up with input i;
// a negative high padding crops the positions that never reached the forward output.
static array input_cotangent(const array& x, const array& w, const array& ct,
                             const ConvParams& p, Stream s) {
  const int d = static_cast<int>(p.strides.size());
  const int64_t G = p.groups, O = w.shape(0), Og = O / G, Cg = w.shape(-1);
  // (O, K..., Cg) -> (G, Og, K..., Cg) -> (G, Cg, K..., Og) -> (C, K..., Og)
  Shape split{G, Og};
  for (int i = 0; i < d; ++i) split.push_back(w.shape(i + 1));
  split.push_back(Cg);
  Axes perm{0, d + 2};
  for (int a : range_axes(2, d)) perm.push_back(a);
  perm.push_back(1);
  Shape merged{G * Cg};
  for (int i = 0; i < d; ++i) merged.push_back(w.shape(i + 1));
  merged.push_back(Og);
  array wt = reshape(transpose(reshape(w, split, s), perm, s), merged, s);

  ConvParams q;
  q.groups = G;
  q.flip = !p.flip;
  for (int i = 0; i < d; ++i) {
    const int64_t K = w.shape(i + 1), S = x.shape(i + 1), P = ct.shape(i + 1);
    const int64_t lo = (K - 1) * p.kernel_dilation[i] - p.padding_lo[i];
    q.strides.push_back(p.input_dilation[i]);
    q.kernel_dilation.push_back(p.kernel_dilation[i]);
    q.input_dilation.push_back(p.strides[i]);
    q.padding_lo.push_back(lo);
    q.padding_hi.push_back((S - 1) * p.input_dilation[i] + dilated(K, p.kernel_dilation[i]) -
                           dilated(P, p.strides[i]) - lo);
  }
  return convolution_node(ct, wt, std::move(q), s);
}

// d out / d weight, as its own primitive (see conv.h).
static array weight_cotangent(const array& x, const Shape& weight_shape, const array& ct,
                              const ConvParams& p, Stream s) {
  return array(weight_shape, x.dtype(),
               std::make_shared<ConvolutionWeightGrad>(s, p, weight_shape), {x, ct});
}

namespace {

// The vjp of a map bilinear in (primals[0], primals[1]) with output cotangent `ct`: `first()`
// and `second()` build each input's cotangent; where nothing is summed (an empty operand or
// cotangent) they are zeros.
template <typename First, typename Second>
Arrays bilinear_vjp(const Arrays& primals, const array& ct, const Ints& argnums, Stream s,
                    First first, Second second) {
  const bool empty = primals[0].size() == 0 || primals[1].size() == 0 || ct.size() == 0;
  Arrays out;
  for (int a : argnums) {
    if (empty) {
      out.push_back(zeros_like(primals[a], s));
    } else {
      out.push_back(a == 0 ? first() : second());
    }
  }
  return out;
}

// The jvp of such a map: term(which input, its tangent), summed over the inputs given.
template <typename Term>
Arrays bilinear_jvp(const Arrays& tangents, const Ints& argnums, Stream s, Term term) {
  std::optional<array> r;
  for (size_t i = 0; i < argnums.size(); ++i) {
    array t = term(argnums[i], tangents[i]);
    r = r ? add(*r, t, s) : t;
  }
  return {*r};
}

}  // namespace

Arrays Convolution::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                        const Arrays&) {
  const array& x = primals[0];
  const array& w = primals[1];
  const array& ct = cts[0];
  Stream s = stream();
  return bilinear_vjp(primals, ct, argnums, s, [&] { return input_cotangent(x, w, ct, p_, s); },
                      [&] { return weight_cotangent(x, w.shape(), ct, p_, s); });
}

// Bilinear: the tangent is conv(dx, w) + conv(x, dw).
Arrays Convolution::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Stream s = stream();
  return bilinear_jvp(tangents, argnums, s, [&](int which, const array& t) {
    return which == 0 ? convolution_node(t, primals[1], p_, s)
                      : convolution_node(primals[0], t, p_, s);
  });
}

std::vector<Shape> ConvolutionWeightGrad::output_shapes(const Arrays&) { return {weight_shape_}; }

bool ConvolutionWeightGrad::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ConvolutionWeightGrad*>(&other);
  return o && o->p_ == p_ && o->weight_shape_ == weight_shape_;
}

// <cw, dW(x, ct)> = <ct, conv(x, cw)>, and as a function of x it is the forward convolution's
// input derivative with cw in place of the weight.
Arrays ConvolutionWeightGrad::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                                  const Arrays&) {
  const array& x = primals[0];
  const array& ct = primals[1];
  const array& cw = cts[0];
  Stream s = stream();
  return bilinear_vjp(primals, cw, argnums, s, [&] { return input_cotangent(x, cw, ct, p_, s); },
                      [&] { return convolution_node(x, cw, p_, s); });
}

Arrays ConvolutionWeightGrad::jvp(const Arrays& primals, const Arrays& tangents,
                                  const Ints& argnums) {
  Stream s = stream();
  return bilinear_jvp(tangents, argnums, s, [&](int which, const array& t) {
    return which == 0 ? weight_cotangent(t, weight_shape_, primals[1], p_, s)
                      : weight_cotangent(primals[0], weight_shape_, t, p_, s);
  });
}

}  // namespace pullback

// ---- vmap ----
//
// A batched convolution stays one convolution: the mapped axis is folded into an axis that the
// primitive already keeps apart. Only the input mapped: into N. Only the weight mapped (or, for
// the weight gradient, only the cotangent): into the output channels. Only the input mapped,
// for the weight gradient: into the input channels, which the gradient keeps apart. Both mapped:
// into the channels, with B times the groups, so that each example meets only its own weight.

namespace pullback {

namespace {

// Extent of per-example axis `d` of `a`, whose batch axis is `bx`.
int64_t example_dim(const array& a, int bx, int d) { return a.shape(d < bx ? d : d + 1); }

// `x` (batch axis `bx`, size B) with the batch merged into its per-example axis `ax` (extent
// R), which is split into `groups` contiguous groups: the merged axis runs over
// (group, b, R / groups), so that group g of the result holds group g of every example.
array fold_batch(const array& x, int bx, int ax, int64_t groups, Stream s) {
  const int64_t B = x.shape(bx), R = example_dim(x, bx, ax);
  Shape merged = x.shape();
  merged.erase(merged.begin() + bx);
  merged[ax] = B * R;
  if (groups == 1) return reshape(moveaxis(x, bx, ax, s), merged, s);
  array f = moveaxis(x, bx, 0, s);  // (B, r...)
  Shape split = f.shape();
  split[ax + 1] = R / groups;
  split.insert(split.begin() + ax + 1, groups);  // (B, ..., groups, R / groups, ...)
  return reshape(moveaxis(reshape(f, split, s), 0, ax + 1, s), merged, s);
}

// The inverse of fold_batch for a result whose axis `ax` runs over (group, b, R / groups):
// that axis split into (b, R), the batch axis being `ax`.
array unfold_batch(const array& y, int ax, int64_t R, int64_t groups, int64_t B, Stream s) {
  Shape unfolded = y.shape();
  unfolded[ax] = R;
  unfolded.insert(unfolded.begin() + ax, B);
  if (groups == 1) return reshape(y, unfolded, s);
  Shape split = y.shape();
  split[ax] = R / groups;
  split.insert(split.begin() + ax, {groups, B});  // (..., groups, B, R / groups, ...)
  return reshape(moveaxis(reshape(y, split, s), ax + 1, ax, s), unfolded, s);
}

}  // namespace

std::pair<Arrays, Ints> Convolution::vmap(const Arrays& in, const Ints& axes) {
  const Stream s = stream();
  const int channels = static_cast<int>(p_.strides.size()) + 1;  // the last per-example axis
  const int64_t B = vmap_batch_size(in, axes);
  if (axes[1] < 0) {  // the input only: B * N examples
    array y = convolution_node(fold_batch(in[0], axes[0], 0, 1, s), in[1], p_, s);
    return {{unfold_batch(y, 0, example_dim(in[0], axes[0], 0), 1, B, s)}, {0}};
  }
  const int64_t O = example_dim(in[1], axes[1], 0);
  if (axes[0] < 0) {  // the weight only: B * O output channels
    array y = convolution_node(in[0], fold_batch(in[1], axes[1], 0, p_.groups, s), p_, s);
    return {{unfold_batch(y, channels, O, p_.groups, B, s)}, {channels}};
  }
  ConvParams q = p_;
  q.groups *= B;
  array y = convolution_node(fold_batch(in[0], axes[0], channels, 1, s),
                             fold_batch(in[1], axes[1], 0, 1, s), std::move(q), s);
  return {{unfold_batch(y, channels, O, 1, B, s)}, {channels}};
}

std::pair<Arrays, Ints> ConvolutionWeightGrad::vmap(const Arrays& in, const Ints& axes) {
  const Stream s = stream();
  const int channels = static_cast<int>(p_.strides.size()) + 1;
  const int64_t B = vmap_batch_size(in, axes), O = weight_shape_[0];
  Shape ws = weight_shape_;
  if (axes[1] < 0) {  // the input only: the gradient's input channels run over (b, C / groups)
    ws[channels] *= B;
    array x = fold_batch(in[0], axes[0], channels, p_.groups, s);
    array y = weight_cotangent(x, ws, in[1], p_, s);
    return {{unfold_batch(y, channels, weight_shape_[channels], 1, B, s)}, {channels}};
  }
  ws[0] *= B;
  if (axes[0] < 0) {  // the cotangent only: B * O output channels
    array ct = fold_batch(in[1], axes[1], channels, p_.groups, s);
    array y = weight_cotangent(in[0], ws, ct, p_, s);
    return {{unfold_batch(y, 0, O, p_.groups, B, s)}, {0}};
  }
  ConvParams q = p_;
  q.groups *= B;
  array y = weight_cotangent(fold_batch(in[0], axes[0], channels, 1, s), ws,
                             fold_batch(in[1], axes[1], channels, 1, s), q, s);
  return {{unfold_batch(y, 0, O, 1, B, s)}, {0}};
}

}  // namespace pullback
