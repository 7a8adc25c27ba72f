#include "storage/log_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pglc::storage {
namespace {

constexpr double kGamma =
    (1.0 + LogHistogram::kRelativeError) / (1.0 - LogHistogram::kRelativeError);
const double kLogGamma = std::log(kGamma);
// 1 µs .. γ^2047 µs (far beyond a year): the index fits an uint16.
constexpr int kMaxBucket = 2047;

}  // namespace

int LogHistogram::bucket_of(double us) {
  if (!(us > 1.0)) return 0;  // also NaN and negatives: the smallest bucket
  const int i = static_cast<int>(std::ceil(std::log(us) / kLogGamma));
  return std::clamp(i, 0, kMaxBucket);
}

double LogHistogram::representative(int bucket) {
  if (bucket <= 0) return 1.0;
  return 2.0 * std::exp(bucket * kLogGamma) / (kGamma + 1.0);
}

void LogHistogram::add(double us, std::uint64_t n) {
  if (n == 0) return;
  const auto b = static_cast<std::uint16_t>(bucket_of(us));
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), b,
                             [](const auto& e, std::uint16_t k) { return e.first < k; });
  if (it != buckets_.end() && it->first == b) {
    it->second += n;
  } else {
    // An io thread's rollup starts empty every collection and a latency spreads over tens
    // of 1 % buckets: one allocation up front instead of one per doubling.
    if (buckets_.capacity() == 0) {
      buckets_.reserve(kInitialBuckets);
      it = buckets_.begin();
    }
    buckets_.insert(it, {b, n});
  }
  count_ += n;
}

void LogHistogram::merge(const LogHistogram& other) {
  if (other.buckets_.empty()) return;
  std::vector<std::pair<std::uint16_t, std::uint64_t>> out;
  out.reserve(buckets_.size() + other.buckets_.size());
  auto a = buckets_.cbegin();
  auto b = other.buckets_.cbegin();
  while (a != buckets_.cend() || b != other.buckets_.cend()) {
    if (b == other.buckets_.cend() || (a != buckets_.cend() && a->first < b->first)) {
      out.push_back(*a++);
    } else if (a == buckets_.cend() || b->first < a->first) {
      out.push_back(*b++);
    } else {
      out.emplace_back(a->first, a->second + b->second);
      ++a;
      ++b;
    }
  }
  buckets_ = std::move(out);
  count_ += other.count_;
}

double LogHistogram::quantile(double q) const {
  if (count_ == 0) return 0.0;
  // Nearest rank: the smallest value with at least ceil(q * n) values at or below it.
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (const auto& [b, n] : buckets_) {
    seen += n;
    if (seen >= std::max<std::uint64_t>(rank, 1)) return representative(b);
  }
  return representative(buckets_.back().first);
}

double LogHistogram::as_stored_ms(double microseconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", microseconds / 1000.0);
  return std::strtod(text, nullptr);
}

std::string LogHistogram::to_json() const {
  std::string out = "{";
  char key[40];
  for (const auto& [b, n] : buckets_) {
    if (out.size() > 1) out += ',';
    std::snprintf(key, sizeof key, "\"%.6g\":%llu", representative(b) / 1000.0,
                  static_cast<unsigned long long>(n));
    out += key;
  }
  out += '}';
  return out;
}

std::optional<LogHistogram> LogHistogram::from_json(std::string_view s) {
  LogHistogram h;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) ++i;
  };
  skip();
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  ++i;
  skip();
  if (i < s.size() && s[i] == '}') return h;
  for (;;) {
    skip();
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    const std::size_t close = s.find('"', i + 1);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string key(s.substr(i + 1, close - i - 1));
    i = close + 1;
    skip();
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    ++i;
    skip();
    std::size_t end = i;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
    if (end == i) return std::nullopt;
    const std::string count(s.substr(i, end - i));
    i = end;
    char* parsed = nullptr;
    const double ms = std::strtod(key.c_str(), &parsed);
    if (parsed == key.c_str()) return std::nullopt;
    h.add(ms * 1000.0, std::strtoull(count.c_str(), nullptr, 10));
    skip();
    if (i < s.size() && s[i] == ',') {
      ++i;
      continue;
    }
    if (i < s.size() && s[i] == '}') return h;
    return std::nullopt;
  }
}

}  // namespace pglc::storage
