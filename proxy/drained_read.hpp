// A read on a plain TCP socket that tells Asio's epoll reactor when it left the socket
// empty, so that the next read waits for readiness instead of trying `recv` at once.
//
// Why: Boost 1.74's reactor tries every read speculatively and stops only after a read
// that returned end of stream. In a request/response relay the next read is started right
// after the last one was handled, before the peer can have answered, so every second
// `recvfrom` returned EAGAIN (BENCHMARKS.md: 4 per pgbench transaction, haproxy 2).
// Waiting with `async_wait` instead costs an `epoll_ctl` per read (measured,
// bench/notes.md).
//
// How the read knows: with the socket option TCP_INQ (Linux 4.18) each `recvmsg` carries
// the number of bytes still queued, and a nonzero number once the peer's FIN has arrived
// (so that the end of the stream is read, not waited for). Zero means the queue is empty:
// any later byte or FIN raises a new edge on the edge-triggered descriptor that Asio
// registered, so the next read may wait for that edge and loses nothing. A short read
// alone would not do: it may have consumed the FIN together with the last bytes, and no
// edge follows a FIN already read. Without the option (not Linux TCP) no hint comes and
// every read is followed by a speculative one, as Asio does.
//
// A TLS read (read_tls) works the same way with SSL_read as its perform step: the hint
// comes from the last recvmsg OpenSSL made through the stream's BIO, and counts only when
// OpenSSL holds no record either. (TlsStream's own async_read_some waits with
// async_wait, which in Boost 1.74 re-arms the descriptor with an epoll_ctl every time.)
//
// It builds an operation of Asio's own kind (`reactor_op`) and starts it on the socket's
// reactor: the same path `async_read_some` takes, with a different perform step. That
// reaches into `boost::asio::detail`, so it is used only where it was written against
// (the epoll reactor of Boost 1.74 to 1.80); elsewhere it is `async_read_some`.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>
#include <cstddef>

#include "proxy/recv_counting.hpp"
#include "proxy/tls_stream.hpp"

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IOCP) && BOOST_VERSION >= 107400 && \
    BOOST_VERSION < 108100 && !defined(PGLC_NO_DRAINED_READ)
#define PGLC_DRAINED_READ 1
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>

#include <cerrno>
#include <cstring>
#endif

namespace pglc::proxy {

#ifdef PGLC_DRAINED_READ
namespace drained_detail {

namespace ad = boost::asio::detail;
using boost::system::error_code;
using Socket = boost::asio::ip::tcp::socket;

// The socket's implementation is a protected member of basic_socket; naming it through
// a derived class is how C++ allows reaching it.
struct Access : Socket {
  static auto& impl(Socket& s) { return s.*(&Access::impl_); }
};

// As Asio's reactive_socket_recv_op: the handler is moved out and the memory freed
// before the upcall, which runs through the handler's executor.
template <class Op>
void upcall(void* owner, Op* o) {
  typename Op::ptr p = {boost::asio::detail::addressof(o->handler_), o, o};
  auto w(std::move(o->work_));
  ad::binder2<decltype(o->handler_), error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                      o->bytes_transferred_);
  p.h = boost::asio::detail::addressof(handler.handler_);
  p.reset();
  if (owner) {
    ad::fenced_block b(ad::fenced_block::half);
    w.complete(handler, handler.handler_);
  }
}

template <class Handler, class IoExecutor>
class DrainedRecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(DrainedRecvOp);

  DrainedRecvOp(const error_code& success_ec, ad::socket_type s, boost::asio::mutable_buffer b,
                Handler& h, const IoExecutor& io_ex)
      : reactor_op(success_ec, &DrainedRecvOp::do_perform, &DrainedRecvOp::do_complete),
        socket_(s),
        buffer_(b),
        handler_(std::move(h)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<DrainedRecvOp*>(base);
    int queued = -1;  // no hint: read on speculatively
    const ssize_t n = recv_counting(o->socket_, o->buffer_.data(), o->buffer_.size(), queued);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;  // wait for the edge
      o->ec_ = error_code(errno, boost::asio::error::get_system_category());
      o->bytes_transferred_ = 0;
      return done;
    }
    o->bytes_transferred_ = static_cast<std::size_t>(n);
    if (n == 0) {
      o->ec_ = boost::asio::error::eof;
      return done_and_exhausted;
    }
    o->ec_ = error_code();
    return queued == 0 ? done_and_exhausted : done;
  }

  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    upcall(owner, static_cast<DrainedRecvOp*>(base));
  }

 private:
  template <class Op>
  friend void upcall(void* owner, Op* o);

  ad::socket_type socket_;
  boost::asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// SSL_read as the perform step. When SSL_read would have to write first and the socket
// cannot take it (TLS 1.2 renegotiation; TLS 1.3 never asks), the read goes on as
// TlsStream::async_read_some, which waits for writability.
template <class Handler, class IoExecutor>
class TlsRecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(TlsRecvOp);

  TlsRecvOp(const error_code& success_ec, TlsStream& tls, boost::asio::mutable_buffer b, Handler& h,
            const IoExecutor& io_ex)
      : reactor_op(success_ec, &TlsRecvOp::do_perform, &TlsRecvOp::do_complete),
        tls_(tls),
        buffer_(b),
        handler_(std::move(h)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<TlsRecvOp*>(base);
    const TlsStream::ReadResult r = o->tls_.read_now(o->buffer_);
    o->bytes_transferred_ = r.bytes;
    o->ec_ = r.ec;
    switch (r.state) {
      case TlsStream::ReadState::want_read:
        return not_done;  // wait for the edge
      case TlsStream::ReadState::want_write:
        o->want_write_ = true;
        return done;
      case TlsStream::ReadState::data:
        return r.drained ? done_and_exhausted : done;
      case TlsStream::ReadState::failed:
        break;
    }
    return done;
  }

  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    auto* o = static_cast<TlsRecvOp*>(base);
    if (!o->want_write_ || o->ec_) return upcall(owner, o);
    ptr p = {boost::asio::detail::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    TlsStream& tls = o->tls_;
    const boost::asio::mutable_buffer b = o->buffer_;
    Handler handler(std::move(o->handler_));
    p.h = boost::asio::detail::addressof(handler);
    p.reset();
    if (owner) tls.async_read_some(b, std::move(handler));
  }

 private:
  template <class Op>
  friend void upcall(void* owner, Op* o);

  TlsStream& tls_;
  boost::asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
  bool want_write_ = false;
};

}  // namespace drained_detail
#endif

// The reads of one plain TCP socket. enable() asks the kernel for the queued-bytes hint
// (once per socket); without it (not Linux TCP, or never enabled) read() is
// async_read_some.
class DrainedReader {
 public:
  bool enable(boost::asio::ip::tcp::socket& s) {
#if defined(PGLC_DRAINED_READ) && defined(TCP_INQ)
    const int on = 1;
    if (::setsockopt(s.native_handle(), SOL_TCP, TCP_INQ, &on, sizeof on) != 0) return false;
    // Looked up once: use_service takes the io_context's service registry lock, and it
    // was two lock round trips per transaction (callgrind).
    reactor_ = &boost::asio::use_service<drained_detail::ad::epoll_reactor>(
        boost::asio::query(s.get_executor(), boost::asio::execution::context));
    return true;
#else
    (void)s;
    return false;
#endif
  }

  // Reads at most `b.size()` bytes of `s` (the socket enable() was given) into `b`;
  // `h(error_code, std::size_t)` as async_read_some.
  template <class Handler>
  void read(boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer b, Handler&& h) {
#ifdef PGLC_DRAINED_READ
    // An empty buffer completes at once in Asio's own read; keep that behaviour there.
    if (!usable(s, b)) return s.async_read_some(b, std::forward<Handler>(h));
    start<drained_detail::DrainedRecvOp>(s, std::forward<Handler>(h), s.native_handle(), b);
#else
    s.async_read_some(b, std::forward<Handler>(h));
#endif
  }

  // The same for `tls` over `s` (the socket enable() was given).
  template <class Handler>
  void read_tls(boost::asio::ip::tcp::socket& s, TlsStream& tls, boost::asio::mutable_buffer b,
                Handler&& h) {
#ifdef PGLC_DRAINED_READ
    if (!usable(s, b)) return tls.async_read_some(b, std::forward<Handler>(h));
    start<drained_detail::TlsRecvOp>(s, std::forward<Handler>(h), tls, b);
#else
    (void)s;
    tls.async_read_some(b, std::forward<Handler>(h));
#endif
  }

 private:
#ifdef PGLC_DRAINED_READ
  bool usable(boost::asio::ip::tcp::socket& s, boost::asio::mutable_buffer b) {
    return reactor_ != nullptr && b.size() > 0 &&
           drained_detail::Access::impl(s).get_implementation().reactor_data_ != nullptr;
  }

  // Makes an operation of kind `OpT` (its arguments first, then the handler and the
  // socket's executor) and starts it on the reactor, speculatively, as async_read_some.
  template <template <class, class> class OpT, class Handler, class... Args>
  void start(boost::asio::ip::tcp::socket& s, Handler&& h, Args&&... args) {
    namespace ad = boost::asio::detail;
    using H = std::decay_t<Handler>;
    auto& io = drained_detail::Access::impl(s);
    auto& impl = io.get_implementation();
    using Op = OpT<H, std::decay_t<decltype(io.get_executor())>>;
    H handler(std::forward<Handler>(h));
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename Op::ptr p = {boost::asio::detail::addressof(handler), Op::ptr::allocate(handler), 0};
    p.p = new (p.v)
        Op(boost::system::error_code(), std::forward<Args>(args)..., handler, io.get_executor());
    if ((impl.state_ & ad::socket_ops::non_blocking) ||
        ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor_->start_op(ad::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                         is_continuation, true);
    } else {
      reactor_->post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = 0;
  }

  drained_detail::ad::epoll_reactor* reactor_ = nullptr;  // of the socket's io_context
#endif
};

}  // namespace pglc::proxy
