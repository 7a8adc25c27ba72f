// SCRAM-SHA-256 on both sides of the proxy: RFC 7677's example, and the termination chain
// (client -> proxy as server -> ClientKey -> proxy as client -> server).
#include "proxy/scram.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

using namespace pglc::proxy::scram;

namespace {

// What PostgreSQL stores for `password` (pg_authid.rolpassword).
std::string verifier_text(const std::string& password, const std::string& salt, int iterations) {
  unsigned char salted[32], client_key[32], stored[32], server_key[32];
  unsigned int n = 0;
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(), 32, salted);
  HMAC(EVP_sha256(), salted, 32, reinterpret_cast<const unsigned char*>("Client Key"), 10,
       client_key, &n);
  EVP_Digest(client_key, 32, stored, &n, EVP_sha256(), nullptr);
  HMAC(EVP_sha256(), salted, 32, reinterpret_cast<const unsigned char*>("Server Key"), 10,
       server_key, &n);
  auto b = [](const unsigned char* p) {
    return base64(std::string_view(reinterpret_cast<const char*>(p), 32));
  };
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + base64(salt) + "$" + b(stored) +
         ":" + b(server_key);
}

}  // namespace

TEST_CASE("the proxy as SCRAM server: RFC 7677's example exchange") {
  const auto salt = unbase64("W22ZaJ0SNY7soEsUEjb6gQ==");
  REQUIRE(salt);
  auto v = parse_verifier(verifier_text("pencil", *salt, 4096));
  REQUIRE(v);
  ServerExchange server(*v, "", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  std::string error;
  auto first = server.client_first("SCRAM-SHA-256", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", error);
  REQUIRE_MESSAGE(first, error);
  CHECK(*first ==
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  auto final = server.client_final(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      error);
  REQUIRE_MESSAGE(final, error);
  CHECK(*final == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

  // A wrong proof is a wrong password (error empty), not a protocol error.
  ServerExchange again(*v, "", "x");
  REQUIRE(again.client_first("SCRAM-SHA-256", "n,,n=,r=abc", error));
  CHECK_FALSE(again.client_final("c=biws,r=abcx,p=" + base64(std::string(32, 'z')), error));
  CHECK(error.empty());
}

TEST_CASE("termination: the client's proof gives the key that logs in to the server") {
  const std::string binding_proxy(32, 'P');  // what the client sees: the proxy's certificate
  const std::string binding_server(32, 'S');
  auto v = parse_verifier(verifier_text("s3cret", "0123456789abcdef", 4096));
  REQUIRE(v);
  for (bool plus : {false, true}) {
    CAPTURE(plus);
    std::string error;
    // Client -> proxy.
    ClientExchange client("s3cret", plus ? binding_proxy : "");
    ServerExchange proxy_side(*v, binding_proxy);
    auto sf = proxy_side.client_first(client.mechanism(true), client.client_first(plus), error);
    REQUIRE_MESSAGE(sf, error);
    auto cf = client.server_first(*sf, error);
    REQUIRE_MESSAGE(cf, error);
    auto fin = proxy_side.client_final(*cf, error);
    REQUIRE_MESSAGE(fin, error);
    CHECK(client.server_final(*fin, error));
    // Proxy -> server, with the recovered key and the server's own binding.
    ClientExchange upstream(*v, proxy_side.client_key(), binding_server);
    ServerExchange server(*v, binding_server);
    auto sf2 = server.client_first(upstream.mechanism(true), upstream.client_first(true), error);
    REQUIRE_MESSAGE(sf2, error);
    auto cf2 = upstream.server_first(*sf2, error);
    REQUIRE_MESSAGE(cf2, error);
    auto fin2 = server.client_final(*cf2, error);
    REQUIRE_MESSAGE(fin2, error);
    CHECK(upstream.server_final(*fin2, error));
  }
  SUBCASE("a wrong password never yields a key") {
    std::string error;
    ClientExchange client("wrong", "");
    ServerExchange proxy_side(*v, "");
    auto sf = proxy_side.client_first("SCRAM-SHA-256", client.client_first(false), error);
    REQUIRE(sf);
    auto cf = client.server_first(*sf, error);
    REQUIRE(cf);
    CHECK_FALSE(proxy_side.client_final(*cf, error));
    CHECK(error.empty());
  }
  SUBCASE("binding to another certificate fails; 'y' when we offered -PLUS is a downgrade") {
    std::string error;
    ClientExchange client("s3cret", std::string(32, 'X'));
    ServerExchange proxy_side(*v, binding_proxy);
    auto sf = proxy_side.client_first("SCRAM-SHA-256-PLUS", client.client_first(true), error);
    REQUIRE(sf);
    auto cf = client.server_first(*sf, error);
    REQUIRE(cf);
    CHECK_FALSE(proxy_side.client_final(*cf, error));
    CHECK(error.find("channel binding") != std::string::npos);
    ServerExchange other(*v, binding_proxy);
    CHECK_FALSE(other.client_first("SCRAM-SHA-256", "y,,n=,r=abc", error));
  }
}

TEST_CASE("verifiers: only SCRAM-SHA-256 ones parse") {
  CHECK(parse_verifier(verifier_text("a", "salt", 10)).has_value());
  CHECK_FALSE(parse_verifier("md5abcdef0123456789abcdef0123456789").has_value());
  CHECK_FALSE(parse_verifier("SCRAM-SHA-256$4096:c2FsdA==$short:short").has_value());
  CHECK_FALSE(parse_verifier("SCRAM-SHA-256$x:c2FsdA==$" + std::string(44, 'A') + ":" +
                             std::string(44, 'A'))
                  .has_value());
  CHECK_FALSE(parse_verifier("").has_value());
  CHECK(unbase64("biws") == "n,,");
  CHECK_FALSE(unbase64("bad!").has_value());
}
