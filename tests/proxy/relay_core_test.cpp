// The relay's state machine without sockets: real protocol bytes and write completions
// fed to RelayCore in front of a real tracker, asserting what goes to the server (with
// the Flushes precise timing injects), what is held back or written to the client, and
// when client reads pause.
#include "proxy/relay_core.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "lifecycle/tracker.hpp"
#include "pgwire/builder.hpp"
#include "tests/lifecycle/wire.hpp"

using namespace pglc;
using namespace pglc::testwire;
using proxy::RelayCore;
using proxy::RelayLimits;

namespace {

lifecycle::TrackerConfig config_for(lifecycle::TimingMode timing, double precise_sample_rate) {
  lifecycle::TrackerConfig c;
  c.timing = timing;
  c.precise_sample_rate = precise_sample_rate;
  return c;
}

struct Harness {
  explicit Harness(lifecycle::TimingMode timing, RelayLimits limits = {},
                   double precise_sample_rate = 0.0)
      : factory(config_for(timing, precise_sample_rate), sink),
        observer(factory.create()),
        core((limits.precise = timing != lifecycle::TimingMode::passive, limits), *observer,
             ledger) {
    lifecycle::SessionStart start;
    start.client_addr = "127.0.0.1";
    observer->on_session_begin(start, clock());
    // The login's last messages; in the proxy the Login relays them, here the core does.
    CHECK(server(cat({auth_ok(), backend_key(7, 8), ready('I')})) == "wrote 3 messages");
    core.authenticated();
  }

  lifecycle::MonoTime clock() { return lifecycle::MonoTime{} + std::chrono::milliseconds(++ms); }

  // Feeds one client read; returns what the server gets now (with injected Flushes).
  Msg client(const Msg& chunk, std::size_t from = 0) {
    last = core.client_bytes(chunk.data(), from, chunk.size(), clock(), nullptr);
    Msg out;
    if (last.stop != RelayCore::ClientStep::Stop::none) return out;
    const std::uint8_t* p = chunk.data() + from;
    std::size_t prev = 0;
    for (std::size_t o : *last.flushes) {
      out.insert(out.end(), p + prev, p + o);
      out.insert(out.end(), std::begin(pgwire::kFlushMessage), std::end(pgwire::kFlushMessage));
      prev = o;
    }
    out.insert(out.end(), p + prev, p + last.forward);
    return out;
  }

  // Feeds one server read; "held" or "wrote N messages" (the write completes at once).
  std::string server(const Msg& bytes) {
    const std::size_t at = core.held();
    down.resize(std::max(down.size(), at + bytes.size()));
    std::copy(bytes.begin(), bytes.end(), down.begin() + static_cast<std::ptrdiff_t>(at));
    if (!core.server_bytes(down.data(), bytes.size(), to_client, clock())) return "error";
    const auto [from, to] = core.write_range(bytes.size());
    if (core.hold_or_write(down.data(), bytes.size(), kBufferSize)) return "held";
    written.assign(down.begin() + static_cast<std::ptrdiff_t>(from),
                   down.begin() + static_cast<std::ptrdiff_t>(to));
    to_client += to - from;
    observer->on_client_written(to_client, clock());
    core.all_written();
    return "wrote " + std::to_string(count_messages(written)) + " messages";
  }

  static std::size_t count_messages(const Msg& bytes) {
    pgwire::Framer f(pgwire::Direction::backend);
    std::size_t n = 0;
    f.feed(pgwire::Bytes(bytes.data(), bytes.size()),
           [&](const pgwire::Frame&, std::size_t) { ++n; });
    return n;
  }

  static constexpr std::size_t kBufferSize = 16u << 10;
  CaptureSink sink;
  lifecycle::TrackerFactory factory;
  std::unique_ptr<lifecycle::SessionObserver> observer;
  pgwire::Ledger ledger;
  RelayCore core;
  RelayCore::ClientStep last;
  Msg down;
  Msg written;  // the last client write
  std::uint64_t to_client = 0;
  int ms = 0;
};

const Msg kFlush(std::begin(pgwire::kFlushMessage), std::end(pgwire::kFlushMessage));

Msg extended(std::string_view sql) {
  return cat({parse("", sql), bind("", ""), describe('P', ""), execute(""), sync_msg()});
}

Msg answers() {
  return cat({row_description({"x"}), data_row({"1"}), command_complete("SELECT 1"), ready('I')});
}

}  // namespace

TEST_CASE(
    "precise timing: a Flush after Parse and Bind, their answers held and written with the "
    "result") {
  Harness h(lifecycle::TimingMode::precise);
  CHECK(h.client(extended("SELECT 1")) == cat({parse("", "SELECT 1"), kFlush, bind("", ""), kFlush,
                                               describe('P', ""), execute(""), sync_msg()}));
  CHECK(h.ledger.owes_ready());
  CHECK(h.server(parse_complete()) == "held");
  CHECK(h.server(bind_complete()) == "held");
  CHECK(h.core.held() == 10);
  CHECK(h.sink.executions.empty());
  // One write: the held answers first, the result after them, byte for byte.
  CHECK(h.server(answers()) == "wrote 6 messages");
  CHECK(h.written == cat({parse_complete(), bind_complete(), answers()}));
  CHECK(h.core.held() == 0);
  REQUIRE(h.sink.executions.size() == 1);
  CHECK(h.sink.executions[0].timing == lifecycle::Timing::precise);
  CHECK(h.ledger.idle());
  CHECK(h.core.between_messages());
}

TEST_CASE("sampled timing: the first execution of a text is timed, the next is passed through") {
  Harness h(lifecycle::TimingMode::sampled);
  CHECK(h.client(extended("SELECT 1")).size() == extended("SELECT 1").size() + 2 * kFlush.size());
  CHECK(h.server(parse_complete()) == "held");
  CHECK(h.server(bind_complete()) == "held");
  CHECK(h.server(answers()) == "wrote 6 messages");
  // Same text again, precise sample rate 0: forwarded unchanged, nothing held.
  CHECK(h.client(extended("SELECT 1")) == extended("SELECT 1"));
  CHECK(h.server(cat({parse_complete(), bind_complete(), answers()})) == "wrote 6 messages");
  REQUIRE(h.sink.executions.size() == 2);
  CHECK(h.sink.executions[0].timing == lifecycle::Timing::precise);
  CHECK(h.sink.executions[1].timing == lifecycle::Timing::passive);
}

TEST_CASE("passive timing: bytes unchanged, nothing held") {
  Harness h(lifecycle::TimingMode::passive);
  CHECK(h.client(extended("SELECT 1")) == extended("SELECT 1"));
  CHECK(h.server(parse_complete()) == "wrote 1 messages");
  CHECK(h.server(cat({bind_complete(), answers()})) == "wrote 5 messages");
  CHECK(h.sink.executions.size() == 1);
}

TEST_CASE("the client's own Flush releases a held answer") {
  Harness h(lifecycle::TimingMode::precise);
  h.client(extended("SELECT 1"));
  CHECK(h.server(parse_complete()) == "held");
  CHECK(h.client(flush()) == flush());
  CHECK(h.last.client_flush);
  const auto [from, to] = h.core.begin_release();
  CHECK(from == 0);
  CHECK(to == 5);
  h.core.released(to - from);
  CHECK(h.core.sent() == 5);
}

TEST_CASE("backpressure: forwarding stops past --max-pipeline-bytes and resumes as answers drain") {
  RelayLimits limits;
  limits.max_pipeline_bytes = 4000;
  Harness h(lifecycle::TimingMode::precise, limits);
  Msg burst;
  for (int i = 0; i < 200; ++i) burst = cat({burst, query("SELECT " + std::to_string(i))});
  Msg to_server = h.client(burst);
  CHECK(to_server.size() > 0);
  CHECK(to_server.size() < burst.size());
  CHECK(h.core.should_pause());
  CHECK_FALSE(h.core.between_messages());  // the rest of the read waits
  int answered = 0;
  while (h.core.rest().first < h.core.rest().second || answered < 200) {
    const std::size_t owed =
        Harness::count_messages(to_server) - static_cast<std::size_t>(answered);
    Msg replies;
    for (std::size_t i = 0; i < owed; ++i)
      replies = cat({replies, command_complete("SELECT 1"), ready('I')});
    if (owed > 0) CHECK(h.server(replies).rfind("wrote", 0) == 0);
    answered += static_cast<int>(owed);
    if (h.core.rest().first == h.core.rest().second) break;
    REQUIRE(h.core.may_resume());
    const Msg more = h.client(burst, h.core.rest().first);
    REQUIRE(more.size() > 0);
    to_server = cat({to_server, more});
  }
  CHECK(to_server == burst);  // every byte, in order, nothing injected between Queries
  CHECK(answered == 200);
  CHECK(h.sink.executions.size() == 200);
  CHECK(h.ledger.idle());
}

TEST_CASE("a malformed client message stops the relay with the reason") {
  Harness h(lifecycle::TimingMode::precise);
  Msg bad = Builder('\x01').raw("xx").done();
  h.client(bad);
  CHECK(h.last.stop == RelayCore::ClientStep::Stop::protocol_error);
  CHECK(h.last.why == "invalid frontend message type 1");
}

TEST_CASE("before login, a client message over PostgreSQL's authentication bound is refused") {
  CaptureSink sink;
  lifecycle::TrackerFactory factory(lifecycle::TrackerConfig{}, sink);
  auto observer = factory.create();
  pgwire::Ledger ledger;
  RelayCore core(RelayLimits{}, *observer, ledger);
  const Msg huge = password(std::string(70000, 'x'));
  const auto step = core.client_bytes(huge.data(), 0, huge.size(), {}, nullptr);
  CHECK(step.stop == RelayCore::ClientStep::Stop::protocol_error);
  CHECK(step.why == "invalid message length during authentication");
  // A fresh session (the first one's framer is stuck at its error, as the relay is).
  auto observer2 = factory.create();
  pgwire::Ledger ledger2;
  RelayCore core2(RelayLimits{}, *observer2, ledger2);
  bool asked = false;
  const Msg ok = password("secret");
  const auto refused = core2.client_bytes(ok.data(), 0, ok.size(), {}, [&](const pgwire::Frame& f) {
    asked = f.type == 'p';
    return true;
  });
  CHECK(asked);
  CHECK(refused.stop == RelayCore::ClientStep::Stop::binding_refused);
}

TEST_CASE("garbage from the server: the whole messages before it are kept for the client") {
  Harness h(lifecycle::TimingMode::precise);
  h.client(cat({query("SELECT 1")}));
  Msg bad = cat({command_complete("SELECT 1"), ready('I')});
  const std::size_t good = bad.size();
  bad.insert(bad.end(), {'C', 0, 0, 0, 2});
  CHECK(h.server(bad) == "error");
  CHECK(h.core.held() == good);
  CHECK(h.core.client_at_boundary());
  CHECK(h.core.why() == std::string(pgwire::describe(pgwire::FrameError::length_too_small)));
}

TEST_CASE("half a client message is not between messages") {
  Harness h(lifecycle::TimingMode::precise);
  const Msg q = query("SELECT 1");
  const Msg head(q.begin(), q.begin() + 3);
  CHECK(h.client(head) == head);
  CHECK_FALSE(h.core.between_messages());
  const Msg tail(q.begin() + 3, q.end());
  CHECK(h.client(tail) == tail);
  CHECK(h.core.between_messages());
}
