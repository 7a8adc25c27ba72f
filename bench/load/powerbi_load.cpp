// PowerBI-shaped load: each client thread holds one (TLS) connection and sends short
// batches of three extended-protocol statements with binary results and a single Sync,
// the way Npgsql pipelines a PowerBI refresh. Prints batches/s and latency percentiles.
//
//   powerbi_load CONNINFO [SECONDS=10] [CLIENTS=4]
//
// Output (one line, parsed by bench/run.sh):
//   powerbi_load clients=4 seconds=10.0 batches=12345 batches_per_s=1234.5 p50_us=.. p95_us=..
//   p99_us=.. errors=0
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Three statements shaped like a report refresh: a detail page, an aggregate, a lookup.
constexpr const char* kStatements[3] = {
    "SELECT aid, bid, abalance, filler FROM pgbench_accounts WHERE aid BETWEEN $1::int AND "
    "$1::int + 49",
    "SELECT bid, count(*), sum(abalance) FROM pgbench_accounts WHERE aid BETWEEN $1::int AND "
    "$1::int + 199 GROUP BY bid",
    "SELECT b.bid, b.bbalance, t.tid, t.tbalance FROM pgbench_branches b JOIN pgbench_tellers t "
    "USING (bid) WHERE b.bid = 1 + $1::int % 10"};

struct ThreadResult {
  std::vector<std::uint32_t> latencies_us;
  long errors = 0;
  std::string failure;
};

// Reads the results of one pipelined batch; false if the connection is unusable.
bool drain_batch(PGconn* conn, ThreadResult& out) {
  for (int q = 0; q < 3; ++q) {
    bool got_any = false;
    while (PGresult* res = PQgetResult(conn)) {
      got_any = true;
      ExecStatusType st = PQresultStatus(res);
      if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        ++out.errors;
        if (out.failure.empty()) out.failure = PQresultErrorMessage(res);
      }
      PQclear(res);
    }
    if (!got_any) {
      out.failure = PQerrorMessage(conn);
      return false;
    }
  }
  PGresult* sync = PQgetResult(conn);
  bool ok = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (!ok && out.failure.empty()) out.failure = "no PGRES_PIPELINE_SYNC after batch";
  PQclear(sync);
  return ok;
}

void run_client(const std::string& conninfo, Clock::time_point until, unsigned seed,
                ThreadResult& out) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    out.failure = PQerrorMessage(conn);
    out.errors = 1;
    PQfinish(conn);
    return;
  }
  if (!PQenterPipelineMode(conn)) {
    out.failure = "PQenterPipelineMode failed";
    out.errors = 1;
    PQfinish(conn);
    return;
  }
  out.latencies_us.reserve(1 << 16);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> aid(1, 990000);
  const int binary = 1;
  while (Clock::now() < until) {
    std::string param = std::to_string(aid(rng));
    const char* values[1] = {param.c_str()};
    auto t0 = Clock::now();
    for (const char* sql : kStatements) {
      if (!PQsendQueryParams(conn, sql, 1, nullptr, values, nullptr, nullptr, binary)) {
        out.failure = PQerrorMessage(conn);
        ++out.errors;
        PQfinish(conn);
        return;
      }
    }
    if (!PQpipelineSync(conn) || !drain_batch(conn, out)) {
      ++out.errors;
      break;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    out.latencies_us.push_back(static_cast<std::uint32_t>(us));
  }
  PQfinish(conn);
}

double percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONNINFO [SECONDS=10] [CLIENTS=4]\n", argv[0]);
    return 2;
  }
  std::string conninfo = argv[1];
  double seconds = argc > 2 ? std::atof(argv[2]) : 10.0;
  int clients = argc > 3 ? std::atoi(argv[3]) : 4;
  if (seconds <= 0 || clients <= 0) {
    std::fprintf(stderr, "SECONDS and CLIENTS must be positive\n");
    return 2;
  }

  std::vector<ThreadResult> results(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  auto start = Clock::now();
  auto until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back(run_client, std::cref(conninfo), until, 1234u + static_cast<unsigned>(i),
                         std::ref(results[static_cast<std::size_t>(i)]));
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<std::uint32_t> all;
  long errors = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    errors += r.errors;
    if (!r.failure.empty()) std::fprintf(stderr, "powerbi_load: %s\n", r.failure.c_str());
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "powerbi_load clients=%d seconds=%.1f batches=%zu batches_per_s=%.1f p50_us=%.0f "
      "p95_us=%.0f p99_us=%.0f errors=%ld\n",
      clients, elapsed, all.size(), static_cast<double>(all.size()) / elapsed,
      percentile(all, 0.50), percentile(all, 0.95), percentile(all, 0.99), errors);
  return errors == 0 && !all.empty() ? 0 : 1;
}
