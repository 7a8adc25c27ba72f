#include "proxy/tls_stream.hpp"

#include <openssl/x509v3.h>

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

}  // namespace tls_detail

TlsStream::TlsStream(boost::asio::ip::tcp::socket& sock, boost::asio::ssl::context& ctx)
    : sock_(sock), ssl_(SSL_new(ctx.native_handle())) {
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new failed");
  // OpenSSL sees EAGAIN and says "want read/write"; the descriptor must be non-blocking
  // whatever Asio has or has not set on it so far.
  sock_.native_non_blocking(true);
  SSL_set_fd(ssl_, static_cast<int>(sock_.native_handle()));
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl_, 1);
}

TlsStream::~TlsStream() {
  // The socket BIO does not own the descriptor: the Endpoint's socket closes it.
  SSL_free(ssl_);
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
