#include "proxy/tls_stream.hpp"

#include "proxy/recv_counting.hpp"

#include <openssl/bio.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pglc::proxy {

namespace tls_detail {

error_code error_of(SSL* ssl, int r, bool& want_read, bool& want_write, bool& fatal) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
      want_read = true;
      return {};
    case SSL_ERROR_WANT_WRITE:
      want_write = true;
      return {};
    case SSL_ERROR_ZERO_RETURN:
      // The peer's close_notify: a clean end of the stream.
      return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      fatal = true;
      if (saved_errno != 0 && saved_errno != EAGAIN)
        return error_code(saved_errno, boost::system::system_category());
      return asio::ssl::error::stream_truncated;
    default: {
      fatal = true;
      const unsigned long e = ERR_get_error();
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
#endif
      if (e == 0) return asio::ssl::error::stream_truncated;
      return error_code(static_cast<int>(e), asio::error::get_ssl_category());
    }
  }
}

namespace {

int bio_read(BIO* b, char* out, int len) {
  auto* io = static_cast<SocketIo*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  const ssize_t n = recv_counting(io->fd, out, static_cast<std::size_t>(len), io->queued);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      io->queued = 0;
      BIO_set_retry_read(b);
    }
    return -1;
  }
  if (n == 0) io->eof = true;
  return static_cast<int>(n);
}

int bio_write(BIO* b, const char* in, int len) {
  auto* io = static_cast<SocketIo*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  for (;;) {
    const ssize_t n = ::send(io->fd, in, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
    return -1;
  }
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // nothing buffered here
    case BIO_CTRL_EOF:
      // OpenSSL tells an unexpected end of the stream from a failed read by this.
      return static_cast<SocketIo*>(BIO_get_data(b))->eof ? 1 : 0;
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

// The descriptor belongs to the Endpoint's socket, not to the BIO.
int bio_destroy(BIO*) {
  return 1;
}

const BIO_METHOD* socket_io_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pglc socket");
    if (m == nullptr || BIO_meth_set_read(m, bio_read) != 1 ||
        BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_ctrl(m, bio_ctrl) != 1 ||
        BIO_meth_set_create(m, bio_create) != 1 || BIO_meth_set_destroy(m, bio_destroy) != 1)
      throw std::runtime_error("cannot make the socket BIO method");
    return m;
  }();
  return method;
}

}  // namespace

}  // namespace tls_detail

TlsStream::TlsStream(boost::asio::ip::tcp::socket& sock, boost::asio::ssl::context& ctx)
    : sock_(sock), ssl_(SSL_new(ctx.native_handle())) {
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new failed");
  // OpenSSL sees EAGAIN and says "want read/write"; the descriptor must be non-blocking
  // whatever Asio has or has not set on it so far.
  sock_.native_non_blocking(true);
  io_.fd = static_cast<int>(sock_.native_handle());
  BIO* bio = BIO_new(tls_detail::socket_io_method());
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw std::runtime_error("BIO_new failed");
  }
  BIO_set_data(bio, &io_);
  SSL_set_bio(ssl_, bio, bio);  // one reference, for both directions
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl_, 1);
}

TlsStream::~TlsStream() {
  // The socket BIO does not own the descriptor: the Endpoint's socket closes it.
  SSL_free(ssl_);
}

TlsStream::ReadResult TlsStream::read_now(boost::asio::mutable_buffer b) {
  // Only a read made by this call says whether the kernel's queue is empty now.
  io_.queued = -1;
  tls_detail::clear_errors();
  const int r = SSL_read(ssl_, b.data(), clamp(b.size()));
  if (r > 0) {
    return {ReadState::data,
            static_cast<std::size_t>(r),
            {},
            io_.queued == 0 && SSL_has_pending(ssl_) == 0};
  }
  bool want_read = false, want_write = false, fatal = false;
  const boost::system::error_code e = tls_detail::error_of(ssl_, r, want_read, want_write, fatal);
  if (want_read) return {ReadState::want_read, 0, {}, false};
  if (want_write) return {ReadState::want_write, 0, {}, false};
  if (fatal) failed_ = true;
  return {ReadState::failed, 0, e};
}

void TlsStream::verify_host(const std::string& host) {
  SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  // An address literal is matched against the certificate's IP SANs, a name against its
  // DNS names (and the CN when it has none), as libpq's verify-full does.
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1)
      throw std::runtime_error("cannot verify host name " + host);
  }
}

}  // namespace pglc::proxy
