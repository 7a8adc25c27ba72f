// The fuzzer's seed corpus (fuzz/corpus/) is made of these streams. Run with
// PGLC_WRITE_FUZZ_CORPUS=<dir> to (re)write the seed files; without it the test checks
// that every seed is a clean stream, so seeds start the fuzzer on valid protocol.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "pgwire/framer.hpp"
#include "sessions.hpp"

namespace pglc::pgwire::test {
namespace {

struct Seed {
  std::string name;
  std::uint8_t control;  // first input byte: chunk sizes and retain limit
  ByteVec stream;
  bool framed = true;  // false for startup packets
};

std::vector<Seed> seeds() {
  return {
      {"psql_fe", 0x00, psql_frontend()},
      {"psql_be", 0x11, psql_backend()},
      {"npgsql_fe", 0x2a, npgsql_frontend()},
      {"npgsql_be", 0x83, npgsql_backend()},
      {"pgjdbc_fe", 0x45, pgjdbc_frontend()},
      {"pgjdbc_be", 0x96, pgjdbc_backend()},
      {"copy_fe", 0x07, copy_frontend()},
      {"copy_be", 0xf8, copy_backend()},
      {"auth_be", 0x09,
       concat({Msg('R').i32(10).str("SCRAM-SHA-256-PLUS").str("SCRAM-SHA-256").u8(0).bytes(),
               Msg('R').i32(11).raw("r=abc,s=c2FsdA==,i=4096").bytes(),
               Msg('R').i32(12).raw("v=c2ln").bytes(), Msg('R').i32(0).bytes(),
               Msg('K').i32(99).raw(std::string(32, 'k')).bytes()})},
      {"startup", 0x00,
       Msg::untyped()
           .i32(196608)
           .str("user")
           .str("alice")
           .str("database")
           .str("shop")
           .u8(0)
           .bytes(),
       false},
      {"cancel", 0x00, Msg::untyped().i32(80877102).i32(4242).i32(0x1badcafe).bytes(), false},
  };
}

TEST_CASE("fuzz seeds are clean streams (and are written on request)") {
  const char* dir = std::getenv("PGLC_WRITE_FUZZ_CORPUS");
  for (const Seed& s : seeds()) {
    CAPTURE(s.name);
    if (s.framed) {
      for (Direction d : {Direction::frontend, Direction::backend}) {
        Framer framer(d);
        int frames = 0;
        CHECK(framer.feed(Bytes(s.stream), [&](const Frame&, std::size_t) { ++frames; }) ==
              FrameError::none);
        CHECK(framer.at_boundary());
        CHECK(frames > 0);
      }
    }
    if (dir != nullptr) {
      std::ofstream out(std::string(dir) + "/" + s.name, std::ios::binary);
      out.put(static_cast<char>(s.control));
      out.write(reinterpret_cast<const char*>(s.stream.data()),
                static_cast<std::streamsize>(s.stream.size()));
      REQUIRE(out.good());
    }
  }
}

}  // namespace
}  // namespace pglc::pgwire::test
