#include "lifecycle/timing_policy.hpp"

#include <cmath>
#include <limits>

#include "lifecycle/text_key.hpp"

namespace pglc::lifecycle {

namespace {

std::uint64_t threshold_for(double rate) {
  if (!(rate > 0)) return 0;
  if (rate >= 1) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(std::ldexp(rate, 64));
}

}  // namespace

TimingPolicy::TimingPolicy(TimingMode mode, double precise_rate, std::uint64_t seed)
    : mode_(mode), threshold_(threshold_for(precise_rate)), state_(seed) {}

bool TimingPolicy::draw() {
  // splitmix64: a good 64-bit stream from any seed, a few instructions per draw.
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return threshold_ == std::numeric_limits<std::uint64_t>::max() || z < threshold_;
}

Timing TimingPolicy::statement(std::string_view text_hash) {
  switch (mode_) {
    case TimingMode::precise:
      return Timing::precise;
    case TimingMode::passive:
      return Timing::passive;
    case TimingMode::sampled:
      break;
  }
  const std::uint64_t key = TextKey::of(text_hash).mixed();
  if (texts_.contains(key)) return draw() ? Timing::precise : Timing::passive;
  if (texts_.size() >= kMaxTexts) texts_.clear();
  texts_.insert(key);
  return Timing::precise;
}

Timing TimingPolicy::execution(Timing statement, bool first) {
  switch (mode_) {
    case TimingMode::precise:
      return Timing::precise;
    case TimingMode::passive:
      return Timing::passive;
    case TimingMode::sampled:
      break;
  }
  if (first && statement == Timing::precise) return Timing::precise;
  return draw() ? Timing::precise : Timing::passive;
}

}  // namespace pglc::lifecycle
