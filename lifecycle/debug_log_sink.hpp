// One human-readable line per finished execution, for --log-level debug: makes the tracker
// visible end to end before (or without) a store. Formatting is pure; where the line goes
// is the caller's business.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "lifecycle/sink.hpp"

namespace pglc::lifecycle {

class DebugLogSink final : public Sink {
 public:
  using Writer = std::function<void(std::string_view)>;
  // `writer` is called from many io threads at once: it must be thread-safe.
  explicit DebugLogSink(Writer writer) : writer_(std::move(writer)) {}
  // The slow-execution log (--log-min-duration): only executions whose total time is at
  // least `min_total_seconds`, as "slow execution ..." lines.
  DebugLogSink(Writer writer, double min_total_seconds)
      : writer_(std::move(writer)), min_total_seconds_(min_total_seconds) {}

  void execution(const ExecutionRecord& r) override {
    if (!min_total_seconds_) return writer_(format(r));
    if (r.total_seconds && *r.total_seconds >= *min_total_seconds_) {
      writer_("slow " + format(r));
    }
  }

  // e.g. "execution kind=extended status=success sqlstate= rows=250 fetches=3
  //       fingerprint=5e2b.. bind_ms=0.052 first_row_ms=0.210 total_ms=1.730
  //       deliver_ms=0.031 app=psql sql=SELECT * FROM t WHERE id = $1"
  // Durations absent for the execution print "-". sql is cut at 200 bytes, one line.
  static std::string format(const ExecutionRecord& r);

 private:
  Writer writer_;
  std::optional<double> min_total_seconds_;
};

}  // namespace pglc::lifecycle
