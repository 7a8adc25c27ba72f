// The few messages the proxy writes itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pglc::pgwire {

// A complete ErrorResponse ('E') with severity FATAL (or as given), SQLSTATE and message.
std::vector<std::uint8_t> error_response(std::string_view sqlstate, std::string_view message,
                                         std::string_view severity = "FATAL");

// The 5 bytes of a Flush message ('H', length 4).
inline constexpr std::uint8_t kFlushMessage[5] = {'H', 0, 0, 0, 4};

// AuthenticationSASL ('R', code 10) listing `mechanisms` in order.
std::vector<std::uint8_t> authentication_sasl(const std::vector<std::string>& mechanisms);

}  // namespace pglc::pgwire
