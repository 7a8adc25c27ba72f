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

}  // namespace pglc::proxy
