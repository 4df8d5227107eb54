#include "pullback/array.h"

#include <atomic>
#include <stdexcept>

#include "pullback/allocator.h"
#include "pullback/primitives/primitive.h"
#include "pullback/transforms/transforms.h"

namespace pullback {

namespace {
void release_to_allocator(Data* d) { allocator::free(d->ptr, d->nbytes); }
void release_inline(Data*) {}
}  // namespace

Data::Data(size_t n) : nbytes(n) {
  if (n <= sizeof(inline_storage)) {
    ptr = inline_storage;
    release = release_inline;
  } else {
    ptr = allocator::malloc(n);
    release = release_to_allocator;
  }
}
Data::~Data() {
  if (release) release(this);
}

Strides row_major_strides(const Shape& shape) {
  Strides st(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

size_t shape_size(const Shape& shape) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  return n;
}

void check_ndim(const Shape& shape, const char* op) {
  if (shape.size() > static_cast<size_t>(kMaxNdim)) {
    throw std::invalid_argument(std::string("[") + op + "] An array can have at most " +
                                std::to_string(kMaxNdim) + " dimensions; this one would have " +
                                std::to_string(shape.size()) + ".");
  }
}

namespace {
// Relaxed: a stamp only orders arrays against a stamp taken on the same thread.
std::atomic<uint64_t> g_array_stamp{0};
}  // namespace

uint64_t next_array_stamp() { return g_array_stamp.fetch_add(1, std::memory_order_relaxed) + 1; }

// Strides are set with the data; an unevaluated node has none.
ArrayDesc::ArrayDesc(Shape s, Dtype t)
    : shape(std::move(s)), dtype(t), created(next_array_stamp()) {
  // Every array is made here, so this is the backstop; ops check first to name themselves.
  check_ndim(shape, "array");
  // A size whose byte count does not fit in 63 bits would wrap and corrupt every kernel.
  uint64_t n = 1;
  bool overflow = false;
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument("[array] Negative dimension in shape.");
    overflow = overflow || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n);
  }
  if (overflow || n > (uint64_t(1) << 59)) {
    std::string dims;
    for (auto d : shape) dims += (dims.empty() ? "" : ",") + std::to_string(d);
    throw std::invalid_argument("[array] An array of shape (" + dims +
                                ") has more elements than can be addressed.");
  }
  size = n;
}

// A chain of a million nodes would otherwise be freed by a million nested destructor calls.
ArrayDesc::~ArrayDesc() {
  if (inputs.empty()) return;
  // Inputs move to an explicit work list; a node is expanded only once the list holds its
  // last reference, so each release below finds no inputs left and does not recurse.
  std::vector<std::shared_ptr<ArrayDesc>> pending;
  auto take = [&pending](std::vector<array>& v) {
    for (auto& a : v) pending.push_back(a.desc());
    v.clear();
  };
  take(inputs);
  while (!pending.empty()) {
    std::shared_ptr<ArrayDesc> d = std::move(pending.back());
    pending.pop_back();
    if (d.use_count() == 1) take(d->inputs);
  }
}

namespace {
// The shape of a primitive's output, checked under the primitive's name.
Shape checked_output_shape(Shape shape, const Primitive* primitive) {
  if (primitive) check_ndim(shape, primitive->name());
  return shape;
}
}  // namespace

array::array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive,
             std::vector<array> inputs)
    : desc_(std::make_shared<ArrayDesc>(checked_output_shape(std::move(shape), primitive.get()),
                                        dtype)) {
  desc_->primitive = std::move(primitive);
  desc_->inputs = std::move(inputs);
}

std::vector<array> array::make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                      const std::shared_ptr<Primitive>& primitive,
                                      const std::vector<array>& inputs) {
  std::vector<array> outs;
  outs.reserve(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    outs.emplace_back(std::move(shapes[i]), dtypes[i], primitive, inputs);
    outs.back().desc_->position = static_cast<int>(i);
  }
  if (outs.size() > 1) {
    for (size_t i = 0; i < outs.size(); ++i) {
      for (size_t j = 0; j < outs.size(); ++j) {
        if (i == j) continue;
        outs[i].desc_->siblings.push_back(outs[j].desc_);
        outs[i].desc_->sibling_specs.emplace_back(outs[j].shape(), outs[j].dtype());
      }
    }
  }
  return outs;
}

array::array(const void* src, Shape shape, Dtype dtype)
    : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  set_data(std::make_shared<Data>(nbytes()));
  if (nbytes()) std::memcpy(desc_->data_ptr, src, nbytes());
}

namespace {
template <typename T>
void store_scalar(void* dst, T v, Dtype dtype) {
  dispatch_dtype(dtype, [&](auto tag) {
    using U = decltype(tag);
    if constexpr (std::is_same_v<U, complex64_t>) {
      *static_cast<U*>(dst) = complex64_t(static_cast<float>(v), 0.f);
    } else if constexpr (std::is_same_v<U, bfloat16_t> || std::is_same_v<U, float16_t>) {
      *static_cast<U*>(dst) = U(static_cast<float>(v));
    } else {
      *static_cast<U*>(dst) = static_cast<U>(v);
    }
  });
}
}  // namespace

array::array(double value, Dtype dtype) : desc_(std::make_shared<ArrayDesc>(Shape{}, dtype)) {
  set_data(std::make_shared<Data>(itemsize()));
  store_scalar(desc_->data_ptr, value, dtype);
}

array::array(int64_t value, Dtype dtype) : desc_(std::make_shared<ArrayDesc>(Shape{}, dtype)) {
  set_data(std::make_shared<Data>(itemsize()));
  store_scalar(desc_->data_ptr, value, dtype);
}

array::array(bool value) : desc_(std::make_shared<ArrayDesc>(Shape{}, Dtype::bool_)) {
  set_data(std::make_shared<Data>(1));
  *static_cast<bool*>(desc_->data_ptr) = value;
}

array::array(complex64_t value) : desc_(std::make_shared<ArrayDesc>(Shape{}, Dtype::complex64)) {
  set_data(std::make_shared<Data>(8));
  *static_cast<complex64_t*>(desc_->data_ptr) = value;
}

array array::empty(Shape shape, Dtype dtype) {
  array a(std::make_shared<ArrayDesc>(std::move(shape), dtype));
  a.set_data(std::make_shared<Data>(a.nbytes()));
  return a;
}

int64_t array::shape(int axis) const {
  int n = ndim();
  if (axis < -n || axis >= n) {
    throw std::out_of_range("[array.shape] axis " + std::to_string(axis) +
                            " is out of bounds for array of dimension " + std::to_string(n) + ".");
  }
  return desc_->shape[axis < 0 ? axis + n : axis];
}

std::vector<array> array::siblings() const {
  std::vector<array> out;
  for (auto& w : desc_->siblings) {
    if (auto d = w.lock()) out.emplace_back(std::move(d));
  }
  return out;
}

std::vector<array> array::outputs() const {
  std::vector<array> outs(desc_->siblings.size() + 1);
  outs[desc_->position] = *this;
  size_t k = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (static_cast<int>(i) == desc_->position) continue;
    if (auto d = desc_->siblings[k].lock()) {
      outs[i] = array(std::move(d));
    } else {
      const auto& [shape, dtype] = desc_->sibling_specs[k];
      outs[i] = array(std::make_shared<ArrayDesc>(shape, dtype));
    }
    ++k;
  }
  return outs;
}

void array::eval() {
  if (!desc_->evaluated) pullback::eval({*this});
}

template <typename T>
T array::item() {
  if (size() != 1) {
    throw std::invalid_argument("[item] Only size-1 arrays can be converted to a scalar; got shape " +
                                std::to_string(ndim()) + "-d of size " + std::to_string(size()) + ".");
  }
  eval();
  return *data<T>();
}
#define PULLBACK_ITEM(T) template T array::item<T>();
PULLBACK_ITEM(bool)
PULLBACK_ITEM(uint8_t)
PULLBACK_ITEM(uint16_t)
PULLBACK_ITEM(uint32_t)
PULLBACK_ITEM(uint64_t)
PULLBACK_ITEM(int8_t)
PULLBACK_ITEM(int16_t)
PULLBACK_ITEM(int32_t)
PULLBACK_ITEM(int64_t)
PULLBACK_ITEM(float16_t)
PULLBACK_ITEM(bfloat16_t)
PULLBACK_ITEM(float)
PULLBACK_ITEM(double)
PULLBACK_ITEM(complex64_t)
#undef PULLBACK_ITEM

void array::set_data(std::shared_ptr<Data> d) {
  desc_->data_ptr = d->ptr;
  desc_->data = std::move(d);
  desc_->data_size = desc_->size;
  desc_->strides = row_major_strides(desc_->shape);
  desc_->flags = ArrayFlags{true, desc_->shape.size() <= 1 || desc_->size <= 1, true};
  desc_->evaluated = true;
}

void array::set_data(std::shared_ptr<Data> d, size_t data_size, Strides strides, ArrayFlags flags,
                     int64_t offset_elems) {
  desc_->data_ptr = static_cast<char*>(d->ptr) + offset_elems * static_cast<int64_t>(itemsize());
  desc_->data = std::move(d);
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
  desc_->evaluated = true;
}

void array::copy_shared_buffer(const array& other, Strides strides, ArrayFlags flags,
                               size_t data_size, int64_t offset_elems) {
  desc_->data = other.desc_->data;
  desc_->data_ptr =
      static_cast<char*>(other.desc_->data_ptr) + offset_elems * static_cast<int64_t>(itemsize());
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
  desc_->evaluated = true;
}

void array::reset_data() {
  desc_->data.reset();
  desc_->data_ptr = nullptr;
  desc_->data_size = 0;
  desc_->evaluated = false;
}

void array::copy_shared_buffer(const array& other) {
  copy_shared_buffer(other, other.strides(), other.flags(), other.data_size());
}

// While a transform traces, evaluated nodes keep their inputs for the derivative rules, so no
// input may be overwritten.
bool array::is_donatable() const {
  return !in_tracing() && desc_.use_count() == 1 && desc_->data && desc_->data.use_count() == 1 &&
         desc_->data->release != nullptr && desc_->flags.row_contiguous;
}

bool array::visit(uint32_t mark) const {
  if (desc_->visit_mark == mark) return false;
  desc_->visit_mark = mark;
  for (auto& w : desc_->siblings) {
    if (auto d = w.lock()) d->visit_mark = mark;
  }
  return true;
}

void array::detach() {
  for (auto& w : desc_->siblings) {
    if (auto d = w.lock()) {
      d->primitive.reset();
      d->inputs.clear();
      d->siblings.clear();
    }
  }
  desc_->primitive.reset();
  desc_->inputs.clear();
  desc_->siblings.clear();
}

}  // namespace pullback
