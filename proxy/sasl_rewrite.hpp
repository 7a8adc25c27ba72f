// Channel binding (SCRAM-SHA-256-PLUS) binds the SCRAM exchange to the TLS certificate
// of the connection the client sees. When the proxy terminates the client's TLS with a
// certificate other than the server's, the exchange can never succeed; on a plaintext
// client connection libpq refuses a server that offers it at all (the backend offers it
// because ITS connection is TLS). In those cases the session takes the mechanism out of
// the list offered to the client — after, under --backend-sslmode prefer, first moving
// the backend link to plaintext so that the server stops offering it (see session.cpp
// and docs/proxy.md). When the proxy presents the server's own certificate, binding
// works and the list passes through unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "pgwire/frame.hpp"

namespace pglc::proxy {

inline constexpr char kChannelBindingMechanism[] = "SCRAM-SHA-256-PLUS";

// For an AuthenticationSASL message (type 'R', code 10) that offers
// SCRAM-SHA-256-PLUS: the whole replacement message (type byte included) offering the
// other mechanisms in the same order. nullopt for any other message, which is then
// forwarded unchanged.
std::optional<std::vector<std::uint8_t>> strip_channel_binding(const pgwire::Frame& frame);

// The gs2 channel-binding flag of a client's SASLInitialResponse (a 'p' message that
// names a SCRAM mechanism): 'n' (client cannot bind), 'y' (client could, but believes
// the server cannot), 'p' (binding used). nullopt for anything else. A 'y' after -PLUS
// was withheld on a TLS backend link is what the server rejects as a downgrade.
std::optional<char> scram_gs2_flag(const pgwire::Frame& frame);

}  // namespace pglc::proxy
