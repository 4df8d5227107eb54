#include "pullback/primitives/misc.h"

#include <stdexcept>

#include "pullback/ops.h"

namespace pullback {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

Arrays Identity::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays&) { return cts; }
Arrays Identity::jvp(const Arrays&, const Arrays& ts, const Ints&) { return ts; }
std::pair<Arrays, Ints> Identity::vmap(const Arrays& in, const Ints& axes) { return {in, axes}; }
std::vector<Shape> Identity::output_shapes(const Arrays& in) { return {in[0].shape()}; }

Arrays Copy::vjp(const Arrays&, const Arrays& cts, const Ints&, const Arrays&) { return cts; }
Arrays Copy::jvp(const Arrays&, const Arrays& ts, const Ints&) { return ts; }
std::pair<Arrays, Ints> Copy::vmap(const Arrays& in, const Ints& axes) {
  return {{copy(in[0], stream())}, axes};
}
std::vector<Shape> Copy::output_shapes(const Arrays& in) { return {in[0].shape()}; }

// The derivative passes through the cast in both directions, converted to the dtype on the
// other side (MLX's rule: integer inputs and outputs included).
Arrays AsType::vjp(const Arrays& primals, const Arrays& cts, const Ints&, const Arrays&) {
  return {astype(cts[0], primals[0].dtype(), stream())};
}
Arrays AsType::jvp(const Arrays&, const Arrays& ts, const Ints&) {
  return {astype(ts[0], dtype_, stream())};
}
std::pair<Arrays, Ints> AsType::vmap(const Arrays& in, const Ints& axes) {
  return {{astype(in[0], dtype_, stream())}, axes};
}
bool AsType::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AsType*>(&other);
  return o && o->dtype_ == dtype_;
}
std::vector<Shape> AsType::output_shapes(const Arrays& in) { return {in[0].shape()}; }

Arrays StopGradient::vjp(const Arrays& primals, const Arrays&, const Ints&, const Arrays&) {
  return {zeros_like(primals[0], stream())};
}
Arrays StopGradient::jvp(const Arrays& primals, const Arrays&, const Ints&) {
  return {zeros_like(primals[0], stream())};
}
std::pair<Arrays, Ints> StopGradient::vmap(const Arrays& in, const Ints& axes) {
  return {{stop_gradient(in[0], stream())}, axes};
}
std::vector<Shape> StopGradient::output_shapes(const Arrays& in) { return {in[0].shape()}; }

bool Arange::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Arange*>(&other);
  return o && o->integral_ == integral_ && o->start_ == start_ && o->step_ == step_ &&
         o->range_.start == range_.start && o->range_.step == range_.step;
}
// An arange has no inputs, so it never depends on a mapped input and vmap's replay (which visits
// only the nodes that do) never reaches it; its unbatched result broadcasts where it meets one.
std::pair<Arrays, Ints> Arange::vmap(const Arrays&, const Ints&) {
  throw std::logic_error("[Arange] vmap rule called, but an arange has no inputs to be batched.");
}
std::vector<Shape> Arange::output_shapes(const Arrays&) { unsupported("output_shapes"); }

}  // namespace pullback
