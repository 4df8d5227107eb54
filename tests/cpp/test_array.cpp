// The array handle: construction, layout metadata, scalars, lazy evaluation and detaching,
// multi-output nodes, inline storage, very deep graphs and buffer donation.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "pullback/allocator.h"
#include "pullback/ops.h"
#include "pullback/primitives/primitive.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

// Splits a 1-d float32 input into its two halves: a two-output primitive for sibling tests.
class SplitHalves : public Primitive {
 public:
  explicit SplitHalves(int* calls) : Primitive(current_stream()), calls_(calls) {}
  const char* name() const override { return "SplitHalves"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override {
    ++*calls_;
    const float* src = inputs[0].data<float>();
    size_t half = inputs[0].size() / 2;
    for (int k = 0; k < 2; ++k) {
      outputs[k].set_data(std::make_shared<Data>(outputs[k].nbytes()));
      std::memcpy(outputs[k].data<float>(), src + k * half, half * sizeof(float));
    }
  }

 private:
  int* calls_;
};

std::vector<array> split_halves(const array& a, int* calls) {
  int64_t half = a.shape(0) / 2;
  return array::make_arrays({{half}, {half}}, {Dtype::float32, Dtype::float32},
                            std::make_shared<SplitHalves>(calls), {a});
}

// Copies its input and counts how often its kernel runs.
class CountingCopy : public UnaryPrimitive {
 public:
  explicit CountingCopy(int* calls) : UnaryPrimitive(current_stream()), calls_(calls) {}
  const char* name() const override { return "CountingCopy"; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override {
    ++*calls_;
    out.set_data(std::make_shared<Data>(out.nbytes()));
    std::memcpy(out.raw_data(), inputs[0].raw_data(), out.nbytes());
  }

 private:
  int* calls_;
};

}  // namespace

TEST(Array, FromDataShapeStridesAndSize) {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  array a(v.data(), {2, 3}, Dtype::float32);
  EXPECT_TRUE(a.valid());
  EXPECT_TRUE(a.is_evaluated());
  EXPECT_FALSE(a.has_primitive());
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.shape(0), 2);
  EXPECT_EQ(a.shape(1), 3);
  EXPECT_EQ(a.shape(-1), 3);
  EXPECT_EQ(a.shape(-2), 2);
  EXPECT_EQ(a.strides(), (Strides{3, 1}));
  EXPECT_EQ(a.strides(-1), 1);
  EXPECT_EQ(a.ndim(), 2);
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(a.itemsize(), 4u);
  EXPECT_EQ(a.nbytes(), 24u);
  EXPECT_EQ(a.dtype(), Dtype::float32);
  EXPECT_EQ(a.data_size(), 6u);
  EXPECT_TRUE(a.flags().row_contiguous);
  EXPECT_FALSE(a.flags().col_contiguous);
  EXPECT_TRUE(a.flags().contiguous);
  EXPECT_EQ(to_vector<float>(a), v);
  // The array owns a copy: changing the source does not change it.
  v[0] = 100;
  EXPECT_EQ(a.data<float>()[0], 1.0f);
}

TEST(Array, ThreeDimensionalStridesAndDtypes) {
  std::vector<int16_t> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<int16_t>(i - 12);
  array a(v.data(), {2, 3, 4}, Dtype::int16);
  EXPECT_EQ(a.strides(), (Strides{12, 4, 1}));
  EXPECT_EQ(a.nbytes(), 48u);
  EXPECT_EQ(a.itemsize(), 2u);
  EXPECT_EQ(to_vector<int16_t>(a), v);

  std::vector<double> d{1.5, -2.25};
  array b(d.data(), {2, 1}, Dtype::float64);
  EXPECT_EQ(b.strides(), (Strides{1, 1}));
  EXPECT_EQ(b.nbytes(), 16u);
  EXPECT_EQ(to_vector<double>(b), d);
}

TEST(Array, OneDimensionalIsBothRowAndColumnContiguous) {
  std::vector<int32_t> v{7, 8, 9};
  array a(v.data(), {3}, Dtype::int32);
  EXPECT_TRUE(a.flags().row_contiguous);
  EXPECT_TRUE(a.flags().col_contiguous);
  EXPECT_EQ(a.strides(), (Strides{1}));
}

TEST(Array, EmptyArrays) {
  array a(nullptr, {0, 3}, Dtype::float32);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.nbytes(), 0u);
  EXPECT_EQ(a.shape(), (Shape{0, 3}));
  array b = add(a, a);
  b.eval();
  EXPECT_EQ(b.shape(), (Shape{0, 3}));
  EXPECT_EQ(b.size(), 0u);
  array e = array::empty({4, 0}, Dtype::int8);
  EXPECT_EQ(e.size(), 0u);
  EXPECT_TRUE(e.is_evaluated());
}

TEST(Array, ShapeAxisOutOfRangeThrows) {
  array a = iota({2, 3});
  std::string msg = error_of<std::out_of_range>([&] { a.shape(2); });
  EXPECT_TRUE(starts_with(msg, "[array.shape]")) << msg;
  EXPECT_NE(error_of<std::out_of_range>([&] { a.shape(-3); }), "");
}

TEST(Array, ScalarsFromCppValues) {
  array f(2.5f);
  EXPECT_EQ(f.dtype(), Dtype::float32);
  EXPECT_EQ(f.ndim(), 0);
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(f.nbytes(), 4u);
  EXPECT_TRUE(f.shape().empty());
  EXPECT_TRUE(f.strides().empty());
  EXPECT_EQ(f.item<float>(), 2.5f);

  array i(3);
  EXPECT_EQ(i.dtype(), Dtype::int32);
  EXPECT_EQ(i.item<int32_t>(), 3);

  array b(true);
  EXPECT_EQ(b.dtype(), Dtype::bool_);
  EXPECT_EQ(b.item<bool>(), true);
  EXPECT_EQ(array(false).item<bool>(), false);

  array c(complex64_t(1.5f, -2.f));
  EXPECT_EQ(c.dtype(), Dtype::complex64);
  EXPECT_EQ(c.item<complex64_t>(), complex64_t(1.5f, -2.f));
}

TEST(Array, ScalarsConvertedToEveryDtype) {
  EXPECT_EQ(array(7.0, Dtype::float64).item<double>(), 7.0);
  EXPECT_EQ(array(0.1, Dtype::float64).item<double>(), 0.1);
  EXPECT_EQ(array(0.1, Dtype::float32).item<float>(), 0.1f);
  EXPECT_EQ(static_cast<float>(array(1.5, Dtype::float16).item<float16_t>()), 1.5f);
  EXPECT_EQ(static_cast<float>(array(3.0, Dtype::bfloat16).item<bfloat16_t>()), 3.0f);
  EXPECT_EQ(array(-1.75, Dtype::int32).item<int32_t>(), -1);  // truncation toward zero
  EXPECT_EQ(array(int64_t(-5), Dtype::int8).item<int8_t>(), -5);
  EXPECT_EQ(array(int64_t(40000), Dtype::uint16).item<uint16_t>(), 40000);
  EXPECT_EQ(array(int64_t(1) << 40, Dtype::int64).item<int64_t>(), int64_t(1) << 40);
  EXPECT_EQ(array(int64_t(3), Dtype::uint64).item<uint64_t>(), 3u);
  EXPECT_EQ(array(int64_t(2), Dtype::bool_).item<bool>(), true);
  EXPECT_EQ(array(int64_t(0), Dtype::bool_).item<bool>(), false);
  EXPECT_EQ(array(2.0, Dtype::complex64).item<complex64_t>(), complex64_t(2.f, 0.f));
  // Every scalar really has the dtype it was asked for.
  for (int t = 0; t < kNumDtypes; ++t) {
    Dtype d = static_cast<Dtype>(t);
    array s(int64_t(1), d);
    EXPECT_EQ(s.dtype(), d);
    EXPECT_EQ(s.nbytes(), size_of(d));
  }
}

TEST(Array, ItemOfSizeOneArrayAndErrors) {
  std::vector<float> v{4.25f};
  array a(v.data(), {1, 1}, Dtype::float32);
  EXPECT_EQ(a.item<float>(), 4.25f);
  array lazy = multiply(a, array(2.f));
  EXPECT_FALSE(lazy.is_evaluated());
  EXPECT_EQ(lazy.item<float>(), 8.5f);  // item evaluates first
  EXPECT_TRUE(lazy.is_evaluated());
  array big = iota({2, 2});
  std::string msg = error_of<std::invalid_argument>([&] { big.item<float>(); });
  EXPECT_TRUE(starts_with(msg, "[item]")) << msg;
}

TEST(Array, OpsAreLazyUntilEval) {
  array x = iota({3});
  array y = from_doubles({10, 20, 30}, Dtype::float32);
  array z = add(x, y);
  EXPECT_FALSE(z.is_evaluated());
  EXPECT_TRUE(z.has_primitive());
  EXPECT_STREQ(z.primitive().name(), "Add");
  ASSERT_EQ(z.inputs().size(), 2u);
  EXPECT_TRUE(z.inputs()[0].is_same(x));
  EXPECT_TRUE(z.inputs()[1].is_same(y));
  EXPECT_EQ(z.shape(), (Shape{3}));
  EXPECT_EQ(z.dtype(), Dtype::float32);
  EXPECT_EQ(z.raw_data(), nullptr);
  z.eval();
  EXPECT_TRUE(z.is_evaluated());
  EXPECT_EQ(to_vector<float>(z), (std::vector<float>{10, 21, 32}));
  // Evaluating again changes nothing.
  z.eval();
  EXPECT_EQ(to_vector<float>(z), (std::vector<float>{10, 21, 32}));
}

TEST(Array, EvalDetachesTheGraphAndReleasesIntermediates) {
  array x = iota({4});
  std::weak_ptr<ArrayDesc> middle;
  array out;
  {
    array m = exp(x);
    middle = m.desc();
    out = multiply(m, array(2.f));
  }
  EXPECT_FALSE(middle.expired());  // held by out's node
  out.eval();
  EXPECT_FALSE(out.has_primitive());
  EXPECT_TRUE(out.inputs().empty());
  EXPECT_TRUE(middle.expired()) << "an intermediate outlived the evaluation that consumed it";
  std::vector<float> got = to_vector<float>(out);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(got[i], 2 * std::exp(static_cast<float>(i)));
  // The input the user still holds is untouched.
  EXPECT_EQ(to_vector<float>(x), (std::vector<float>{0, 1, 2, 3}));
}

TEST(Array, EvalOfSeveralOutputsSharesWork) {
  int calls = 0;
  array x = iota({5});
  array shared(x.shape(), x.dtype(), std::make_shared<CountingCopy>(&calls), {x});
  array a = add(shared, array(1.f));
  array b = multiply(shared, shared);
  eval({a, b});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(to_vector<float>(a), (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_EQ(to_vector<float>(b), (std::vector<float>{0, 1, 4, 9, 16}));
  // Already evaluated: nothing runs again.
  eval({a, b, shared});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(to_vector<float>(shared), (std::vector<float>{0, 1, 2, 3, 4}));
}

TEST(Array, EvalOfUninitializedArrayThrows) {
  array none;
  EXPECT_FALSE(none.valid());
  std::string msg = error_of<std::invalid_argument>([&] { eval({none}); });
  EXPECT_TRUE(starts_with(msg, "[eval]")) << msg;
}

TEST(Array, SiblingsAndOutputs) {
  int calls = 0;
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  array x(v.data(), {6}, Dtype::float32);
  std::vector<array> parts = split_halves(x, &calls);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].position(), 0);
  EXPECT_EQ(parts[1].position(), 1);
  ASSERT_EQ(parts[0].siblings().size(), 1u);
  ASSERT_EQ(parts[1].siblings().size(), 1u);
  EXPECT_TRUE(parts[0].siblings()[0].is_same(parts[1]));
  EXPECT_TRUE(parts[1].siblings()[0].is_same(parts[0]));
  EXPECT_TRUE(parts[0].primitive_ptr() == parts[1].primitive_ptr());
  for (int k = 0; k < 2; ++k) {
    std::vector<array> outs = parts[k].outputs();
    ASSERT_EQ(outs.size(), 2u);
    EXPECT_TRUE(outs[0].is_same(parts[0]));
    EXPECT_TRUE(outs[1].is_same(parts[1]));
  }
  // Evaluating one output computes both in a single kernel call.
  parts[1].eval();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(parts[0].is_evaluated());
  EXPECT_TRUE(parts[1].is_evaluated());
  EXPECT_EQ(to_vector<float>(parts[0]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(to_vector<float>(parts[1]), (std::vector<float>{4, 5, 6}));
  parts[0].eval();
  EXPECT_EQ(calls, 1);
  // Detached after evaluation: no primitive, no inputs, no sibling cycle left behind.
  EXPECT_FALSE(parts[0].has_primitive());
  EXPECT_FALSE(parts[1].has_primitive());
  EXPECT_TRUE(parts[0].siblings().empty());
  EXPECT_TRUE(parts[1].siblings().empty());
}

TEST(Array, SiblingsDoNotLeakWhenDroppedUnevaluated) {
  int calls = 0;
  std::weak_ptr<ArrayDesc> w0, w1;
  {
    array x = iota({4});
    std::vector<array> parts = split_halves(x, &calls);
    w0 = parts[0].desc();
    w1 = parts[1].desc();
  }
  EXPECT_EQ(calls, 0);
  // Sibling links are plain shared references; a cycle would keep these alive.
  EXPECT_TRUE(w0.expired() && w1.expired())
      << "the outputs of an unevaluated multi-output node keep each other alive";
}

TEST(Array, SiblingOutputsFeedFurtherOps) {
  int calls = 0;
  std::vector<float> v{1, 2, 3, 10, 20, 30};
  array x(v.data(), {6}, Dtype::float32);
  std::vector<array> parts = split_halves(x, &calls);
  array s = subtract(parts[1], parts[0]);
  EXPECT_EQ(to_vector<float>(s), (std::vector<float>{9, 18, 27}));
  EXPECT_EQ(calls, 1);
}

TEST(Array, EvaluatesAnOutputWhoseSiblingWasDropped) {
  int calls = 0;
  std::vector<float> v{1, 2, 3, 4};
  array x(v.data(), {4}, Dtype::float32);
  array second;
  {
    std::vector<array> parts = split_halves(x, &calls);
    second = parts[1];
  }
  // The first output is gone; the kernel still gets somewhere to write it.
  array doubled = multiply(second, array(2.f));
  EXPECT_EQ(to_vector<float>(doubled), (std::vector<float>{6, 8}));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(to_vector<float>(second), (std::vector<float>{3, 4}));
}

TEST(Array, DataInlineStorageForTinyBuffers) {
  size_t before = allocator::get_active_memory();
  {
    Data tiny(8);
    EXPECT_EQ(tiny.ptr, static_cast<void*>(tiny.inline_storage));
    EXPECT_EQ(tiny.nbytes, 8u);
    Data edge(sizeof(Data::inline_storage));
    EXPECT_EQ(edge.ptr, static_cast<void*>(edge.inline_storage));
    EXPECT_EQ(allocator::get_active_memory(), before);
    Data big(sizeof(Data::inline_storage) + 1);
    EXPECT_NE(big.ptr, static_cast<void*>(big.inline_storage));
    EXPECT_GT(allocator::get_active_memory(), before);
  }
  EXPECT_EQ(allocator::get_active_memory(), before);

  array s(3.0, Dtype::float64);
  const auto& d = s.data_shared_ptr();
  EXPECT_EQ(d->ptr, static_cast<void*>(d->inline_storage));
  EXPECT_EQ(s.raw_data(), d->ptr);
  std::vector<float> four{1, 2, 3, 4};
  array small(four.data(), {4}, Dtype::float32);  // 16 bytes: still inline
  EXPECT_EQ(small.data_shared_ptr()->ptr,
            static_cast<void*>(small.data_shared_ptr()->inline_storage));
  EXPECT_EQ(to_vector<float>(small), four);
  std::vector<float> five{1, 2, 3, 4, 5};
  array larger(five.data(), {5}, Dtype::float32);
  EXPECT_NE(larger.data_shared_ptr()->ptr,
            static_cast<void*>(larger.data_shared_ptr()->inline_storage));
  EXPECT_EQ(to_vector<float>(larger), five);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(larger.raw_data()) % 16, 0u);
}

TEST(Array, DataWithCustomRelease) {
  static int released = 0;
  released = 0;
  float storage[3] = {1, 2, 3};
  {
    auto d = std::make_shared<Data>(storage, sizeof(storage), [](Data*) { ++released; });
    array a = array::empty({3}, Dtype::float32);
    a.set_data(d);
    EXPECT_EQ(a.raw_data(), static_cast<void*>(storage));
    EXPECT_EQ(to_vector<float>(a), (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);
}

TEST(Array, CreationOps) {
  array a = arange(0, 5, 1, Dtype::int32);
  EXPECT_EQ(a.shape(), (Shape{5}));
  EXPECT_EQ(to_vector<int32_t>(a), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(to_doubles(arange(1, 2, 0.25, Dtype::float32)), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(to_doubles(arange(5, 0, -2, Dtype::int64)), (std::vector<double>{5, 3, 1}));
  EXPECT_EQ(arange(3, 1, 1, Dtype::float32).size(), 0u);
  EXPECT_TRUE(starts_with(error_of<std::invalid_argument>([] { arange(0, 1, 0, Dtype::float32); }),
                          "[arange]"));
  expect_close(to_doubles(linspace(0, 1, 5, true, Dtype::float64)), {0, 0.25, 0.5, 0.75, 1}, 1e-15,
               1e-15, "linspace");
  expect_close(to_doubles(linspace(0, 1, 4, false, Dtype::float32)), {0, 0.25, 0.5, 0.75}, 1e-7,
               1e-7, "linspace open");
  array z = zeros({2, 3}, Dtype::int16);
  EXPECT_EQ(z.dtype(), Dtype::int16);
  EXPECT_EQ(to_doubles(z), std::vector<double>(6, 0));
  EXPECT_EQ(to_doubles(ones({3}, Dtype::bfloat16)), std::vector<double>(3, 1));
  array f = full({2, 2}, array(2.5f));
  EXPECT_EQ(f.dtype(), Dtype::float32);
  EXPECT_EQ(to_doubles(f), std::vector<double>(4, 2.5));
  EXPECT_EQ(to_doubles(full({2}, array(2.5f), Dtype::int32)), (std::vector<double>{2, 2}));
  EXPECT_EQ(to_doubles(full({2, 2}, from_doubles({1, 2}, Dtype::float32))),
            (std::vector<double>{1, 2, 1, 2}));
  EXPECT_EQ(to_doubles(zeros_like(iota({2, 2}, Dtype::uint8))), std::vector<double>(4, 0));
  EXPECT_EQ(ones_like(iota({3}, Dtype::float16)).dtype(), Dtype::float16);
  EXPECT_EQ(to_doubles(eye(2, 3, 1, Dtype::float32)), (std::vector<double>{0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(to_doubles(identity(3, Dtype::int32)), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  std::string neg = error_of<std::invalid_argument>([] { zeros({2, -1}); });
  EXPECT_TRUE(starts_with(neg, "[full]") || starts_with(neg, "[zeros]")) << neg;
  // copy gives a row-contiguous array with the same values.
  array t = transpose(iota({2, 3}));
  array c = copy(t);
  c.eval();
  EXPECT_TRUE(c.flags().row_contiguous);
  EXPECT_EQ(c.strides(), (Strides{2, 1}));
  EXPECT_EQ(to_doubles(c), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(Array, EvaluatesAMillionNodeChainWithoutOverflow) {
  const int n = 1000000;
  array one(1.f);
  array x(0.f);
  for (int i = 0; i < n; ++i) x = add(x, one);
  EXPECT_FALSE(x.is_evaluated());
  x.eval();
  EXPECT_EQ(x.item<float>(), static_cast<float>(n));
  EXPECT_FALSE(x.has_primitive());
}

TEST(Array, DestroysAnUnevaluatedMillionNodeChainWithoutOverflow) {
  const int n = 1000000;
  std::weak_ptr<ArrayDesc> first;
  {
    array one(1.f);
    array x = add(array(0.f), one);
    first = x.desc();
    for (int i = 1; i < n; ++i) x = multiply(x, one);
    EXPECT_FALSE(first.expired());
  }
  EXPECT_TRUE(first.expired());
}

TEST(Array, DestroysADeepChainOfSiblingsWithoutOverflow) {
  int calls = 0;
  std::weak_ptr<ArrayDesc> first;
  {
    array x = iota({2});
    first = x.desc();
    for (int i = 0; i < 200000; ++i) {
      std::vector<array> parts = split_halves(concatenate({x, x}), &calls);
      x = parts[0];
    }
  }
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(first.expired());
}

TEST(Array, DonatesUniquelyHeldInputBuffer) {
  const int64_t n = 4096;
  array x = iota({n});
  const Data* buffer = x.data_shared_ptr().get();
  const void* ptr = x.raw_data();
  size_t active = allocator::get_active_memory();
  array y = add(multiply(x, array(2.f)), array(1.f));
  x = array();  // y's graph now holds the only reference
  y.eval();
  EXPECT_EQ(y.data_shared_ptr().get(), buffer) << "x*2+1 did not reuse x's buffer";
  EXPECT_EQ(y.raw_data(), ptr);
  EXPECT_EQ(allocator::get_active_memory(), active);
  std::vector<float> got = to_vector<float>(y);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], 2.f * i + 1.f) << i;
}

TEST(Array, DoesNotDonateABufferStillInUse) {
  const int64_t n = 4096;
  array x = iota({n});
  const void* ptr = x.raw_data();
  array y = add(multiply(x, array(2.f)), array(1.f));
  y.eval();
  EXPECT_NE(y.raw_data(), ptr);
  // x is intact; the intermediate x*2 could still be donated to the add.
  std::vector<float> xs = to_vector<float>(x), ys = to_vector<float>(y);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(xs[i], static_cast<float>(i));
    ASSERT_EQ(ys[i], 2.f * i + 1.f);
  }
  // A view of x shares its buffer, so x is not donatable even without the handle.
  array base = iota({n});
  array view = reshape(base, {64, 64});
  view.eval();
  const void* base_ptr = base.raw_data();
  EXPECT_EQ(view.raw_data(), base_ptr);
  base = array();
  array z = exp(reshape(view, {n}));
  z.eval();
  EXPECT_NE(z.raw_data(), base_ptr);
  std::vector<float> vs = to_vector<float>(view);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(vs[i], static_cast<float>(i));
}
