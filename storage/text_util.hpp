// Text shaping shared by both stores: SQL cut at a character boundary, UTF-8 repair
// (clients may send any client_encoding; PostgreSQL text columns accept only valid
// UTF-8 without NUL), timestamps and COPY escaping for the PostgreSQL store.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lifecycle/clock.hpp"

namespace pglc::storage {

// The first `max_bytes` bytes of `text`, shortened further so no UTF-8 sequence is cut.
std::string_view cut_utf8(std::string_view text, std::size_t max_bytes);

bool is_clean_utf8(std::string_view text);  // valid UTF-8 and no NUL byte

// Appends `text` with invalid sequences replaced by U+FFFD and NUL bytes removed.
void append_clean_utf8(std::string& out, std::string_view text);

// "2026-11-22 02:00:00.123456+00" (UTC, microseconds) for timestamptz input.
void append_timestamp(std::string& out, lifecycle::WallMicros micros);

// Appends `text` as one field of COPY's text format (after append_clean_utf8 rules).
void append_copy_text(std::string& out, std::string_view text);

}  // namespace pglc::storage
