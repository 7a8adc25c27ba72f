#include "proxy/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <charconv>
#include <cstring>

namespace pglc::proxy::scram {
namespace {

constexpr std::string_view kMechanism = "SCRAM-SHA-256";
constexpr std::string_view kMechanismPlus = "SCRAM-SHA-256-PLUS";
constexpr std::string_view kBindingName = "tls-server-end-point";

Key sha256(const void* data, std::size_t len) {
  Key out{};
  unsigned int n = 0;
  EVP_Digest(data, len, out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

Key hmac(const void* key, std::size_t key_len, std::string_view data) {
  Key out{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key, static_cast<int>(key_len),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &n);
  return out;
}

Key hmac(const Key& key, std::string_view data) {
  return hmac(key.data(), key.size(), data);
}

std::string as_string(const Key& k) {
  return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

std::string random_nonce() {
  unsigned char raw[18];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  return base64(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

// The value of attribute `name` ("r", "s", ...) in a comma-separated SCRAM message.
std::optional<std::string_view> attribute(std::string_view message, char name) {
  std::size_t pos = 0;
  while (pos <= message.size()) {
    const std::size_t comma = message.find(',', pos);
    const std::string_view part =
        message.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (part.size() >= 2 && part[0] == name && part[1] == '=') return part.substr(2);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return std::nullopt;
}

bool printable_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

}  // namespace

Verifier::~Verifier() {
  OPENSSL_cleanse(stored_key.data(), stored_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());
}

std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n < 0 ? 0 : n));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as data.
  std::size_t len = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::optional<Verifier> parse_verifier(std::string_view s) {
  // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  if (s.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  s.remove_prefix(kPrefix.size());
  const std::size_t colon1 = s.find(':');
  const std::size_t dollar = s.find('$');
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos || dollar < colon1) {
    return std::nullopt;
  }
  const std::size_t colon2 = s.find(':', dollar);
  if (colon2 == std::string_view::npos) return std::nullopt;
  Verifier v;
  const std::string_view iter = s.substr(0, colon1);
  auto [p, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), v.iterations);
  if (ec != std::errc{} || p != iter.data() + iter.size() || v.iterations <= 0) return std::nullopt;
  auto salt = unbase64(s.substr(colon1 + 1, dollar - colon1 - 1));
  auto stored = unbase64(s.substr(dollar + 1, colon2 - dollar - 1));
  auto server = unbase64(s.substr(colon2 + 1));
  if (!salt || salt->empty() || !stored || stored->size() != 32 || !server ||
      server->size() != 32) {
    return std::nullopt;
  }
  v.salt = std::move(*salt);
  std::memcpy(v.stored_key.data(), stored->data(), 32);
  std::memcpy(v.server_key.data(), server->data(), 32);
  OPENSSL_cleanse(stored->data(), stored->size());
  OPENSSL_cleanse(server->data(), server->size());
  return v;
}

std::string server_end_point(const unsigned char* der, std::size_t len) {
  const unsigned char* p = der;
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(len));
  if (cert == nullptr) return {};
  int md_nid = NID_undef, pk_nid = NID_undef;
  std::string out;
  if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid) == 1) {
    const EVP_MD* md =
        (md_nid == NID_md5 || md_nid == NID_sha1) ? EVP_sha256() : EVP_get_digestbynid(md_nid);
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (md != nullptr && X509_digest(cert, md, hash, &n) == 1) {
      out.assign(reinterpret_cast<const char*>(hash), n);
    }
  }
  X509_free(cert);
  return out;
}

// ---- the proxy as server ----------------------------------------------------------------

ServerExchange::ServerExchange(const Verifier& v, std::string binding, std::string nonce)
    : v_(v),
      binding_(std::move(binding)),
      nonce_(nonce.empty() ? random_nonce() : std::move(nonce)) {}

ServerExchange::~ServerExchange() {
  OPENSSL_cleanse(client_key_.data(), client_key_.size());
}

std::optional<std::string> ServerExchange::client_first(std::string_view mechanism,
                                                        std::string_view m, std::string& error) {
  const bool plus = mechanism == kMechanismPlus;
  if (!plus && mechanism != kMechanism) {
    error = "client selected an invalid SASL authentication mechanism";
    return std::nullopt;
  }
  if (plus && binding_.empty()) {
    error = "channel binding is not supported on this connection";
    return std::nullopt;
  }
  // gs2-header: cbind flag, authzid (must be empty), then the bare message.
  std::size_t header_end = 0;
  if (m.substr(0, 2) == "n," || m.substr(0, 2) == "y,") {
    if (plus) {
      error = "the client selected SCRAM-SHA-256-PLUS without channel binding";
      return std::nullopt;
    }
    // 'y': the client could bind but thinks we cannot. We offered -PLUS when we could.
    if (m[0] == 'y' && !binding_.empty()) {
      error = "the client supports SCRAM channel binding but thinks the server does not";
      return std::nullopt;
    }
    header_end = 2;
  } else if (m.substr(0, 2) == "p=") {
    const std::size_t comma = m.find(',');
    if (!plus || comma == std::string_view::npos || m.substr(2, comma - 2) != kBindingName) {
      error = "unsupported SCRAM channel binding";
      return std::nullopt;
    }
    header_end = comma + 1;
  } else {
    error = "malformed SCRAM message (unexpected channel-binding flag)";
    return std::nullopt;
  }
  if (header_end >= m.size() || m[header_end] != ',') {
    error = "client uses authorization identity, which is not supported";
    return std::nullopt;
  }
  gs2_header_ = std::string(m.substr(0, header_end + 1));
  client_first_bare_ = std::string(m.substr(header_end + 1));
  if (client_first_bare_.substr(0, 2) == "m=") {
    error = "client requires an unsupported SCRAM extension";
    return std::nullopt;
  }
  auto r = attribute(client_first_bare_, 'r');
  if (!r || !printable_nonce(*r) || client_first_bare_.substr(0, 2) != "n=") {
    error = "malformed SCRAM message (client-first-message)";
    return std::nullopt;
  }
  combined_nonce_ = std::string(*r) + nonce_;
  server_first_ =
      "r=" + combined_nonce_ + ",s=" + base64(v_.salt) + ",i=" + std::to_string(v_.iterations);
  return server_first_;
}

std::optional<std::string> ServerExchange::client_final(std::string_view m, std::string& error) {
  const std::size_t proof_at = m.rfind(",p=");
  auto c = attribute(m, 'c');
  auto r = attribute(m, 'r');
  if (proof_at == std::string_view::npos || !c || !r) {
    error = "malformed SCRAM message (client-final-message)";
    return std::nullopt;
  }
  // c= carries the gs2 header again, and for -PLUS the binding data of our certificate.
  auto cbind = unbase64(*c);
  const bool plus = gs2_header_.substr(0, 2) == "p=";
  const std::string expected = gs2_header_ + (plus ? binding_ : std::string());
  if (!cbind || *cbind != expected) {
    error = "SCRAM channel binding check failed";
    return std::nullopt;
  }
  if (*r != combined_nonce_) {
    error = "SCRAM nonce mismatch";
    return std::nullopt;
  }
  auto proof = unbase64(m.substr(proof_at + 3));
  if (!proof || proof->size() != 32) {
    error = "malformed SCRAM message (invalid proof)";
    return std::nullopt;
  }
  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(m.substr(0, proof_at));
  const Key signature = hmac(v_.stored_key, auth_message);
  for (std::size_t i = 0; i < 32; ++i) {
    client_key_[i] =
        static_cast<std::uint8_t>(static_cast<std::uint8_t>((*proof)[i]) ^ signature[i]);
  }
  OPENSSL_cleanse(proof->data(), proof->size());
  const Key stored = sha256(client_key_.data(), client_key_.size());
  if (CRYPTO_memcmp(stored.data(), v_.stored_key.data(), 32) != 0) {
    OPENSSL_cleanse(client_key_.data(), client_key_.size());
    error.clear();  // a wrong password
    return std::nullopt;
  }
  return "v=" + base64(as_string(hmac(v_.server_key, auth_message)));
}

// ---- the proxy as client ----------------------------------------------------------------

ClientExchange::ClientExchange(const Verifier& v, const Key& client_key, std::string binding,
                               std::string nonce)
    : client_key_(client_key),
      stored_key_(v.stored_key),
      server_key_(v.server_key),
      iterations_(v.iterations),
      salt_(v.salt),
      binding_(std::move(binding)),
      nonce_(nonce.empty() ? random_nonce() : std::move(nonce)) {}

ClientExchange::ClientExchange(std::string password, std::string binding, std::string nonce)
    : from_password_(true),
      password_(std::move(password)),
      binding_(std::move(binding)),
      nonce_(nonce.empty() ? random_nonce() : std::move(nonce)) {}

ClientExchange::~ClientExchange() {
  OPENSSL_cleanse(password_.data(), password_.size());
  OPENSSL_cleanse(client_key_.data(), client_key_.size());
  OPENSSL_cleanse(stored_key_.data(), stored_key_.size());
  OPENSSL_cleanse(server_key_.data(), server_key_.size());
}

std::string ClientExchange::mechanism(bool plus_offered) const {
  return std::string(plus_offered && !binding_.empty() ? kMechanismPlus : kMechanism);
}

std::string ClientExchange::client_first(bool plus) {
  gs2_header_ = plus && !binding_.empty() ? "p=" + std::string(kBindingName) + ",," : "n,,";
  client_first_bare_ = "n=,r=" + nonce_;
  return gs2_header_ + client_first_bare_;
}

std::optional<std::string> ClientExchange::server_first(std::string_view m, std::string& error) {
  auto r = attribute(m, 'r');
  auto s = attribute(m, 's');
  auto i = attribute(m, 'i');
  if (!r || !s || !i || r->substr(0, nonce_.size()) != nonce_ || r->size() <= nonce_.size()) {
    error = "the server sent a malformed SCRAM message";
    return std::nullopt;
  }
  auto salt = unbase64(*s);
  int iterations = 0;
  auto [p, ec] = std::from_chars(i->data(), i->data() + i->size(), iterations);
  if (!salt || ec != std::errc{} || iterations <= 0) {
    error = "the server sent a malformed SCRAM message";
    return std::nullopt;
  }
  if (from_password_) {
    // PostgreSQL applies SASLprep to the password; the auth user's password is used as is
    // (identical for ASCII passwords).
    Key salted{};
    PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                      reinterpret_cast<const unsigned char*>(salt->data()),
                      static_cast<int>(salt->size()), iterations, EVP_sha256(), 32, salted.data());
    client_key_ = hmac(salted, "Client Key");
    stored_key_ = sha256(client_key_.data(), client_key_.size());
    server_key_ = hmac(salted, "Server Key");
    OPENSSL_cleanse(salted.data(), salted.size());
  } else if (iterations != iterations_ || *salt != salt_) {
    // Another verifier than the one the client was checked against (the password changed
    // in between): the client's key cannot work.
    error = "the role's SCRAM verifier changed during the login";
    return std::nullopt;
  }
  const bool plus = gs2_header_.substr(0, 2) == "p=";
  const std::string without_proof =
      "c=" + base64(gs2_header_ + (plus ? binding_ : std::string())) + ",r=" + std::string(*r);
  auth_message_ = client_first_bare_ + "," + std::string(m) + "," + without_proof;
  const Key signature = hmac(stored_key_, auth_message_);
  std::string proof(32, '\0');
  for (std::size_t k = 0; k < 32; ++k) {
    proof[k] = static_cast<char>(client_key_[k] ^ signature[k]);
  }
  std::string out = without_proof + ",p=" + base64(proof);
  OPENSSL_cleanse(proof.data(), proof.size());
  return out;
}

bool ClientExchange::server_final(std::string_view m, std::string& error) {
  if (auto e = attribute(m, 'e')) {
    error = "the server refused the SCRAM exchange: " + std::string(*e);
    return false;
  }
  auto v = attribute(m, 'v');
  auto signature = v ? unbase64(*v) : std::nullopt;
  const Key expected = hmac(server_key_, auth_message_);
  if (!signature || signature->size() != 32 ||
      CRYPTO_memcmp(signature->data(), expected.data(), 32) != 0) {
    error = "the server's SCRAM signature is invalid";
    return false;
  }
  return true;
}

}  // namespace pglc::proxy::scram
