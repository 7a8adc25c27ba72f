// TLS on a session's socket, with OpenSSL reading and writing the file descriptor itself.
//
// Asio's ssl::stream runs OpenSSL against a BIO pair and keeps two more record-sized
// buffers of its own: about 68 KiB per link allocated up front and held for the link's
// life, and every byte copied twice more than needed. Here OpenSSL gets the
// (non-blocking) descriptor; an operation calls SSL_read / SSL_write / SSL_do_handshake
// and, when OpenSSL wants the socket readable or writable, waits for that readiness with
// the socket's async_wait and tries again. With SSL_MODE_RELEASE_BUFFERS OpenSSL's own
// record buffers exist only while a record is partly read or written, so an idle link
// costs the SSL object alone. read_ahead lets one read() take every record the kernel
// has instead of a header and a body apiece.
//
// OpenSSL reads and writes the descriptor through a BIO of ours (recvmsg and send), so
// that each read can carry the kernel's count of bytes still queued (TCP_INQ, once
// DrainedReader::enable has asked for it): with it the relay's TLS reads wait for
// readiness only when the socket is known empty, as its plain reads do
// (proxy/drained_read.hpp), instead of an async_wait, which costs an epoll_ctl apiece.
//
// A read waits for readability only after SSL_read found the socket empty, so no
// readiness edge is lost. One gap is left: under TLS 1.2 renegotiation an SSL_write may
// read records, and application data among them then waits in OpenSSL while a pending
// read waits for the socket (TLS 1.3, which PostgreSQL and Npgsql negotiate, has no
// renegotiation).
//
// Completion never happens inside the initiating call: an operation that finishes
// without waiting posts its completion, as Asio's own operations do. The operations
// keep the completion handler's associated allocator (the relay's HandlerMemory).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <cerrno>
#include <cstddef>
#include <string>

namespace pglc::proxy {

namespace tls_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// What SSL_get_error says after `r`, as an error code; {} when OpenSSL wants to wait.
error_code error_of(SSL* ssl, int r, bool& want_read, bool& want_write, bool& fatal);

// SSL_get_error reads the thread's error queue, which must be empty before each call.
// It almost always is: ERR_clear_error would reset all sixteen of its slots every time
// (0.6 % of the proxy's CPU under the PowerBI-shaped load), a peek only looks.
inline void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

// The descriptor behind the stream's BIO, and what its last read learnt.
struct SocketIo {
  int fd = -1;
  int queued = -1;  // bytes the kernel still held after the last read; -1 unknown
  bool eof = false;
};

// One OpenSSL call retried until it succeeds or fails. Step returns the call's result:
// > 0 (bytes, or 1 for a handshake / finished shutdown) completes the operation.
template <class Step>
struct Op {
  tcp::socket& sock;
  SSL* ssl;
  bool* failed;  // the stream's: after a fatal error OpenSSL forbids SSL_shutdown
  Step step;
  bool no_bytes = false;  // handshake, shutdown, an empty buffer: completes with 0 bytes
  bool waited = false;
  bool done = false;
  error_code result_ec{};
  std::size_t result_n = 0;

  template <class Self>
  void operator()(Self& self, error_code ec = {}) {
    if (done) return self.complete(result_ec, result_n);
    if (ec) return finish(self, ec, 0);
    clear_errors();
    const int r = step(ssl);
    if (r > 0) return finish(self, {}, no_bytes ? 0 : static_cast<std::size_t>(r));
    bool want_read = false, want_write = false, fatal = false;
    const error_code e = error_of(ssl, r, want_read, want_write, fatal);
    if (want_read || want_write) {
      waited = true;
      sock.async_wait(want_read ? tcp::socket::wait_read : tcp::socket::wait_write,
                      std::move(self));
      return;
    }
    if (fatal) *failed = true;
    finish(self, e, 0);
  }

  template <class Self>
  void finish(Self& self, error_code ec, std::size_t n) {
    if (waited) return self.complete(ec, n);
    done = true;
    result_ec = ec;
    result_n = n;
    asio::post(sock.get_executor(), std::move(self));
  }
};

}  // namespace tls_detail

class TlsStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  // Throws std::runtime_error if OpenSSL cannot make the SSL object.
  TlsStream(boost::asio::ip::tcp::socket& sock, boost::asio::ssl::context& ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  SSL* native_handle() { return ssl_; }

  // One SSL_read now, without waiting: for a reactor operation's perform step
  // (DrainedReader::read_tls).
  enum class ReadState { data, want_read, want_write, failed };
  struct ReadResult {
    ReadState state = ReadState::failed;
    std::size_t bytes = 0;
    boost::system::error_code ec;
    bool drained = false;  // data: neither the kernel nor OpenSSL holds more bytes now
  };
  ReadResult read_now(boost::asio::mutable_buffer b);
  executor_type get_executor() { return sock_.get_executor(); }

  // verify-full: the handshake fails unless the peer's certificate chains to the
  // context's roots and names `host` (a DNS name, or an IP address literal).
  void verify_host(const std::string& host);

  template <class Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    if (type == boost::asio::ssl::stream_base::server)
      SSL_set_accept_state(ssl_);
    else
      SSL_set_connect_state(ssl_);
    return run([](SSL* s) { return SSL_do_handshake(s); }, std::forward<Token>(token), true);
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    const auto b = first_of<boost::asio::mutable_buffer>(buffers);
    return run(
        [b](SSL* s) {
          if (b.size() == 0) return 1;
          return SSL_read(s, b.data(), clamp(b.size()));
        },
        std::forward<Token>(token), b.size() == 0);
  }

  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    const auto b = first_of<boost::asio::const_buffer>(buffers);
    return run(
        [b](SSL* s) {
          if (b.size() == 0) return 1;
          return SSL_write(s, b.data(), clamp(b.size()));
        },
        std::forward<Token>(token), b.size() == 0);
  }

  // Sends close_notify (without waiting for the peer's). After a fatal error there is
  // nothing to send: completes at once.
  template <class Token>
  auto async_shutdown(Token&& token) {
    const bool skip = failed_;
    return run(
        [skip](SSL* s) {
          if (skip) return 1;
          const int r = SSL_shutdown(s);
          return r >= 0 ? 1 : r;  // 0: ours sent, the peer's not awaited
        },
        std::forward<Token>(token), true);
  }

 private:
  static int clamp(std::size_t n) { return n > (1u << 30) ? (1 << 30) : static_cast<int>(n); }

  // The first non-empty buffer of a sequence (one SSL call takes one buffer, as Asio's
  // own stream does); `Buffer` is mutable_buffer for reads, const_buffer for writes.
  template <class Buffer, class Buffers>
  static Buffer first_of(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      Buffer b(*it);
      if (b.size() > 0) return b;
    }
    return {};
  }

  template <class Step, class Token>
  auto run(Step step, Token&& token, bool no_bytes) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        tls_detail::Op<Step>{sock_, ssl_, &failed_, std::move(step), no_bytes}, token, sock_);
  }

  boost::asio::ip::tcp::socket& sock_;
  tls_detail::SocketIo io_;  // the BIO's state; the BIO points here, so no moves
  SSL* ssl_ = nullptr;
  bool failed_ = false;
};

}  // namespace pglc::proxy
