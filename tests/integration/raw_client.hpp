// A wire-protocol client on a plain socket, for what libpq will not send: malformed
// messages, byte-at-a-time writes, SSL/GSSENC requests answered by hand. Built from the
// protocol documentation, not from pgwire/, so that it checks the proxy independently.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pglc::test {

struct RawMessage {
  char type = 0;
  std::string body;  // without type and length
};

inline void put_u32(std::string& out, uint32_t v) {
  v = htonl(v);
  out.append(reinterpret_cast<const char*>(&v), 4);
}

inline std::string startup_message(std::string_view user, std::string_view database) {
  std::string body;
  put_u32(body, 196608);  // protocol 3.0
  body += "user";
  body += '\0';
  body += user;
  body += '\0';
  body += "database";
  body += '\0';
  body += database;
  body += '\0';
  body += '\0';
  std::string out;
  put_u32(out, static_cast<uint32_t>(body.size() + 4));
  return out + body;
}

inline std::string request_code_message(uint32_t code) {  // SSLRequest, GSSENCRequest
  std::string out;
  put_u32(out, 8);
  put_u32(out, code);
  return out;
}
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;

inline std::string message(char type, std::string_view body) {
  std::string out(1, type);
  put_u32(out, static_cast<uint32_t>(body.size() + 4));
  return out.append(body);
}

inline std::string query_message(std::string_view sql) {
  std::string body(sql);
  body += '\0';
  return message('Q', body);
}

// Fields of an ErrorResponse / NoticeResponse body, keyed by their one-letter code.
inline std::map<char, std::string> error_fields(const std::string& body) {
  std::map<char, std::string> fields;
  size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    char code = body[pos++];
    size_t end = body.find('\0', pos);
    if (end == std::string::npos) break;
    fields[code] = body.substr(pos, end - pos);
    pos = end + 1;
  }
  return fields;
}

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads exactly n bytes (or fewer on EOF/timeout: then `closed()` or `timed_out()`).
  std::string read_exact(size_t n, int timeout_ms = 10000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (buffer_.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        timed_out_ = true;
        break;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) {
        closed_ = true;
        break;
      }
      buffer_.append(buf, static_cast<size_t>(r));
    }
    size_t take = std::min(n, buffer_.size());
    std::string out = buffer_.substr(0, take);
    buffer_.erase(0, take);
    return out;
  }

  std::optional<RawMessage> read_message(int timeout_ms = 10000) {
    std::string header = read_exact(5, timeout_ms);
    if (header.size() < 5) return std::nullopt;
    uint32_t len;
    std::memcpy(&len, header.data() + 1, 4);
    len = ntohl(len);
    if (len < 4) return std::nullopt;
    RawMessage m;
    m.type = header[0];
    m.body = read_exact(len - 4, timeout_ms);
    if (m.body.size() != len - 4) return std::nullopt;
    return m;
  }

  // Reads messages until one of type `type` arrives (returned) or the stream ends.
  std::optional<RawMessage> read_until(char type, std::vector<RawMessage>* skipped = nullptr,
                                       int timeout_ms = 10000) {
    for (;;) {
      auto m = read_message(timeout_ms);
      if (!m || m->type == type) return m;
      if (skipped != nullptr) skipped->push_back(*m);
    }
  }

  // True once the peer closed: reads (and drops) until EOF or the timeout.
  bool wait_closed(int timeout_ms = 10000) {
    buffer_.clear();
    while (!closed_ && !timed_out_) read_exact(1 << 20, timeout_ms);
    return closed_;
  }

  bool closed() const { return closed_; }
  bool timed_out() const { return timed_out_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  bool timed_out_ = false;
  std::string buffer_;
};

}  // namespace pglc::test
