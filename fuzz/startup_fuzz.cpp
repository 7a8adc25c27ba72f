// libFuzzer target over the startup and authentication phase code that needs no socket:
// pgwire::startup_packet_length / parse_startup_packet (StartupMessage, SSLRequest,
// GSSENCRequest, CancelRequest), pgwire::be::decode_authentication, the SASL
// mechanism-list rewrite proxy::strip_channel_binding, the SASLInitialResponse decoder
// proxy::scram_gs2_flag, and SCRAM termination (proxy/scram.hpp: verifiers, base64, both
// exchanges; not server_end_point, which is OpenSSL's d2i_X509 on the peer's
// certificate). (pgwire itself has no decoder of the client's 'p' messages.)
//
// Input: one control byte, then a byte stream, used
//  1. as a first packet, as sent (the proxy reads the 4-byte length, then that many
//     bytes), and with its length word rewritten to the stream's size so that the
//     parser's inner paths are reached; bit 0 of the control byte also overwrites the
//     protocol code with one of the special codes (bits 1-2 choose which);
//  2. as the body of one Authentication message ('R'), complete and as a cut prefix, and
//     of one client 'p' message;
//  3. as a backend byte stream, framed in one read and in two, each frame given to the
//     decoder and the rewrite;
//  4. split at 0x01 bytes into SCRAM fields: password, salt, binding data, mechanism,
//     client-first, client-final, server-first, server-final message.
//
// Besides the sanitizers' checks it traps when a parse result does not describe exactly
// the bytes it came from (the startup packet is rebuilt from it byte for byte), a view
// leaves the body, a rewritten mechanism list is not a well-formed AuthenticationSASL
// message, no longer than the original, offering the original mechanisms minus
// SCRAM-SHA-256-PLUS in their order; when an honest SCRAM exchange (client with the
// password, and the proxy's pass-through client with the ClientKey) fails against the
// proxy's server side, or when a login with fuzzed messages succeeds without revealing
// the role's real ClientKey.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "pgwire/backend.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/startup.hpp"
#include "proxy/sasl_rewrite.hpp"
#include "proxy/scram.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pw = pglc::pgwire;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
void put32(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  v[at] = static_cast<std::uint8_t>(x >> 24);
  v[at + 1] = static_cast<std::uint8_t>(x >> 16);
  v[at + 2] = static_cast<std::uint8_t>(x >> 8);
  v[at + 3] = static_cast<std::uint8_t>(x);
}

bool inside(pw::Bytes part, pw::Bytes whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// One startup packet, given exactly (an exact-size buffer: ASan sees any over-read).
void check_startup(const std::vector<std::uint8_t>& packet) {
  const pw::Bytes bytes(packet);
  const auto len = pw::startup_packet_length(bytes);
  if (packet.size() >= 4) {
    const std::uint32_t announced = be32(packet.data());
    require(len.has_value() == (announced >= 8 && announced <= pw::kMaxStartupPacket));
    if (len) require(*len == announced);
  } else {
    require(!len);
  }
  const pw::StartupParse r = pw::parse_startup_packet(bytes);
  require(r.packet.has_value() != !r.error.empty());
  if (!r.packet) return;
  // Only a whole packet of a legal length parses.
  require(len && *len == packet.size());
  const pw::StartupPacket& p = *r.packet;
  const std::uint32_t code = be32(packet.data() + 4);
  require(p.protocol == code);
  using Kind = pw::StartupPacket::Kind;
  switch (p.kind) {
    case Kind::ssl_request:
    case Kind::gssenc_request:
      require(code == (p.kind == Kind::ssl_request ? pw::kSslRequestCode : pw::kGssEncRequestCode));
      require(packet.size() == 8);
      require(p.parameters.empty());
      break;
    case Kind::cancel_request: {
      require(code == pw::kCancelRequestCode);
      require(packet.size() >= 16 && packet.size() <= 12 + 256);
      require(p.cancel_pid == static_cast<std::int32_t>(be32(packet.data() + 8)));
      require(p.cancel_secret.size() == packet.size() - 12);
      require(std::memcmp(p.cancel_secret.data(), packet.data() + 12, p.cancel_secret.size()) == 0);
      require(p.cancel_key == static_cast<std::int32_t>(
                                  be32(reinterpret_cast<const std::uint8_t*>(p.cancel_secret.data()))));
      break;
    }
    case Kind::startup: {
      require((code >> 16) == 3);
      require(code != pw::kSslRequestCode && code != pw::kGssEncRequestCode &&
              code != pw::kCancelRequestCode);
      // Rebuilt from the parse: the same bytes.
      std::vector<std::uint8_t> rebuilt(8);
      put32(rebuilt, 0, static_cast<std::uint32_t>(packet.size()));
      put32(rebuilt, 4, code);
      for (const auto& [name, value] : p.parameters) {
        require(!name.empty());
        require(name.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
        rebuilt.insert(rebuilt.end(), name.begin(), name.end());
        rebuilt.push_back(0);
        rebuilt.insert(rebuilt.end(), value.begin(), value.end());
        rebuilt.push_back(0);
      }
      rebuilt.push_back(0);
      require(rebuilt == packet);
      // parameter() answers the first occurrence of a name.
      if (!p.parameters.empty()) {
        const std::string& name = p.parameters.back().first;
        const auto first = std::find_if(p.parameters.begin(), p.parameters.end(),
                                        [&](const auto& kv) { return kv.first == name; });
        require(p.parameter(name) == first->second);
      }
      break;
    }
  }
}

std::vector<std::string_view> mechanisms_of(const pw::be::Authentication& a) {
  std::vector<std::string_view> out;
  a.for_each_mechanism([&](std::string_view m) { out.push_back(m); });
  return out;
}

// An Authentication message's decode and the rewrite of its mechanism list.
void check_auth(const pw::Frame& f) {
  const auto a = pw::be::decode_authentication(f);
  if (!f.complete()) require(!a.ok());
  if (a.ok()) {
    require(f.complete());
    require(inside(a.value.sasl_mechanisms, f.body) && inside(a.value.data, f.body));
    require(f.body.size() >= 4);
    switch (a.value.code) {
      case 0: case 2: case 3: case 6: case 7: case 9:
        require(f.body.size() == 4 && a.value.data.empty() && a.value.sasl_mechanisms.empty());
        break;
      case 5:
        require(f.body.size() == 8 && a.value.data.size() == 4);
        break;
      case 8: case 11: case 12:
        require(a.value.data.size() == f.body.size() - 4);
        break;
      case 10: {
        // Names, each NUL-terminated, then the empty name: nothing else.
        require(a.value.sasl_mechanisms.size() + 5 == f.body.size());
        std::size_t total = 0;
        for (std::string_view m : mechanisms_of(a.value)) {
          require(!m.empty());
          total += m.size() + 1;
        }
        require(total == a.value.sasl_mechanisms.size());
        break;
      }
      default:
        require(false);
    }
  }

  const auto out = pglc::proxy::strip_channel_binding(f);
  std::vector<std::string_view> expected;
  bool offers_plus = false;
  if (f.type == pw::be::kAuthentication && a.ok() && a.value.code == 10) {
    for (std::string_view m : mechanisms_of(a.value)) {
      if (m == pglc::proxy::kChannelBindingMechanism)
        offers_plus = true;
      else
        expected.push_back(m);
    }
  }
  require(out.has_value() == offers_plus);
  if (!out) return;
  // A well-formed AuthenticationSASL message, no longer than the original.
  const std::vector<std::uint8_t>& msg = *out;
  require(msg.size() >= 10 && msg.size() <= f.wire_size());
  require(msg[0] == pw::be::kAuthentication);
  require(be32(msg.data() + 1) == msg.size() - 1);
  const pw::Frame rewritten{static_cast<char>(msg[0]), be32(msg.data() + 1),
                            pw::Bytes(msg).subspan(5)};
  const auto b = pw::be::decode_authentication(rewritten);
  require(b.ok() && b.value.code == 10);
  const std::vector<std::string_view> kept = mechanisms_of(b.value);
  require(kept == expected);
  for (std::string_view m : kept) require(m != pglc::proxy::kChannelBindingMechanism);
  // The same message through the framer: one whole frame, nothing left over.
  pw::Framer framer(pw::Direction::backend);
  int frames = 0;
  require(framer.feed(pw::Bytes(msg), [&](const pw::Frame& g, std::size_t end) {
    ++frames;
    require(end == msg.size() && g.complete() && g.type == pw::be::kAuthentication);
  }) == pw::FrameError::none);
  require(frames == 1);
  // Nothing left to strip.
  require(!pglc::proxy::strip_channel_binding(rewritten));
}

// A client's 'p' message: SASLInitialResponse (mechanism, NUL, int32 length, data).
void check_gs2_flag(const pw::Frame& f) {
  const auto flag = pglc::proxy::scram_gs2_flag(f);
  std::optional<char> expected;
  const std::string_view body(reinterpret_cast<const char*>(f.body.data()), f.body.size());
  const std::size_t nul = body.find('\0');
  if (f.type == 'p' && f.complete() && nul != std::string_view::npos &&
      body.substr(0, nul).starts_with("SCRAM-") && body.size() >= nul + 6) {
    const char c = body[nul + 5];
    if (c == 'n' || c == 'y' || c == 'p') expected = c;
  }
  require(flag == expected);
}

namespace scram = pglc::proxy::scram;

scram::Key hmac_key(const scram::Key& key, std::string_view data) {
  scram::Key out{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &n);
  return out;
}

struct Role {
  std::string rolpassword;  // as pg_authid stores it
  scram::Key client_key{};
  scram::Key stored_key{};
  scram::Key server_key{};
};

// What CREATE ROLE ... PASSWORD stores (RFC 5802 key derivation), worked out here.
Role make_role(std::string_view password, std::string_view salt, int iterations) {
  Role r;
  scram::Key salted{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                    iterations, EVP_sha256(), 32, salted.data());
  r.client_key = hmac_key(salted, "Client Key");
  unsigned int n = 0;
  EVP_Digest(r.client_key.data(), r.client_key.size(), r.stored_key.data(), &n, EVP_sha256(), nullptr);
  r.server_key = hmac_key(salted, "Server Key");
  auto b64 = [](const scram::Key& k) {
    return scram::base64(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
  };
  r.rolpassword = "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + scram::base64(salt) + "$" +
                  b64(r.stored_key) + ":" + b64(r.server_key);
  return r;
}

// One honest login: `client` against the proxy's server side. Returns the ClientKey the
// server side learnt.
scram::Key honest_login(scram::ClientExchange& client, const scram::Verifier& v,
                        const std::string& binding) {
  scram::ServerExchange server(v, binding, "server-nonce");
  std::string error;
  const std::string mechanism = client.mechanism(!binding.empty());
  require(mechanism == (binding.empty() ? "SCRAM-SHA-256" : "SCRAM-SHA-256-PLUS"));
  const auto server_first = server.client_first(mechanism, client.client_first(!binding.empty()), error);
  require(server_first.has_value());
  const auto client_final = client.server_first(*server_first, error);
  require(client_final.has_value());
  const auto server_final = server.client_final(*client_final, error);
  require(server_final.has_value());
  require(client.server_final(*server_final, error));
  return server.client_key();
}

// The value of the first ",i=" attribute (as scram.cpp reads it), when it is a number.
std::optional<long long> iterations_in(std::string_view m) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t comma = m.find(',', pos);
    const std::string_view part = m.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    if (part.size() >= 2 && part[0] == 'i' && part[1] == '=') {
      long long i = 0;
      auto [p, ec] = std::from_chars(part.data() + 2, part.data() + part.size(), i);
      if (ec != std::errc{}) return std::nullopt;
      return i;
    }
    if (comma == std::string_view::npos) return std::nullopt;
    pos = comma + 1;
  }
}

void check_scram(std::uint8_t control, std::string_view in) {
  std::string_view field[8];
  for (int k = 0; k < 8; ++k) {
    const std::size_t sep = in.find('\x01');
    field[k] = in.substr(0, sep);
    in = sep == std::string_view::npos ? std::string_view() : in.substr(sep + 1);
  }
  const std::string_view password = field[0], mechanism = field[3];
  const std::string salt = field[1].empty() ? std::string("salt") : std::string(field[1]);
  const std::string binding(field[2]);

  // base64 both ways.
  for (std::string_view f : field) {
    const std::string b = scram::base64(f);
    require(b.size() == 4 * ((f.size() + 2) / 3));
    require(scram::unbase64(b) == std::string(f));
    if (auto raw = scram::unbase64(f)) require(raw->size() <= 3 * (f.size() / 4));
    (void)scram::parse_verifier(f);
  }

  // A role's verifier, as the server stores it, parses back to its parts.
  const int iterations = 1 + (control & 15);
  const Role role = make_role(password, salt, iterations);
  const auto v = scram::parse_verifier(role.rolpassword);
  require(v.has_value());
  require(v->iterations == iterations && v->salt == salt);
  require(v->stored_key == role.stored_key && v->server_key == role.server_key);

  // Honest logins succeed and hand the proxy the role's ClientKey: a client with the
  // password, then the proxy's own client with that key (what it logs in to the server
  // with), with channel binding when there is binding data.
  {
    scram::ClientExchange client{std::string(password), binding, "client-nonce"};
    require(honest_login(client, *v, binding) == role.client_key);
    scram::ClientExchange relay{*v, role.client_key, binding, "relay-nonce"};
    require(honest_login(relay, *v, binding) == role.client_key);
  }

  std::string error;
  // The proxy as server, fed the fuzzed client messages: a login that succeeds must
  // have shown the real ClientKey.
  {
    scram::ServerExchange server(*v, binding, "server-nonce");
    const auto first = server.client_first(mechanism, field[4], error);
    if (!first) {
      require(!error.empty());
    } else {
      require(first->starts_with("r=") && first->ends_with(",i=" + std::to_string(iterations)));
      if (server.client_final(field[5], error)) require(server.client_key() == role.client_key);
    }
  }
  // ... and after an honest client-first.
  {
    scram::ClientExchange client{std::string(password), binding, "client-nonce"};
    scram::ServerExchange server(*v, binding, "server-nonce");
    const std::string m = client.mechanism(!binding.empty());
    require(server.client_first(m, client.client_first(!binding.empty()), error).has_value());
    if (server.client_final(field[5], error)) require(server.client_key() == role.client_key);
  }
  // The proxy as client of a fuzzed server. With a password the client runs PBKDF2 with
  // the server's iteration count, which scram.cpp does not bound: only small ones here.
  {
    scram::ClientExchange relay{*v, role.client_key, binding, "relay-nonce"};
    (void)relay.client_first(control & 0x10);
    if (relay.server_first(field[6], error)) (void)relay.server_final(field[7], error);
    const auto i = iterations_in(field[6]);
    if (!i || *i <= 64) {
      scram::ClientExchange client{std::string(password), binding, "client-nonce"};
      (void)client.client_first(control & 0x10);
      if (client.server_first(field[6], error)) (void)client.server_final(field[7], error);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  const std::vector<std::uint8_t> stream(data + 1, data + size);

  // 1. A first packet. The proxy reads exactly 4 bytes, then the announced length.
  if (stream.size() >= 4) {
    const std::vector<std::uint8_t> header(stream.begin(), stream.begin() + 4);
    if (const auto len = pw::startup_packet_length(pw::Bytes(header)); len && *len <= stream.size()) {
      check_startup(std::vector<std::uint8_t>(stream.begin(), stream.begin() + *len));
    }
  }
  check_startup(stream);
  if (stream.size() >= 8) {
    std::vector<std::uint8_t> fixed = stream;
    put32(fixed, 0, static_cast<std::uint32_t>(fixed.size()));
    if (control & 1) {
      static constexpr std::uint32_t kCodes[] = {pw::kSslRequestCode, pw::kGssEncRequestCode,
                                                 pw::kCancelRequestCode, pw::kProtocol30};
      put32(fixed, 4, kCodes[(control >> 1) & 3]);
    }
    check_startup(fixed);
  }

  // 2. The stream as the body of one Authentication message, whole and cut.
  const pw::Bytes body(stream);
  check_auth(pw::Frame{pw::be::kAuthentication, static_cast<std::uint32_t>(body.size() + 4), body});
  check_auth(pw::Frame{pw::be::kAuthentication, static_cast<std::uint32_t>(body.size() + 9), body});
  if (control & 0x80) {
    // Any other type: neither decoded as Authentication by the rewrite nor rewritten.
    check_auth(pw::Frame{static_cast<char>(control & 0x7f), static_cast<std::uint32_t>(body.size() + 4), body});
  }
  check_gs2_flag(pw::Frame{'p', static_cast<std::uint32_t>(body.size() + 4), body});
  check_gs2_flag(pw::Frame{'p', static_cast<std::uint32_t>(body.size() + 5), body});

  // 3. The stream as what the server sends during authentication (the proxy bounds
  // those messages at 64 KiB), in one read and in two; a message straddling the two
  // reads is assembled, or cut at a retain limit of 8 bytes when control bit 6 is set.
  {
    pw::Framer framer(pw::Direction::backend, 1u << 16);
    (void)framer.feed(body, [&](const pw::Frame& f, std::size_t end) {
      require(end <= body.size() && f.complete() && inside(f.body, body));
      check_auth(f);
    });
  }
  {
    const std::size_t split = body.size() * ((control >> 2) & 15) / 16;
    const std::vector<std::uint8_t> first(body.begin(), body.begin() + split);
    const std::vector<std::uint8_t> second(body.begin() + split, body.end());
    pw::Framer framer(pw::Direction::backend, 1u << 16, (control & 0x40) ? 8 : pw::Framer::kDefaultRetainLimit);
    auto on_frame = [&](const pw::Frame& f, std::size_t) {
      check_auth(f);
      check_gs2_flag(f);
    };
    if (framer.feed(pw::Bytes(first), on_frame) == pw::FrameError::none)
      (void)framer.feed(pw::Bytes(second), on_frame);
  }

  // 4. SCRAM termination.
  check_scram(control, std::string_view(reinterpret_cast<const char*>(stream.data()), stream.size()));
  return 0;
}
