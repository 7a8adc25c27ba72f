// Fresh stores for a test: a SQLite file in a private temp dir, or a database of its
// own on the fixture's PostgreSQL server.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/options.hpp"
#include "storage/recorder.hpp"
#include "tests/support/pg_server.hpp"

namespace pglc::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pglc-storage-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A database nobody else in this process uses.
inline std::string fresh_pg_database(const std::string& prefix) {
  static std::atomic<int> n{0};
  const std::string name = prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
  PgServer::shared().create_database(name);
  return PgServer::shared().conninfo(name);
}

inline storage::RecorderConfig options_for(const std::string& storage) {
  storage::RecorderConfig o;
  o.storage = storage;
  o.instance_name = "proxy-a:6432";
  return o;
}

// Log lines the recorder reported, for tests that wait on state changes.
struct LogCapture {
  std::mutex mu;
  std::vector<std::string> lines;
  storage::RecorderLog sink() {
    return [this](config::LogLevel, std::string_view m) {
      std::lock_guard lock(mu);
      lines.emplace_back(m);
    };
  }
  std::size_t count_containing(std::string_view needle) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
};

// Polls `pred` until it holds or `timeout` passes (the recorder has no completion event
// to wait on from the outside other than its counters and log).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace pglc::test
