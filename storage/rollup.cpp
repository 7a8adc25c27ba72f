#include "storage/rollup.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

namespace pglc::storage {

using lifecycle::ExecutionRecord;
using lifecycle::ExecutionStatus;

namespace {

constexpr lifecycle::WallMicros kMinute = 60'000'000;

std::atomic<std::uint64_t> g_next_id{1};

lifecycle::WallMicros minute_of(const ExecutionRecord& r) {
  const lifecycle::WallMicros t = r.finished_at.value_or(r.began_at);
  return t - (t % kMinute + kMinute) % kMinute;
}

}  // namespace

void RollupStats::add(const ExecutionRecord& r) {
  ++calls;
  rows += static_cast<std::uint64_t>(std::max<std::int64_t>(r.rows, 0));
  if (calls == 1 || r.began_at < first_at) first_at = r.began_at;
  last_at = std::max(last_at, r.began_at);
  // The pipeline-aware total (DESIGN §2); records without one (written by other code than
  // the tracker) fall back to their finish - start.
  std::optional<double> total_s = r.total_seconds;
  if (!total_s && r.finished_at && r.status != ExecutionStatus::aborted) {
    total_s = static_cast<double>(*r.finished_at - r.began_at) / 1e6;
  }
  if (total_s) {
    const auto us = static_cast<std::int64_t>(std::llround(*total_s * 1e6));
    total_us += us;
    min_us = timed == 0 ? us : std::min(min_us, us);
    max_us = std::max(max_us, us);
    ++timed;
    total.add(*total_s * 1e6);
  }
  if (r.first_row_seconds) first_row.add(*r.first_row_seconds * 1e6);
  // Parse and bind times mean the server's phases only when timed precisely (the tracker
  // passes parse_seconds only for a precisely timed statement).
  if (r.bind_seconds && r.timing == lifecycle::Timing::precise) bind.add(*r.bind_seconds * 1e6);
  if (r.parse_seconds) parse.add(*r.parse_seconds * 1e6);
  if (!r.error_message.empty()) last_error = r.error_message;
}

void RollupStats::merge(const RollupStats& o) {
  if (o.calls == 0) return;
  if (calls == 0 || o.first_at < first_at) first_at = o.first_at;
  if (o.last_at >= last_at) {
    last_at = o.last_at;
    if (!o.last_error.empty()) last_error = o.last_error;
  } else if (last_error.empty()) {
    last_error = o.last_error;
  }
  calls += o.calls;
  rows += o.rows;
  total_us += o.total_us;
  if (o.timed > 0) {
    min_us = timed == 0 ? o.min_us : std::min(min_us, o.min_us);
    max_us = std::max(max_us, o.max_us);
  }
  timed += o.timed;
  total.merge(o.total);
  first_row.merge(o.first_row);
  bind.merge(o.bind);
  parse.merge(o.parse);
}

// ---- io side ------------------------------------------------------------------------------

struct RollupAggregator::Shard {
  // Texts of one shape share a key (`pgbench -M simple` sends a new text per execution,
  // all of one shape); other texts are keyed by identity.
  using Group = std::array<std::uint64_t, 2>;
  static Group group_of(const lifecycle::SqlText* t) {
    if (t != nullptr && (t->shape[0] | t->shape[1]) != 0) return t->shape;
    return {reinterpret_cast<std::uintptr_t>(t), 0};
  }
  struct Key {
    lifecycle::WallMicros minute;
    Group text;
    std::string user, database, application;
    ExecutionStatus status;
    std::string sqlstate;
    bool operator==(const Key& o) const {
      return minute == o.minute && text == o.text && status == o.status && user == o.user &&
             database == o.database && application == o.application && sqlstate == o.sqlstate;
    }
  };
  struct Hash {
    std::size_t operator()(const Key& k) const noexcept {
      std::size_t h = static_cast<std::size_t>(k.text[0] ^ (k.text[1] * 0x9e3779b97f4a7c15ull)) ^
                      (static_cast<std::size_t>(k.minute) * 31);
      h ^= std::hash<std::string>()(k.application) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
      h ^= std::hash<std::string>()(k.user) + (h << 6) + (h >> 2);
      h ^= static_cast<std::size_t>(k.status) + std::hash<std::string>()(k.sqlstate);
      return h ^ std::hash<std::string>()(k.database);
    }
  };
  struct Value {
    std::shared_ptr<const lifecycle::SqlText> text;  // the first of the key's texts
    RollupStats stats;
  };
  std::thread::id owner;
  std::mutex mutex;
  std::unordered_map<Key, Value, Hash> entries;
};

RollupAggregator::RollupAggregator() : id_(g_next_id.fetch_add(1)) {}
RollupAggregator::~RollupAggregator() = default;

RollupAggregator::Shard& RollupAggregator::shard() {
  // One cached shard per thread, for the aggregator it belongs to (ids are never reused,
  // so a destroyed aggregator's shard is never mistaken for this one's).
  thread_local std::uint64_t cached_id = 0;
  thread_local Shard* cached = nullptr;
  if (cached_id == id_) return *cached;
  std::lock_guard lock(registry_mutex_);
  const auto me = std::this_thread::get_id();
  Shard* found = nullptr;
  for (auto& s : shards_) {
    if (s->owner == me) found = s.get();
  }
  if (found == nullptr) {
    shards_.push_back(std::make_unique<Shard>());
    found = shards_.back().get();
    found->owner = me;
  }
  cached_id = id_;
  cached = found;
  return *found;
}

void RollupAggregator::add(const ExecutionRecord& r) {
  Shard& s = shard();
  Shard::Key key{minute_of(r),
                 Shard::group_of(r.sql.get()),
                 r.user_name,
                 r.database_name,
                 r.application_name,
                 r.status,
                 r.status == ExecutionStatus::error || r.status == ExecutionStatus::canceled
                     ? r.sqlstate
                     : std::string()};
  std::lock_guard lock(s.mutex);
  auto [it, fresh] = s.entries.try_emplace(std::move(key));
  if (fresh) it->second.text = r.sql;
  it->second.stats.add(r);
}

std::vector<RollupAggregator::Entry> RollupAggregator::drain() {
  std::vector<Shard*> shards;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto& s : shards_) shards.push_back(s.get());
  }
  std::vector<Entry> out;
  for (Shard* s : shards) {
    std::unordered_map<Shard::Key, Shard::Value, Shard::Hash> taken;
    {
      std::lock_guard lock(s->mutex);
      taken.swap(s->entries);
    }
    for (auto& [k, v] : taken) {
      Entry e;
      e.minute = k.minute;
      e.text = std::move(v.text);
      e.key.user_name = k.user;
      e.key.database_name = k.database;
      e.key.application_name = k.application;
      e.key.status = k.status;
      e.key.sqlstate = k.sqlstate;
      e.stats = std::move(v.stats);
      out.push_back(std::move(e));
    }
  }
  return out;
}

// ---- writer side --------------------------------------------------------------------------

RollupBook::RollupBook(Analyse analyse) : analyse_(std::move(analyse)) {}

void RollupBook::absorb(std::vector<RollupAggregator::Entry> entries) {
  for (auto& e : entries) {
    std::optional<std::string> fingerprint, normalized;
    if (e.text) {
      if (!e.text->analysis_deferred) {
        fingerprint = e.text->fingerprint;
        normalized = e.text->normalized_sql;
      } else {
        // The writer's memo (storage/text_row) has it when the store just wrote the text.
        std::tie(fingerprint, normalized) = analyse_(*e.text);
      }
    }
    e.key.fingerprint = fingerprint.value_or("");
    RollupRow& row = minutes_[{e.minute, e.key}];
    if (row.stats.calls == 0) {
      row.minute = e.minute;
      row.key = e.key;
    }
    if (row.normalized_sql.empty() && normalized) row.normalized_sql = *normalized;
    row.stats.merge(e.stats);
  }
}

RollupBook::Flush RollupBook::take(std::optional<lifecycle::WallMicros> before) {
  Flush f;
  std::map<RollupKey, RollupRow> changed;
  for (auto it = minutes_.begin(); it != minutes_.end();) {
    if (before && it->first.first >= *before) {
      ++it;
      continue;
    }
    RollupRow& m = it->second;
    auto [t, fresh] = changed.try_emplace(m.key);
    if (fresh) {
      if (auto base = totals_.find(m.key); base != totals_.end()) {
        t->second = base->second;
      } else {
        t->second.key = m.key;
      }
    }
    if (t->second.normalized_sql.empty()) t->second.normalized_sql = m.normalized_sql;
    t->second.stats.merge(m.stats);
    f.minutes.push_back(std::move(m));
    it = minutes_.erase(it);
  }
  // Each query key's histogram from all its totals rows, as they will be once written.
  for (auto it = changed.begin(); it != changed.end();) {
    const RollupKey& k = it->first;
    QueryTotal q{k.fingerprint, k.user_name, k.database_name, {}};
    RollupKey first;
    first.fingerprint = k.fingerprint;
    first.user_name = k.user_name;
    first.database_name = k.database_name;
    auto same = [&](const RollupKey& o) {
      return o.fingerprint == q.fingerprint && o.user_name == q.user_name &&
             o.database_name == q.database_name;
    };
    for (auto t = totals_.lower_bound(first); t != totals_.end() && same(t->first); ++t) {
      if (changed.count(t->first) == 0 && t->first.status != ExecutionStatus::aborted)
        q.total.merge(t->second.stats.total);
    }
    for (; it != changed.end() && same(it->first); ++it) {
      if (it->first.status != ExecutionStatus::aborted) q.total.merge(it->second.stats.total);
    }
    f.queries.push_back(std::move(q));
  }
  for (auto& [k, row] : changed) f.totals.push_back(std::move(row));
  return f;
}

void RollupBook::commit(const Flush& f) {
  for (const RollupRow& t : f.totals) totals_[t.key] = t;
}

void RollupBook::restore(Flush f) {
  for (RollupRow& m : f.minutes) {
    RollupRow& row = minutes_[{m.minute, m.key}];
    if (row.stats.calls == 0) {
      row.minute = m.minute;
      row.key = m.key;
      row.normalized_sql = m.normalized_sql;
    }
    row.stats.merge(m.stats);
  }
}

void RollupBook::set_base_totals(std::vector<RollupRow> rows) {
  for (RollupRow& r : rows) {
    RollupRow& t = totals_[r.key];
    if (t.stats.calls == 0) t = std::move(r);
  }
  base_loaded_ = true;
}

}  // namespace pglc::storage
