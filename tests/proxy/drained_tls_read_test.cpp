// DrainedReader::read_tls over real TLS on loopback TCP: the server side is a TlsStream
// read the way the relay reads it, the client a blocking OpenSSL connection driven by
// the test. After a read that emptied both the socket and OpenSSL's buffer the next one
// waits for the readiness edge; no byte may be lost to that, nor to records that OpenSSL
// read ahead of the caller.
#include "proxy/drained_read.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/ioctl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/random_pieces.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

namespace {

// A self-signed P-256 certificate, made in memory (the client does not verify it).
void use_new_certificate(SSL_CTX* ctx) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* cert = X509_new();
  REQUIRE(cert != nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  REQUIRE(SSL_CTX_use_certificate(ctx, cert) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey(ctx, key) == 1);
  X509_free(cert);
  EVP_PKEY_free(key);
}

struct Result {
  error_code ec;
  std::size_t n = 0;
};

struct TlsPair {
  asio::io_context io;
  asio::ssl::context server_ctx{asio::ssl::context::tls_server};
  tcp::socket server{io};
  tcp::socket client{io};  // blocking, driven through `client_ssl`
  std::unique_ptr<pglc::proxy::TlsStream> tls;
  pglc::proxy::DrainedReader drained;
  SSL_CTX* client_ctx = nullptr;
  SSL* client_ssl = nullptr;
  bool hinted = false;

  TlsPair() {
    use_new_certificate(server_ctx.native_handle());
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    client.set_option(tcp::no_delay(true));
    tls = std::make_unique<pglc::proxy::TlsStream>(server, server_ctx);
    client_ctx = SSL_CTX_new(TLS_client_method());
    client_ssl = SSL_new(client_ctx);
    SSL_set_fd(client_ssl, static_cast<int>(client.native_handle()));
    // Both handshakes at once: the client's blocks on its own thread.
    int client_result = 0;
    std::thread t([&] { client_result = SSL_connect(client_ssl); });
    std::optional<error_code> server_result;
    tls->async_handshake(asio::ssl::stream_base::server,
                         [&](const error_code& ec, std::size_t) { server_result = ec; });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!server_result && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(100ms);
    }
    t.join();
    REQUIRE(server_result.has_value());
    REQUIRE(!*server_result);
    REQUIRE(client_result == 1);
    hinted = drained.enable(server);
  }
  ~TlsPair() {
    SSL_free(client_ssl);
    SSL_CTX_free(client_ctx);
  }

  // One TLS record per call.
  void send(const std::string& s) {
    REQUIRE(SSL_write(client_ssl, s.data(), static_cast<int>(s.size())) ==
            static_cast<int>(s.size()));
  }

  void start(char* buf, std::size_t size, std::optional<Result>& out) {
    out.reset();
    drained.read_tls(server, *tls, asio::buffer(buf, size),
                     [&out](const error_code& ec, std::size_t n) {
                       out = Result{ec, n};
                     });
  }

  // Runs handlers until the read completed; a read that never completes fails the test
  // after five seconds instead of hanging it.
  Result finish(std::optional<Result>& out) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!out && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(100ms);
    }
    REQUIRE(out.has_value());
    return *out;
  }

  std::string read_bytes(std::size_t want, std::size_t size) {
    std::vector<char> buf(size);
    std::optional<Result> r;
    std::string got;
    while (got.size() < want) {
      start(buf.data(), buf.size(), r);
      const Result x = finish(r);
      REQUIRE(!x.ec);
      CHECK(x.n <= size);
      got.append(buf.data(), x.n);
    }
    return got;
  }
};

}  // namespace

TEST_CASE("a TLS read after the socket was emptied waits for a record that comes later") {
  TlsPair p;
  CHECK(p.hinted);
  p.send("abc");
  CHECK(p.read_bytes(3, 64) == "abc");
  char buf[64];
  std::optional<Result> r;
  p.start(buf, sizeof buf, r);
  p.io.restart();
  p.io.poll();
  CHECK(!r.has_value());  // nothing has arrived: still waiting
  p.send("defg");
  const Result second = p.finish(r);
  CHECK(!second.ec);
  CHECK(std::string(buf, second.n) == "defg");
}

TEST_CASE("records that arrive between TLS reads are not lost") {
  TlsPair p;
  p.send("one");
  CHECK(p.read_bytes(3, 64) == "one");
  p.send("two");
  p.send("three");
  CHECK(p.read_bytes(8, 64) == "twothree");
}

TEST_CASE("records OpenSSL read ahead are served without waiting for another edge") {
  TlsPair p;
  // Three records, all in the socket before the first read: one recvmsg takes them all
  // (read-ahead) and leaves the socket empty, so only OpenSSL's buffer holds the rest.
  p.send("first,");
  p.send("second,");
  p.send("third");
  // TLS 1.3 adds 22 bytes to a record (header, content type, tag).
  const int all = (6 + 22) + (7 + 22) + (5 + 22);
  int queued = 0;
  for (const auto deadline = std::chrono::steady_clock::now() + 5s;
       queued < all && std::chrono::steady_clock::now() < deadline;) {
    REQUIRE(::ioctl(p.server.native_handle(), FIONREAD, &queued) == 0);
  }
  REQUIRE(queued == all);
  CHECK(p.read_bytes(18, 4) == "first,second,third");
}

TEST_CASE("the peer's close_notify completes a TLS read with eof") {
  TlsPair p;
  p.send("bye");
  CHECK(p.read_bytes(3, 64) == "bye");
  SSL_shutdown(p.client_ssl);
  char buf[16];
  std::optional<Result> r;
  p.start(buf, sizeof buf, r);
  const Result x = p.finish(r);
  CHECK(x.ec == asio::error::eof);
  CHECK(x.n == 0);
}

TEST_CASE("a TCP end without close_notify fails the TLS read as truncated") {
  TlsPair p;
  p.send("cut");
  CHECK(p.read_bytes(3, 64) == "cut");
  p.client.shutdown(tcp::socket::shutdown_send);
  char buf[16];
  std::optional<Result> r;
  p.start(buf, sizeof buf, r);
  const Result x = p.finish(r);
  CHECK(x.ec == asio::ssl::error::stream_truncated);
}

TEST_CASE("a TLS stream written in random records by another thread arrives whole") {
  TlsPair p;
  const std::string sent = pglc::test::random_letters(1u << 20);
  std::thread writer([&] {
    pglc::test::write_in_random_pieces(sent, [&](const char* data, std::size_t n) {
      return SSL_write(p.client_ssl, data, static_cast<int>(n)) == static_cast<int>(n);
    });
  });
  std::string got;
  char buf[1500];
  std::optional<Result> r;
  int short_reads = 0;
  while (got.size() < sent.size()) {
    p.start(buf, sizeof buf, r);
    const Result x = p.finish(r);
    REQUIRE(!x.ec);
    if (x.n < sizeof buf) ++short_reads;
    got.append(buf, x.n);
  }
  writer.join();
  CHECK(got == sent);
  CHECK(short_reads > 0);
}
