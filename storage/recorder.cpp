#include "storage/recorder.hpp"

#include <stdexcept>
#include <string>

#include "config/storage_spec.hpp"
#include "storage/async_recorder.hpp"
#include "storage/null_recorder.hpp"
#include "storage/pg_store.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_store.hpp"

namespace pglc::storage {

int schema_version() {
  return kSchemaVersion;
}

std::unique_ptr<Recorder> open_recorder(const RecorderConfig& options) {
  return open_recorder(options, RecorderTuning{});
}

std::unique_ptr<Store> open_store(const RecorderConfig& options) {
  const config::StorageSpec spec = config::parse_storage_spec(options.storage);
  switch (spec.kind) {
    case config::StorageSpec::Kind::none:
      return nullptr;
    case config::StorageSpec::Kind::sqlite:
      return std::make_unique<SqliteStore>(spec.target, options);
    case config::StorageSpec::Kind::postgresql:
      return std::make_unique<PgStore>(spec.target, options);
  }
  return nullptr;
}

std::unique_ptr<Recorder> open_recorder(const RecorderConfig& options, RecorderTuning tuning) {
  std::unique_ptr<Store> store = open_store(options);
  if (!store) return std::make_unique<NullRecorder>(options);
  return std::make_unique<AsyncRecorder>(std::move(store), options, std::move(tuning));
}

}  // namespace pglc::storage
