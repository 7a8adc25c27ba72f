// The Recorder over any Store: io threads copy records into a bounded lock-free queue;
// one writer thread batches them into transactions, retries a failing store with
// backoff while keeping a bounded backlog, and runs retention between batches.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <semaphore>
#include <thread>

#include "storage/bounded_queue.hpp"
#include "storage/item.hpp"
#include "storage/recorder.hpp"
#include "storage/rollup.hpp"
#include "storage/store.hpp"
#include "storage/volume_filter.hpp"

namespace pglc::storage {

class AsyncRecorder final : public Recorder {
 public:
  AsyncRecorder(std::unique_ptr<Store> store, const RecorderConfig& options, RecorderTuning tuning);
  ~AsyncRecorder() override;

  void session_opened(const lifecycle::SessionRecord& r) override { enqueue(r); }
  void session_closed(const lifecycle::SessionRecord& r) override { enqueue(r); }
  void statement(const lifecycle::StatementRecord& r) override { enqueue(r); }
  void statement_event(const lifecycle::StatementEventRecord& r) override { enqueue(r); }
  void execution(const lifecycle::ExecutionRecord& r) override;

  void start() override;
  void stop() override;
  const RecorderStats& stats() const override { return stats_; }

 private:
  template <typename Record>
  void enqueue(const Record& r, double sample_rate = 1.0);
  // The writer is done with an item: it goes back to the io threads.
  void recycle(Item* item);
  // A spare item of `kind` for this thread's record, or nullptr (allocate one).
  Item* take_spare(std::size_t kind);
  struct Recycle {
    AsyncRecorder* recorder;
    void operator()(Item* item) const { recorder->recycle(item); }
  };
  void run();
  void wait_until(std::chrono::steady_clock::time_point deadline);
  void log(config::LogLevel level, std::string_view message);

  std::unique_ptr<Store> store_;
  RecorderTuning tuning_;
  VolumeFilter filter_;
  std::string instance_;
  RollupAggregator rollups_;  // io threads add, the writer drains
  RollupBook book_;           // writer thread only
  std::optional<std::chrono::seconds> retention_;
  std::optional<std::chrono::seconds> rollup_retention_;
  static constexpr std::size_t kSessionReserve = 1024;  // slots only session records may use
  std::size_t max_records_;
  BoundedQueue<Item> queue_;
  // Items the writer is done with, kept whole (one list per kind of record) for the io
  // threads' next ones: refilling an item reuses its strings' buffers, where a new one
  // allocated on an io thread and freed on the writer cost a malloc per record (glibc's
  // per-thread cache of the io thread never sees those frees). The writer hands back a
  // whole batch at once, which may be all of one kind, so each list holds one batch
  // (batch_size items: ~370 bytes each plus strings of at most kSpareStringBytes, a few MB
  // at the default of 5000, and only as many as the load ever had in flight); a smaller
  // list overflowed under 16 clients in extended mode and the io threads allocated again.
  // Sessions (none kept), statements, statement events, executions: the variant's order.
  std::array<BoundedQueue<Item>, std::variant_size_v<Item>> spare_items_;
  static constexpr std::size_t kSpareStringBytes = 256;
  std::size_t max_bytes_;
  RecorderStats stats_;

  std::atomic<bool> closed_{false};    // stop() began: enqueue drops
  std::atomic<bool> stopping_{false};  // the writer drains and exits
  std::atomic<bool> writer_idle_{false};
  std::binary_semaphore wake_{0};
  std::thread writer_;
  bool started_ = false;
};

}  // namespace pglc::storage
