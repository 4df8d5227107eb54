#include "pullback/primitives/fast.h"

#include <memory>

#include "pullback/ops.h"

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

}  // namespace

// ---- RMSNorm ----

std::vector<Shape> RMSNorm::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool RMSNorm::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RMSNorm*>(&other);
  return o && o->eps_ == eps_ && o->has_weight_ == has_weight_;
}

// With r = rsqrt(mean(x^2) + eps) and h = g * w:
// dx = r h - x r^3 mean(h x), dw = sum over rows of g x r.
Arrays RMSNorm::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  Stream s = stream();
  const Dtype wt = work_dtype(primals[0].dtype());
  array x = astype(primals[0], wt, s);
  array g = astype(cts[0], wt, s);
  array r = rsqrt(add(mean_last(square(x, s), s), array(eps_, wt), s), s);
  Arrays out;
  for (int i : argnums) {
    if (i == 0) {
      array h = has_weight_ ? multiply(g, astype(primals[1], wt, s), s) : g;
      array r3 = multiply(r, square(r, s), s);
      array dx = subtract(multiply(r, h, s),
                          multiply(multiply(x, r3, s), mean_last(multiply(h, x, s), s), s), s);
      out.push_back(astype(dx, primals[0].dtype(), s));
    } else {
      array dw = sum_rows(multiply(g, multiply(x, r, s), s), s);
      out.push_back(astype(dw, primals[1].dtype(), s));
    }
  }
  return out;
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

namespace {

struct Normalized {
  array r;     // rsqrt(var + eps), keeping the last axis
  array xhat;  // (x - mean) r
};

Normalized normalize(const array& x, float eps, Stream s) {
  array xc = subtract(x, mean_last(x, s), s);
  array r = rsqrt(add(mean_last(square(xc, s), s), array(eps, x.dtype()), s), s);
  return {r, multiply(xc, r, s)};
}

}  // namespace

// With h = g * w: dx = r (h - mean(h) - xhat mean(h xhat)), dw = sum g xhat, db = sum g.
Arrays LayerNorm::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums, const Arrays&) {
  Stream s = stream();
  const Dtype wt = work_dtype(primals[0].dtype());
  array x = astype(primals[0], wt, s);
  array g = astype(cts[0], wt, s);
  Normalized n = normalize(x, eps_, s);
  const int bias_index = has_weight_ ? 2 : 1;
  Arrays out;
  for (int i : argnums) {
    if (i == 0) {
      array h = has_weight_ ? multiply(g, astype(primals[1], wt, s), s) : g;
      array inner = subtract(subtract(h, mean_last(h, s), s),
                             multiply(n.xhat, mean_last(multiply(h, n.xhat, s), s), s), s);
      out.push_back(astype(multiply(n.r, inner, s), primals[0].dtype(), s));
    } else if (i == bias_index && has_bias_) {
      out.push_back(astype(sum_rows(g, s), primals[i].dtype(), s));
    } else {
      out.push_back(astype(sum_rows(multiply(g, n.xhat, s), s), primals[i].dtype(), s));
    }
  }
  return out;
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

}  // namespace pullback
