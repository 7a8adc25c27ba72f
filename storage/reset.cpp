#include "storage/reset.hpp"

#include <memory>
#include <stdexcept>

#include "storage/recorder.hpp"
#include "storage/store.hpp"

namespace pglc::storage {
namespace {

constexpr std::size_t kChunk = 5000;  // rows per table per transaction, as retention does

}  // namespace

ResetReport reset_store(const std::string& storage_spec, bool all, lifecycle::WallMicros before,
                        lifecycle::WallMicros now) {
  RecorderConfig options;
  options.storage = storage_spec;
  const std::unique_ptr<Store> store = open_store(options);
  if (!store) throw std::runtime_error("--storage none has nothing to reset");
  if (const std::string problem = store->startup_problem(); !problem.empty()) {
    throw std::runtime_error(problem);
  }
  ResetReport report;
  try {
    // A day past now: rows whose clock ran a little ahead go too.
    const lifecycle::WallMicros cutoff = all ? now + 86'400'000'000LL : before;
    if (all) {
      store->reset_totals(now);
      report.totals = true;
    }
    for (ExpireResult r; (r = store->expire(cutoff, kChunk)).rows > 0 || r.more;) {
      report.raw_rows += r.rows;
    }
    for (ExpireResult r; (r = store->expire_rollups(cutoff, kChunk)).rows > 0 || r.more;) {
      report.minute_rows += r.rows;
    }
  } catch (const StoreError& e) {
    throw std::runtime_error("resetting " + store->describe() + ": " + e.what());
  }
  return report;
}

}  // namespace pglc::storage
