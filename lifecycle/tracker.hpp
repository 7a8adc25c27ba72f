// The per-session lifecycle state machine (DESIGN §2). See README.md.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "lifecycle/observer.hpp"
#include "lifecycle/sink.hpp"
#include "lifecycle/timing_policy.hpp"

namespace pglc::lifecycle {

struct TrackerConfig {
  std::string proxy_instance;
  bool record_parameters = false;
  std::size_t max_sql_length = 65536;
  // Error messages are cut at this many bytes (a server error can echo a huge value).
  std::size_t max_error_length = 8192;
  // Leave libpg_query's normalize + fingerprint (about 5 µs per new text) to the sink's
  // consumer instead of the io thread; see SqlText::analysis_deferred.
  bool defer_sql_analysis = false;
  // Give each text its literal shape (SqlText::shape: a lexer pass and a digest per new
  // text). Only a store reads it; off when nothing is stored.
  bool text_shapes = true;
  // --phase-timing and --precise-sample-rate (lifecycle/timing_policy.hpp): which Parse and
  // Bind messages the relay follows with a Flush, and how each row's timing is labelled.
  TimingMode timing = TimingMode::sampled;
  double precise_sample_rate = 0.01;
};

class TrackerFactory final : public ObserverFactory {
 public:
  TrackerFactory(TrackerConfig config, Sink& sink);
  ~TrackerFactory() override;
  std::unique_ptr<SessionObserver> create() override;

 private:
  TrackerConfig config_;
  Sink& sink_;
};

}  // namespace pglc::lifecycle
