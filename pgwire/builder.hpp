// The few messages the proxy writes itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgwire/frame.hpp"

namespace pglc::pgwire {

// A complete ErrorResponse ('E') with severity FATAL (or as given), SQLSTATE and message.
std::vector<std::uint8_t> error_response(std::string_view sqlstate, std::string_view message,
                                         std::string_view severity = "FATAL");

// The 5 bytes of a Flush message ('H', length 4).
inline constexpr std::uint8_t kFlushMessage[5] = {'H', 0, 0, 0, 4};

// AuthenticationSASL ('R', code 10) listing `mechanisms` in order.
// Appends `f` as it goes on the wire (type, length, body); f must be complete.
void append_frame(std::vector<std::uint8_t>& out, const Frame& f);

std::vector<std::uint8_t> authentication_sasl(const std::vector<std::string>& mechanisms);

// For SCRAM termination and the --auth-query lookup, where the proxy is a party itself:
// Authentication ('R') with `code` and raw data (11 SASLContinue, 12 SASLFinal).
std::vector<std::uint8_t> authentication(std::int32_t code, std::string_view data);
// SASLInitialResponse ('p'): mechanism, then the data with its length.
std::vector<std::uint8_t> sasl_initial_response(std::string_view mechanism, std::string_view data);
// SASLResponse / PasswordMessage ('p') carrying `data` as is (a password adds its NUL).
std::vector<std::uint8_t> password_message(std::string_view data);
// StartupMessage (protocol 3.0) with the given parameters.
std::vector<std::uint8_t> startup_message(
    const std::vector<std::pair<std::string, std::string>>& parameters);
// Parse, Bind (one text parameter, text results), Execute, Sync of `sql` with $1 = `param`.
std::vector<std::uint8_t> one_param_query(std::string_view sql, std::string_view param);
// Terminate ('X').
inline constexpr std::uint8_t kTerminateMessage[5] = {'X', 0, 0, 0, 4};

}  // namespace pglc::pgwire
