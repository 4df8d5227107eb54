#include "pullback/primitives/sort.h"

#include <algorithm>

#include "pullback/ops.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

const char* Sort::name() const {
  switch (kind_) {
    case SortKind::Sort: return "Sort";
    case SortKind::ArgSort: return "ArgSort";
    case SortKind::Partition: return "Partition";
    default: return "ArgPartition";
  }
}

std::vector<Shape> Sort::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool Sort::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Sort*>(&other);
  return o && o->kind_ == kind_ && o->axis_ == axis_ && o->kth_ == kth_;
}

array Sort::indices_of(const array& in) {
  SortKind k = kind_ == SortKind::Sort ? SortKind::ArgSort : SortKind::ArgPartition;
  // Cut from the graph: the indices are piecewise constant, and gather/scatter refuse to
  // differentiate through indices (second derivatives go through here).
  return stop_gradient(
      array(in.shape(), Dtype::uint32, std::make_shared<Sort>(stream(), k, axis_, kth_), {in}),
      stream());
}

// Sorted values are the input gathered at the argsort indices, so the cotangent goes back
// to where each value came from (a permutation: no two outputs share an input).
// Indices are piecewise constant: no derivative flows through them (zeros, as MLX).
Arrays Sort::vjp(const Arrays& primals, const Arrays& cotangents, const Ints&, const Arrays&) {
  const array& x = primals[0];
  if (kind_ == SortKind::ArgSort || kind_ == SortKind::ArgPartition) {
    return {zeros_like(x, stream())};
  }
  array idx = indices_of(x);
  array cot = astype(cotangents[0], x.dtype(), stream());
  return {put_along_axis(zeros_like(x, stream()), idx, cot, axis_, ScatterReduce::None, stream())};
}

Arrays Sort::jvp(const Arrays& primals, const Arrays& tangents, const Ints&) {
  const array& x = primals[0];
  if (kind_ == SortKind::ArgSort || kind_ == SortKind::ArgPartition) {
    return {zeros(x.shape(), Dtype::uint32, stream())};
  }
  return {take_along_axis(tangents[0], indices_of(x), axis_, stream())};
}

// The batch axis stays where it is and the sorted axis moves past it; kth is unchanged.
std::pair<Arrays, Ints> Sort::vmap(const Arrays& in, const Ints& axes) {
  const int b = axes[0];
  const int ax = axis_ >= b ? axis_ + 1 : axis_;
  const bool idx = kind_ == SortKind::ArgSort || kind_ == SortKind::ArgPartition;
  return {{array(in[0].shape(), idx ? Dtype::uint32 : in[0].dtype(),
                 std::make_shared<Sort>(stream(), kind_, ax, kth_), {in[0]})},
          {b}};
}

std::vector<Shape> SearchSorted::output_shapes(const Arrays& in) { return {in[1].shape()}; }

bool SearchSorted::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const SearchSorted*>(&other);
  return o && o->right_ == right_;
}

// Insertion indices are piecewise constant in both inputs.
Arrays SearchSorted::vjp(const Arrays& primals, const Arrays&, const Ints& argnums,
                         const Arrays&) {
  Arrays out;
  for (int i : argnums) out.push_back(zeros_like(primals[i], stream()));
  return out;
}

Arrays SearchSorted::jvp(const Arrays& primals, const Arrays&, const Ints&) {
  return {zeros(primals[1].shape(), Dtype::uint32, stream())};
}

// Batched values against one sequence: the primitive already takes values of any shape.
// A batched sequence has no batched form in the primitive (one 1-d sequence per node), so each
// row is merged with its values instead: a stable argsort of [values, sequence] puts every
// value before the sequence elements equal to it (after them for side="right", with the
// sequence first), so the number of sequence elements ahead of a value in the merged order is
// its insertion index. This is Sort's order, which is SearchSorted's by definition (NaNs last).
// It costs a sort of N + M elements per row instead of M binary searches, but stays a few nodes
// whatever the batch size, where a loop over the rows would build B searches and a stack.
std::pair<Arrays, Ints> SearchSorted::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  if (axes[0] < 0) {
    return {{array(in[1].shape(), Dtype::uint32, std::make_shared<SearchSorted>(s, right_),
                   {in[0], in[1]})},
            {axes[1]}};
  }
  const int64_t batch = vmap_batch_size(in, axes);
  const array seq = vmap_to_front(in[0], axes[0], batch);
  const array vals = vmap_to_front(in[1], axes[1], batch);
  const int64_t n = seq.shape(1);
  const int64_t m = static_cast<int64_t>(vals.size()) / std::max<int64_t>(batch, 1);
  if (n == 0 || m == 0 || batch == 0) return {{zeros(vals.shape(), Dtype::uint32, s)}, {0}};
  const array flat = reshape(vals, {batch, m}, s);
  const array merged = right_ ? concatenate({seq, flat}, 1, s) : concatenate({flat, seq}, 1, s);
  const array perm = argsort(merged, 1, s);
  const array is_seq = right_ ? less(perm, array(n, Dtype::uint32), s)
                              : greater_equal(perm, array(m, Dtype::uint32), s);
  const array ahead = cumsum(is_seq, 1, false, true, Dtype::uint32, s);
  // Back from merged order to the order of the inputs (perm is a permutation of each row).
  const array placed = put_along_axis(zeros({batch, n + m}, Dtype::uint32, s), perm, ahead, 1,
                                      ScatterReduce::None, s);
  const int64_t lo = right_ ? n : 0;
  const array found = slice(placed, {0, lo}, {batch, lo + m}, {1, 1}, s);
  return {{reshape(found, vals.shape(), s)}, {0}};
}

std::vector<Shape> SortedGroups::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool SortedGroups::is_equivalent(const Primitive& other) const {
  return dynamic_cast<const SortedGroups*>(&other) != nullptr;
}

// Group numbers are piecewise constant.
Arrays SortedGroups::vjp(const Arrays& primals, const Arrays&, const Ints&, const Arrays&) {
  return {zeros_like(primals[0], stream())};
}

Arrays SortedGroups::jvp(const Arrays& primals, const Arrays&, const Ints&) {
  return {zeros(primals[0].shape(), Dtype::uint32, stream())};
}

// The primitive numbers one 1-d sequence; a batch of rows is numbered by counting, along each
// row, the places where an element differs from the one before it (`!=`, so each NaN starts a
// group, as the kernel does).
std::pair<Arrays, Ints> SortedGroups::vmap(const Arrays& in, const Ints& axes) {
  Stream s = stream();
  const array x = vmap_to_front(in[0], axes[0], 0);
  const int64_t batch = x.shape(0), n = x.shape(1);
  if (n <= 1 || batch == 0) return {{zeros(x.shape(), Dtype::uint32, s)}, {0}};
  const array changed = not_equal(slice(x, {0, 1}, {batch, n}, {1, 1}, s),
                                  slice(x, {0, 0}, {batch, n - 1}, {1, 1}, s), s);
  const array later = cumsum(changed, 1, false, true, Dtype::uint32, s);
  return {{concatenate({zeros({batch, 1}, Dtype::uint32, s), later}, 1, s)}, {0}};
}

}  // namespace pullback
