#include "metrics/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/activity_endpoint.hpp"
#include "metrics/atomic_histogram.hpp"
#include "metrics/label_cap.hpp"
#include "metrics/process_stats.hpp"
#include "metrics/wake_listener.hpp"

#ifndef PGLC_VERSION
#define PGLC_VERSION "unknown"
#endif

namespace pglc::metrics {

namespace {

using lifecycle::ExecutionRecord;
using lifecycle::ExecutionStatus;
using lifecycle::MessageKind;
using lifecycle::SessionRecord;
using lifecycle::StatementKind;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Label values by enum index. Spelled here rather than taken from lifecycle's
// to_string() so that the metrics layer needs nothing but the lifecycle headers.
constexpr std::array<std::string_view, 4> kKinds = {"simple", "simple_multi", "sql_prepare",
                                                    "extended"};
constexpr std::array<std::string_view, 4> kStatuses = {"success", "error", "canceled", "aborted"};
constexpr std::array<std::string_view, 8> kMessages = {"query",   "parse", "bind", "describe",
                                                       "execute", "close", "sync", "function_call"};
constexpr std::array<std::string_view, 2> kDirections = {"to_backend", "to_client"};
// lifecycle::ConnectPhases, in its order.
constexpr std::array<std::string_view, 5> kConnectPhases = {"tls", "startup", "backend", "auth",
                                                            "total"};

constexpr std::array<std::string_view, 3> kIdentityLabels = {"database", "user", "application"};

constexpr std::size_t kKindCount = kKinds.size();
constexpr std::size_t kStatusCount = kStatuses.size();

// SQLSTATE classes are two characters of [0-9A-Z]: 36 * 36 slots plus one for anything
// malformed, so counting an error is one array index and one atomic add.
constexpr std::size_t kClassSlots = 36 * 36 + 1;
constexpr std::size_t kUnknownClass = kClassSlots - 1;

int class_char(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return -1;
}

std::size_t sqlstate_class_slot(std::string_view sqlstate) {
  if (sqlstate.size() < 2) return kUnknownClass;
  int a = class_char(sqlstate[0]), b = class_char(sqlstate[1]);
  if (a < 0 || b < 0) return kUnknownClass;
  return static_cast<std::size_t>(a * 36 + b);
}

std::string sqlstate_class_name(std::size_t slot) {
  if (slot == kUnknownClass) return "unknown";
  auto ch = [](std::size_t v) { return static_cast<char>(v < 10 ? '0' + v : 'A' + v - 10); };
  return {ch(slot / 36), ch(slot % 36)};
}

template <typename E>
std::size_t index_of(E e, std::size_t count) {
  auto i = static_cast<std::size_t>(e);
  return i < count ? i : count - 1;
}

struct ErrorCounts {
  std::array<std::atomic<std::uint64_t>, kClassSlots> by_class{};
};

// Everything one execution updates, for one combination of identity labels (or the only
// one, when identity labels are off).
struct ExecutionSeries {
  ExecutionSeries(unsigned shards, Labels identity_labels) : identity(std::move(identity_labels)) {
    duration.reserve(kKindCount * kStatusCount);
    executions.reserve(kKindCount * kStatusCount);
    for (std::size_t i = 0; i < kKindCount * kStatusCount; ++i) {
      duration.emplace_back(shards);
      executions.emplace_back(shards);
    }
    first_row.reserve(kKindCount);
    for (std::size_t i = 0; i < kKindCount; ++i) first_row.emplace_back(shards);
  }
  ~ExecutionSeries() { delete errors.load(std::memory_order_acquire); }
  ExecutionSeries(const ExecutionSeries&) = delete;
  ExecutionSeries& operator=(const ExecutionSeries&) = delete;

  void count_error(std::size_t slot) {
    // Allocated on the first error: most identity combinations never see one.
    ErrorCounts* counts = errors.load(std::memory_order_acquire);
    if (counts == nullptr) {
      auto* fresh = new ErrorCounts();
      if (errors.compare_exchange_strong(counts, fresh, std::memory_order_acq_rel)) {
        counts = fresh;
      } else {
        delete fresh;
      }
    }
    counts->by_class[slot].fetch_add(1, std::memory_order_relaxed);
  }

  Labels identity;
  std::vector<AtomicHistogram> duration;   // [kind * kStatusCount + status]
  std::vector<AtomicHistogram> first_row;  // [kind]
  std::vector<ShardedCounter> executions;  // [kind * kStatusCount + status]
  std::atomic<ErrorCounts*> errors{nullptr};
};

std::atomic<std::uint64_t> next_instance_id{1};

ClientMetric::Label label(std::string_view name, std::string_view value) {
  return {std::string(name), std::string(value)};
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add_histogram(MetricFamily& f, Labels labels, const HistogramSnapshot& snap) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = snap.count;
  m.histogram.sample_sum = snap.sum_seconds;
  m.histogram.bucket.reserve(snap.cumulative.size());
  for (std::size_t b = 0; b < snap.cumulative.size(); ++b) {
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = snap.cumulative[b];
    bucket.upper_bound = b < kBucketBoundsSeconds.size() ? kBucketBoundsSeconds[b]
                                                         : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(bucket);
  }
  f.metric.push_back(std::move(m));
}

void add_value(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

Labels with(Labels base, std::initializer_list<ClientMetric::Label> more) {
  Labels out(more);
  out.insert(out.end(), std::make_move_iterator(base.begin()), std::make_move_iterator(base.end()));
  return out;
}

class MetricsImpl;

// Registered with the exposer through a weak_ptr; builds the families at scrape time.
class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const MetricsImpl& impl) : impl_(impl) {}
  std::vector<MetricFamily> Collect() const override;

 private:
  const MetricsImpl& impl_;
};

class MetricsImpl final : public Metrics {
 public:
  MetricsImpl(const MetricsConfig& options, const storage::RecorderStats* recorder)
      : recorder_(recorder),
        shards_(default_shard_count()),
        label_limit_(options.metric_label_limit),
        instance_id_(next_instance_id.fetch_add(1)),
        listen_(options.metrics_listen) {
    for (const auto& name : options.metric_labels) {
      bool known = false;
      for (std::size_t i = 0; i < kIdentityLabels.size(); ++i) {
        if (name == kIdentityLabels[i]) {
          identity_enabled_[i] = true;
          known = true;
        }
      }
      if (!known)
        throw std::runtime_error("unknown metric label '" + name +
                                 "' (expected database, user, application)");
    }
    any_identity_ = identity_enabled_[0] || identity_enabled_[1] || identity_enabled_[2];
    for (std::size_t i = 0; i < kIdentityLabels.size(); ++i) caps_.emplace_back(label_limit_);
    // Identity series are numerous, so each gets one shard: sharding them by thread would
    // multiply memory by the core count for little gain.
    if (!any_identity_) default_series_ = std::make_unique<ExecutionSeries>(shards_, Labels{});
    for (std::size_t i = 0; i < kMessages.size(); ++i) message_.emplace_back(shards_);
    for (std::size_t i = 0; i < kConnectPhases.size(); ++i) connect_.emplace_back(shards_);
    for (std::size_t i = 0; i < kDirections.size(); ++i) {
      proxy_latency_.emplace_back(shards_);
      bytes_.emplace_back(shards_);
    }
    collector_ = std::make_shared<Collector>(*this);
    if (!options.metrics_listen.empty()) {
      try {
        exposer_ = std::make_unique<prometheus::Exposer>(options.metrics_listen, 2,
                                                         ActivityEndpoint::callbacks());
      } catch (const std::exception& e) {
        throw std::runtime_error("cannot listen for metrics on '" + options.metrics_listen +
                                 "': " + e.what());
      }
      exposer_->RegisterCollectable(collector_);
      auto ports = exposer_->GetListeningPorts();
      if (!ports.empty()) port_ = ports.front();
      activity_.listen_on(ports);
    }
  }

  ~MetricsImpl() override {
    // Stop serving before the state a scrape reads goes away.
    if (exposer_) {
      ListenerWaker waker(listen_, port_);
      exposer_.reset();
    }
  }

  // --- lifecycle::Sink ---
  void execution(const ExecutionRecord& r) override {
    const std::size_t kind = index_of(r.kind, kKindCount);
    const std::size_t status = index_of(r.status, kStatusCount);
    ExecutionSeries& series = any_identity_ ? resolve_identity(r) : *default_series_;
    series.executions[kind * kStatusCount + status].add();
    if (r.total_seconds)
      series.duration[kind * kStatusCount + status].observe_seconds(*r.total_seconds);
    if (r.first_row_seconds) series.first_row[kind].observe_seconds(*r.first_row_seconds);
    if (r.status == ExecutionStatus::error || r.status == ExecutionStatus::canceled)
      series.count_error(sqlstate_class_slot(r.sqlstate));
  }

  // Once per session: when it became ready, or at its end with the phases it reached.
  void session_opened(const SessionRecord& r) override {
    const lifecycle::ConnectPhases p = lifecycle::connect_phases(r);
    const std::optional<double>* phases[] = {&p.tls, &p.startup, &p.backend, &p.auth, &p.total};
    for (std::size_t i = 0; i < kConnectPhases.size(); ++i) {
      if (*phases[i]) connect_[i].observe_seconds(**phases[i]);
    }
  }

  void message_timed(MessageKind kind, std::chrono::nanoseconds d) override {
    message_[index_of(kind, kMessages.size())].observe(d);
  }

  // --- RelayStats ---
  void connection_opened() override { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() override { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  void connection_result(ConnectionResult result) override {
    connection_results_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  }
  void bytes(Direction d, std::size_t n) override {
    bytes_[index_of(d, kDirections.size())].add(n);
  }
  void proxy_latency(Direction d, std::chrono::nanoseconds t) override {
    proxy_latency_[index_of(d, kDirections.size())].observe(t);
  }

  // --- Metrics ---
  int port() const override { return port_; }
  void serve_activity(std::function<std::string()> source) override {
    activity_.set_source(std::move(source));
  }
  std::string render() const override { return prometheus::TextSerializer().Serialize(collect()); }

  std::vector<MetricFamily> collect() const;

 private:
  // Sessions repeat the same user/database/application, so each io thread keeps a small
  // map from the raw values to their series; the shared map and the caps (under a mutex)
  // are consulted only on a miss. Series live as long as this object, so cached pointers
  // stay valid; the instance id keeps a thread from using another instance's pointers.
  ExecutionSeries& resolve_identity(const ExecutionRecord& r) {
    struct Cache {
      std::uint64_t owner = 0;
      std::string key;
      std::unordered_map<std::string, ExecutionSeries*> series;
    };
    thread_local Cache cache;
    if (cache.owner != instance_id_) {
      cache.series.clear();
      cache.owner = instance_id_;
    }
    const std::array<const std::string*, 3> raw = {&r.database_name, &r.user_name,
                                                   &r.application_name};
    cache.key.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (!identity_enabled_[i]) continue;
      cache.key.append(*raw[i]);
      cache.key.push_back('\0');
    }
    if (auto it = cache.series.find(cache.key); it != cache.series.end()) return *it->second;

    ExecutionSeries* found = nullptr;
    {
      std::lock_guard lock(identity_mutex_);
      Labels labels;
      std::string canonical;
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (!identity_enabled_[i]) continue;
        std::string_view value = caps_[i].admit(*raw[i]);
        labels.push_back(label(kIdentityLabels[i], value));
        canonical.append(value);
        canonical.push_back('\0');
      }
      auto& slot = identity_series_[canonical];
      if (!slot) slot = std::make_unique<ExecutionSeries>(1, std::move(labels));
      found = slot.get();
    }
    // Bounded so that a stream of distinct names (all "other") cannot grow it forever.
    if (cache.series.size() >= 4096) cache.series.clear();
    cache.series.emplace(cache.key, found);
    return *found;
  }

  void collect_executions(const ExecutionSeries& s, bool skip_empty, MetricFamily& duration,
                          MetricFamily& first_row, MetricFamily& total, MetricFamily& errors) const;

  friend class Collector;

  const storage::RecorderStats* recorder_;
  const unsigned shards_;
  const std::size_t label_limit_;
  const std::uint64_t instance_id_;
  const std::string listen_;
  std::array<bool, 3> identity_enabled_{};
  bool any_identity_ = false;

  std::unique_ptr<ExecutionSeries> default_series_;
  mutable std::mutex identity_mutex_;
  std::vector<LabelCap> caps_;  // guarded by identity_mutex_
  std::map<std::string, std::unique_ptr<ExecutionSeries>> identity_series_;  // same

  std::vector<AtomicHistogram> message_;        // [MessageKind]
  std::vector<AtomicHistogram> connect_;        // [kConnectPhases]
  std::vector<AtomicHistogram> proxy_latency_;  // [Direction]
  std::vector<ShardedCounter> bytes_;           // [Direction]
  std::atomic<std::int64_t> open_connections_{0};
  std::array<std::atomic<std::uint64_t>, kConnectionResults> connection_results_{};

  std::shared_ptr<Collector> collector_;
  // Declared before the exposer: it outlives every request the exposer serves.
  ActivityEndpoint activity_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

std::vector<MetricFamily> Collector::Collect() const {
  return impl_.collect();
}

void MetricsImpl::collect_executions(const ExecutionSeries& s, bool skip_empty,
                                     MetricFamily& duration, MetricFamily& first_row,
                                     MetricFamily& total, MetricFamily& errors) const {
  for (std::size_t k = 0; k < kKindCount; ++k) {
    for (std::size_t st = 0; st < kStatusCount; ++st) {
      const std::size_t i = k * kStatusCount + st;
      const std::uint64_t count = s.executions[i].value();
      auto snap = s.duration[i].snapshot();
      if (skip_empty && count == 0 && snap.count == 0) continue;
      Labels labels = with(s.identity, {label("kind", kKinds[k]), label("status", kStatuses[st])});
      // Empty histograms are 27 lines each and say nothing; zero counters do matter
      // (rate() needs the series before the first increment).
      if (snap.count > 0) add_histogram(duration, labels, snap);
      add_value(total, std::move(labels), static_cast<double>(count));
    }
    auto snap = s.first_row[k].snapshot();
    if (snap.count == 0) continue;
    add_histogram(first_row, with(s.identity, {label("kind", kKinds[k])}), snap);
  }
  if (const ErrorCounts* counts = s.errors.load(std::memory_order_acquire)) {
    for (std::size_t slot = 0; slot < kClassSlots; ++slot) {
      auto n = counts->by_class[slot].load(std::memory_order_relaxed);
      if (n == 0) continue;
      add_value(errors, with(s.identity, {label("sqlstate_class", sqlstate_class_name(slot))}),
                static_cast<double>(n));
    }
  }
}

std::vector<MetricFamily> MetricsImpl::collect() const {
  std::vector<MetricFamily> out;

  auto message = family("pglifecycle_message_duration_seconds",
                        "Frontend message read by the proxy until the backend's response to it "
                        "arrived, by message type.",
                        MetricType::Histogram);
  for (std::size_t i = 0; i < kMessages.size(); ++i)
    add_histogram(message, {label("message", kMessages[i])}, message_[i].snapshot());
  out.push_back(std::move(message));

  auto connect = family("pglifecycle_connect_duration_seconds",
                        "Session phases: client TLS handshake, startup packet, backend "
                        "connection, authentication, and accepted until ready (total).",
                        MetricType::Histogram);
  for (std::size_t i = 0; i < kConnectPhases.size(); ++i)
    add_histogram(connect, {label("phase", kConnectPhases[i])}, connect_[i].snapshot());
  out.push_back(std::move(connect));

  auto duration =
      family("pglifecycle_execution_duration_seconds",
             "Execution received until its terminal response arrived.", MetricType::Histogram);
  auto first_row =
      family("pglifecycle_execution_first_row_seconds",
             "Execution received until its first result arrived.", MetricType::Histogram);
  auto total = family("pglifecycle_executions_total", "Finished executions by kind and status.",
                      MetricType::Counter);
  auto errors = family("pglifecycle_errors_total",
                       "Executions that ended in an error or were canceled, by SQLSTATE class.",
                       MetricType::Counter);
  if (any_identity_) {
    std::lock_guard lock(identity_mutex_);
    for (const auto& [key, series] : identity_series_)
      collect_executions(*series, true, duration, first_row, total, errors);
  } else {
    collect_executions(*default_series_, false, duration, first_row, total, errors);
  }
  out.push_back(std::move(duration));
  out.push_back(std::move(first_row));
  out.push_back(std::move(total));
  out.push_back(std::move(errors));

  auto latency =
      family("pglifecycle_proxy_latency_seconds",
             "Time a message spent inside the proxy, read until written.", MetricType::Histogram);
  for (std::size_t i = 0; i < kDirections.size(); ++i)
    add_histogram(latency, {label("direction", kDirections[i])}, proxy_latency_[i].snapshot());
  out.push_back(std::move(latency));

  auto bytes =
      family("pglifecycle_bytes_total", "Bytes relayed, by direction.", MetricType::Counter);
  for (std::size_t i = 0; i < kDirections.size(); ++i)
    add_value(bytes, {label("direction", kDirections[i])}, static_cast<double>(bytes_[i].value()));
  out.push_back(std::move(bytes));

  auto connections =
      family("pglifecycle_client_connections", "Open client sessions.", MetricType::Gauge);
  add_value(connections, {},
            static_cast<double>(open_connections_.load(std::memory_order_relaxed)));
  out.push_back(std::move(connections));

  auto results =
      family("pglifecycle_client_connections_total",
             "Accepted client connections by how their startup ended.", MetricType::Counter);
  for (std::size_t i = 0; i < kConnectionResults; ++i) {
    const auto n = connection_results_[i].load(std::memory_order_relaxed);
    add_value(results, {label("result", to_string(static_cast<ConnectionResult>(i)))},
              static_cast<double>(n));
  }
  out.push_back(std::move(results));

  if (recorder_ != nullptr) {
    const auto& r = *recorder_;
    auto depth = family("pglifecycle_recorder_queue_depth",
                        "Records waiting for the storage writer.", MetricType::Gauge);
    add_value(depth, {}, static_cast<double>(r.queue_depth.load(std::memory_order_relaxed)));
    out.push_back(std::move(depth));

    auto queue_bytes =
        family("pglifecycle_recorder_queue_bytes",
               "Memory held by queued records and the writer's retry backlog.", MetricType::Gauge);
    add_value(queue_bytes, {}, static_cast<double>(r.queue_bytes.load(std::memory_order_relaxed)));
    out.push_back(std::move(queue_bytes));

    auto rows = family("pglifecycle_recorder_rows_total", "Rows written to the store, by table.",
                       MetricType::Counter);
    const std::array<std::pair<std::string_view, const std::atomic<std::uint64_t>*>, 7> tables = {
        {{"sessions", &r.rows_sessions},
         {"sql_texts", &r.rows_sql_texts},
         {"statements", &r.rows_statements},
         {"executions", &r.rows_executions},
         {"statement_events", &r.rows_statement_events},
         {"execution_events", &r.rows_execution_events},
         {"rollups", &r.rows_rollups}}};
    for (const auto& [name, value] : tables)
      add_value(rows, {label("table", name)},
                static_cast<double>(value->load(std::memory_order_relaxed)));
    out.push_back(std::move(rows));

    auto dropped =
        family("pglifecycle_recorder_dropped_total",
               "Records lost before reaching the store, by reason.", MetricType::Counter);
    add_value(dropped, {label("reason", "queue_full")},
              static_cast<double>(r.dropped_queue_full.load(std::memory_order_relaxed)));
    add_value(dropped, {label("reason", "store_error")},
              static_cast<double>(r.dropped_store_error.load(std::memory_order_relaxed)));
    // Rollups are never shed under load; only a store failing through the stop timeout.
    add_value(dropped, {label("reason", "rollups_at_stop")},
              static_cast<double>(r.dropped_rollups.load(std::memory_order_relaxed)));
    out.push_back(std::move(dropped));

    auto expired = family("pglifecycle_recorder_expired_rows_total",
                          "Rows deleted by retention (raw rows and rollups).", MetricType::Counter);
    add_value(expired, {}, static_cast<double>(r.rows_expired.load(std::memory_order_relaxed)));
    out.push_back(std::move(expired));
    auto pass = family("pglifecycle_recorder_retention_longest_pass_seconds",
                       "The longest retention pass since start: the longest time retention "
                       "kept the writer from inserting.",
                       MetricType::Gauge);
    add_value(
        pass, {},
        static_cast<double>(r.retention_longest_pass_us.load(std::memory_order_relaxed)) / 1e6);
    out.push_back(std::move(pass));

    auto skipped = family("pglifecycle_recorder_skipped_total",
                          "Executions deliberately not stored (sampling, --min-duration); "
                          "metrics still count them.",
                          MetricType::Counter);
    add_value(skipped, {label("reason", "sampled_out")},
              static_cast<double>(r.sampled_out.load(std::memory_order_relaxed)));
    add_value(skipped, {label("reason", "below_min_duration")},
              static_cast<double>(r.below_min_duration.load(std::memory_order_relaxed)));
    out.push_back(std::move(skipped));
  }

  auto build = family("pglifecycle_build_info", "Always 1; the version label names the build.",
                      MetricType::Gauge);
  add_value(build, {label("version", PGLC_VERSION)}, 1);
  out.push_back(std::move(build));

  if (auto p = read_process_stats()) {
    auto add = [&](std::string name, std::string help, MetricType type, double value) {
      auto f = family(std::move(name), std::move(help), type);
      add_value(f, {}, value);
      out.push_back(std::move(f));
    };
    add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
        MetricType::Counter, p->cpu_seconds);
    add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, p->open_fds);
    if (p->max_fds > 0)
      add("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
          p->max_fds);
    add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
        p->virtual_memory_bytes);
    add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
        p->resident_memory_bytes);
    add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        MetricType::Gauge, p->start_time_seconds);
  }
  return out;
}

}  // namespace

std::unique_ptr<Metrics> Metrics::create(const MetricsConfig& options,
                                         const storage::RecorderStats* recorder) {
  return std::make_unique<MetricsImpl>(options, recorder);
}

}  // namespace pglc::metrics
