#include "storage/recorder.hpp"

#include <stdexcept>
#include <string>

#include "storage/async_recorder.hpp"
#include "storage/null_recorder.hpp"
#include "storage/pg_store.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_store.hpp"

namespace pglc::storage {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

int schema_version() {
  return kSchemaVersion;
}

std::unique_ptr<Recorder> open_recorder(const config::Options& options) {
  return open_recorder(options, RecorderTuning{});
}

std::unique_ptr<Recorder> open_recorder(const config::Options& options, RecorderTuning tuning) {
  const std::string& spec = options.storage;
  if (spec == "none") return std::make_unique<NullRecorder>(options);
  std::unique_ptr<Store> store;
  if (starts_with(spec, "sqlite:")) {
    const std::string path = spec.substr(7);
    if (path.empty()) throw std::runtime_error("--storage sqlite: needs a file path");
    store = std::make_unique<SqliteStore>(path, options);
  } else if (starts_with(spec, "postgresql://") || starts_with(spec, "postgres://") ||
             spec.find('=') != std::string::npos) {
    store = std::make_unique<PgStore>(spec, options);
  } else {
    // The value is not echoed: a mistyped connection URI may hold a password.
    throw std::runtime_error(
        "--storage value is not understood: use sqlite:PATH, postgresql://... "
        "(or a libpq connection string such as 'host=... dbname=...'), "
        "or none");
  }
  return std::make_unique<AsyncRecorder>(std::move(store), options, std::move(tuning));
}

}  // namespace pglc::storage
