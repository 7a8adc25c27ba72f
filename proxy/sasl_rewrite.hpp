// Channel binding (SCRAM-SHA-256-PLUS) binds the SCRAM exchange to the TLS certificate
// of the connection the client sees. When the proxy terminates the client's TLS, that is
// the proxy's certificate while the server binds to its own, so the exchange can never
// succeed; on a plaintext client connection libpq refuses a server that offers it at all
// (the backend offers it because ITS connection is TLS). So the mechanism is always taken
// out of the list offered to the client.
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

}  // namespace pglc::proxy
