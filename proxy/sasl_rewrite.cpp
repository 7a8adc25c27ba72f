#include "proxy/sasl_rewrite.hpp"

#include <string>
#include <string_view>

#include "pgwire/backend.hpp"
#include "pgwire/builder.hpp"

namespace pglc::proxy {

std::optional<std::vector<std::uint8_t>> strip_channel_binding(const pgwire::Frame& frame) {
  if (frame.type != pgwire::be::kAuthentication) return std::nullopt;
  auto auth = pgwire::be::decode_authentication(frame);
  if (!auth.ok() || auth.value.code != 10) return std::nullopt;
  std::vector<std::string> kept;
  bool removed = false;
  auth.value.for_each_mechanism([&](std::string_view m) {
    if (m == kChannelBindingMechanism)
      removed = true;
    else
      kept.emplace_back(m);
  });
  if (!removed) return std::nullopt;
  return pgwire::authentication_sasl(kept);
}

std::optional<char> scram_gs2_flag(const pgwire::Frame& frame) {
  if (frame.type != 'p' || !frame.complete()) return std::nullopt;
  const std::string_view body(reinterpret_cast<const char*>(frame.body.data()), frame.body.size());
  const std::size_t nul = body.find('\0');
  if (nul == std::string_view::npos || body.substr(0, nul).rfind("SCRAM-", 0) != 0) {
    return std::nullopt;
  }
  // Mechanism, NUL, int32 length of the data (-1: none), then the data: "y,," ...
  if (body.size() < nul + 1 + 4 + 1) return std::nullopt;
  const char flag = body[nul + 1 + 4];
  if (flag != 'n' && flag != 'y' && flag != 'p') return std::nullopt;
  return flag;
}

}  // namespace pglc::proxy
