#include "pgwire/startup.hpp"

namespace pglc::pgwire {

namespace {
// Protocol 3.2 lets the server choose a secret key of up to 256 bytes.
constexpr std::size_t kMaxCancelSecret = 256;

}  // namespace

std::string_view StartupPacket::parameter(std::string_view name) const {
  for (const auto& [k, v] : parameters)
    if (k == name) return v;
  return {};
}

std::optional<std::uint32_t> startup_packet_length(Bytes prefix) {
  if (prefix.size() < 4) return std::nullopt;
  std::uint32_t len = be32(prefix.data());
  if (len < 8 || len > kMaxStartupPacket) return std::nullopt;
  return len;
}

StartupParse parse_startup_packet(Bytes packet) {
  StartupParse out;
  auto len = startup_packet_length(packet);
  if (!len || *len != packet.size()) {
    out.error = "invalid length of startup packet";
    return out;
  }
  const std::uint32_t code = be32(packet.data() + 4);
  StartupPacket p;
  p.protocol = code;
  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    if (packet.size() != 8) {
      out.error = "invalid length of encryption request packet";
      return out;
    }
    p.kind = code == kSslRequestCode ? StartupPacket::Kind::ssl_request
                                     : StartupPacket::Kind::gssenc_request;
    out.packet = std::move(p);
    return out;
  }
  if (code == kCancelRequestCode) {
    if (packet.size() < 16 || packet.size() > 12 + kMaxCancelSecret) {
      out.error = "invalid length of cancel request packet";
      return out;
    }
    p.kind = StartupPacket::Kind::cancel_request;
    p.cancel_pid = static_cast<std::int32_t>(be32(packet.data() + 8));
    p.cancel_key = static_cast<std::int32_t>(be32(packet.data() + 12));
    p.cancel_secret.assign(reinterpret_cast<const char*>(packet.data() + 12), packet.size() - 12);
    out.packet = std::move(p);
    return out;
  }
  if ((code >> 16) != 3) {
    out.error = "unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                std::to_string(code & 0xffff);
    return out;
  }
  // name\0value\0 ... \0
  std::size_t pos = 8;
  const std::size_t n = packet.size();
  auto read_cstr = [&](std::string& dst) -> bool {
    std::size_t start = pos;
    while (pos < n && packet[pos] != 0) ++pos;
    if (pos >= n) return false;
    dst.assign(reinterpret_cast<const char*>(packet.data() + start), pos - start);
    ++pos;
    return true;
  };
  for (;;) {
    if (pos >= n) {
      out.error = "startup packet is missing its terminator";
      return out;
    }
    if (packet[pos] == 0) {
      if (pos + 1 != n) {
        out.error = "trailing bytes after startup packet terminator";
        return out;
      }
      break;
    }
    std::string name, value;
    if (!read_cstr(name) || !read_cstr(value)) {
      out.error = "startup packet has an unterminated parameter";
      return out;
    }
    p.parameters.emplace_back(std::move(name), std::move(value));
  }
  p.kind = StartupPacket::Kind::startup;
  out.packet = std::move(p);
  return out;
}

}  // namespace pglc::pgwire
