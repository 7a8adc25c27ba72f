#include "proxy/scram_login.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <cstring>

#include "pgwire/backend.hpp"
#include "pgwire/builder.hpp"

namespace pglc::proxy {

using asio::awaitable;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxAuthBody = 65535;
constexpr std::string_view kPlus = "SCRAM-SHA-256-PLUS";

std::int32_t be32(const std::vector<std::uint8_t>& b, std::size_t at = 0) {
  if (b.size() < at + 4) return -1;
  return static_cast<std::int32_t>(pgwire::be32(b.data() + at));
}

std::string_view text(const std::vector<std::uint8_t>& b, std::size_t from) {
  if (from >= b.size()) return {};
  return std::string_view(reinterpret_cast<const char*>(b.data()) + from, b.size() - from);
}

std::vector<std::uint8_t> serialize(const Message& m) {
  std::vector<std::uint8_t> out;
  out.reserve(5 + m.body.size());
  out.push_back(static_cast<std::uint8_t>(m.type));
  const auto len = static_cast<std::uint32_t>(m.body.size() + 4);
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::uint8_t>(len >> shift));
  out.insert(out.end(), m.body.begin(), m.body.end());
  return out;
}

std::string server_message(const Message& m) {
  pgwire::Frame f{m.type, static_cast<std::uint32_t>(m.body.size() + 4),
                  pgwire::Bytes(m.body.data(), m.body.size())};
  auto e = pgwire::be::decode_error_fields(f);
  return e.ok() ? std::string(e.value.message) : "unreadable error";
}

std::string md5_hex(std::string_view data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 0xf]);
  }
  return out;
}

bool offers_plus(const std::vector<std::uint8_t>& body) {
  // Code, then NUL-terminated names, then an empty one.
  std::string_view rest = text(body, 4);
  while (!rest.empty()) {
    const std::size_t nul = rest.find('\0');
    const std::string_view name = rest.substr(0, nul);
    if (name.empty()) break;
    if (name == kPlus) return true;
    if (nul == std::string_view::npos) break;
    rest.remove_prefix(nul + 1);
  }
  return false;
}

std::string binding_of(X509* cert) {
  if (cert == nullptr) return {};
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return {};
  std::string out = scram::server_end_point(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

LoginOutcome failure(std::string sqlstate, std::string message) {
  LoginOutcome o;
  o.sqlstate = std::move(sqlstate);
  o.message = std::move(message);
  return o;
}

LoginOutcome io_failure() {
  LoginOutcome o;
  o.io_error = true;
  return o;
}

LoginOutcome success() {
  LoginOutcome o;
  o.ok = true;
  return o;
}

}  // namespace

std::string binding_of_own_certificate(SSL* ssl) {
  return ssl ? binding_of(SSL_get_certificate(ssl)) : std::string();
}

std::string binding_of_peer_certificate(SSL* ssl) {
  return ssl ? binding_of(SSL_get0_peer_certificate(ssl)) : std::string();
}

awaitable<LoginOutcome> lookup_verifier(Endpoint& lookup, const std::string& auth_user,
                                        const std::string& auth_password,
                                        const std::string& database, const std::string& query,
                                        const std::string& role,
                                        std::optional<scram::Verifier>& verifier) {
  error_code ec;
  const auto startup = pgwire::startup_message({{"user", auth_user},
                                                {"database", database},
                                                {"application_name", "pglifecycle auth_query"}});
  co_await write_all(lookup, asio::buffer(startup), ec);
  if (ec) co_return io_failure();
  std::optional<scram::ClientExchange> sx;
  auto send = [&](const std::vector<std::uint8_t>& m) -> awaitable<bool> {
    co_await write_all(lookup, asio::buffer(m), ec);
    co_return !ec;
  };
  for (;;) {
    auto m = co_await read_message(lookup, 1u << 20, ec);
    if (!m) co_return io_failure();
    if (m->type == 'E') {
      co_return failure("08006", "the --auth-query user could not log in: " + server_message(*m));
    }
    if (m->type == 'Z') break;
    if (m->type != 'R') continue;  // ParameterStatus, BackendKeyData, notices
    const std::int32_t code = be32(m->body);
    std::string error;
    switch (code) {
      case 0:
        break;
      case 3: {  // cleartext
        std::string pw = auth_password + std::string(1, '\0');
        const bool sent = co_await send(pgwire::password_message(pw));
        OPENSSL_cleanse(pw.data(), pw.size());
        if (!sent) co_return io_failure();
        break;
      }
      case 5: {  // md5(md5(password || user) || salt)
        if (m->body.size() < 8) co_return failure("08P01", "malformed md5 request from the server");
        const std::string salt(reinterpret_cast<const char*>(m->body.data()) + 4, 4);
        std::string inner = md5_hex(auth_password + auth_user);
        std::string answer = "md5" + md5_hex(inner + salt) + std::string(1, '\0');
        const bool sent = co_await send(pgwire::password_message(answer));
        OPENSSL_cleanse(inner.data(), inner.size());
        if (!sent) co_return io_failure();
        break;
      }
      case 10: {
        const std::string binding =
            lookup.tls ? binding_of_peer_certificate(lookup.tls->native_handle()) : std::string();
        sx.emplace(auth_password, binding);
        const std::string mechanism = sx->mechanism(offers_plus(m->body));
        if (!co_await send(
                pgwire::sasl_initial_response(mechanism, sx->client_first(mechanism == kPlus)))) {
          co_return io_failure();
        }
        break;
      }
      case 11: {
        if (!sx) co_return failure("08P01", "unexpected SASL message from the server");
        auto final = sx->server_first(text(m->body, 4), error);
        if (!final) co_return failure("08006", "--auth-query login: " + error);
        if (!co_await send(pgwire::password_message(*final))) co_return io_failure();
        break;
      }
      case 12:
        if (!sx || !sx->server_final(text(m->body, 4), error)) {
          co_return failure("08006", "--auth-query login: " + error);
        }
        break;
      default:
        co_return failure("08006", "the --auth-query user's authentication method (" +
                                       std::to_string(code) + ") is not supported");
    }
  }
  if (!co_await send(pgwire::one_param_query(query, role))) co_return io_failure();
  std::optional<std::string> value;
  for (;;) {
    auto m = co_await read_message(lookup, 1u << 20, ec);
    if (!m) co_return io_failure();
    if (m->type == 'E') {
      co_return failure("08006", "the --auth-query failed: " + server_message(*m));
    }
    if (m->type == 'D' && !value) {
      // int16 columns, int32 length of the first, its bytes (-1: NULL)
      const std::int32_t len = be32(m->body, 2);
      if (len >= 0 && m->body.size() >= 6 + static_cast<std::size_t>(len)) {
        value.emplace(reinterpret_cast<const char*>(m->body.data()) + 6,
                      static_cast<std::size_t>(len));
      }
      OPENSSL_cleanse(m->body.data(), m->body.size());
    }
    if (m->type == 'Z') break;
  }
  co_await write_all(lookup, asio::buffer(pgwire::kTerminateMessage), ec);
  if (value) {
    verifier = scram::parse_verifier(*value);
    OPENSSL_cleanse(value->data(), value->size());
  }
  co_return success();
}

awaitable<LoginOutcome> authenticate_client(Endpoint& client, const scram::Verifier& v,
                                            const std::string& role, scram::Key& key,
                                            std::uint64_t& written, std::uint64_t& read) {
  error_code ec;
  const std::string binding =
      client.tls ? binding_of_own_certificate(client.tls->native_handle()) : std::string();
  std::vector<std::string> mechanisms;
  if (!binding.empty()) mechanisms.emplace_back(kPlus);
  mechanisms.emplace_back("SCRAM-SHA-256");
  auto send = [&](const std::vector<std::uint8_t>& m) -> awaitable<bool> {
    co_await write_all(client, asio::buffer(m), ec);
    if (!ec) written += m.size();
    co_return !ec;
  };
  auto receive = [&]() -> awaitable<std::optional<Message>> {
    auto m = co_await read_message(client, kMaxAuthBody, ec);
    if (m) read += 5 + m->body.size();
    co_return m;
  };
  if (!co_await send(pgwire::authentication_sasl(mechanisms))) co_return io_failure();
  auto initial = co_await receive();
  if (!initial) {
    co_return ec ? io_failure() : failure("08P01", "invalid message length during authentication");
  }
  if (initial->type != 'p') {
    co_return failure("08P01", "expected SASL response, got message type " +
                                   std::to_string(static_cast<unsigned char>(initial->type)));
  }
  // mechanism NUL, int32 length, data
  const std::string_view body = text(initial->body, 0);
  const std::size_t nul = body.find('\0');
  if (nul == std::string_view::npos || body.size() < nul + 5) {
    co_return failure("08P01", "malformed SASLInitialResponse");
  }
  const std::string_view mechanism = body.substr(0, nul);
  const std::int32_t len = be32(initial->body, nul + 1);
  const std::string_view data =
      len < 0 ? std::string_view() : body.substr(nul + 5, static_cast<std::size_t>(len));
  scram::ServerExchange sx(v, binding);
  std::string error;
  auto server_first = sx.client_first(mechanism, data, error);
  if (!server_first) co_return failure("08P01", error);
  if (!co_await send(pgwire::authentication(11, *server_first))) co_return io_failure();
  auto response = co_await receive();
  if (!response) {
    co_return ec ? io_failure() : failure("08P01", "invalid message length during authentication");
  }
  if (response->type != 'p') co_return failure("08P01", "expected SASL response");
  auto server_final = sx.client_final(text(response->body, 0), error);
  if (!server_final) {
    if (error.empty()) {
      co_return failure("28P01", "password authentication failed for user \"" + role + "\"");
    }
    co_return failure("08P01", error);
  }
  if (!co_await send(pgwire::authentication(12, *server_final))) co_return io_failure();
  key = sx.client_key();
  co_return success();
}

awaitable<LoginOutcome> authenticate_to_server(Endpoint& backend, const scram::Verifier& v,
                                               const scram::Key& key,
                                               std::vector<std::uint8_t>& rest) {
  error_code ec;
  std::optional<scram::ClientExchange> cx;
  auto send = [&](const std::vector<std::uint8_t>& m) -> awaitable<bool> {
    co_await write_all(backend, asio::buffer(m), ec);
    co_return !ec;
  };
  for (;;) {
    auto m = co_await read_message(backend, 1u << 20, ec);
    if (!m) co_return io_failure();
    if (m->type != 'R') {  // an error (or anything else): the client gets it as usual
      rest = serialize(*m);
      co_return success();
    }
    const std::int32_t code = be32(m->body);
    std::string error;
    switch (code) {
      case 0:
        rest = serialize(*m);
        co_return success();
      case 10: {
        const std::string binding =
            backend.tls ? binding_of_peer_certificate(backend.tls->native_handle()) : std::string();
        cx.emplace(v, key, binding);
        const std::string mechanism = cx->mechanism(offers_plus(m->body));
        if (!co_await send(
                pgwire::sasl_initial_response(mechanism, cx->client_first(mechanism == kPlus)))) {
          co_return io_failure();
        }
        break;
      }
      case 11: {
        if (!cx) co_return failure("08P01", "unexpected SASL message from the server");
        auto final = cx->server_first(text(m->body, 4), error);
        if (!final) co_return failure("28000", error);
        if (!co_await send(pgwire::password_message(*final))) co_return io_failure();
        break;
      }
      case 12:
        if (!cx || !cx->server_final(text(m->body, 4), error)) co_return failure("28000", error);
        break;
      default:
        co_return failure("28000",
                          "the server asks for authentication method " + std::to_string(code) +
                              ", which cannot follow SCRAM termination; use scram-sha-256 (or "
                              "trust) for this role in the server's pg_hba.conf");
    }
  }
}

}  // namespace pglc::proxy
