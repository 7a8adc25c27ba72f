// Framing + typed decoding throughput over a realistic session stream, fed in the 64 KiB
// chunks the relay reads: Npgsql-style pipelined batches (3 × Parse/Bind/Describe/Execute +
// Sync) answered with a 1,000-row result, and pgbench -M prepared round trips (tiny
// messages: per-message cost dominates).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>

#include "bench/micro/wire_messages.hpp"
#include "pgwire/backend.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/frontend.hpp"

namespace {

using namespace pglc;
using bench::Wire;

constexpr std::size_t kChunk = 64 * 1024;

// Decodes what the tracker would decode; returns something the optimizer must keep.
std::uint64_t decode_frontend(const pgwire::Frame& f) {
  namespace fe = pgwire::fe;
  switch (f.type) {
    case fe::kQuery:
      return fe::decode_query(f).value.sql.size();
    case fe::kParse:
      return fe::decode_parse(f).value.sql.size();
    case fe::kBind:
      return fe::decode_bind(f).value.param_count;
    case fe::kDescribe:
      return static_cast<std::uint64_t>(fe::decode_describe(f).value.target);
    case fe::kExecute:
      return fe::decode_execute(f).value.portal.size();
    case fe::kClose:
      return fe::decode_close(f).value.name.size();
    default:
      return 1;
  }
}

std::uint64_t decode_backend(const pgwire::Frame& f) {
  namespace be = pgwire::be;
  switch (f.type) {
    case be::kDataRow:
      return be::decode_data_row(f).value.column_count;
    case be::kRowDescription:
      return be::decode_row_description(f).value.field_count;
    case be::kCommandComplete:
      return static_cast<std::uint64_t>(be::decode_command_complete(f).value.rows());
    case be::kReadyForQuery:
      return static_cast<std::uint64_t>(be::decode_ready_for_query(f).value.status);
    case be::kErrorResponse:
    case be::kNoticeResponse:
      return be::decode_error_fields(f).value.sqlstate.size();
    case be::kParameterDescription:
      return be::decode_parameter_description(f).value.count;
    default:
      return 1;
  }
}

template <bool kDecode>
std::uint64_t run_stream(pgwire::Framer& framer, const Wire& stream, bool frontend,
                         std::uint64_t& messages) {
  std::uint64_t sink = 0;
  for (std::size_t off = 0; off < stream.size(); off += kChunk) {
    pgwire::Bytes chunk(stream.data() + off, std::min(kChunk, stream.size() - off));
    auto err = framer.feed(chunk, [&](const pgwire::Frame& f, std::size_t) {
      ++messages;
      if constexpr (kDecode) {
        sink += frontend ? decode_frontend(f) : decode_backend(f);
      } else {
        sink += f.length;
      }
    });
    if (err != pgwire::FrameError::none) return ~0ull;
  }
  return sink;
}

// ~4 MiB of each direction, like a relay's reads during a report refresh.
struct Session {
  Wire client, server;
  Session(int rows_per_batch, std::size_t target_bytes) {
    for (std::uint32_t aid = 1; server.size() < target_bytes; aid += 1000) {
      auto req = bench::npgsql_batch_request(aid);
      auto resp = bench::npgsql_batch_response(aid, rows_per_batch);
      client.insert(client.end(), req.begin(), req.end());
      server.insert(server.end(), resp.begin(), resp.end());
    }
  }
};

// pgbench -S -M prepared: Bind/Execute/Sync → BindComplete, DataRow, CommandComplete, RFQ.
struct PreparedSession {
  Wire client, server;
  explicit PreparedSession(int round_trips) {
    for (int i = 0; i < round_trips; ++i) {
      bench::bind_text(client, "P0_1", std::to_string(1 + (i * 7919) % 1000000));
      bench::execute(client);
      bench::sync(client);
      bench::bind_complete(server);
      bench::text_data_row(server, "-2417");
      bench::command_complete(server, "SELECT 1");
      bench::ready_for_query(server);
    }
  }
};

template <bool kDecode>
void BM_NpgsqlBatchStream(benchmark::State& state) {
  static const Session session(1000, 4u << 20);
  std::uint64_t messages = 0;
  for (auto _ : state) {
    pgwire::Framer client_framer(pgwire::Direction::frontend),
        server_framer(pgwire::Direction::backend);
    auto a = run_stream<kDecode>(client_framer, session.client, true, messages);
    auto b = run_stream<kDecode>(server_framer, session.server, false, messages);
    if (a == ~0ull || b == ~0ull) state.SkipWithError("framing error");
    benchmark::DoNotOptimize(a + b);
  }
  const auto bytes = static_cast<std::int64_t>(session.client.size() + session.server.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * bytes);
  state.counters["messages/s"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
}

template <bool kDecode>
void BM_PreparedRoundTrips(benchmark::State& state) {
  static const PreparedSession session(20000);
  std::uint64_t messages = 0;
  for (auto _ : state) {
    pgwire::Framer client_framer(pgwire::Direction::frontend),
        server_framer(pgwire::Direction::backend);
    auto a = run_stream<kDecode>(client_framer, session.client, true, messages);
    auto b = run_stream<kDecode>(server_framer, session.server, false, messages);
    if (a == ~0ull || b == ~0ull) state.SkipWithError("framing error");
    benchmark::DoNotOptimize(a + b);
  }
  const auto bytes = static_cast<std::int64_t>(session.client.size() + session.server.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * bytes);
  state.counters["messages/s"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
}

BENCHMARK_TEMPLATE(BM_NpgsqlBatchStream, false)->Name("frame_only/npgsql_batch_1000_rows");
BENCHMARK_TEMPLATE(BM_NpgsqlBatchStream, true)->Name("frame_decode/npgsql_batch_1000_rows");
BENCHMARK_TEMPLATE(BM_PreparedRoundTrips, false)->Name("frame_only/pgbench_prepared");
BENCHMARK_TEMPLATE(BM_PreparedRoundTrips, true)->Name("frame_decode/pgbench_prepared");

}  // namespace
