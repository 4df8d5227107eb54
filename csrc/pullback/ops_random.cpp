// mx.random: keys, the global key, and every distribution built from RandomBits (and the fused
// RandomNormal) with ordinary ops, in the order of operations MLX uses, so that the same key
// gives MLX's numbers.
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>

#include "pullback/ops.h"
#include "pullback/primitives/random.h"

namespace pullback::random {

namespace {

Dtype bits_dtype(int width) {
  return width == 1 ? Dtype::uint8 : width == 2 ? Dtype::uint16 : Dtype::uint32;
}

array key_from_words(uint32_t hi, uint32_t lo) {
  const uint32_t words[2] = {hi, lo};
  return array(words, Shape{2}, Dtype::uint32);
}

// The one global key (MLX's mx.random.state[0]), seeded from the clock until `seed` is called.
// Usually it lives on the host as two words and a draw splits it there (no graph, no kernel).
// When an unevaluated array is assigned to it (a compiled function's stand-in for
// mx.random.state, a lazy result), it is that array instead, and draws split it with graph ops,
// so that a traced function records the splits and its outputs can hand back the advanced key.
struct GlobalKey {
  std::mutex mutex;
  uint32_t words[2] = {0, 0};
  bool seeded = false;
  std::optional<array> lazy;
};

GlobalKey& global_key() {
  static GlobalKey* g = new GlobalKey();  // never destroyed: its array may outlive static teardown
  return *g;
}

// Whether `k`'s words can be read now (not a transform's stand-in, already computed).
bool has_words(const array& k) { return k.is_evaluated() && !k.is_tracer(); }

// The caller holds g.mutex. Copies an evaluated key's words (any stride) to the host key.
void take_words(GlobalKey& g, const array& k) {
  const uint32_t* p = k.data<uint32_t>();
  g.words[0] = p[0];
  g.words[1] = p[k.strides(0)];
  g.seeded = true;
  g.lazy.reset();
}

// The caller holds g.mutex: the host key, seeded from the clock on first use.
void ensure_seeded(GlobalKey& g) {
  if (g.seeded) return;
  const uint64_t t = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  g.words[0] = static_cast<uint32_t>(t >> 32);
  g.words[1] = static_cast<uint32_t>(t);
  g.seeded = true;
}

void check_key(const array& k, const char* op) {
  if (k.dtype() != Dtype::uint32 || k.shape() != Shape{2}) {
    fail(op, std::string("Expected a key of shape (2,) and dtype uint32; got shape ") +
                 shape_str(k.shape()) + " and dtype " + dtype_name(k.dtype()) + ".");
  }
}

array resolve_key(const OptKey& k, const char* op, Stream s) {
  if (!k) return next_key(s);
  check_key(*k, op);
  return *k;
}

void check_shape(const Shape& shape, const char* op) {
  check_ndim(shape, op);
  for (int64_t d : shape) {
    if (d < 0) fail(op, "Negative dimensions are not allowed; got shape " + shape_str(shape) + ".");
  }
}

array bits_node(const Shape& shape, int width, const array& key, Stream s) {
  return array(shape, bits_dtype(width), std::make_shared<RandomBits>(s, shape, width), {key});
}

// The largest value of `dtype` below 1 (MLX's upper bound for uniform samples).
double below_one(Dtype dtype) {
  switch (dtype) {
    case Dtype::float16: return 1.0 - std::ldexp(1.0, -11);
    case Dtype::bfloat16: return 1.0 - std::ldexp(1.0, -8);
    case Dtype::float64: return 1.0 - std::ldexp(1.0, -53);
    default: return 1.0 - std::ldexp(1.0, -24);
  }
}

void check_floating(Dtype dtype, const char* op) {
  if (!is_floating(dtype)) {
    fail(op, std::string("Can only generate samples of a real floating point type; got ") +
                 dtype_name(dtype) + ".");
  }
}

// Uniform samples on [0, below_one(dtype)]: float32 from one word (w / 2^32, rounded to the
// half types, as MLX), float64 from two words (53 bits).
array unit_uniform(const Shape& shape, Dtype dtype, const array& key, Stream s) {
  array u;
  if (dtype == Dtype::float64) {
    // The high word's 32 bits, then the low word's top 21: an exact 53-bit fraction.
    Shape pair = shape;
    pair.push_back(2);
    array w = bits_node(pair, 4, key, s);
    Shape start(pair.size(), 0), stop = pair, step(pair.size(), 1);
    auto word = [&](int64_t j) {
      start.back() = j;
      stop.back() = j + 1;
      return reshape(slice(w, start, stop, step, s), shape, s);
    };
    array hi = astype(word(0), Dtype::float64, s);
    array lo = astype(right_shift(word(1), array(int64_t(11), Dtype::uint32), s), Dtype::float64, s);
    u = add(multiply(hi, array(std::ldexp(1.0, -32), Dtype::float64), s),
            multiply(lo, array(std::ldexp(1.0, -53), Dtype::float64), s), s);
  } else {
    u = multiply(astype(bits_node(shape, 4, key, s), Dtype::float32, s),
                 array(std::ldexp(1.0, -32), Dtype::float32), s);
    if (dtype != Dtype::float32) u = astype(u, dtype, s);
  }
  return minimum(u, array(below_one(dtype), dtype), s);
}

// Whether `a` is a known scalar equal to v (an evaluated size-1 array).
bool is_constant(const array& a, double v) {
  if (a.size() != 1 || !a.is_evaluated() || a.has_primitive()) return false;
  array f = astype(a, Dtype::float64);
  f.eval();
  return f.data<double>()[0] == v;
}

}  // namespace

array key(uint64_t seed) {
  return key_from_words(static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed));
}

void seed(uint64_t seed) {
  GlobalKey& g = global_key();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.words[0] = static_cast<uint32_t>(seed >> 32);
  g.words[1] = static_cast<uint32_t>(seed);
  g.seeded = true;
  g.lazy.reset();
}

array global_key_value() {
  GlobalKey& g = global_key();
  std::lock_guard<std::mutex> lock(g.mutex);
  if (g.lazy) return *g.lazy;
  ensure_seeded(g);
  return key_from_words(g.words[0], g.words[1]);
}

void set_global_key(const array& k) {
  check_key(k, "random.state");
  GlobalKey& g = global_key();
  std::lock_guard<std::mutex> lock(g.mutex);
  if (has_words(k)) {
    take_words(g, k);
  } else {
    g.lazy = k;
  }
}

// split(global, 2): its words (w0, w1, w2, w3) come from the counter pairs (0, 2) and (1, 3);
// (w0, w1) becomes the global key, (w2, w3) is returned (MLX's order). On the host, or with
// graph ops when the global key is an unevaluated array.
array next_key(Stream s) {
  GlobalKey& g = global_key();
  std::lock_guard<std::mutex> lock(g.mutex);
  if (g.lazy) {
    // Once its value is known (a compiled step's key, evaluated), the host path resumes.
    if (has_words(*g.lazy)) {
      take_words(g, *g.lazy);
    } else {
      array pair = bits_node({2, 2}, 4, *g.lazy, s);
      auto row = [&](int64_t i) {
        return reshape(slice(pair, {i, 0}, {i + 1, 2}, {1, 1}, s), {2}, s);
      };
      g.lazy = row(0);
      return row(1);
    }
  }
  ensure_seeded(g);
  uint32_t w0, w1, w2, w3;
  threefry2x32(g.words[0], g.words[1], 0, 2, w0, w2);
  threefry2x32(g.words[0], g.words[1], 1, 3, w1, w3);
  g.words[0] = w0;
  g.words[1] = w1;
  return key_from_words(w2, w3);
}

array split(const array& k, int64_t num, Stream s) {
  check_key(k, "split");
  if (num < 0) fail("split", "The number of keys must be non-negative; got " + std::to_string(num) + ".");
  return bits_node({num, 2}, 4, k, s);
}

array bits(const Shape& shape, int width, const OptKey& k, Stream s) {
  if (width != 1 && width != 2 && width != 4) {
    fail("bits", "Width must be 1, 2 or 4 bytes; got " + std::to_string(width) + ".");
  }
  check_shape(shape, "bits");
  return bits_node(shape, width, resolve_key(k, "bits", s), s);
}

array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype,
              const OptKey& k, Stream s) {
  check_floating(dtype, "uniform");
  check_shape(shape, "uniform");
  array lo = astype(low, dtype, s), hi = astype(high, dtype, s);
  array range = subtract(hi, lo, s);
  const Shape both = broadcast_shapes(lo.shape(), hi.shape());
  if (broadcast_shapes(shape, both) != shape) {
    fail("uniform", "Cannot generate random values of shape " + shape_str(shape) +
                        " from low and high of broadcast shape " + shape_str(both) + ".");
  }
  array u = unit_uniform(shape, dtype, resolve_key(k, "uniform", s), s);
  // low = 0, high = 1 (the default) leaves u as it is: 1 * u + 0 == u for u >= 0.
  if (is_constant(low, 0.0) && is_constant(high, 1.0)) return u;
  return add(multiply(range, u, s), lo, s);
}

array normal(const Shape& shape, Dtype dtype, const std::optional<array>& loc,
             const std::optional<array>& scale, const OptKey& k, Stream s) {
  check_floating(dtype, "normal");
  check_shape(shape, "normal");
  array key = resolve_key(k, "normal", s);
  const bool scaled = !scale.has_value();
  array out(shape, dtype, std::make_shared<RandomNormal>(s, shape, dtype, scaled), {key});
  if (scale) {
    out = multiply(out, multiply(array(std::sqrt(2.0), dtype), astype(*scale, dtype, s), s), s);
  }
  if (loc) out = add(out, astype(*loc, dtype, s), s);
  return out;
}

array randint(const array& low, const array& high, const Shape& shape, Dtype dtype,
              const OptKey& k, Stream s) {
  if (is_inexact(dtype)) {
    fail("randint", std::string("Only integer and bool dtypes are supported; got ") +
                        dtype_name(dtype) + ".");
  }
  // MLX: floor of a float32 uniform sample, converted (wrapping) to dtype, then clipped to
  // [low, high - 1] in dtype.
  array u = floor(uniform(low, high, shape, Dtype::float32, k, s), s);
  array v = astype(u, dtype, s);
  array top = astype(subtract(high, array(1), s), dtype, s);
  return maximum(minimum(v, top, s), astype(low, dtype, s), s);
}

array bernoulli(const array& p, const std::optional<Shape>& shape, const OptKey& k, Stream s) {
  if (!is_floating(p.dtype())) {
    fail("bernoulli", std::string("The probability p must be of a floating point type; got ") +
                          dtype_name(p.dtype()) + ".");
  }
  Shape out_shape = shape ? *shape : p.shape();
  check_shape(out_shape, "bernoulli");
  if (shape && broadcast_shapes(p.shape(), out_shape) != out_shape) {
    fail("bernoulli", "p of shape " + shape_str(p.shape()) + " does not broadcast to shape " +
                          shape_str(out_shape) + ".");
  }
  array u = unit_uniform(out_shape, p.dtype(), resolve_key(k, "bernoulli", s), s);
  return less(u, p, s);
}

array truncated_normal(const array& lower, const array& upper, const std::optional<Shape>& shape,
                       Dtype dtype, const OptKey& k, Stream s) {
  check_floating(dtype, "truncated_normal");
  array lo = astype(lower, dtype, s), hi = astype(upper, dtype, s);
  const Shape both = broadcast_shapes(lo.shape(), hi.shape());
  Shape out_shape = shape ? *shape : both;
  check_shape(out_shape, "truncated_normal");
  // The normal's CDF maps [lower, upper] to [erf(lower/sqrt2), erf(upper/sqrt2)] (up to the
  // affine map to [0, 1]); uniform samples there map back through sqrt2 * erfinv.
  array sqrt2(std::sqrt(2.0), dtype);
  array a = erf(divide(lo, sqrt2, s), s), b = erf(divide(hi, sqrt2, s), s);
  if (broadcast_shapes(out_shape, both) != out_shape) {
    fail("truncated_normal", "Cannot generate values of shape " + shape_str(out_shape) +
                                 " from lower and upper of broadcast shape " + shape_str(both) +
                                 ".");
  }
  array u = uniform(a, b, out_shape, dtype, resolve_key(k, "truncated_normal", s), s);
  array out = multiply(sqrt2, erfinv(u, s), s);
  return maximum(minimum(out, hi, s), lo, s);
}

array gumbel(const Shape& shape, Dtype dtype, const OptKey& k, Stream s) {
  check_floating(dtype, "gumbel");
  check_shape(shape, "gumbel");
  // The smallest normal number as the lower bound keeps log(u) finite.
  array tiny(dtype == Dtype::float64 ? std::numeric_limits<double>::min()
                                     : std::numeric_limits<float>::min(),
             dtype);
  array u = uniform(tiny, array(1.0, dtype), shape, dtype, resolve_key(k, "gumbel", s), s);
  return negative(log(negative(log(u, s), s), s), s);
}

array categorical(const array& logits, int axis, const std::optional<Shape>& shape,
                  const std::optional<int64_t>& num_samples, const OptKey& k, Stream s) {
  const int nd = logits.ndim();
  if (axis < -nd || axis >= nd) {
    throw std::out_of_range("[categorical] Invalid axis " + std::to_string(axis) +
                            " for logits with " + std::to_string(nd) + " dimensions.");
  }
  const int ax = axis < 0 ? axis + nd : axis;
  if (shape && num_samples) fail("categorical", "At most one of shape or num_samples can be given.");
  array key = resolve_key(k, "categorical", s);
  Shape reduced = logits.shape();
  reduced.erase(reduced.begin() + ax);
  if (num_samples) {
    if (*num_samples < 0) {
      fail("categorical", "num_samples must be non-negative; got " +
                              std::to_string(*num_samples) + ".");
    }
    Shape g = logits.shape();
    g.push_back(*num_samples);
    array noise = gumbel(g, Dtype::float32, key, s);
    return argmax(add(noise, expand_dims(logits, {-1}, s), s), ax, false, s);
  }
  if (!shape) return argmax(add(gumbel(logits.shape(), Dtype::float32, key, s), logits, s), ax,
                            false, s);
  check_shape(*shape, "categorical");
  const int64_t trailing = nd - 1 - ax;  // axes of logits after `axis`
  if (static_cast<int64_t>(shape->size()) < nd - 1 ||
      broadcast_shapes(*shape, reduced) != *shape) {
    fail("categorical", "shape " + shape_str(*shape) + " is not broadcast-compatible with the "
                        "logits' shape without the axis " + shape_str(reduced) + ".");
  }
  Shape g = *shape;
  const int64_t pos = static_cast<int64_t>(g.size()) - trailing;
  g.insert(g.begin() + pos, logits.shape(ax));
  array noise = gumbel(g, Dtype::float32, key, s);
  return argmax(add(noise, logits, s), static_cast<int>(pos), false, s);
}

array laplace(const Shape& shape, Dtype dtype, double loc, double scale, const OptKey& k,
              Stream s) {
  check_floating(dtype, "laplace");
  check_shape(shape, "laplace");
  array u = uniform(array(-below_one(dtype), dtype), array(1.0, dtype), shape, dtype,
                    resolve_key(k, "laplace", s), s);
  // Inverse CDF: sign(u) * log(1 - |u|) is Laplace(0, 1) for u uniform on (-1, 1).
  array out = multiply(sign(u, s), log1p(negative(abs(u, s), s), s), s);
  return add(multiply(out, array(scale, dtype), s), array(loc, dtype), s);
}

array permutation(int64_t n, const OptKey& k, Stream s) {
  if (n < 0) fail("permutation", "n must be non-negative; got " + std::to_string(n) + ".");
  // Sorting random words orders 0 .. n-1 uniformly (argsort is stable, as MLX's, for ties).
  return argsort(bits_node({n}, 4, resolve_key(k, "permutation", s), s), 0, s);
}

array permutation(const array& x, int axis, const OptKey& k, Stream s) {
  if (x.ndim() == 0) fail("permutation", "Cannot permute a 0-dimensional array.");
  const int ax = normalize_axis(axis, x.ndim(), "permutation");
  return take(x, permutation(x.shape(ax), k, s), ax, s);
}

array multivariate_normal(const array& mean, const array& cov, const Shape& shape, Dtype dtype,
                          const OptKey& k, Stream s) {
  if (dtype != Dtype::float32 && dtype != Dtype::float64) {
    fail("multivariate_normal", std::string("dtype must be float32 or float64; got ") +
                                    dtype_name(dtype) + ".");
  }
  if (mean.ndim() < 1) fail("multivariate_normal", "mean must have at least one dimension.");
  if (cov.ndim() < 2) fail("multivariate_normal", "cov must have at least two dimensions.");
  const int64_t n = mean.shape(-1);
  if (cov.shape(-1) != cov.shape(-2)) {
    fail("multivariate_normal", "The last two dimensions of cov must be equal; got shape " +
                                    shape_str(cov.shape()) + ".");
  }
  if (cov.shape(-1) != n) {
    fail("multivariate_normal", "mean of shape " + shape_str(mean.shape()) + " and cov of shape " +
                                    shape_str(cov.shape()) + " have different sizes.");
  }
  check_shape(shape, "multivariate_normal");
  Shape batch = broadcast_shapes(Shape(mean.shape().begin(), mean.shape().end() - 1),
                                 Shape(cov.shape().begin(), cov.shape().end() - 2));
  Shape out_shape = shape.empty() ? batch : shape;
  if (broadcast_shapes(out_shape, batch) != out_shape) {
    fail("multivariate_normal", "shape " + shape_str(shape) + " does not broadcast with the batch "
                                "shape " + shape_str(batch) + " of mean and cov.");
  }
  out_shape.push_back(n);
  array c = astype(cov, dtype, s);
  // The factor U diag(sqrt(s)) V^T from the SVD (as MLX factors the covariance; for a symmetric
  // positive semi-definite matrix, its symmetric square root), differentiable through svd.
  std::vector<array> usv = linalg::svd(c, true, s);
  array root = matmul(multiply(usv[0], expand_dims(sqrt(usv[1], s), {-2}, s), s), usv[2], s);
  array z = normal(out_shape, dtype, {}, {}, resolve_key(k, "multivariate_normal", s), s);
  // z @ root: root is symmetric for a symmetric covariance; samples as row vectors.
  array samples = squeeze(matmul(expand_dims(z, {-2}, s), root, s), Axes{-2}, s);
  return add(astype(mean, dtype, s), samples, s);
}

}  // namespace pullback::random
