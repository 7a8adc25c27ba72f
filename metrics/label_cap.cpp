#include "metrics/label_cap.hpp"

namespace pglc::metrics {

std::string_view LabelCap::admit(std::string_view value) {
  std::string key(value);
  if (auto it = values_.find(key); it != values_.end()) return *it;
  if (values_.size() >= limit_) return kOther;
  return *values_.insert(std::move(key)).first;
}

}  // namespace pglc::metrics
