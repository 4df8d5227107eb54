// matmul against a naive triple loop: layouts, broadcasting, vectors, dtypes, errors, derivatives.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

using Values = std::vector<double>;

Values random_values(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Values v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// An evaluated view of `base`'s buffer with the given layout, made without any shape op so
// that the kernel's handling of strides is tested on its own.
array strided_view(const array& base, const Shape& shape, const Strides& strides, int64_t offset = 0) {
  array v(std::make_shared<ArrayDesc>(shape, base.dtype()));
  ArrayFlags flags{false, false, false};
  int64_t reach = 1;
  for (size_t i = 0; i < shape.size(); ++i) reach += (shape[i] - 1) * strides[i];
  v.copy_shared_buffer(base, strides, flags, static_cast<size_t>(reach), offset);
  return v;
}

// NumPy's matmul by definition, on row-major values.
Values reference(const Values& a, Shape sa, const Values& b, Shape sb, Shape& out_shape) {
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa = {1, sa[0]};
  if (b_vec) sb = {sb[0], 1};
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const size_t nbatch = std::max(sa.size(), sb.size()) - 2;
  Shape batch(nbatch);
  auto dim = [nbatch](const Shape& s, size_t i) -> int64_t {
    size_t lead = nbatch - (s.size() - 2);
    return i < lead ? 1 : s[i - lead];
  };
  for (size_t i = 0; i < nbatch; ++i) batch[i] = std::max(dim(sa, i), dim(sb, i));
  size_t total = 1;
  for (auto d : batch) total *= d;
  Values out(total * m * n, 0.0);
  for (size_t t = 0; t < total; ++t) {
    // Unravel t, then ravel into each operand with broadcast axes pinned to 0.
    size_t rem = t, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
    for (int i = static_cast<int>(nbatch) - 1; i >= 0; --i) {
      size_t idx = rem % batch[i];
      rem /= batch[i];
      int64_t da = dim(sa, i), db = dim(sb, i);
      ia += (da == 1 ? 0 : idx) * stride_a;
      ib += (db == 1 ? 0 : idx) * stride_b;
      stride_a *= da;
      stride_b *= db;
    }
    const double* pa = a.data() + ia * m * k;
    const double* pb = b.data() + ib * k * n;
    double* pc = out.data() + t * m * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += pa[i * k + p] * pb[p * n + j];
        pc[i * n + j] = acc;
      }
  }
  out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  return out;
}

void check_product(const Shape& sa, const Shape& sb, Dtype dtype = Dtype::float32, double tol = 1e-5) {
  SCOPED_TRACE(shape_str(sa) + " @ " + shape_str(sb) + " " + dtype_name(dtype));
  Values va = random_values(shape_size(sa), 1), vb = random_values(shape_size(sb), 2);
  array c = matmul(from_doubles(va, sa, dtype), from_doubles(vb, sb, dtype));
  Shape want_shape;
  Values want = reference(va, sa, vb, sb, want_shape);
  EXPECT_EQ(c.shape(), want_shape);
  EXPECT_EQ(c.dtype(), dtype);
  expect_close(to_doubles(c), want, tol, tol, "product");
}

// Expects f to throw std::invalid_argument with `fragment` in its message.
template <typename F>
void expect_error(F&& f, const std::string& fragment) {
  std::string msg = error_of<std::invalid_argument>(f);
  EXPECT_NE(msg.find(fragment), std::string::npos)
      << "expected std::invalid_argument containing: " << fragment << "; got: \"" << msg << "\"";
}

}  // namespace

TEST(Matmul, MatrixShapes) {
  check_product({3, 4}, {4, 5});
  check_product({1, 1}, {1, 1});
  check_product({7, 1}, {1, 9});
  check_product({1, 6}, {6, 1});
  check_product({64, 33}, {33, 17});
  check_product({300, 200}, {200, 130}, Dtype::float32, 1e-4);
}

TEST(Matmul, Float64AndHalfTypes) {
  check_product({5, 7}, {7, 3}, Dtype::float64, 1e-12);
  check_product({2, 5, 7}, {7, 3}, Dtype::float64, 1e-12);
  check_product({5, 7}, {7, 3}, Dtype::float16, 1e-2);
  check_product({5, 7}, {7, 3}, Dtype::bfloat16, 3e-2);
}

TEST(Matmul, MixedDtypesPromote) {
  Values va = random_values(6, 3), vb = random_values(6, 4);
  array c =
      matmul(from_doubles(va, {2, 3}, Dtype::float16), from_doubles(vb, {3, 2}, Dtype::float32));
  EXPECT_EQ(c.dtype(), Dtype::float32);
  array d =
      matmul(from_doubles(va, {2, 3}, Dtype::int32), from_doubles(vb, {3, 2}, Dtype::float32));
  EXPECT_EQ(d.dtype(), Dtype::float32);
  EXPECT_EQ(d.shape(), (Shape{2, 2}));
}

TEST(Matmul, Vectors) {
  check_product({4}, {4, 5});
  check_product({3, 4}, {4});
  check_product({4}, {4});
  check_product({2, 3, 4}, {4});
  check_product({4}, {2, 4, 5});
  check_product({200}, {200, 300}, Dtype::float32, 1e-4);
  check_product({300, 200}, {200}, Dtype::float32, 1e-4);
}

TEST(Matmul, BatchBroadcasting) {
  check_product({2, 3, 4}, {4, 5});
  check_product({3, 4}, {2, 4, 5});
  check_product({2, 3, 4}, {2, 4, 5});
  check_product({2, 1, 3, 4}, {5, 4, 6});
  check_product({1, 3, 4}, {6, 4, 2});
  check_product({3, 1, 2, 4}, {1, 2, 4, 3});
  // Many small products: the batch is split over the thread pool.
  check_product({256, 8, 8}, {256, 8, 8});
  check_product({256, 8, 8}, {8, 1});
  check_product({256, 1, 8}, {256, 8, 1});
  // A shared b over a batch of stacked rows: one tall gemm.
  check_product({4, 50, 30}, {30, 20}, Dtype::float32, 1e-4);
}

TEST(Matmul, EmptyAxes) {
  array c = matmul(zeros({3, 0}), zeros({0, 4}));
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  expect_close(to_doubles(c), Values(12, 0.0), 0, 0, "empty inner axis");
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(to_doubles(matmul(zeros({0, 3}), zeros({3, 4}))).size(), 0u);
  EXPECT_EQ(matmul(zeros({2, 0, 3}), zeros({3, 4})).shape(), (Shape{2, 0, 4}));
}

TEST(Matmul, StridedOperands) {
  const int64_t m = 5, k = 4, n = 3;
  Values va = random_values(m * k, 5), vb = random_values(k * n, 6);
  Shape want_shape;
  Values want = reference(va, {m, k}, vb, {k, n}, want_shape);

  // Column-major copies: BLAS reads them transposed, without a copy.
  Values ta(m * k), tb(k * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) ta[p * m + i] = va[i * k + p];
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) tb[j * k + p] = vb[p * n + j];
  array a_t = strided_view(from_doubles(ta, {k, m}, Dtype::float32), {m, k}, {1, m});
  array b_t = strided_view(from_doubles(tb, {n, k}, Dtype::float32), {k, n}, {1, k});
  array a = from_doubles(va, {m, k}, Dtype::float32), b = from_doubles(vb, {k, n}, Dtype::float32);
  expect_close(to_doubles(matmul(a_t, b)), want, 1e-5, 1e-5, "a_t @ b");
  expect_close(to_doubles(matmul(a, b_t)), want, 1e-5, 1e-5, "a @ b_t");
  expect_close(to_doubles(matmul(a_t, b_t)), want, 1e-5, 1e-5, "a_t @ b_t");

  // Rows with a gap (a leading dimension wider than the row) and an offset.
  Values wide(2 + m * (k + 3), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) wide[2 + i * (k + 3) + p] = va[i * k + p];
  array a_wide =
      strided_view(from_doubles(wide, {static_cast<int64_t>(wide.size())}, Dtype::float32), {m, k},
                   {k + 3, 1}, 2);
  expect_close(to_doubles(matmul(a_wide, b)), want, 1e-5, 1e-5, "a_wide @ b");

  // Every other element: no BLAS layout, so the kernel copies.
  Values sparse(2 * m * k, 0.0);
  for (size_t i = 0; i < va.size(); ++i) sparse[2 * i] = va[i];
  array a_step =
      strided_view(from_doubles(sparse, {2 * m * k}, Dtype::float32), {m, k}, {2 * k, 2});
  expect_close(to_doubles(matmul(a_step, b)), want, 1e-5, 1e-5, "a_step @ b");
}

TEST(Matmul, StridedBatches) {
  // b broadcast along a batch axis with stride 0, a transposed inside each batch entry.
  const int64_t batch = 3, m = 4, k = 5, n = 2;
  Values va = random_values(batch * m * k, 7), vb = random_values(k * n, 8);
  Values ta(va.size());
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) ta[t * m * k + p * m + i] = va[t * m * k + i * k + p];
  array a =
      strided_view(from_doubles(ta, {batch, k, m}, Dtype::float32), {batch, m, k}, {m * k, 1, m});
  array b = strided_view(from_doubles(vb, {k, n}, Dtype::float32), {batch, k, n}, {0, n, 1});
  Shape want_shape;
  Values want = reference(va, {batch, m, k}, vb, {k, n}, want_shape);
  array c = matmul(a, b);
  EXPECT_EQ(c.shape(), want_shape);
  expect_close(to_doubles(c), want, 1e-5, 1e-5, "strided batches");
}

TEST(Matmul, ShapeOpViews) {
  Values va = random_values(2 * 4 * 3, 9), vb = random_values(2 * 5 * 4, 10);
  array a = from_doubles(va, {2, 4, 3}, Dtype::float32),
        b = from_doubles(vb, {2, 5, 4}, Dtype::float32);
  array c = matmul(swapaxes(a, -1, -2), swapaxes(b, -1, -2));
  array want = matmul(copy(swapaxes(a, -1, -2)), copy(swapaxes(b, -1, -2)));
  expect_close(to_doubles(c), to_doubles(want), 1e-6, 1e-6, "swapaxes views");
  array a2 = from_doubles(random_values(24, 14), {12, 2}, Dtype::float32),
        b2 = from_doubles(random_values(36, 15), {12, 3}, Dtype::float32);
  expect_close(to_doubles(matmul(transpose(a2), b2)), to_doubles(matmul(copy(transpose(a2)), b2)),
               1e-6, 1e-6, "transposed view");
  // A basic slice with a step: rows 0, 2, 4, ... of a2.
  array rows = slice(a2, {0, 0}, {12, 2}, {2, 1});
  expect_close(
      to_doubles(matmul(rows, from_doubles(random_values(6, 16), {2, 3}, Dtype::float32))),
      to_doubles(matmul(copy(rows), from_doubles(random_values(6, 16), {2, 3}, Dtype::float32))),
      1e-6, 1e-6, "sliced rows");
  // A broadcast operand.
  array row = from_doubles(random_values(3, 17), {1, 3}, Dtype::float32);
  array tiled = broadcast_to(row, {4, 3});
  expect_close(to_doubles(matmul(tiled, transpose(b2))),
               to_doubles(matmul(copy(tiled), transpose(b2))), 1e-6, 1e-6, "broadcast row");
}

TEST(Matmul, Errors) {
  expect_error([] { matmul(zeros({2, 3}), zeros({4, 5})); },
               "[matmul] Last dimension of a (2,3) does not match the second to last of b (4,5).");
  expect_error([] { matmul(zeros({3}), zeros({4})); }, "(3,)");
  expect_error([] { matmul(array(1.0f), zeros({2, 2})); }, "[matmul]");
  expect_error([] { matmul(zeros({2, 2}), array(1.0f)); }, "[matmul]");
  expect_error([] { matmul(zeros({2, 2}, Dtype::int32), zeros({2, 2}, Dtype::int32)); },
               "[matmul] Only real floating point types are supported but int32 and int32 were given");
  expect_error([] { matmul(zeros({2, 2}, Dtype::bool_), zeros({2, 2}, Dtype::bool_)); }, "[matmul]");
  expect_error([] { matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); }, "(2,3,4)");
}

namespace {

// Cotangents of matmul's operands by NumPy on the definition: dA = G B^T, dB = A^T G, each
// summed over the batch axes its operand was broadcast along.
void check_vjp(const Shape& sa, const Shape& sb) {
  SCOPED_TRACE(shape_str(sa) + " @ " + shape_str(sb));
  Values va = random_values(shape_size(sa), 11), vb = random_values(shape_size(sb), 12);
  Shape out_shape;
  reference(va, sa, vb, sb, out_shape);
  Values vg = random_values(shape_size(out_shape), 13);
  array a = from_doubles(va, sa, Dtype::float64), b = from_doubles(vb, sb, Dtype::float64);
  array g = from_doubles(vg, out_shape, Dtype::float64);
  auto [outs, grads] = vjp(
      [](const std::vector<array>& x) { return std::vector<array>{matmul(x[0], x[1])}; }, {a, b},
      {g});
  ASSERT_EQ(grads.size(), 2u);
  EXPECT_EQ(grads[0].shape(), sa);
  EXPECT_EQ(grads[1].shape(), sb);
  EXPECT_EQ(grads[0].dtype(), Dtype::float64);

  // <G, A @ B> is bilinear: its derivative along each input direction is exact, so the
  // directional derivative by a central difference must match <grad, direction>.
  auto inner = [&](const Values& xa, const Values& xb) {
    Shape s;
    Values c = reference(xa, sa, xb, sb, s);
    double acc = 0;
    for (size_t i = 0; i < c.size(); ++i) acc += c[i] * vg[i];
    return acc;
  };
  Values ga = to_doubles(grads[0]), gb = to_doubles(grads[1]);
  for (size_t i = 0; i < va.size(); ++i) {
    Values lo = va, hi = va;
    lo[i] -= 1e-3;
    hi[i] += 1e-3;
    ASSERT_NEAR(ga[i], (inner(hi, vb) - inner(lo, vb)) / 2e-3, 1e-8) << "dA at " << i;
  }
  for (size_t i = 0; i < vb.size(); ++i) {
    Values lo = vb, hi = vb;
    lo[i] -= 1e-3;
    hi[i] += 1e-3;
    ASSERT_NEAR(gb[i], (inner(va, hi) - inner(va, lo)) / 2e-3, 1e-8) << "dB at " << i;
  }
}

}  // namespace

TEST(Matmul, Vjp) {
  check_vjp({3, 4}, {4, 5});
  check_vjp({2, 3, 4}, {4, 5});
  check_vjp({3, 4}, {2, 4, 5});
  check_vjp({2, 1, 3, 4}, {5, 4, 2});
  check_vjp({1, 3, 4}, {2, 4, 2});
  check_vjp({4}, {4, 5});
  check_vjp({3, 4}, {4});
  check_vjp({4}, {4});
  check_vjp({2, 3, 4}, {4});
}

TEST(Matmul, VjpKeepsDtypeOfMixedInputs) {
  array a = from_doubles(random_values(6, 1), {2, 3}, Dtype::float16);
  array b = from_doubles(random_values(6, 2), {3, 2}, Dtype::float32);
  auto [outs, grads] = vjp(
      [](const std::vector<array>& x) { return std::vector<array>{matmul(x[0], x[1])}; }, {a, b},
      {ones({2, 2})});
  EXPECT_EQ(grads[0].dtype(), Dtype::float16);
  EXPECT_EQ(grads[1].dtype(), Dtype::float32);
  Values ga = to_doubles(grads[0]), vb = to_doubles(b);
  // dA = ones(2,2) @ B^T: every row is B's row sums.
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 3; ++p) EXPECT_NEAR(ga[i * 3 + p], vb[p * 2] + vb[p * 2 + 1], 1e-2);
}

TEST(Matmul, Jvp) {
  const Shape sa{2, 3, 4}, sb{4, 5};
  Values va = random_values(shape_size(sa), 21), vb = random_values(shape_size(sb), 22);
  Values ta = random_values(shape_size(sa), 23), tb = random_values(shape_size(sb), 24);
  auto [outs, tangents] =
      jvp([](const std::vector<array>& x) { return std::vector<array>{matmul(x[0], x[1])}; },
          {from_doubles(va, sa, Dtype::float64), from_doubles(vb, sb, Dtype::float64)},
          {from_doubles(ta, sa, Dtype::float64), from_doubles(tb, sb, Dtype::float64)});
  Shape s;
  Values t1 = reference(ta, sa, vb, sb, s), t2 = reference(va, sa, tb, sb, s);
  for (size_t i = 0; i < t1.size(); ++i) t1[i] += t2[i];
  expect_close(to_doubles(tangents[0]), t1, 1e-12, 1e-12, "jvp");
}

TEST(Matmul, SecondOrder) {
  // d/dA sum((A @ B) * (A @ B)) = 2 (A B) B^T, itself differentiated through vjp again.
  Values va = random_values(6, 31), vb = random_values(6, 32);
  array a = from_doubles(va, {2, 3}, Dtype::float64), b = from_doubles(vb, {3, 2}, Dtype::float64);
  auto grad_a = [b](const std::vector<array>& x) {
    auto [o, g] = vjp(
        [b](const std::vector<array>& y) {
          array c = matmul(y[0], b);
          return std::vector<array>{sum(multiply(c, c))};
        },
        x, {array(1.0, Dtype::float64)});
    return std::vector<array>{sum(g[0])};
  };
  auto [o, gg] = vjp(grad_a, {a}, {array(1.0, Dtype::float64)});
  // sum(2 A B B^T) over A's entries: derivative w.r.t. A[i,p] is 2 * sum_q (B B^T)[p,q].
  Values bbt(9, 0.0);
  for (int p = 0; p < 3; ++p)
    for (int q = 0; q < 3; ++q)
      for (int j = 0; j < 2; ++j) bbt[p * 3 + q] += vb[p * 2 + j] * vb[q * 2 + j];
  Values got = to_doubles(gg[0]);
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 3; ++p) {
      double want = 0;
      for (int q = 0; q < 3; ++q) want += 2 * bbt[p * 3 + q];
      EXPECT_NEAR(got[i * 3 + p], want, 1e-10);
    }
}
