// One side of a session: a socket, optionally wrapped in TLS after a handshake, and the
// coroutine I/O the startup and authentication phases use on it (the streaming relay has
// its own handler-based I/O in relay.cpp, reading through `reader`).
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "pgwire/frame.hpp"
#include "proxy/drained_read.hpp"
#include "proxy/tls_stream.hpp"

namespace pglc::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Endpoint {
  explicit Endpoint(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::unique_ptr<TlsStream> tls;
  DrainedReader reader;  // the relay's reads of `sock`, or of `tls` over it
};

template <class Buffers>
asio::awaitable<std::size_t> read_some(Endpoint& e, const Buffers& b,
                                       boost::system::error_code& ec) {
  using asio::redirect_error, asio::use_awaitable;
  if (e.tls) co_return co_await e.tls->async_read_some(b, redirect_error(use_awaitable, ec));
  co_return co_await e.sock.async_read_some(b, redirect_error(use_awaitable, ec));
}

template <class Buffers>
asio::awaitable<std::size_t> read_exact(Endpoint& e, const Buffers& b,
                                        boost::system::error_code& ec) {
  using asio::redirect_error, asio::use_awaitable;
  if (e.tls) co_return co_await asio::async_read(*e.tls, b, redirect_error(use_awaitable, ec));
  co_return co_await asio::async_read(e.sock, b, redirect_error(use_awaitable, ec));
}

template <class Buffers>
asio::awaitable<std::size_t> write_all(Endpoint& e, const Buffers& b,
                                       boost::system::error_code& ec) {
  using asio::redirect_error, asio::use_awaitable;
  if (e.tls) co_return co_await asio::async_write(*e.tls, b, redirect_error(use_awaitable, ec));
  co_return co_await asio::async_write(e.sock, b, redirect_error(use_awaitable, ec));
}

// One whole protocol message (type byte, body), for the phases where the proxy itself is
// a party. nullopt on I/O error (`ec`) or a length below 4 or above `max_body` (`ec`
// stays clear then).
struct Message {
  char type = 0;
  std::vector<std::uint8_t> body;
};
inline asio::awaitable<std::optional<Message>> read_message(Endpoint& e, std::size_t max_body,
                                                            boost::system::error_code& ec) {
  std::uint8_t header[5];
  co_await read_exact(e, asio::buffer(header), ec);
  if (ec) co_return std::nullopt;
  const std::uint32_t len = pgwire::be32(header + 1);
  if (len < 4 || len - 4 > max_body) co_return std::nullopt;
  Message m;
  m.type = static_cast<char>(header[0]);
  m.body.resize(len - 4);
  if (!m.body.empty()) co_await read_exact(e, asio::buffer(m.body), ec);
  if (ec) co_return std::nullopt;
  co_return m;
}

}  // namespace pglc::proxy
