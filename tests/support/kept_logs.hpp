// The logs of the proxies a test case started, printed when that case fails. A proxy's
// log lives in its temporary directory, which goes with the ProxyProcess at the end of
// the test body, before doctest knows the outcome; a flake seen once in CI is then
// explained by what the proxy said, not guessed at.
#pragma once

#include <string>

namespace pglc::test {

// Keeps `text` (its last 64 KiB) under `title` until the running test case ends.
void keep_log(std::string title, std::string text);

}  // namespace pglc::test
