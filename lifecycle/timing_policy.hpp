// Which Parse and Bind messages a session times precisely (DESIGN §2, --phase-timing).
//
// Precise timing costs the server an extra flush and the relay an extra read per Parse and
// Bind. `sampled` keeps it for what is worth seeing: a statement whose text is new to the
// session, its first execution, and a fraction (--precise-sample-rate) of everything else,
// drawn from a per-session generator (no shared state between io threads).
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_set>

#include "lifecycle/records.hpp"

namespace pglc::lifecycle {

enum class TimingMode { precise, passive, sampled };

class TimingPolicy {
 public:
  TimingPolicy(TimingMode mode, double precise_rate, std::uint64_t seed);

  // A Parse of `text_hash` (SqlText::hash).
  Timing statement(std::string_view text_hash);
  // A Bind of a statement timed `statement`; `first` when it has not been bound before.
  Timing execution(Timing statement, bool first);
  // Rows of the simple protocol: the proxy adds nothing to a Query, so nothing differs but
  // the mode the user chose (passive: labelled so).
  Timing simple() const { return mode_ == TimingMode::passive ? Timing::passive : Timing::precise; }

  // The texts remembered per session; past this many the memory starts again (a text then
  // counts as new once more: one extra precise parse).
  static constexpr std::size_t kMaxTexts = 4096;

 private:
  bool draw();

  TimingMode mode_;
  std::uint64_t threshold_;  // draw() < threshold_ with probability precise_rate
  std::uint64_t state_;
  std::unordered_set<std::uint64_t> texts_;
};

}  // namespace pglc::lifecycle
