#include "pullback/primitives/sort.h"

#include "pullback/ops.h"

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

}  // namespace pullback
