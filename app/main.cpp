// pglifecycle's composition root: parse options, hand each layer its own slice of them
// (TrackerConfig, RecorderConfig, MetricsConfig; the proxy keeps the rest), open the
// store and the metrics, build one tracker per session, serve until SIGTERM/SIGINT, then
// flush every queued record. The only place that knows every layer: proxy/ does not
// depend on storage or metrics' implementations, and they do not depend on the options.
#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string_view>
#include <vector>

#include "app/activity_command.hpp"
#include "config/options.hpp"
#include "config/storage_spec.hpp"
#include "explain/command.hpp"
#include "lifecycle/debug_log_sink.hpp"
#include "lifecycle/sink.hpp"
#include "lifecycle/tracker.hpp"
#include "metrics/metrics.hpp"
#include "proxy/log.hpp"
#include "proxy/server.hpp"
#include "storage/recorder.hpp"

namespace {

pglc::lifecycle::TimingMode timing_mode(pglc::config::PhaseTiming t) {
  switch (t) {
    case pglc::config::PhaseTiming::precise:
      return pglc::lifecycle::TimingMode::precise;
    case pglc::config::PhaseTiming::passive:
      return pglc::lifecycle::TimingMode::passive;
    case pglc::config::PhaseTiming::sampled:
      break;
  }
  return pglc::lifecycle::TimingMode::sampled;
}

pglc::lifecycle::TrackerConfig tracker_config(const pglc::config::Options& o) {
  return pglc::lifecycle::TrackerConfig{
      .proxy_instance = o.instance_name,
      .record_parameters = o.record_parameters,
      .max_sql_length = o.max_sql_length,
      .max_error_length = o.max_error_length,
      // libpg_query runs on the writer thread, not the io thread.
      .defer_sql_analysis = true,
      // The literal shape is read by the store alone.
      .text_shapes =
          pglc::config::parse_storage_spec(o.storage).kind != pglc::config::StorageSpec::Kind::none,
      .timing = timing_mode(o.phase_timing),
      .precise_sample_rate = o.precise_sample_rate};
}

pglc::storage::RecorderConfig recorder_config(const pglc::config::Options& o) {
  return pglc::storage::RecorderConfig{.storage = o.storage,
                                       .instance_name = o.instance_name,
                                       .max_sql_length = o.max_sql_length,
                                       .retention = o.retention,
                                       .rollup_retention = o.rollup_retention,
                                       .sample_rate = o.sample_rate,
                                       .min_duration = o.min_duration,
                                       .recorder_queue = o.recorder_queue,
                                       .recorder_queue_bytes = o.recorder_queue_bytes};
}

pglc::metrics::MetricsConfig metrics_config(const pglc::config::Options& o) {
  return pglc::metrics::MetricsConfig{.metrics_listen = o.metrics_listen,
                                      .metric_labels = o.metric_labels,
                                      .metric_label_limit = o.metric_label_limit};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pglc;
  // A write to a closed stderr (or any pipe) must not kill the proxy: errors are handled
  // where they happen. Asio's own socket writes already use MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  // Fixed thresholds instead of glibc's sliding ones: a relay buffer or a large message
  // (>= 256 KiB) is mmap'ed and given back when freed, whatever was freed before it
  // (the sliding threshold grows after the first such free, and later ones would stay in
  // the heap after their session ended). Heaps keep up to 1 MiB of free space at their
  // top rather than trimming and growing again on every burst.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
  // Subcommands read a store and never start the proxy (DESIGN §5).
  if (argc > 1 && std::string_view(argv[1]) == "explain") {
    return explain::run(argc - 1, argv + 1, std::cout, std::cerr, isatty(STDOUT_FILENO) == 1);
  }
  if (argc > 1 && std::string_view(argv[1]) == "trace") {
    return explain::run_trace(argc - 1, argv + 1, std::cout, std::cerr);
  }
  if (argc > 1 && std::string_view(argv[1]) == "activity") {
    return app::run_activity(argc - 1, argv + 1, std::cout, std::cerr, isatty(STDOUT_FILENO) == 1);
  }
  if (argc > 1 && std::string_view(argv[1]) == "reset") {
    return explain::run_reset(argc - 1, argv + 1, std::cout, std::cerr);
  }
  auto parsed = config::parse(argc, argv);
  if (!parsed.options) {
    std::fputs(parsed.message.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  const config::Options& options = *parsed.options;
  proxy::log::set_level(options.log_level);
  try {
    proxy::log::configure_output(options.log_json, options.log_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pglifecycle: %s\n", e.what());
    return 2;
  }
  std::unique_ptr<storage::Recorder> recorder;
  try {
    storage::RecorderTuning tuning;
    tuning.log = [](config::LogLevel level, std::string_view message) {
      proxy::log::write(level, message);
    };
    recorder = storage::open_recorder(recorder_config(options), std::move(tuning));
    recorder->start();
    auto metrics = metrics::Metrics::create(metrics_config(options), &recorder->stats());

    std::vector<lifecycle::Sink*> sinks{recorder.get(), metrics.get()};
    std::unique_ptr<lifecycle::DebugLogSink> debug_sink;
    if (proxy::log::enabled(config::LogLevel::debug)) {
      debug_sink = std::make_unique<lifecycle::DebugLogSink>(
          [](std::string_view line) { proxy::log::write(config::LogLevel::debug, line); });
      sinks.push_back(debug_sink.get());
    }
    std::unique_ptr<lifecycle::DebugLogSink> slow_sink;
    if (options.log_min_duration) {
      slow_sink = std::make_unique<lifecycle::DebugLogSink>(
          [](std::string_view line) { proxy::log::write_always(config::LogLevel::info, line); },
          static_cast<double>(options.log_min_duration->count()) / 1e6);
      sinks.push_back(slow_sink.get());
    }
    lifecycle::FanoutSink sink(std::move(sinks));
    lifecycle::TrackerFactory trackers(tracker_config(options), sink);

    proxy::Server server(options, trackers, *metrics);
    metrics->serve_activity([&server] { return server.activity_json(); });
    server.run();
    metrics->serve_activity(nullptr);
    // Every session has ended: nothing enqueues any more. Flush what is queued.
    recorder->stop();
    proxy::log::info() << "pglifecycle: stopped; recorder wrote "
                       << recorder->stats().rows_executions.load() << " executions, dropped "
                       << recorder->stats().dropped_queue_full.load() +
                              recorder->stats().dropped_store_error.load()
                       << " records";
  } catch (const std::exception& e) {
    if (recorder) recorder->stop();
    proxy::log::error() << "pglifecycle: " << e.what();
    return 1;
  }
  return 0;
}
