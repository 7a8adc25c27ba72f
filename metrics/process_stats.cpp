#include "metrics/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace pglc::metrics {

namespace {

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double value = 0;
      if (in >> value) return value;
      return std::nullopt;
    }
    in.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessStats> read_process_stats() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the
  // last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  // Fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15) cutime cstime priority nice num_threads itrealvalue
  // starttime(22) vsize(23) rss(24)
  std::string field;
  double utime = 0, stime = 0, starttime = 0, vsize = 0, rss = 0;
  for (int n = 3; n <= 24 && (fields >> field); ++n) {
    switch (n) {
      case 14:
        utime = std::stod(field);
        break;
      case 15:
        stime = std::stod(field);
        break;
      case 22:
        starttime = std::stod(field);
        break;
      case 23:
        vsize = std::stod(field);
        break;
      case 24:
        rss = std::stod(field);
        break;
      default:
        break;
    }
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto boot = boot_time_seconds();
  if (ticks <= 0 || !boot) return std::nullopt;

  ProcessStats stats;
  stats.cpu_seconds = (utime + stime) / ticks;
  stats.start_time_seconds = *boot + starttime / ticks;
  stats.resident_memory_bytes = rss * page;
  stats.virtual_memory_bytes = vsize;

  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  stats.open_fds = fds;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
    stats.max_fds = limit.rlim_cur == RLIM_INFINITY ? 0 : static_cast<double>(limit.rlim_cur);
  return stats;
}

}  // namespace pglc::metrics
