// The --storage spec: one parser for the option check, the recorder and the read commands.
#pragma once

#include <stdexcept>
#include <string>

namespace pglc::config {

struct StorageSpec {
  enum class Kind { none, sqlite, postgresql };
  Kind kind = Kind::none;
  std::string target;  // the SQLite path, or the libpq connection string / URI
};

// "none", "sqlite:PATH", "postgresql://...", "postgres://..." or a libpq key=value string.
// Throws std::runtime_error for anything else, without echoing the value (a mistyped
// connection URI may hold a password).
inline StorageSpec parse_storage_spec(const std::string& spec) {
  auto starts_with = [&](const char* p) { return spec.rfind(p, 0) == 0; };
  if (spec == "none") return {StorageSpec::Kind::none, ""};
  if (starts_with("sqlite:")) {
    if (spec.size() == 7) throw std::runtime_error("--storage sqlite: needs a file path");
    return {StorageSpec::Kind::sqlite, spec.substr(7)};
  }
  if (starts_with("postgresql://") || starts_with("postgres://") ||
      spec.find('=') != std::string::npos) {
    return {StorageSpec::Kind::postgresql, spec};
  }
  throw std::runtime_error(
      "--storage value is not understood: use sqlite:PATH, postgresql://... "
      "(or a libpq connection string such as 'host=... dbname=...'), or none");
}

}  // namespace pglc::config
