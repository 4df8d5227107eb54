// The array handle: a cheap, shared reference to a node of the lazy graph.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pullback/device.h"
#include "pullback/dtype.h"

namespace pullback {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

// The most dimensions an array may have. NumPy's own limit: every array converts to NumPy, and
// code that walks the dimensions (printing, tolist, nested-list parsing) may recurse per axis.
constexpr int kMaxNdim = 64;
// Throws std::invalid_argument naming `op` when `shape` has more than kMaxNdim dimensions.
void check_ndim(const Shape& shape, const char* op);

class Primitive;
class array;

// An allocation from the buffer cache (or, with a custom release, memory owned elsewhere).
struct Data {
  void* ptr;
  size_t nbytes;
  void (*release)(Data*);
  // Scalars and other tiny buffers live inside the Data itself: no trip to the allocator.
  alignas(16) unsigned char inline_storage[16];
  explicit Data(size_t nbytes);  // from the allocator, or inline when small
  Data(void* p, size_t n, void (*rel)(Data*)) : ptr(p), nbytes(n), release(rel) {}
  ~Data();
  Data(const Data&) = delete;
  Data& operator=(const Data&) = delete;
};

struct ArrayFlags {
  bool row_contiguous = true;  // dense, C order, no broadcast
  bool col_contiguous = true;  // dense, Fortran order
  bool contiguous = true;      // dense in some order: data_size == size
};

struct ArrayDesc {
  Shape shape;
  Strides strides;
  size_t size = 1;
  Dtype dtype = Dtype::float32;

  std::shared_ptr<Primitive> primitive;
  std::vector<array> inputs;
  // Other outputs of the same primitive call. Weak, so that outputs nobody holds can go (a
  // strong link both ways would be a cycle); eval makes stand-ins for the ones that went.
  std::vector<std::weak_ptr<ArrayDesc>> siblings;
  std::vector<std::pair<Shape, Dtype>> sibling_specs;  // shape and dtype of each sibling
  int position = 0;  // this output's index among the primitive's outputs

  std::shared_ptr<Data> data;
  void* data_ptr = nullptr;  // data->ptr plus this view's offset
  size_t data_size = 0;      // elements reachable in the buffer from data_ptr
  ArrayFlags flags;
  bool evaluated = false;
  bool is_tracer = false;  // a transform's stand-in for a primal input
  uint32_t visit_mark = 0;  // graph walks mark visited nodes here instead of in a hash set
  // When the node was built, from one process-wide counter: a trace of a function call tells
  // the nodes the call built (stamped after the call began) from the ones it reads.
  uint64_t created = 0;

  ArrayDesc(Shape shape, Dtype dtype);
  ~ArrayDesc();  // releases long input chains without recursion
};

Strides row_major_strides(const Shape& shape);
// A stamp from the counter that stamps new arrays: every array built after this call has a
// larger `created`, every array built before it a smaller one.
uint64_t next_array_stamp();
size_t shape_size(const Shape& shape);

class array {
 public:
  array() = default;
  explicit array(std::shared_ptr<ArrayDesc> desc) : desc_(std::move(desc)) {}

  // A lazy node: an output of `primitive` applied to `inputs`.
  array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs);
  // Several outputs of one primitive call; each knows the others as siblings.
  static std::vector<array> make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                        const std::shared_ptr<Primitive>& primitive,
                                        const std::vector<array>& inputs);
  // An evaluated array holding a copy of `src` (row-major, `dtype` elements).
  array(const void* src, Shape shape, Dtype dtype);
  // An evaluated scalar holding `value` converted to `dtype`.
  array(double value, Dtype dtype);
  array(int64_t value, Dtype dtype);
  array(bool value);
  array(float value) : array(static_cast<double>(value), Dtype::float32) {}
  array(int value) : array(static_cast<int64_t>(value), Dtype::int32) {}
  array(complex64_t value);
  // An evaluated array of `dtype` with a fresh buffer (contents undefined).
  static array empty(Shape shape, Dtype dtype);

  const Shape& shape() const { return desc_->shape; }
  int64_t shape(int axis) const;
  const Strides& strides() const { return desc_->strides; }
  int64_t strides(int axis) const { return desc_->strides[axis < 0 ? axis + ndim() : axis]; }
  int ndim() const { return static_cast<int>(desc_->shape.size()); }
  size_t size() const { return desc_->size; }
  Dtype dtype() const { return desc_->dtype; }
  size_t itemsize() const { return size_of(desc_->dtype); }
  size_t nbytes() const { return size() * itemsize(); }

  // Evaluates this array (and what it depends on).
  void eval();
  bool is_evaluated() const { return desc_->evaluated; }
  bool has_primitive() const { return static_cast<bool>(desc_->primitive); }
  Primitive& primitive() const { return *desc_->primitive; }
  const std::shared_ptr<Primitive>& primitive_ptr() const { return desc_->primitive; }
  std::vector<array>& inputs() const { return desc_->inputs; }
  size_t num_outputs() const { return desc_->siblings.size() + 1; }
  // The other outputs of this array's primitive call that are still alive.
  std::vector<array> siblings() const;
  // All outputs of this array's primitive call, in order (this one included); outputs that
  // nobody holds any more are replaced by fresh stand-ins for the kernel to write into.
  std::vector<array> outputs() const;
  int position() const { return desc_->position; }
  bool is_tracer() const { return desc_->is_tracer; }
  uint64_t created() const { return desc_->created; }
  void set_tracer(bool t) { desc_->is_tracer = t; }

  // Identity of the node (two handles to one node compare equal).
  uintptr_t id() const { return reinterpret_cast<uintptr_t>(desc_.get()); }
  bool is_same(const array& o) const { return desc_ == o.desc_; }
  bool valid() const { return static_cast<bool>(desc_); }
  long use_count() const { return desc_.use_count(); }

  // Element access (evaluates first).
  template <typename T>
  T* data() {
    return static_cast<T*>(desc_->data_ptr);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(desc_->data_ptr);
  }
  void* raw_data() const { return desc_->data_ptr; }
  template <typename T>
  T item();

  // For kernels.
  const ArrayFlags& flags() const { return desc_->flags; }
  size_t data_size() const { return desc_->data_size; }
  const std::shared_ptr<Data>& data_shared_ptr() const { return desc_->data; }
  // A fresh row-contiguous buffer for this (output) array.
  void set_data(std::shared_ptr<Data> d);
  void set_data(std::shared_ptr<Data> d, size_t data_size, Strides strides, ArrayFlags flags,
                int64_t offset_elems = 0);
  // A view of `other`'s buffer with the given layout (offset in elements of this dtype).
  void copy_shared_buffer(const array& other, Strides strides, ArrayFlags flags, size_t data_size,
                          int64_t offset_elems = 0);
  void copy_shared_buffer(const array& other);
  // Whether an input may hand its buffer to an output: nothing else holds node or buffer.
  bool is_donatable() const;
  // Marks this node (and its siblings) visited by walk `mark`; false if it already was.
  bool visit(uint32_t mark) const;
  // Drops the graph above this array (its primitive and inputs); it keeps its data.
  void detach();
  void mark_evaluated() { desc_->evaluated = true; }
  // Back to unevaluated, without a buffer: for the outputs of a kernel that stopped midway.
  void reset_data();

  const std::shared_ptr<ArrayDesc>& desc() const { return desc_; }

 private:
  std::shared_ptr<ArrayDesc> desc_;
};

}  // namespace pullback
