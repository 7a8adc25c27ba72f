// The first packet a client sends has no type byte: int32 length, int32 code, body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgwire/frame.hpp"

namespace pglc::pgwire {

inline constexpr std::uint32_t kProtocol30 = 196608;  // 3.0
inline constexpr std::uint32_t kSslRequestCode = 80877103;
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;
inline constexpr std::uint32_t kCancelRequestCode = 80877102;
// PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t kMaxStartupPacket = 10000;

struct StartupPacket {
  enum class Kind { startup, ssl_request, gssenc_request, cancel_request };
  Kind kind = Kind::startup;
  std::uint32_t protocol = 0;
  std::vector<std::pair<std::string, std::string>> parameters;  // startup only
  std::int32_t cancel_pid = 0;                                  // cancel only
  std::int32_t cancel_key = 0;  // the first 4 bytes of cancel_secret
  // The whole secret key: 4 bytes in protocol 3.0, up to 256 bytes from protocol 3.2 on.
  std::string cancel_secret;

  std::string_view parameter(std::string_view name) const;
};

struct StartupParse {
  std::optional<StartupPacket> packet;
  std::string error;  // set when packet is empty: why the packet is malformed
};

// Length of the packet announced by its first four bytes, or nullopt if out of range
// (the caller answers 08P01). `prefix` must hold at least 4 bytes.
std::optional<std::uint32_t> startup_packet_length(Bytes prefix);

// Parses a whole startup packet, length word included.
StartupParse parse_startup_packet(Bytes packet);

}  // namespace pglc::pgwire
