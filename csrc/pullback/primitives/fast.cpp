#include "pullback/primitives/fast.h"

#include <memory>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

namespace {

// The derivative rules compute float16/bfloat16 in float32, as the kernels do.
Dtype work_dtype(Dtype t) {
  return t == Dtype::float16 || t == Dtype::bfloat16 ? Dtype::float32 : t;
}

// The leading axes of `g` summed, leaving the feature axis: the derivative of a per-feature
// parameter broadcast over the rows.
array sum_rows(const array& g, Stream s) {
  Axes lead;
  for (int d = 0; d + 1 < g.ndim(); ++d) lead.push_back(d);
  return lead.empty() ? g : sum(g, lead, false, s);
}

array mean_last(const array& a, Stream s) { return mean(a, Axes{-1}, true, s); }

// The tangent of primal `i`, or none when it is not among `argnums`.
const array* tangent_of(int i, const Arrays& tangents, const Ints& argnums) {
  for (size_t k = 0; k < argnums.size(); ++k)
    if (argnums[k] == i) return &tangents[k];
  return nullptr;
}

struct Normalized {
  array r;     // rsqrt(var + eps), keeping the last axis
  array xhat;  // (x - mean) r
};

Normalized normalize(const array& x, float eps, Stream s) {
  array xc = subtract(x, mean_last(x, s), s);
  array r = rsqrt(add(mean_last(square(xc, s), s), array(eps, x.dtype()), s), s);
  return {r, multiply(xc, r, s)};
}

// A per-feature cotangent term `a` (rows of D) summed as NormBackward::groups says.
array sum_groups(const array& a, int64_t groups, Stream s) {
  if (groups < 0) return sum_rows(a, s);
  const int64_t d = a.shape(-1), rows = d == 0 ? 0 : int64_t(a.size()) / d;
  return sum(reshape(a, Shape{groups, groups == 0 ? 0 : rows / groups, d}, s), Axes{1}, false, s);
}

// The norms' backward written with ordinary ops: the reference the fused kernel (NormVJP)
// computes, and the function its own derivatives differentiate. `w` is null without a weight;
// it may also hold one weight per example (vmap), broadcasting against x. Returns what `spec`
// asks for, in the order dx, dw, db.
//   RMSNorm, with r = rsqrt(mean(x^2) + eps) and h = g w:
//     dx = r h - x r^3 mean(h x), dw = sum over rows of g x r.
//   LayerNorm, with h = g w:
//     dx = r (h - mean(h) - xhat mean(h xhat)), dw = sum g xhat, db = sum g.
Arrays norm_backward_unfused(const NormBackward& spec, const array& x_in, const array* w,
                             const array& g_in, Stream s) {
  const Dtype out_t = x_in.dtype(), wt = work_dtype(out_t);
  array x = astype(x_in, wt, s);
  array g = astype(g_in, wt, s);
  array h = w ? multiply(g, astype(*w, wt, s), s) : g;
  Arrays out;
  if (spec.rms) {
    array r = rsqrt(add(mean_last(square(x, s), s), array(spec.eps, wt), s), s);
    if (spec.dx) {
      array r3 = multiply(r, square(r, s), s);
      out.push_back(subtract(multiply(r, h, s),
                             multiply(multiply(x, r3, s), mean_last(multiply(h, x, s), s), s), s));
    }
    if (spec.dw) out.push_back(sum_groups(multiply(g, multiply(x, r, s), s), spec.groups, s));
  } else {
    Normalized n = normalize(x, spec.eps, s);
    if (spec.dx) {
      array inner = subtract(subtract(h, mean_last(h, s), s),
                             multiply(n.xhat, mean_last(multiply(h, n.xhat, s), s), s), s);
      out.push_back(multiply(n.r, inner, s));
    }
    if (spec.dw) out.push_back(sum_groups(multiply(g, n.xhat, s), spec.groups, s));
    if (spec.db) out.push_back(sum_groups(g, spec.groups, s));
  }
  for (auto& o : out) o = astype(o, out_t, s);
  return out;
}

std::vector<Dtype> norm_backward_dtypes(const NormBackward& spec, Dtype t) {
  return std::vector<Dtype>(size_t(spec.dx) + spec.dw + spec.db, t);
}

// RMSNorm's or LayerNorm's vjp: one NormVJP node for the cotangents `argnums` asks for.
Arrays fused_norm_vjp(Stream s, bool rms, float eps, bool has_weight, bool has_bias,
                      const Arrays& primals, const array& ct, const Ints& argnums) {
  const int bias_index = has_bias ? (has_weight ? 2 : 1) : -1;
  NormBackward spec{rms, eps, has_weight, false, false, false, -1};
  for (int i : argnums) {
    if (i == 0) spec.dx = true;
    else if (i == bias_index) spec.db = true;
    else spec.dw = true;
  }
  const Dtype t = primals[0].dtype();
  Arrays in{primals[0]};
  if (has_weight) in.push_back(primals[1]);
  in.push_back(astype(ct, t, s));
  auto prim = std::make_shared<NormVJP>(s, spec);
  Arrays outs = array::make_arrays(prim->output_shapes(in), norm_backward_dtypes(spec, t), prim, in);
  // outs holds dx, dw, db (those asked for), in argnums' order too: x, then w, then b.
  return outs;
}

}  // namespace

// ---- RMSNorm ----

std::vector<Shape> RMSNorm::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool RMSNorm::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RMSNorm*>(&other);
  return o && o->eps_ == eps_ && o->has_weight_ == has_weight_;
}

Arrays RMSNorm::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  return fused_norm_vjp(stream(), true, eps_, has_weight_, false, primals, cts[0], argnums);
}

// dy = w (r tx - x r^3 mean(x tx)) + x r tw.
Arrays RMSNorm::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Stream s = stream();
  const Dtype out_t = primals[0].dtype();
  const Dtype wt = work_dtype(out_t);
  array x = astype(primals[0], wt, s);
  array r = rsqrt(add(mean_last(square(x, s), s), array(eps_, wt), s), s);
  array dy = zeros_like(x, s);
  if (const array* tx = tangent_of(0, tangents, argnums)) {
    array t = astype(*tx, wt, s);
    array r3 = multiply(r, square(r, s), s);
    dy = subtract(multiply(r, t, s), multiply(multiply(x, r3, s), mean_last(multiply(x, t, s), s), s), s);
    if (has_weight_) dy = multiply(dy, astype(primals[1], wt, s), s);
  }
  if (const array* tw = tangent_of(1, tangents, argnums))
    dy = add(dy, multiply(multiply(x, r, s), astype(*tw, wt, s), s), s);
  return {astype(dy, out_t, s)};
}

// ---- LayerNorm ----

std::vector<Shape> LayerNorm::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool LayerNorm::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const LayerNorm*>(&other);
  return o && o->eps_ == eps_ && o->has_weight_ == has_weight_ && o->has_bias_ == has_bias_;
}

Arrays LayerNorm::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                      const Arrays&) {
  return fused_norm_vjp(stream(), false, eps_, has_weight_, has_bias_, primals, cts[0], argnums);
}

// dxhat = r (c - xhat mean(xhat c)) with c = tx - mean(tx); dy = dxhat w + xhat tw + tb.
Arrays LayerNorm::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Stream s = stream();
  const Dtype out_t = primals[0].dtype();
  const Dtype wt = work_dtype(out_t);
  array x = astype(primals[0], wt, s);
  Normalized n = normalize(x, eps_, s);
  array dy = zeros_like(x, s);
  if (const array* tx = tangent_of(0, tangents, argnums)) {
    array t = astype(*tx, wt, s);
    array c = subtract(t, mean_last(t, s), s);
    dy = multiply(n.r, subtract(c, multiply(n.xhat, mean_last(multiply(n.xhat, c, s), s), s), s), s);
    if (has_weight_) dy = multiply(dy, astype(primals[1], wt, s), s);
  }
  if (has_weight_)
    if (const array* tw = tangent_of(1, tangents, argnums))
      dy = add(dy, multiply(n.xhat, astype(*tw, wt, s), s), s);
  if (has_bias_)
    if (const array* tb = tangent_of(has_weight_ ? 2 : 1, tangents, argnums))
      dy = add(dy, astype(*tb, wt, s), s);
  return {astype(dy, out_t, s)};
}

// ---- NormVJP ----

std::vector<Shape> NormVJP::output_shapes(const Arrays& in) {
  const int64_t d = in[0].shape(-1);
  const Shape sums = spec_.groups < 0 ? Shape{d} : Shape{spec_.groups, d};
  std::vector<Shape> shapes;
  if (spec_.dx) shapes.push_back(in[0].shape());
  if (spec_.dw) shapes.push_back(sums);
  if (spec_.db) shapes.push_back(sums);
  return shapes;
}

bool NormVJP::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const NormVJP*>(&other);
  return o && o->spec_ == spec_;
}

namespace {

// NormVJP's outputs as a function of its inputs `all` with the entries `argnums` replaced by
// `vars`: what its derivatives differentiate (the composition, so that they have derivatives).
Arrays norm_backward_of(const NormBackward& spec, Arrays all, const Ints& argnums,
                        const Arrays& vars, Stream s) {
  for (size_t k = 0; k < argnums.size(); ++k) all[argnums[k]] = vars[k];
  return norm_backward_unfused(spec, all[0], spec.has_weight ? &all[1] : nullptr, all.back(), s);
}

Arrays pick(const Arrays& all, const Ints& argnums) {
  Arrays out;
  for (int i : argnums) out.push_back(all[i]);
  return out;
}

}  // namespace

Arrays NormVJP::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  auto f = [&](const Arrays& v) { return norm_backward_of(spec_, primals, argnums, v, stream()); };
  return pullback::vjp(f, pick(primals, argnums), cts).second;
}

Arrays NormVJP::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Arrays t;
  for (size_t k = 0; k < argnums.size(); ++k)
    t.push_back(astype(tangents[k], primals[argnums[k]].dtype(), stream()));
  auto f = [&](const Arrays& v) { return norm_backward_of(spec_, primals, argnums, v, stream()); };
  return pullback::jvp(f, pick(primals, argnums), t).second;
}

// ---- RoPE ----

std::vector<Shape> RoPE::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool RoPE::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RoPE*>(&other);
  return o && o->dims_ == dims_ && o->traditional_ == traditional_ && o->base_ == base_ &&
         o->scale_ == scale_ && o->offset_ == offset_ && o->has_freqs_ == has_freqs_ &&
         o->inverse_ == inverse_;
}

array RoPE::turned(const array& x, const Arrays& primals, bool inverse) const {
  Arrays inputs{x};
  if (has_freqs_) inputs.push_back(primals[1]);
  return array(x.shape(), x.dtype(),
               std::make_shared<RoPE>(stream(), dims_, traditional_, base_, scale_, offset_,
                                      has_freqs_, inverse),
               inputs);
}

// The rotation is linear and orthogonal: its transpose is the opposite rotation.
Arrays RoPE::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  Arrays out;
  for (int i : argnums) {
    if (i != 0)
      throw std::invalid_argument("[RoPE] The vjp with respect to freqs is not supported.");
    out.push_back(turned(astype(cts[0], primals[0].dtype(), stream()), primals, !inverse_));
  }
  return out;
}

Arrays RoPE::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  for (int i : argnums)
    if (i != 0)
      throw std::invalid_argument("[RoPE] The jvp with respect to freqs is not supported.");
  return {turned(astype(tangents[0], primals[0].dtype(), stream()), primals, inverse_)};
}

// ---- vmap ----
// The kernels treat every axis before the feature axis (RoPE: before the position and feature
// axes) as rows, so a batch axis among those stays where it is. Their parameters (weight, bias,
// freqs) are one vector for all rows: an unbatched one stays in the kernel, while per-example
// ones, which no kernel call can take, are applied by ordinary ops on the batch-first result.

namespace {

// `x` with its batch axis where the kernel can take it: in place when it is before the last
// `tail` axes, else in front; `pos` receives where it is.
array batch_among_rows(const array& x, int axis, int tail, int& pos, Stream s) {
  pos = axis < x.ndim() - tail ? axis : 0;
  return axis == pos ? x : moveaxis(x, axis, pos, s);
}

// `x` batch-first, or as it is when unbatched (axis -1).
array batch_first_or_unbatched(const array& x, int axis, Stream s) {
  return axis <= 0 ? x : moveaxis(x, axis, 0, s);
}

// A batch of per-example feature vectors p (batch axis `axis`), shaped (B, 1, ..., 1, D) to
// broadcast against batch-first examples of `example_ndim` axes, in dtype `t`.
array per_example_vector(const array& p, int axis, int example_ndim, Dtype t, Stream s) {
  array f = axis == 0 ? p : moveaxis(p, axis, 0, s);
  Shape shape(example_ndim + 1, 1);
  shape.front() = f.shape(0);
  shape.back() = f.shape(1);
  return astype(reshape(f, shape, s), t, s);
}

// Elements [lo, hi) of the last axis of x, every `step`-th.
array last_axis_range(const array& x, int64_t lo, int64_t hi, int64_t step, Stream s) {
  Shape start(x.ndim(), 0), stop = x.shape(), strides(x.ndim(), 1);
  start.back() = lo;
  stop.back() = hi;
  strides.back() = step;
  return slice(x, start, stop, strides, s);
}

int example_ndim(const array& x, int axis) { return x.ndim() - (axis >= 0 ? 1 : 0); }

}  // namespace

std::pair<Arrays, Ints> RMSNorm::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  if (!has_weight_ || axes[1] < 0) {
    int pos = 0;
    Arrays inputs{batch_among_rows(in[0], axes[0], 1, pos, s)};
    if (has_weight_) inputs.push_back(in[1]);
    return {{array(inputs[0].shape(), inputs[0].dtype(),
                   std::make_shared<RMSNorm>(s, eps_, has_weight_), inputs)},
            {pos}};
  }
  // A weight per example: normalize without it, then scale (in float32 for the half types, so
  // that the result is rounded once, as the kernel rounds it).
  const Dtype t = in[0].dtype(), wt = work_dtype(t);
  array x = astype(batch_first_or_unbatched(in[0], axes[0], s), wt, s);
  array y(x.shape(), wt, std::make_shared<RMSNorm>(s, eps_, false), {x});
  array w = per_example_vector(in[1], axes[1], example_ndim(in[0], axes[0]), wt, s);
  return {{astype(multiply(y, w, s), t, s)}, {0}};
}

std::pair<Arrays, Ints> LayerNorm::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  const int bias_index = has_weight_ ? 2 : 1;
  const bool weight_batched = has_weight_ && axes[1] >= 0;
  const bool bias_batched = has_bias_ && axes[bias_index] >= 0;
  if (!weight_batched && !bias_batched) {
    int pos = 0;
    Arrays inputs = in;
    inputs[0] = batch_among_rows(in[0], axes[0], 1, pos, s);
    return {{array(inputs[0].shape(), inputs[0].dtype(),
                   std::make_shared<LayerNorm>(s, eps_, has_weight_, has_bias_), inputs)},
            {pos}};
  }
  // Per-example parameters: the kernel applies an unbatched weight; a batched weight, and any
  // bias after it, are applied to its batch-first result (in float32 for the half types).
  const Dtype t = in[0].dtype(), wt = work_dtype(t);
  const int nd = example_ndim(in[0], axes[0]);
  const bool fused_weight = has_weight_ && !weight_batched;
  Arrays inputs{astype(batch_first_or_unbatched(in[0], axes[0], s), wt, s)};
  if (fused_weight) inputs.push_back(astype(in[1], wt, s));
  array y(inputs[0].shape(), wt, std::make_shared<LayerNorm>(s, eps_, fused_weight, false), inputs);
  if (weight_batched) y = multiply(y, per_example_vector(in[1], axes[1], nd, wt, s), s);
  if (has_bias_) {
    const array& b = in[bias_index];
    y = add(y, bias_batched ? per_example_vector(b, axes[bias_index], nd, wt, s) : astype(b, wt, s), s);
  }
  return {{astype(y, t, s)}, {0}};
}

// Rows are independent, so the examples become more rows (batch first) and one kernel call
// takes them all; each example's dw/db is the sum over its own rows, so those sums are taken
// per block of rows (NormBackward::groups) and split back into examples. A weight per example
// cannot go into one kernel call: then the composition computes the batch.
std::pair<Arrays, Ints> NormVJP::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  const int g_index = spec_.has_weight ? 2 : 1;
  const int64_t n = vmap_batch_size(in, axes);
  NormBackward spec = spec_;
  if (spec.dw || spec.db) spec.groups = spec_.groups < 0 ? n : n * spec_.groups;
  Arrays inputs{vmap_to_front(in[0], axes[0], n)};
  const array g = vmap_to_front(in[g_index], axes[g_index], n);
  Arrays outs;
  if (spec_.has_weight && axes[1] >= 0) {
    array w = per_example_vector(in[1], axes[1], inputs[0].ndim() - 1, in[1].dtype(), s);
    outs = norm_backward_unfused(spec, inputs[0], &w, g, s);
  } else {
    if (spec_.has_weight) inputs.push_back(in[1]);
    inputs.push_back(g);
    auto prim = std::make_shared<NormVJP>(s, spec);
    outs = array::make_arrays(prim->output_shapes(inputs),
                              norm_backward_dtypes(spec, in[0].dtype()), prim, inputs);
  }
  Shape per_example{n};
  if (spec_.groups >= 0) per_example.push_back(spec_.groups);
  per_example.push_back(inputs[0].shape(-1));
  for (size_t k = spec.dx ? 1 : 0; k < outs.size(); ++k) outs[k] = reshape(outs[k], per_example, s);
  return {outs, Ints(outs.size(), 0)};
}

std::pair<Arrays, Ints> RoPE::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  if (!has_freqs_ || axes[1] < 0) {
    int pos = 0;
    Arrays inputs = in;
    inputs[0] = batch_among_rows(in[0], axes[0], 2, pos, s);
    return {{array(inputs[0].shape(), inputs[0].dtype(),
                   std::make_shared<RoPE>(s, dims_, traditional_, base_, scale_, offset_,
                                          has_freqs_, inverse_),
                   inputs)},
            {pos}};
  }
  // Frequencies per example: the kernel turns all rows by one table of angles, so the turn is
  // composed of ops here, with the kernel's arithmetic: the angles sign * pos * scale / f in
  // float64, their cos and sin rounded to the working type, the turn computed in it.
  const Dtype t = in[0].dtype(), wt = work_dtype(t);
  array x = astype(batch_first_or_unbatched(in[0], axes[0], s), wt, s);
  const int64_t len = x.shape(-2), d = x.shape(-1), half = dims_ / 2;
  std::vector<double> pos(len);
  const double sign = inverse_ ? -1.0 : 1.0;
  for (int64_t l = 0; l < len; ++l) pos[l] = sign * double(offset_ + l) * double(scale_);
  array positions(pos.data(), Shape{len, 1}, Dtype::float64);
  array inv_freq = reciprocal(
      per_example_vector(in[1], axes[1], example_ndim(in[0], axes[0]), Dtype::float64, s), s);
  array theta = multiply(positions, inv_freq, s);  // (B, 1, ..., L, half)
  array c = astype(cos(theta, s), wt, s), sn = astype(sin(theta, s), wt, s);
  // Pair i: features (2i, 2i + 1) when traditional, else (i, i + half).
  array x1 = traditional_ ? last_axis_range(x, 0, dims_, 2, s) : last_axis_range(x, 0, half, 1, s);
  array x2 = traditional_ ? last_axis_range(x, 1, dims_, 2, s)
                          : last_axis_range(x, half, dims_, 1, s);
  array y1 = subtract(multiply(x1, c, s), multiply(x2, sn, s), s);
  array y2 = add(multiply(x1, sn, s), multiply(x2, c, s), s);
  Shape turned_shape = y1.shape();
  turned_shape.back() = dims_;
  array y = traditional_ ? reshape(stack({y1, y2}, -1, s), turned_shape, s)
                         : concatenate({y1, y2}, -1, s);
  if (dims_ < d) {
    Shape rest_shape = turned_shape;
    rest_shape.back() = d - dims_;
    y = concatenate({y, broadcast_to(last_axis_range(x, dims_, d, 1, s), rest_shape, s)}, -1, s);
  }
  return {{astype(y, t, s)}, {0}};
}

}  // namespace pullback
