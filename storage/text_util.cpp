#include "storage/text_util.hpp"

#include <cstdint>
#include <cstring>
#include <ctime>

namespace pglc::storage {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if invalid there.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) return b0 == 0 ? 0 : 1;
  std::size_t len;
  std::uint32_t min;
  std::uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

template <typename Emit>
void for_each_clean(std::string_view text, Emit&& emit) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t n = utf8_sequence(text, i);
    if (n == 1) {
      emit(text.substr(i, 1));
      i += 1;
    } else if (n > 1) {
      emit(text.substr(i, n));
      i += n;
    } else {
      if (text[i] != '\0') emit(std::string_view("\xEF\xBF\xBD", 3));
      i += 1;
    }
  }
}

}  // namespace

std::string_view cut_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Back off over continuation bytes to the start of the sequence that would be cut.
  std::size_t back = 0;
  while (end > 0 && back < 4 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
    ++back;
  }
  return text.substr(0, end);
}

bool is_clean_utf8(std::string_view text) {
  // Almost every value is ASCII (ids, tags, names, most SQL): eight bytes per step until
  // the first byte that is NUL or not ASCII, then the exact check from there.
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    // High bit set in a byte, or a zero byte (the classic "has a zero byte" test).
    if (((w | ((w - kOnes) & ~w)) & kHigh) != 0) break;
  }
  for (; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b != 0 && b < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_clean_utf8(std::string& out, std::string_view text) {
  if (is_clean_utf8(text)) {
    out.append(text);
    return;
  }
  for_each_clean(text, [&](std::string_view piece) { out.append(piece); });
}

void append_timestamp(std::string& out, lifecycle::WallMicros micros) {
  std::int64_t secs = micros / 1000000;
  std::int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<long long>(frac));
  out.append(buf, static_cast<std::size_t>(n));
}

void append_copy_text(std::string& out, std::string_view text) {
  auto escape = [&](std::string_view piece) {
    for (char c : piece) {
      switch (c) {
        case '\\':
          out.append("\\\\");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        default:
          out.push_back(c);
      }
    }
  };
  if (is_clean_utf8(text)) {
    escape(text);
  } else {
    for_each_clean(text, escape);
  }
}

}  // namespace pglc::storage
