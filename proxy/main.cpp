// pglifecycle: parse options, build the observer factory and the relay statistics, serve.
#include <cstdio>
#include <exception>

#include "config/options.hpp"
#include "lifecycle/observer.hpp"
#include "metrics/relay_stats.hpp"
#include "proxy/log.hpp"
#include "proxy/server.hpp"

int main(int argc, char** argv) {
  using namespace pglc;
  auto parsed = config::parse(argc, argv);
  if (!parsed.options) {
    std::fputs(parsed.message.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  const config::Options& options = *parsed.options;
  proxy::log::set_level(options.log_level);
  try {
    lifecycle::NullObserverFactory observers;
    metrics::RelayStats stats;
    proxy::Server server(options, observers, stats);
    server.run();
  } catch (const std::exception& e) {
    proxy::log::error() << "pglifecycle: " << e.what();
    return 1;
  }
  return 0;
}
