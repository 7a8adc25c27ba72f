// SCRAM-SHA-256 (RFC 5802 / 7677) on both sides of the proxy, for SCRAM termination.
//
// When the proxy presents its own certificate, a client's channel binding can only bind to
// that certificate, so the proxy must run the exchange itself. With the role's verifier
// (StoredKey, ServerKey, salt, iterations: what pg_authid.rolpassword holds, looked up
// through --auth-query) it authenticates the client (ServerExchange), and the client's
// proof reveals its ClientKey, which is all a client needs to authenticate to the server
// with the same verifier (ClientExchange), as PgBouncer does. No password is ever known
// to the proxy; keys live in memory only for the login and are wiped afterwards.
//
// Pure: messages in, messages out, OpenSSL for the crypto. No sockets.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pglc::proxy::scram {

using Key = std::array<std::uint8_t, 32>;

struct Verifier {
  int iterations = 0;
  std::string salt;  // raw bytes
  Key stored_key{};
  Key server_key{};
  ~Verifier();
};

// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64 parts); nullopt for
// anything else (an md5 hash, a plain text password, NULL).
std::optional<Verifier> parse_verifier(std::string_view rolpassword);

// tls-server-end-point channel binding data of a DER certificate (RFC 5929: its signature
// hash, SHA-256 where that is MD5 or SHA-1). Empty on failure.
std::string server_end_point(const unsigned char* der, std::size_t len);

std::string base64(std::string_view raw);
std::optional<std::string> unbase64(std::string_view text);

// The proxy as the SCRAM server of a client.
class ServerExchange {
 public:
  // `binding`: tls-server-end-point data of the certificate the client sees (empty on a
  // plaintext connection, where -PLUS is not offered). `nonce` is for tests; empty draws
  // 18 random bytes.
  ServerExchange(const Verifier& v, std::string binding, std::string nonce = {});
  ~ServerExchange();

  // SASLInitialResponse: mechanism and client-first-message. Returns server-first-message,
  // or nullopt with `error` set (a protocol violation by the client).
  std::optional<std::string> client_first(std::string_view mechanism, std::string_view message,
                                          std::string& error);
  // SASLResponse: client-final-message. Returns server-final-message when the proof holds;
  // nullopt with `error` ("" for a wrong password, else what was malformed).
  std::optional<std::string> client_final(std::string_view message, std::string& error);
  // After a successful client_final: the client's ClientKey.
  const Key& client_key() const { return client_key_; }

 private:
  const Verifier& v_;
  std::string binding_;
  std::string nonce_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string combined_nonce_;
  Key client_key_{};
};

// The proxy as a SCRAM client of the server: with a ClientKey and the verifier's keys, or
// with a password (the --auth-query user's own login).
class ClientExchange {
 public:
  ClientExchange(const Verifier& v, const Key& client_key, std::string binding,
                 std::string nonce = {});
  ClientExchange(std::string password, std::string binding, std::string nonce = {});
  ~ClientExchange();

  // The mechanism to answer with: -PLUS when binding data is known and offered.
  std::string mechanism(bool plus_offered) const;
  // client-first-message for the chosen mechanism.
  std::string client_first(bool plus);
  // server-first-message → client-final-message, or nullopt with `error`.
  std::optional<std::string> server_first(std::string_view message, std::string& error);
  // server-final-message: true when the server proved it knows the verifier.
  bool server_final(std::string_view message, std::string& error);

 private:
  bool from_password_ = false;
  std::string password_;
  Key client_key_{};
  Key stored_key_{};
  Key server_key_{};
  int iterations_ = 0;
  std::string salt_;
  std::string binding_;
  std::string nonce_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string auth_message_;
};

}  // namespace pglc::proxy::scram
