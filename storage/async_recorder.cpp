#include "storage/async_recorder.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "storage/text_row.hpp"

#include <algorithm>
#include <deque>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace pglc::storage {

using Clock = std::chrono::steady_clock;

namespace {

template <typename Variant, typename T, std::size_t I = 0>
constexpr std::size_t variant_index() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, Variant>, T>)
    return I;
  else
    return variant_index<Variant, T, I + 1>();
}

// Which spare list an item made from a `Record` comes from.
template <typename Record>
constexpr std::size_t item_kind() {
  if constexpr (std::is_same_v<Record, lifecycle::ExecutionRecord>)
    return variant_index<Item, ExecutionItem>();
  else
    return variant_index<Item, Record>();
}

// Anything a store throws besides StoreError (a failed prepare, bad_alloc) is treated as
// refused rows: the writer thread must never die of it.
template <typename F>
auto guarded(F&& f) {
  try {
    return f();
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw StoreError(e.what(), false);
  }
}

}  // namespace

AsyncRecorder::AsyncRecorder(std::unique_ptr<Store> store, const RecorderConfig& options,
                             RecorderTuning tuning)
    : store_(std::move(store)),
      tuning_(std::move(tuning)),
      filter_(options),
      instance_(options.instance_name),
      book_([max = options.max_sql_length](const lifecycle::SqlText& t) {
        const TextAnalysis a = text_analysis(t, max);
        auto owned = [](const std::optional<std::string_view>& v) {
          return v ? std::optional<std::string>(*v) : std::nullopt;
        };
        return std::make_pair(owned(a.fingerprint), owned(a.normalized_sql));
      }),
      retention_(options.retention),
      rollup_retention_(options.rollup_retention),
      max_records_(std::max<std::size_t>(options.recorder_queue, 1)),
      queue_(max_records_ + kSessionReserve),
      // BoundedQueue makes a capacity of 0 one, as the body does batch_size.
      spare_items_{BoundedQueue<Item>(1), BoundedQueue<Item>(tuning_.batch_size),
                   BoundedQueue<Item>(tuning_.batch_size), BoundedQueue<Item>(tuning_.batch_size)},
      max_bytes_(std::max<std::size_t>(options.recorder_queue_bytes, 1)) {
  if (tuning_.batch_size == 0) tuning_.batch_size = 1;
  if (tuning_.retry_capacity == 0) tuning_.retry_capacity = max_records_;
  if (tuning_.retention_chunk == 0) tuning_.retention_chunk = 1000;
}

AsyncRecorder::~AsyncRecorder() {
  stop();
  while (Item* item = queue_.try_pop()) delete item;
  for (auto& spares : spare_items_) {
    while (Item* spare = spares.try_pop()) delete spare;
  }
}

void AsyncRecorder::recycle(Item* item) {
  // A spare keeps only small buffers: a client's one huge statement name or parameter
  // list must not stay in memory a thousand times over.
  auto small = [](std::string& s) {
    if (s.capacity() > kSpareStringBytes) std::string().swap(s);
  };
  if (auto* st = std::get_if<lifecycle::StatementRecord>(item)) {
    st->sql.reset();  // a text outliving its record for nothing
    for (std::string* s : {&st->id, &st->session_id, &st->name, &st->param_types}) small(*s);
  } else if (auto* ev = std::get_if<lifecycle::StatementEventRecord>(item)) {
    small(ev->statement_id);
  } else if (auto* ex = std::get_if<ExecutionItem>(item)) {
    ex->rare.reset();
    for (std::string* s : {&ex->sqlstate, &ex->command_tag, &ex->application_name}) small(*s);
  } else {
    delete item;  // sessions: one or two per connection, not worth keeping
    return;
  }
  if (!spare_items_[item->index()].try_push(item)) delete item;
}

// Each thread takes the spare for its next record of a kind one record early, and
// prefetches it: the writer wrote that memory last, on the other core, and touching it
// when the record came missed the cache on each line (half of enqueue's samples under
// the PowerBI load). Prefetched, it is in this core's cache by the next record. A held
// item belongs to no recorder (any recorder fills any item of its kind); a thread
// holds at most one per kind, freed when the thread ends.
Item* AsyncRecorder::take_spare(std::size_t kind) {
  struct Held {
    std::array<Item*, std::variant_size_v<Item>> item{};
    ~Held() {
      for (Item* i : item) delete i;
    }
  };
  thread_local Held held;
  Item* item = std::exchange(held.item[kind], spare_items_[kind].try_pop());
  if (const Item* next = held.item[kind]) {
    const auto* bytes = reinterpret_cast<const char*>(next);
    for (std::size_t at = 0; at < sizeof(Item); at += 64) __builtin_prefetch(bytes + at, 1);
  }
  return item;
}

void AsyncRecorder::execution(const lifecycle::ExecutionRecord& r) {
  // Every execution counts in the rollups, whatever happens to its raw row.
  if (!closed_.load(std::memory_order_relaxed)) rollups_.add(r);
  const double rate = filter_.keep(r, stats_);
  if (rate > 0) enqueue(r, rate);
}

template <typename Record>
void AsyncRecorder::enqueue(const Record& r, double sample_rate) {
  // Reserve a slot and the bytes first: a full queue costs neither an allocation nor a
  // copy. The bytes bound covers the writer's retry backlog too (released when the writer
  // is done with an item), so a locked store cannot make memory grow past it.
  const std::size_t bytes = item_bytes(r);
  const auto depth = stats_.queue_depth.fetch_add(1, std::memory_order_relaxed);
  const auto held =
      stats_.queue_bytes.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  // Session records (one or two per connection, small) may use a reserve beyond the bound:
  // a session whose executions were dropped still gets its close recorded.
  constexpr bool kSession = std::is_same_v<Record, lifecycle::SessionRecord>;
  const std::size_t limit = kSession ? max_bytes_ + max_bytes_ / 8 : max_bytes_;
  if (closed_.load(std::memory_order_relaxed) ||
      depth >= static_cast<std::int64_t>(max_records_ + (kSession ? kSessionReserve : 0)) ||
      held + static_cast<std::int64_t>(bytes) > static_cast<std::int64_t>(limit)) {
    stats_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
    stats_.queue_bytes.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    stats_.dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Item* item = take_spare(item_kind<Record>());
  try {
    if constexpr (std::is_same_v<Record, lifecycle::ExecutionRecord>) {
      // Only the columns a store writes (storage/execution_item.hpp). The SqlText's
      // shared_ptr in particular would cost two atomic operations on a counter that every
      // io thread running that text also touches.
      if (item)
        std::get<ExecutionItem>(*item) = ExecutionItem(r, sample_rate);
      else
        item = new Item(std::in_place_type<ExecutionItem>, r, sample_rate);
    } else {
      if (item)
        std::get<Record>(*item) = r;  // the strings' buffers are reused
      else
        item = new Item(r);
    }
  } catch (...) {
    delete item;
    throw;
  }
  if (!queue_.try_push(item)) {  // only when the depth counter raced past a pop
    recycle(item);
    stats_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
    stats_.queue_bytes.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
    stats_.dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Pairs with the writer's store to writer_idle_ before it looks at the queue.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (writer_idle_.load(std::memory_order_relaxed) && writer_idle_.exchange(false)) {
    wake_.release();
  }
}

void AsyncRecorder::start() {
  if (started_) return;
  started_ = true;
  if (const std::string problem = store_->startup_problem(); !problem.empty()) {
    log(config::LogLevel::warning, problem);
  } else {
    log(config::LogLevel::info, "recording to " + store_->describe());
  }
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "pglc-writer");  // for top -H and perf
    // On a busy machine the scheduler gives the one writer a thread's share among every
    // io thread, client and backend, and the queue overflows while it waits for a core.
    // It only runs when records are queued (about a quarter of a core at 11k new texts per
    // second), so a higher weight lets it run soon after it wakes without starving the
    // relay. Nice -5 still lost records under `pgbench -M simple -c 16`; -10 lost none
    // (bench/notes.md). Needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (the systemd
    // unit sets LimitNICE=-10); a lower limit gets -5, none leaves the writer at 0.
    const auto tid = static_cast<id_t>(gettid());
    if (setpriority(PRIO_PROCESS, tid, -10) != 0 && setpriority(PRIO_PROCESS, tid, -5) != 0)
      log(config::LogLevel::debug, "the writer thread stays at nice 0 (no CAP_SYS_NICE)");
    run();
  });
}

void AsyncRecorder::stop() {
  closed_.store(true);
  if (!writer_.joinable()) return;
  stopping_.store(true);
  if (writer_idle_.exchange(false)) wake_.release();
  writer_.join();
}

void AsyncRecorder::log(config::LogLevel level, std::string_view message) {
  if (tuning_.log) {
    tuning_.log(level, message);
  } else {
    std::cerr << "pglifecycle: storage: " << message << std::endl;
  }
}

// Sleeps until `deadline`, or until a producer pushes, or stop().
void AsyncRecorder::wait_until(Clock::time_point deadline) {
  writer_idle_.store(true);  // seq_cst: pairs with the producers' fence
  if (queue_.has_item() || stopping_.load()) {
    if (!writer_idle_.exchange(false)) wake_.acquire();  // a producer claimed the wake-up
    return;
  }
  const bool woken = wake_.try_acquire_until(deadline);
  if (!woken && !writer_idle_.exchange(false)) wake_.acquire();
}

void AsyncRecorder::run() {
  std::deque<std::unique_ptr<Item, Recycle>> pending;
  std::vector<const Item*> chunk;
  chunk.reserve(tuning_.batch_size);
  Clock::time_point oldest{};
  bool failing = false;
  std::string failure;
  std::uint64_t dropped_at_failure = 0;
  auto backoff = tuning_.retry_initial;
  Clock::time_point next_attempt{};
  Clock::time_point next_retention =
      Clock::now() + std::min(tuning_.retention_interval, std::chrono::milliseconds(1000));
  std::optional<Clock::time_point> stop_deadline;
  Clock::time_point next_rollup = Clock::now() + tuning_.rollup_interval;
  std::uint64_t written_since_retention = 0;
  std::string rollup_failure;

  // Moves what the io threads aggregated into the book and writes the minutes that are
  // over (`all`: every minute, at stop). True when nothing is left to write.
  auto flush_rollups = [&](bool all) {
    book_.absorb(rollups_.drain());
    auto complain = [&](const StoreError& e) {
      if (rollup_failure != e.what()) {
        rollup_failure = e.what();
        log(config::LogLevel::warning, std::string("cannot write rollups to ") +
                                           store_->describe() + ": " + e.what() +
                                           "; keeping them and retrying");
      }
    };
    if (!book_.has_base_totals()) {
      try {
        book_.set_base_totals(guarded([&] { return store_->load_rollup_totals(instance_); }));
      } catch (const StoreError& e) {
        complain(e);
        return book_.empty();
      }
    }
    std::optional<lifecycle::WallMicros> before;
    if (!all) {
      // A minute is written once it is over and its stragglers had a few seconds.
      const lifecycle::WallMicros now_us = lifecycle::to_wall(lifecycle::now()) - 5'000'000;
      before = now_us - now_us % 60'000'000;
    }
    RollupBook::Flush f = book_.take(before);
    if (f.minutes.empty()) return book_.empty();
    try {
      if (!guarded(
              [&] { return store_->write_rollups(instance_, f.minutes, f.totals, f.queries); })) {
        book_.restore(std::move(f));
        book_.forget_totals();
        log(config::LogLevel::info,
            "the totals in " + store_->describe() + " were reset; counting them afresh");
        return false;
      }
      book_.commit(f);
      stats_.rows_rollups.fetch_add(f.minutes.size(), std::memory_order_relaxed);
      if (!rollup_failure.empty()) {
        rollup_failure.clear();
        log(config::LogLevel::info, "writing rollups to " + store_->describe() + " again");
      }
    } catch (const StoreError& e) {
      book_.restore(std::move(f));
      complain(e);
    }
    return book_.empty();
  };

  auto drop_pending = [&](std::size_t n) {
    stats_.dropped_store_error.fetch_add(n, std::memory_order_relaxed);
  };
  // The writer is done with these items (written or dropped): their bytes are free.
  auto release = [&](std::size_t n) {
    std::int64_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) bytes += static_cast<std::int64_t>(item_bytes(*pending[i]));
    stats_.queue_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
  };
  auto discard = [&](Item* item) {
    stats_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
    stats_.queue_bytes.fetch_sub(static_cast<std::int64_t>(item_bytes(*item)),
                                 std::memory_order_relaxed);
    recycle(item);
    drop_pending(1);
  };

  for (;;) {
    const bool stopping = stopping_.load();
    auto now = Clock::now();
    if (stopping && !stop_deadline) stop_deadline = now + tuning_.stop_timeout;

    // Take a batch of what the io threads queued (the rest stays visible as queue depth).
    // While the store fails, up to retry_capacity records are kept and the newest beyond
    // that dropped, so the queue itself never fills behind a dead store.
    const std::size_t keep =
        failing ? tuning_.retry_capacity : std::min(tuning_.batch_size, tuning_.retry_capacity);
    while (pending.size() < keep) {
      Item* item = queue_.try_pop();
      if (!item) break;
      stats_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
      if (pending.empty()) oldest = now;
      pending.emplace_back(item, Recycle{this});
    }
    if (failing && pending.size() >= tuning_.retry_capacity) {
      while (Item* item = queue_.try_pop()) discard(item);
    }

    const bool due =
        !pending.empty() && (failing ? now >= next_attempt
                                     : (pending.size() >= tuning_.batch_size ||
                                        now - oldest >= tuning_.flush_interval || stopping));
    // A saturated writer always has a full batch waiting: rollups and retention still get
    // their turn after each batch, or they would wait for the queue to drain (rollups
    // piling up in memory, the store growing past its retention).
    bool wrote = false;
    if (due) {
      wrote = true;
      chunk.clear();
      const std::size_t n = std::min(pending.size(), tuning_.batch_size);
      for (std::size_t i = 0; i < n; ++i) chunk.push_back(pending[i].get());
      try {
        const RowCounts c = guarded([&] { return store_->write(chunk); });
        stats_.rows_sessions.fetch_add(c.sessions, std::memory_order_relaxed);
        stats_.rows_sql_texts.fetch_add(c.sql_texts, std::memory_order_relaxed);
        stats_.rows_statements.fetch_add(c.statements, std::memory_order_relaxed);
        stats_.rows_executions.fetch_add(c.executions, std::memory_order_relaxed);
        written_since_retention += c.executions;
        stats_.rows_statement_events.fetch_add(c.statement_events, std::memory_order_relaxed);
        stats_.rows_execution_events.fetch_add(c.execution_events, std::memory_order_relaxed);
        release(n);
        if (!pending.empty()) oldest = now;
        // The texts this batch wrote are in the writer's analysis memo now: resolve the
        // executions the io threads aggregated meanwhile while they are.
        book_.absorb(rollups_.drain());
        if (failing) {
          failing = false;
          backoff = tuning_.retry_initial;
          const auto lost = stats_.dropped_store_error.load() - dropped_at_failure;
          log(config::LogLevel::info, "writing to " + store_->describe() + " again (" +
                                          std::to_string(lost) +
                                          " records dropped while it failed)");
        }
      } catch (const StoreError& e) {
        if (!e.transient()) {
          // These rows will never go in: drop them, keep the store's state as it is.
          release(n);
          drop_pending(n);
          if (failure != e.what()) {
            failure = e.what();
            log(config::LogLevel::error, "rows refused by " + store_->describe() + ", " +
                                             std::to_string(n) + " records dropped: " + e.what());
          }
        } else {
          if (!failing) {
            failing = true;
            dropped_at_failure = stats_.dropped_store_error.load();
            log(config::LogLevel::warning, "cannot write to " + store_->describe() + ": " +
                                               e.what() + "; retrying, keeping up to " +
                                               std::to_string(tuning_.retry_capacity) +
                                               " records meanwhile");
          }
          next_attempt = Clock::now() + backoff;
          backoff = std::min(backoff * 2, tuning_.retry_max);
        }
      }
      now = Clock::now();
    }

    if (!stopping && now >= next_rollup) {
      flush_rollups(false);
      next_rollup = now + tuning_.rollup_interval;
    }

    if (stopping) {
      if (pending.empty() && !queue_.has_item()) {
        // Raw rows are done: the rollups, every minute of them, go last.
        if (flush_rollups(true)) break;
        if (now >= *stop_deadline) {
          stats_.dropped_rollups.fetch_add(book_.pending_keys(), std::memory_order_relaxed);
          log(config::LogLevel::error,
              "stopping while " + store_->describe() + " fails: rollups dropped");
          break;
        }
        std::this_thread::sleep_for(std::min(tuning_.retry_max, std::chrono::milliseconds(100)));
        continue;
      }
      if (failing && now >= *stop_deadline) {
        drop_pending(pending.size());
        release(pending.size());
        while (Item* item = queue_.try_pop()) discard(item);
        log(config::LogLevel::error,
            "stopping while " + store_->describe() + " fails: queued records dropped");
        if (!flush_rollups(true)) {
          stats_.dropped_rollups.fetch_add(book_.pending_keys(), std::memory_order_relaxed);
        }
        break;
      }
    }

    if ((retention_ || rollup_retention_) && !failing && now >= next_retention && !stopping) {
      const auto wall = lifecycle::to_wall(lifecycle::now());
      const auto pass_began = Clock::now();
      bool more = false;
      std::size_t expired = 0;
      try {
        if (retention_) {
          const auto cutoff =
              wall - std::chrono::duration_cast<std::chrono::microseconds>(*retention_).count();
          // As many rows as were written since the last pass, so that a busy store stops
          // growing, but at most kMaxRetentionStep per table: the pass's steps run back to
          // back and the writer inserts nothing meanwhile (20,000 took 93 ms). A pass that
          // leaves rows behind comes again right after the next batch, so a writer that
          // inserts at most a batch per cycle is still caught up with.
          constexpr std::uint64_t kMaxRetentionStep = 5000;
          const std::size_t limit = std::max<std::size_t>(
              tuning_.retention_chunk,
              std::min<std::uint64_t>(written_since_retention, kMaxRetentionStep));
          written_since_retention = 0;
          const ExpireResult r = guarded([&] { return store_->expire(cutoff, limit); });
          more = r.more;
          expired += r.rows;
        }
        if (rollup_retention_) {
          const auto cutoff =
              wall -
              std::chrono::duration_cast<std::chrono::microseconds>(*rollup_retention_).count();
          const ExpireResult r =
              guarded([&] { return store_->expire_rollups(cutoff, tuning_.retention_chunk); });
          more = r.more || more;
          expired += r.rows;
        }
      } catch (const StoreError& e) {
        log(config::LogLevel::warning, std::string("retention pass failed: ") + e.what());
      }
      stats_.rows_expired.fetch_add(expired, std::memory_order_relaxed);
      const auto pass_us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - pass_began).count();
      if (pass_us > stats_.retention_longest_pass_us.load(std::memory_order_relaxed)) {
        stats_.retention_longest_pass_us.store(pass_us, std::memory_order_relaxed);
      }
      next_retention =
          Clock::now() + (more ? std::chrono::milliseconds(0) : tuning_.retention_interval);
      continue;
    }
    if (wrote) continue;

    Clock::time_point deadline = now + std::chrono::milliseconds(100);
    if (!pending.empty()) {
      deadline =
          failing ? next_attempt
                  : std::min(oldest + tuning_.flush_interval, now + std::chrono::milliseconds(5));
    }
    if (retention_) deadline = std::min(deadline, std::max(next_retention, now));
    if (stopping && failing) deadline = std::min(deadline, *stop_deadline);
    if (deadline > now) {
      if (!pending.empty() && !failing) {
        // A partial batch: look again soon rather than being woken per record.
        std::this_thread::sleep_until(deadline);
      } else {
        wait_until(deadline);
      }
    }
  }
}

}  // namespace pglc::storage
