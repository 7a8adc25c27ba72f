// The three conversations of SCRAM termination (see scram.hpp), as coroutines over
// Endpoints: the --auth-query lookup of a role's verifier on a connection of its own, the
// exchange with the client (the proxy as server), and the login to the server with the
// client's key (the proxy as client). The Session decides what an outcome means for the
// client; nothing here logs, and no secret leaves these functions except the verifier and
// key the caller asked for.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proxy/endpoint.hpp"
#include "proxy/scram.hpp"

namespace pglc::proxy {

struct LoginOutcome {
  bool ok = false;
  // When !ok: the SQLSTATE and message for the client (28P01 for a wrong password, as
  // PostgreSQL), or an I/O failure (io_error) the caller reports its own way.
  bool io_error = false;
  std::string sqlstate;
  std::string message;
};

// tls-server-end-point binding data for the certificate `ssl` presents (ours) or sees
// (the peer's): empty without TLS.
std::string binding_of_own_certificate(SSL* ssl);
std::string binding_of_peer_certificate(SSL* ssl);

// On `lookup` (connected, TLS done as --backend-sslmode says): logs in as `auth_user`
// (trust, password, md5 or SCRAM), runs `query` with $1 = `role`, and returns its first
// column. `verifier` is left empty when the role has no SCRAM-SHA-256 verifier (then the
// session is passed through).
asio::awaitable<LoginOutcome> lookup_verifier(Endpoint& lookup, const std::string& auth_user,
                                              const std::string& auth_password,
                                              const std::string& database, const std::string& query,
                                              const std::string& role,
                                              std::optional<scram::Verifier>& verifier);

// With the client, after its StartupMessage: AuthenticationSASL, its answers checked against
// `v`. On success AuthenticationSASLFinal has been sent (AuthenticationOk comes from the
// server) and `key` holds the client's ClientKey. `written` / `read` count the bytes.
asio::awaitable<LoginOutcome> authenticate_client(Endpoint& client, const scram::Verifier& v,
                                                  const std::string& role, scram::Key& key,
                                                  std::uint64_t& written, std::uint64_t& read);

// With the server, after the StartupMessage was sent: its SASL requests answered with the
// client's key. The first message after SASLFinal (AuthenticationOk, or an error), and
// any other message the server sent instead of a SASL request, go to `rest` whole, for the
// relay to forward as usual.
asio::awaitable<LoginOutcome> authenticate_to_server(Endpoint& backend, const scram::Verifier& v,
                                                     const scram::Key& key,
                                                     std::vector<std::uint8_t>& rest);

}  // namespace pglc::proxy
