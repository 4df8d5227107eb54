// The submodule pullback._core.random (mx.random): MLX's signatures over ops_random.h.
#include <nanobind/nanobind.h>

#include "pullback/ops.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

namespace {

std::optional<array> to_key(nb::handle k, const char* op) {
  if (k.is_none()) return std::nullopt;
  const array* a = as_array(k, op);
  if (!a) {
    throw nb::type_error((std::string("[") + op + "] key must be an array or None.").c_str());
  }
  return *a;
}

Dtype dtype_or(nb::handle d, Dtype fallback, const char* op) {
  return to_dtype(d, op).value_or(fallback);
}

std::optional<Shape> optional_shape(nb::handle shape, const char* op) {
  if (shape.is_none()) return std::nullopt;
  return to_shape(shape, op);
}

uint64_t to_seed(nb::handle h, const char* op) {
  if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr())) {
    throw nb::type_error((std::string("[") + op + "] seed must be an int.").c_str());
  }
  unsigned long long v = PyLong_AsUnsignedLongLong(h.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    throw std::invalid_argument(std::string("[") + op + "] seed must be in [0, 2**64).");
  }
  return static_cast<uint64_t>(v);
}

}  // namespace

void init_random(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("random", "Random number generation (MLX's mx.random).");

  m.def("key", [](nb::handle seed) { return random::key(to_seed(seed, "key")); }, "seed"_a,
        "Get a PRNG key from a seed.");
  m.def("seed", [](nb::handle seed) { random::seed(to_seed(seed, "seed")); }, "seed"_a,
        "Seed the global PRNG.");
  // mx.random.state[0] (python/pullback/core/random.py wraps these in the list-like `state`).
  m.def("_global_key", [] { return random::global_key_value(); },
        "The global key: a uint32 array of shape (2,).");
  m.def("_set_global_key", [](nb::handle key) {
    const array* a = as_array(key, "random.state");
    if (!a) {
      throw nb::type_error(("[random.state] The key must be an array; got " +
                            std::string(nb::inst_name(key).c_str()) + ".").c_str());
    }
    random::set_global_key(*a);
  }, "key"_a, "Replace the global key.");
  m.def("split", [](const array& key, nb::handle num, nb::handle s) {
    return random::split(key, to_int(num, "split", "num"), to_stream(s, "split"));
  }, "key"_a, "num"_a = 2, "stream"_a = nb::none(), "Split a PRNG key into sub keys.");
  m.def("bits", [](nb::handle shape, nb::handle width, nb::handle key, nb::handle s) {
    return random::bits(to_shape(shape, "bits"), to_axis(width, "bits", "width"),
                        to_key(key, "bits"), to_stream(s, "bits"));
  }, "shape"_a = nb::make_tuple(), "width"_a = 4, "key"_a = nb::none(), "stream"_a = nb::none(),
     "Generate an array of random bits (uint8/uint16/uint32 for width 1/2/4).");
  m.def("uniform", [](nb::handle low, nb::handle high, nb::handle shape, nb::handle dtype,
                      nb::handle key, nb::handle s) {
    return random::uniform(to_array(low, std::nullopt, "uniform"),
                           to_array(high, std::nullopt, "uniform"), to_shape(shape, "uniform"),
                           dtype_or(dtype, Dtype::float32, "uniform"), to_key(key, "uniform"),
                           to_stream(s, "uniform"));
  }, "low"_a = 0, "high"_a = 1, "shape"_a = nb::make_tuple(), "dtype"_a = nb::none(),
     "key"_a = nb::none(), "stream"_a = nb::none(),
     "Generate uniformly distributed random numbers in the half-open interval [low, high).");
  m.def("normal", [](nb::handle shape, nb::handle dtype, nb::handle loc, nb::handle scale,
                     nb::handle key, nb::handle s) {
    std::optional<array> l, sc;
    if (!loc.is_none()) l = to_array(loc, std::nullopt, "normal");
    if (!scale.is_none()) sc = to_array(scale, std::nullopt, "normal");
    return random::normal(to_shape(shape, "normal"), dtype_or(dtype, Dtype::float32, "normal"),
                          l, sc, to_key(key, "normal"), to_stream(s, "normal"));
  }, "shape"_a = nb::make_tuple(), "dtype"_a = nb::none(), "loc"_a = nb::none(),
     "scale"_a = nb::none(), "key"_a = nb::none(), "stream"_a = nb::none(),
     "Generate normally distributed random numbers with mean loc and standard deviation scale.");
  m.def("randint", [](nb::handle low, nb::handle high, nb::handle shape, nb::handle dtype,
                      nb::handle key, nb::handle s) {
    return random::randint(to_array(low, std::nullopt, "randint"),
                           to_array(high, std::nullopt, "randint"), to_shape(shape, "randint"),
                           dtype_or(dtype, Dtype::int32, "randint"), to_key(key, "randint"),
                           to_stream(s, "randint"));
  }, "low"_a, "high"_a, "shape"_a = nb::make_tuple(), "dtype"_a = nb::none(),
     "key"_a = nb::none(), "stream"_a = nb::none(),
     "Generate random integers from the half-open interval [low, high).");
  m.def("bernoulli", [](nb::handle p, nb::handle shape, nb::handle key, nb::handle s) {
    return random::bernoulli(to_array(p, std::nullopt, "bernoulli"),
                             optional_shape(shape, "bernoulli"), to_key(key, "bernoulli"),
                             to_stream(s, "bernoulli"));
  }, "p"_a = 0.5, "shape"_a = nb::none(), "key"_a = nb::none(), "stream"_a = nb::none(),
     "Generate Bernoulli random values: true with probability p.");
  m.def("truncated_normal", [](nb::handle lower, nb::handle upper, nb::handle shape,
                               nb::handle dtype, nb::handle key, nb::handle s) {
    const char* op = "truncated_normal";
    return random::truncated_normal(to_array(lower, std::nullopt, op),
                                    to_array(upper, std::nullopt, op), optional_shape(shape, op),
                                    dtype_or(dtype, Dtype::float32, op), to_key(key, op),
                                    to_stream(s, op));
  }, "lower"_a, "upper"_a, "shape"_a = nb::none(), "dtype"_a = nb::none(), "key"_a = nb::none(),
     "stream"_a = nb::none(),
     "Generate values from a normal distribution truncated to [lower, upper].");
  m.def("gumbel", [](nb::handle shape, nb::handle dtype, nb::handle key, nb::handle s) {
    return random::gumbel(to_shape(shape, "gumbel"), dtype_or(dtype, Dtype::float32, "gumbel"),
                          to_key(key, "gumbel"), to_stream(s, "gumbel"));
  }, "shape"_a = nb::make_tuple(), "dtype"_a = nb::none(), "key"_a = nb::none(),
     "stream"_a = nb::none(), "Sample from the standard Gumbel distribution.");
  m.def("categorical", [](const array& logits, nb::handle axis, nb::handle shape,
                          nb::handle num_samples, nb::handle key, nb::handle s) {
    const char* op = "categorical";
    std::optional<int64_t> ns;
    if (!num_samples.is_none()) ns = to_int(num_samples, op, "num_samples");
    return random::categorical(logits, to_axis(axis, op), optional_shape(shape, op), ns,
                               to_key(key, op), to_stream(s, op));
  }, "logits"_a, "axis"_a = -1, "shape"_a = nb::none(), "num_samples"_a = nb::none(),
     "key"_a = nb::none(), "stream"_a = nb::none(),
     "Sample from a categorical distribution with unnormalized log probabilities `logits`.");
  m.def("laplace", [](nb::handle shape, nb::handle dtype, nb::handle loc, nb::handle scale,
                      nb::handle key, nb::handle s) {
    const char* op = "laplace";
    return random::laplace(to_shape(shape, op), dtype_or(dtype, Dtype::float32, op),
                           to_float(loc, op, "loc"), to_float(scale, op, "scale"),
                           to_key(key, op), to_stream(s, op));
  }, "shape"_a = nb::make_tuple(), "dtype"_a = nb::none(), "loc"_a = 0.0, "scale"_a = 1.0,
     "key"_a = nb::none(), "stream"_a = nb::none(),
     "Sample numbers from a Laplace distribution.");
  m.def("permutation", [](nb::handle x, nb::handle axis, nb::handle key, nb::handle s) {
    const char* op = "permutation";
    if (const array* a = as_array(x, op)) {
      return random::permutation(*a, to_axis(axis, op), to_key(key, op), to_stream(s, op));
    }
    return random::permutation(to_int(x, op, "x"), to_key(key, op), to_stream(s, op));
  }, "x"_a, "axis"_a = 0, "key"_a = nb::none(), "stream"_a = nb::none(),
     "Generate a random permutation of 0 .. x-1, or permute the entries of the array x along axis.");
  m.def("multivariate_normal", [](const array& mean, const array& cov, nb::handle shape,
                                  nb::handle dtype, nb::handle key, nb::handle s) {
    const char* op = "multivariate_normal";
    return random::multivariate_normal(mean, cov, to_shape(shape, op),
                                       dtype_or(dtype, Dtype::float32, op), to_key(key, op),
                                       to_stream(s, op));
  }, "mean"_a, "cov"_a, "shape"_a = nb::make_tuple(), "dtype"_a = nb::none(), "key"_a = nb::none(),
     "stream"_a = nb::none(),
     "Generate jointly-normal random samples given a mean and covariance.");
}

}  // namespace pullback::python
