#include "pullback/primitives/attention.h"

#include <algorithm>
#include <memory>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

namespace {

bool has_mask_input(AttentionMask m) {
  return m == AttentionMask::Bool || m == AttentionMask::Additive;
}

// Input positions of the forward's optional inputs; -1 when absent.
struct AttentionInputs {
  int mask = -1;
  int sinks = -1;
  int count = 3;
  AttentionInputs(AttentionMask m, bool has_sinks) {
    if (has_mask_input(m)) mask = count++;
    if (has_sinks) sinks = count++;
  }
};

Dtype work_type(Dtype t) { return t == Dtype::float64 ? t : Dtype::float32; }

// `inputs` with the entries at `argnums` replaced by `vars` (in order).
Arrays substitute(Arrays inputs, const Ints& argnums, const Arrays& vars) {
  for (size_t k = 0; k < argnums.size(); ++k) inputs[argnums[k]] = vars[k];
  return inputs;
}

// `argnums` without a boolean mask's position: it has no derivative.
Ints differentiable(const Ints& argnums, AttentionMask mask, bool has_sinks) {
  const int bool_mask = mask == AttentionMask::Bool ? AttentionInputs(mask, has_sinks).mask : -1;
  Ints keep;
  for (int i : argnums)
    if (i != bool_mask) keep.push_back(i);
  return keep;
}

Arrays pick(const Arrays& all, const Ints& argnums) {
  Arrays out;
  for (int i : argnums) out.push_back(all[i]);
  return out;
}

// The cotangents of the forward's differentiable inputs (q, k, v, an additive mask, the sinks)
// from the composition, for the cotangent `dout` of its output: what the fused backward
// computes, written with ordinary ops so that it can be differentiated again.
Arrays unfused_backward(const Arrays& fwd, const array& dout, float scale, AttentionMask mask,
                        bool has_sinks, Stream s) {
  const AttentionInputs at(mask, has_sinks);
  Ints wrt{0, 1, 2};
  if (mask == AttentionMask::Additive) wrt.push_back(at.mask);
  if (has_sinks) wrt.push_back(at.sinks);
  auto f = [&](const Arrays& vars) {
    return Arrays{fast::sdpa_unfused(substitute(fwd, wrt, vars), scale, mask, has_sinks, s)[0]};
  };
  Arrays grads = vjp(f, pick(fwd, wrt), {dout}).second;
  // In the fused backward's output order: q, k, v, then the sinks (the mask has none there).
  Arrays out{grads[0], grads[1], grads[2]};
  if (has_sinks) out.push_back(grads.back());
  if (mask == AttentionMask::Additive) out.push_back(grads[3]);
  return out;
}

// Folds the vmap axis into the batch axis of every attention input. q, k, v, o, the
// logsumexp and cotangents lead with the batch axis; the mask and the sinks may hold a size-1
// batch axis, which stays 1 where they are unbatched (sinks are always expanded, so that their
// cotangent stays per example).
struct Folded {
  Arrays inputs;
  int64_t n = 0, batch = 0;
};

Folded fold_batch(const Arrays& in, const Ints& axes, int mask_index, int sinks_index, Stream s) {
  Folded f;
  f.n = vmap_batch_size(in, axes);
  f.batch = vmap_to_front(in[0], axes[0], f.n).shape(1);
  for (size_t i = 0; i < in.size(); ++i) {
    const bool is_mask = int(i) == mask_index, is_sinks = int(i) == sinks_index;
    if (is_mask && axes[i] < 0 && in[i].shape(0) == 1) {
      f.inputs.push_back(in[i]);
      continue;
    }
    array x = vmap_to_front(in[i], axes[i], f.n);
    Shape shape = x.shape();
    if ((is_mask || is_sinks) && shape[1] != f.batch) {
      shape[1] = f.batch;
      x = broadcast_to(x, shape, s);
    }
    Shape merged(shape.begin() + 1, shape.end());
    merged[0] = f.n * f.batch;
    f.inputs.push_back(reshape(x, merged, s));
  }
  return f;
}

array unfold(const array& x, int64_t n, Stream s) {
  Shape shape = x.shape();
  shape[0] /= n;
  shape.insert(shape.begin(), n);
  return reshape(x, shape, s);
}

}  // namespace

// ---- ScaledDotProductAttention ----

std::vector<Shape> ScaledDotProductAttention::output_shapes(const Arrays& in) {
  const Shape& q = in[0].shape();
  return {{q[0], q[1], q[2], in[2].shape(3)}, {q[0], q[1], q[2]}};
}

bool ScaledDotProductAttention::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ScaledDotProductAttention*>(&other);
  return o && o->scale_ == scale_ && o->mask_ == mask_ && o->has_sinks_ == has_sinks_;
}

// The fused backward, unless the derivative of an additive mask is asked for: that one the
// composition gives (it is the cotangent of the scores, which the fused kernel never holds).
// The logsumexp output is internal (only the backward reads it), so its cotangent is zero.
Arrays ScaledDotProductAttention::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                                      const Arrays& outputs) {
  Stream s = stream();
  const AttentionInputs at(mask_, has_sinks_);
  bool mask_wanted = false;
  for (int i : argnums) mask_wanted |= i == at.mask && mask_ == AttentionMask::Additive;
  Arrays grads;  // q, k, v, [sinks], [mask]
  if (mask_wanted) {
    grads = unfused_backward(primals, cts[0], scale_, mask_, has_sinks_, s);
  } else {
    Arrays in = primals;
    in.push_back(outputs[0]);
    in.push_back(outputs[1]);
    in.push_back(astype(cts[0], outputs[0].dtype(), s));
    std::vector<Shape> shapes{primals[0].shape(), primals[1].shape(), primals[2].shape()};
    std::vector<Dtype> dtypes(3, primals[0].dtype());
    if (has_sinks_) {
      shapes.push_back(primals[at.sinks].shape());
      dtypes.push_back(primals[at.sinks].dtype());
    }
    grads = array::make_arrays(
        shapes, dtypes,
        std::make_shared<ScaledDotProductAttentionVJP>(s, scale_, mask_, has_sinks_), in);
  }
  Arrays out;
  for (int i : argnums) {
    if (i < 3) out.push_back(grads[i]);
    else if (i == at.sinks) out.push_back(grads[3]);
    else if (mask_ == AttentionMask::Additive) out.push_back(grads.back());
    else out.push_back(zeros_like(primals[i], s));  // a boolean mask has no derivative
  }
  return out;
}

Arrays ScaledDotProductAttention::jvp(const Arrays& primals, const Arrays& tangents,
                                      const Ints& argnums) {
  Stream s = stream();
  const Ints live = differentiable(argnums, mask_, has_sinks_);
  if (live.empty()) {
    Arrays zero;
    for (auto& shape : output_shapes(primals))
      zero.push_back(zeros(shape, shape.size() == 4 ? primals[0].dtype() : work_type(primals[0].dtype()), s));
    return zero;
  }
  auto f = [&](const Arrays& vars) {
    return fast::sdpa_unfused(substitute(primals, live, vars), scale_, mask_, has_sinks_, s);
  };
  Arrays t;
  for (size_t k = 0; k < argnums.size(); ++k)
    if (std::find(live.begin(), live.end(), argnums[k]) != live.end()) t.push_back(tangents[k]);
  return pullback::jvp(f, pick(primals, live), t).second;
}

std::pair<Arrays, Ints> ScaledDotProductAttention::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  const AttentionInputs at(mask_, has_sinks_);
  Folded f = fold_batch(in, axes, at.mask, at.sinks, s);
  Arrays outs = array::make_arrays(
      output_shapes(f.inputs), {in[0].dtype(), work_type(in[0].dtype())},
      std::make_shared<ScaledDotProductAttention>(s, scale_, mask_, has_sinks_), f.inputs);
  return {{unfold(outs[0], f.n, s), unfold(outs[1], f.n, s)}, {0, 0}};
}

// ---- ScaledDotProductAttentionVJP ----

std::vector<Shape> ScaledDotProductAttentionVJP::output_shapes(const Arrays& in) {
  std::vector<Shape> shapes{in[0].shape(), in[1].shape(), in[2].shape()};
  if (has_sinks_) shapes.push_back(in[AttentionInputs(mask_, true).sinks].shape());
  return shapes;
}

bool ScaledDotProductAttentionVJP::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ScaledDotProductAttentionVJP*>(&other);
  return o && o->scale_ == scale_ && o->mask_ == mask_ && o->has_sinks_ == has_sinks_;
}

namespace {

// The fused backward as a function of the forward's inputs and the output cotangent (its
// inputs o and logsumexp are functions of the forward's inputs, so they get no derivative of
// their own: the composition's derivative already goes through them).
struct BackwardAsFunction {
  Arrays primals;
  float scale;
  AttentionMask mask;
  bool has_sinks;
  Stream s;
  int n_fwd;

  // The inputs that take part: not o and the logsumexp, nor a boolean mask.
  Ints live(const Ints& argnums) const {
    Ints keep;
    for (int i : differentiable(argnums, mask, has_sinks))
      if (i < n_fwd || i == n_fwd + 2) keep.push_back(i);
    return keep;
  }
  Arrays operator()(const Ints& argnums, const Arrays& vars) const {
    Arrays all = substitute(primals, argnums, vars);
    Arrays fwd(all.begin(), all.begin() + n_fwd);
    Arrays g = unfused_backward(fwd, all[n_fwd + 2], scale, mask, has_sinks, s);
    g.resize(has_sinks ? 4 : 3);
    return g;
  }
};

}  // namespace

Arrays ScaledDotProductAttentionVJP::vjp(const Arrays& primals, const Arrays& cts,
                                         const Ints& argnums, const Arrays&) {
  BackwardAsFunction g{primals, scale_, mask_, has_sinks_, stream(),
                       AttentionInputs(mask_, has_sinks_).count};
  const Ints live = g.live(argnums);
  Arrays grads;
  if (!live.empty()) {
    grads = pullback::vjp([&](const Arrays& v) { return g(live, v); }, pick(primals, live), cts)
                .second;
  }
  Arrays out;
  size_t next = 0;
  for (int i : argnums) {
    const bool is_live = next < live.size() && live[next] == i;
    if (is_live) out.push_back(grads[next]);
    else out.push_back(zeros_like(primals[i], stream()));
    if (is_live) ++next;
  }
  return out;
}

Arrays ScaledDotProductAttentionVJP::jvp(const Arrays& primals, const Arrays& tangents,
                                         const Ints& argnums) {
  BackwardAsFunction g{primals, scale_, mask_, has_sinks_, stream(),
                       AttentionInputs(mask_, has_sinks_).count};
  const Ints live = g.live(argnums);
  if (live.empty()) {
    Arrays zero;
    for (auto& shape : output_shapes(primals)) zero.push_back(zeros(shape, primals[0].dtype(), stream()));
    if (has_sinks_) zero.back() = zeros_like(primals[AttentionInputs(mask_, true).sinks], stream());
    return zero;
  }
  Arrays t;
  for (size_t k = 0, next = 0; k < argnums.size(); ++k) {
    if (next < live.size() && live[next] == argnums[k]) {
      t.push_back(astype(tangents[k], primals[argnums[k]].dtype(), stream()));
      ++next;
    }
  }
  return pullback::jvp([&](const Arrays& v) { return g(live, v); }, pick(primals, live), t).second;
}

std::pair<Arrays, Ints> ScaledDotProductAttentionVJP::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  const AttentionInputs at(mask_, has_sinks_);
  Folded f = fold_batch(in, axes, at.mask, at.sinks, s);
  std::vector<Dtype> dtypes(3, in[0].dtype());
  if (has_sinks_) dtypes.push_back(in[at.sinks].dtype());
  Arrays outs = array::make_arrays(
      output_shapes(f.inputs), dtypes,
      std::make_shared<ScaledDotProductAttentionVJP>(s, scale_, mask_, has_sinks_), f.inputs);
  Arrays res;
  for (int i = 0; i < 3; ++i) res.push_back(unfold(outs[i], f.n, s));
  if (has_sinks_) {
    // The sinks were expanded over the batch; an example's cotangent sums its batch back.
    array ds = unfold(outs[3], f.n, s);
    const int64_t own_batch = vmap_to_front(in[at.sinks], axes[at.sinks], f.n).shape(1);
    if (own_batch == 1 && f.batch != 1) ds = sum(ds, Axes{1}, true, s);
    res.push_back(ds);
  }
  return {res, Ints(res.size(), 0)};
}

// ---- AttentionOutput ----

std::vector<Shape> AttentionOutput::output_shapes(const Arrays& in) { return {in[0].shape()}; }

void AttentionOutput::eval_cpu(const Arrays& inputs, array& out) { out.copy_shared_buffer(inputs[0]); }

Arrays AttentionOutput::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                            const Arrays&) {
  Arrays out;
  for (int i : argnums) out.push_back(i == 0 ? cts[0] : zeros_like(primals[i], stream()));
  return out;
}

Arrays AttentionOutput::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  for (size_t k = 0; k < argnums.size(); ++k)
    if (argnums[k] == 0) return {tangents[k]};
  return {zeros_like(primals[0], stream())};
}

std::pair<Arrays, Ints> AttentionOutput::vmap(const Arrays& in, const Ints& axes) {
  Arrays x = vmap_all_to_front(in, axes);
  return {{array(x[0].shape(), x[0].dtype(), std::make_shared<AttentionOutput>(stream()), x)}, {0}};
}

// ---- CrossEntropy ----

std::vector<Shape> CrossEntropy::output_shapes(const Arrays& in) { return {in[1].shape()}; }

bool CrossEntropy::is_equivalent(const Primitive& other) const {
  return dynamic_cast<const CrossEntropy*>(&other) != nullptr;
}

namespace {

// softmax(logits) - onehot(targets), in the output's type: the derivative of each row's loss.
array softmax_minus_onehot(const array& logits, const array& targets, Dtype t, Stream s) {
  array p = softmax(astype(logits, t, s), Axes{-1}, true, s);
  const int64_t c = logits.shape(-1);
  array classes = integer_arange(0, c, 1, targets.dtype(), s);
  array onehot = equal(expand_dims(targets, {-1}, s), classes, s);
  return subtract(p, astype(onehot, t, s), s);
}

}  // namespace

Arrays CrossEntropy::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                         const Arrays& outputs) {
  Stream s = stream();
  Arrays out;
  for (int i : argnums) {
    if (i == 0) {
      Arrays in{primals[0], primals[1], astype(cts[0], outputs[0].dtype(), s)};
      out.push_back(array(primals[0].shape(), primals[0].dtype(),
                          std::make_shared<CrossEntropyVJP>(s), in));
    } else {
      out.push_back(zeros_like(primals[1], s));  // class indices have no derivative
    }
  }
  return out;
}

Arrays CrossEntropy::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Stream s = stream();
  const Dtype t = primals[0].dtype() == Dtype::float64 ? Dtype::float64 : Dtype::float32;
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] != 0) continue;
    array d = softmax_minus_onehot(primals[0], primals[1], t, s);
    return {sum(multiply(d, astype(tangents[k], t, s), s), Axes{-1}, false, s)};
  }
  return {zeros(primals[1].shape(), t, s)};
}

std::pair<Arrays, Ints> CrossEntropy::vmap(const Arrays& in, const Ints& axes) {
  Arrays x = vmap_all_to_front(in, axes);
  const Dtype t = in[0].dtype() == Dtype::float64 ? Dtype::float64 : Dtype::float32;
  return {{array(x[1].shape(), t, std::make_shared<CrossEntropy>(stream()), x)}, {0}};
}

// ---- CrossEntropyVJP ----

std::vector<Shape> CrossEntropyVJP::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool CrossEntropyVJP::is_equivalent(const Primitive& other) const {
  return dynamic_cast<const CrossEntropyVJP*>(&other) != nullptr;
}

namespace {

// The fused backward as a composition of (logits, cotangent): what its derivatives use.
array cross_entropy_backward_unfused(const array& logits, const array& targets, const array& g,
                                     Stream s) {
  const Dtype t = g.dtype();
  array d = softmax_minus_onehot(logits, targets, t, s);
  return astype(multiply(d, expand_dims(g, {-1}, s), s), logits.dtype(), s);
}

// primals[0] and primals[2] (logits, cotangent) that `argnums` asks for; targets have none.
Ints cross_entropy_live(const Ints& argnums) {
  Ints live;
  for (int i : argnums)
    if (i != 1) live.push_back(i);
  return live;
}

}  // namespace

Arrays CrossEntropyVJP::vjp(const Arrays& primals, const Arrays& cts, const Ints& argnums,
                            const Arrays&) {
  Stream s = stream();
  const Ints live = cross_entropy_live(argnums);
  Arrays grads;
  if (!live.empty()) {
    auto f = [&](const Arrays& vars) {
      Arrays all = substitute(primals, live, vars);
      return Arrays{cross_entropy_backward_unfused(all[0], all[1], all[2], s)};
    };
    grads = pullback::vjp(f, pick(primals, live), cts).second;
  }
  Arrays out;
  size_t next = 0;
  for (int i : argnums) out.push_back(i == 1 ? zeros_like(primals[1], s) : grads[next++]);
  return out;
}

Arrays CrossEntropyVJP::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Stream s = stream();
  const Ints live = cross_entropy_live(argnums);
  if (live.empty()) return {zeros_like(primals[0], s)};
  Arrays t;
  for (size_t k = 0; k < argnums.size(); ++k)
    if (argnums[k] != 1) t.push_back(tangents[k]);
  auto f = [&](const Arrays& vars) {
    Arrays all = substitute(primals, live, vars);
    return Arrays{cross_entropy_backward_unfused(all[0], all[1], all[2], s)};
  };
  return pullback::jvp(f, pick(primals, live), t).second;
}

std::pair<Arrays, Ints> CrossEntropyVJP::vmap(const Arrays& in, const Ints& axes) {
  Arrays x = vmap_all_to_front(in, axes);
  return {{array(x[0].shape(), x[0].dtype(), std::make_shared<CrossEntropyVJP>(stream()), x)}, {0}};
}

}  // namespace pullback
