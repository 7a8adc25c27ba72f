// libFuzzer target over the whole pgwire layer.
//
// Input: one control byte, then a byte stream. The stream is parsed as a startup packet,
// framed in both directions (whole, and in chunks whose sizes come from the control
// byte), and every frame is run through every decoder of its direction. Besides the
// sanitizers' memory checks, it traps when chunked and whole framing disagree, or when a
// decoder reports success with views that break the message's own counts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "pgwire/backend.hpp"
#include "pgwire/builder.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/frontend.hpp"
#include "pgwire/ledger.hpp"
#include "pgwire/startup.hpp"

namespace pw = pglc::pgwire;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void decode_frontend(const pw::Frame& f) {
  using namespace pw::fe;
  (void)is_known_type(f.type);
  (void)type_name(f.type);
  (void)decode_query(f);
  (void)decode_query_prefix(f);
  (void)decode_execute(f);
  (void)decode_function_call(f);
  (void)decode_copy_fail(f);
  (void)decode_describe(f);
  (void)decode_close(f);
  if (auto p = decode_parse(f); p.ok()) {
    require(p.value.param_types.size() == std::size_t{p.value.param_type_count} * 4);
    for (std::size_t i = 0; i <= p.value.param_type_count; ++i) (void)p.value.param_type(i);
  }
  (void)decode_parse_prefix(f);
  for (auto b : {decode_bind(f), decode_bind_prefix(f)}) {
    if (!b.ok()) continue;
    require(b.value.param_formats.size() == std::size_t{b.value.param_format_count} * 2);
    require(b.value.result_formats.size() == std::size_t{b.value.result_format_count} * 2);
    std::size_t seen = 0, bytes = 0;
    b.value.for_each_param([&](std::size_t i, std::optional<pw::Bytes> v) {
      require(i == seen++);
      if (v)
        bytes += 4 + v->size();
      else
        bytes += 4;
      (void)b.value.param_format(i);
    });
    require(seen == b.value.param_count);
    require(bytes == b.value.params.size());
  }
}

void decode_backend(const pw::Frame& f) {
  using namespace pw::be;
  (void)is_known_type(f.type);
  (void)type_name(f.type);
  if (auto d = decode_parameter_description(f); d.ok()) {
    require(d.value.oids.size() == std::size_t{d.value.count} * 4);
    for (std::size_t i = 0; i <= d.value.count; ++i) (void)d.value.oid(i);
  }
  (void)decode_row_description(f);
  (void)decode_data_row(f);
  if (auto c = decode_command_complete(f); c.ok()) require(c.value.rows() >= -1);
  (void)decode_error_fields(f);
  (void)decode_ready_for_query(f);
  (void)decode_copy_response(f);
  if (auto k = decode_backend_key_data(f); k.ok()) require(k.value.secret.size() >= 4);
  (void)decode_parameter_status(f);
  if (auto a = decode_authentication(f); a.ok()) {
    std::size_t total = 0;
    a.value.for_each_mechanism([&](std::string_view m) { total += m.size() + 1; });
    require(total == a.value.sasl_mechanisms.size());
  }
}

struct Seen {
  char type;
  std::uint32_t length;
  std::size_t end;
  bool complete;
  std::vector<std::uint8_t> body;
  bool operator==(const Seen& o) const {
    // Bodies are comparable only when both sides kept the whole of it.
    return type == o.type && length == o.length && end == o.end &&
           (!complete || !o.complete || body == o.body);
  }
};

// Frames `data` in chunks of the given sizes (cycled), decoding every frame.
std::pair<std::vector<Seen>, pw::FrameError> frame_all(pw::Direction dir, pw::Bytes data,
                                                       const std::vector<std::size_t>& sizes,
                                                       std::uint32_t retain_limit) {
  pw::Framer framer(dir, 1u << 16, retain_limit);
  // The ledger takes any message order (one direction's stream alone, here) and keeps its
  // counts consistent or says it is unsure.
  pw::Ledger ledger;
  std::vector<Seen> seen;
  std::size_t base = 0, k = 0;
  while (base < data.size()) {
    const std::size_t n = std::min(sizes[k++ % sizes.size()], data.size() - base);
    // An exact-size copy: reading past the chunk is an ASan error.
    std::vector<std::uint8_t> chunk(data.begin() + base, data.begin() + base + n);
    chunk.shrink_to_fit();
    pw::FrameError e = framer.feed(pw::Bytes(chunk), [&](const pw::Frame& f, std::size_t end) {
      require(end <= n);
      require(f.length >= 4);
      require(f.body.size() <= f.body_length());
      require(f.body.size() == f.body_length() || f.body.size() <= retain_limit);
      seen.push_back({f.type, f.length, base + end, f.complete(),
                      std::vector<std::uint8_t>(f.body.begin(), f.body.end())});
      if (dir == pw::Direction::frontend) {
        decode_frontend(f);
        ledger.on_frontend(f.type);
        const auto names = pw::fe::leading_cstrings(f);
        require(names.first.size() + names.second.size() <= f.body.size());
      } else {
        decode_backend(f);
        ledger.on_backend(f);
      }
      require(ledger.unsure() || ledger.readies() <= ledger.requests());
      require(!ledger.idle() || !ledger.owes_ready());
    });
    if (e != pw::FrameError::none) return {seen, e};
    base += n;
  }
  return {seen, pw::FrameError::none};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  const pw::Bytes stream(data + 1, size - 1);

  // Startup phase: the stream as a first packet.
  if (auto len = pw::startup_packet_length(stream); len && *len <= stream.size()) {
    auto r = pw::parse_startup_packet(stream.first(*len));
    require(r.packet.has_value() != !r.error.empty());
  }
  (void)pw::parse_startup_packet(stream);

  // The stream as one body handed straight to every decoder, both ways.
  if (!stream.empty()) {
    const pw::Frame f{static_cast<char>(stream[0]), static_cast<std::uint32_t>(stream.size() + 3),
                      stream.subspan(1)};
    decode_frontend(f);
    decode_backend(f);
    // The same body as a retained prefix of a longer message.
    const pw::Frame partial{f.type, f.length + 7, f.body};
    decode_frontend(partial);
    decode_backend(partial);
  }

  // Framing, whole vs. chunked: same messages, same error.
  const std::vector<std::size_t> sizes = {std::size_t{1} + (control & 7),
                                          std::size_t{1} + ((control >> 3) & 31), 1, 3};
  const std::uint32_t retain_limit = (control & 0x80) ? 8 : pw::Framer::kDefaultRetainLimit;
  for (pw::Direction dir : {pw::Direction::frontend, pw::Direction::backend}) {
    auto whole = frame_all(dir, stream, {stream.size() + 1}, pw::Framer::kDefaultRetainLimit);
    auto chunked = frame_all(dir, stream, sizes, retain_limit);
    require(whole.second == chunked.second);
    require(whole.first == chunked.first);
    for (const Seen& s : whole.first) require(s.complete);
  }

  // The builder: what it writes decodes to what it was given (cut at a NUL).
  if (stream.size() >= 2) {
    const std::size_t cut = stream[0] % stream.size();
    const std::string_view text(reinterpret_cast<const char*>(stream.data()), stream.size());
    const auto msg = pw::error_response(text.substr(0, cut), text.substr(cut));
    pw::Framer framer(pw::Direction::backend);
    int frames = 0;
    require(framer.feed(pw::Bytes(msg), [&](const pw::Frame& f, std::size_t) {
      ++frames;
      auto e = pw::be::decode_error_fields(f);
      require(e.ok());
      const std::string_view code = text.substr(0, cut);
      require(e.value.sqlstate == code.substr(0, code.find('\0')));
    }) == pw::FrameError::none);
    require(frames == 1);
  }
  return 0;
}
