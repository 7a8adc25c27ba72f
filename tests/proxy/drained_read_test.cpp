// DrainedReader on real loopback TCP sockets: after a read that emptied the socket
// the next one waits for the kernel's readiness edge, and no byte may be lost to that,
// whether it arrives before or after the next read is started.
#include "proxy/drained_read.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/random_pieces.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

struct Pair {
  asio::io_context io;
  tcp::socket reader{io};
  tcp::socket writer{io};  // written with blocking calls from the test
  pglc::proxy::DrainedReader drained;
  bool hinted = false;
  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    writer.set_option(tcp::no_delay(true));
    hinted = drained.enable(reader);
  }
};

struct Result {
  error_code ec;
  std::size_t n = 0;
};

void start(Pair& p, char* buf, std::size_t size, std::optional<Result>& out) {
  out.reset();
  p.drained.read(p.reader, asio::buffer(buf, size), [&out](const error_code& ec, std::size_t n) {
    out = Result{ec, n};
  });
}

// Runs handlers until the read completed; a read that never completes fails the test
// after five seconds instead of hanging it.
Result finish(Pair& p, std::optional<Result>& out) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!out && std::chrono::steady_clock::now() < deadline) {
    p.io.restart();
    p.io.run_one_for(100ms);
  }
  REQUIRE(out.has_value());
  return *out;
}

// Reads into `size`-byte steps until `want` bytes came; every read must succeed.
std::string read_bytes(Pair& p, std::size_t want, std::size_t size) {
  std::vector<char> buf(size);
  std::optional<Result> r;
  std::string got;
  while (got.size() < want) {
    start(p, buf.data(), buf.size(), r);
    const Result x = finish(p, r);
    REQUIRE(!x.ec);
    CHECK(x.n <= size);
    got.append(buf.data(), x.n);
  }
  return got;
}

void send(Pair& p, const std::string& s) {
  asio::write(p.writer, asio::buffer(s));
}

}  // namespace

TEST_CASE("a read after a short read waits for bytes that arrive later") {
  Pair p;
  send(p, "abc");
  CHECK(read_bytes(p, 3, 64) == "abc");

  char buf[64];
  std::optional<Result> r;
  start(p, buf, sizeof buf, r);
  p.io.restart();
  p.io.poll();
  CHECK(!r.has_value());  // nothing has arrived: still waiting
  send(p, "defg");
  Result second = finish(p, r);
  CHECK(!second.ec);
  CHECK(std::string(buf, second.n) == "defg");
}

TEST_CASE("bytes that arrive between a short read and the next one are not lost") {
  Pair p;
  send(p, "one");
  CHECK(read_bytes(p, 3, 64) == "one");
  // The socket was emptied and the next read is not started yet when these arrive.
  send(p, "two");
  send(p, "three");
  CHECK(read_bytes(p, 8, 64) == "twothree");
}

TEST_CASE("a read that fills its buffer reads on at once") {
  Pair p;
  send(p, "0123456789");
  CHECK(read_bytes(p, 10, 4) == "0123456789");
}

TEST_CASE("the end of the stream completes the read with eof") {
  Pair p;
  char buf[16];
  std::optional<Result> r;
  send(p, "bye");
  p.writer.shutdown(tcp::socket::shutdown_send);
  std::string got;
  error_code last;
  while (!last) {
    start(p, buf, sizeof buf, r);
    const Result x = finish(p, r);
    got.append(buf, x.n);
    last = x.ec;
  }
  CHECK(got == "bye");
  CHECK(last == asio::error::eof);
}

TEST_CASE("bytes and the end of the stream that arrive together: the end is read, not awaited") {
  Pair p;
  CHECK(p.hinted);  // Linux TCP: the queued-bytes hint is there
  char buf[64];
  std::optional<Result> r;
  // The read waits in the reactor first, so that one readiness event reports both the
  // bytes and the FIN and one recvmsg consumes them together.
  start(p, buf, sizeof buf, r);
  p.io.restart();
  p.io.poll();
  REQUIRE(!r.has_value());
  send(p, "last words");
  p.writer.shutdown(tcp::socket::shutdown_send);
  const Result first = finish(p, r);
  CHECK(!first.ec);
  CHECK(std::string(buf, first.n) == "last words");
  start(p, buf, sizeof buf, r);
  const Result second = finish(p, r);
  CHECK(second.ec == asio::error::eof);
  CHECK(second.n == 0);
}

TEST_CASE("a stream written in random pieces by another thread arrives whole and in order") {
  Pair p;
  const std::string sent = pglc::test::random_letters(1u << 20);
  std::thread writer([&] {
    pglc::test::write_in_random_pieces(sent, [&](const char* data, std::size_t n) {
      asio::write(p.writer, asio::buffer(data, n));
      return true;
    });
  });
  std::string got;
  char buf[1500];
  std::optional<Result> r;
  int short_reads = 0;
  while (got.size() < sent.size()) {
    start(p, buf, sizeof buf, r);
    const Result x = finish(p, r);
    REQUIRE(!x.ec);
    if (x.n < sizeof buf) ++short_reads;
    got.append(buf, x.n);
  }
  writer.join();
  CHECK(got == sent);
  CHECK(short_reads > 0);  // the waiting path was taken, not only full reads
}
