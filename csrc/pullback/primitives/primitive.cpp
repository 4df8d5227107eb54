#include "pullback/primitives/primitive.h"

#include <stdexcept>
#include <string>
#include <typeinfo>

namespace pullback {

void Primitive::unsupported(const char* what) const {
  throw std::invalid_argument(std::string("[") + name() + "] " + what + " is not supported.");
}

void Primitive::eval_gpu(const std::vector<array>&, std::vector<array>&) {
  throw std::invalid_argument(std::string("[") + name() +
                              "] No gpu kernel: this build has no Metal backend.");
}

std::vector<array> Primitive::vjp(const std::vector<array>&, const std::vector<array>&,
                                  const std::vector<int>&, const std::vector<array>&) {
  throw std::invalid_argument(std::string("[") + name() +
                              "] The vjp (reverse-mode derivative) is not defined for this primitive.");
}

std::vector<array> Primitive::jvp(const std::vector<array>&, const std::vector<array>&,
                                  const std::vector<int>&) {
  throw std::invalid_argument(std::string("[") + name() +
                              "] The jvp (forward-mode derivative) is not defined for this primitive.");
}

std::pair<std::vector<array>, std::vector<int>> Primitive::vmap(const std::vector<array>&,
                                                                const std::vector<int>&) {
  throw std::invalid_argument(std::string("[") + name() + "] vmap is not implemented yet.");
}

bool Primitive::is_equivalent(const Primitive& other) const {
  return typeid(*this) == typeid(other);
}

std::vector<Shape> Primitive::output_shapes(const std::vector<array>&) {
  throw std::invalid_argument(std::string("[") + name() +
                              "] Cannot infer output shapes for this primitive.");
}

}  // namespace pullback
