#include "metrics/activity_endpoint.hpp"

#include <cstring>
#include <map>

namespace pglc::metrics {

namespace {

// Listening port → endpoint: civetweb's hook is a plain function, and several Metrics
// (tests) may serve in one process.
std::mutex registry_mutex;
std::map<int, ActivityEndpoint*>& registry() {
  static std::map<int, ActivityEndpoint*> r;
  return r;
}

void reply(mg_connection* conn, int status, const char* reason, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            status, reason, body.size());
  mg_write(conn, body.data(), body.size());
}

}  // namespace

ActivityEndpoint::~ActivityEndpoint() {
  std::lock_guard lock(registry_mutex);
  for (int p : ports_) {
    auto it = registry().find(p);
    if (it != registry().end() && it->second == this) registry().erase(it);
  }
}

const CivetCallbacks* ActivityEndpoint::callbacks() {
  static const CivetCallbacks cb = [] {
    CivetCallbacks c;  // all hooks null
    c.begin_request = &ActivityEndpoint::begin_request;
    return c;
  }();
  return &cb;
}

void ActivityEndpoint::listen_on(const std::vector<int>& ports) {
  std::lock_guard lock(registry_mutex);
  ports_ = ports;
  for (int p : ports) registry()[p] = this;
}

void ActivityEndpoint::set_source(std::function<std::string()> source) {
  std::lock_guard lock(mutex_);
  source_ = std::move(source);
}

int ActivityEndpoint::begin_request(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  if (ri == nullptr || ri->local_uri == nullptr || std::strcmp(ri->local_uri, "/activity") != 0)
    return 0;  // not ours: prometheus-cpp's handlers take it
  ActivityEndpoint* self = nullptr;
  {
    std::lock_guard lock(registry_mutex);
    auto it = registry().find(ri->server_port);
    if (it != registry().end()) self = it->second;
  }
  if (self == nullptr) {
    reply(conn, 503, "Service Unavailable", "{\"error\":\"not serving activity\"}\n");
    return 503;
  }
  if (std::strcmp(ri->request_method, "GET") != 0) {
    reply(conn, 405, "Method Not Allowed", "{\"error\":\"GET only\"}\n");
    return 405;
  }
  self->answer(conn);
  return 200;
}

void ActivityEndpoint::answer(mg_connection* conn) {
  std::function<std::string()> source;
  {
    std::lock_guard lock(mutex_);
    source = source_;
  }
  if (!source) {
    reply(conn, 503, "Service Unavailable", "{\"error\":\"no sessions to describe\"}\n");
    return;
  }
  reply(conn, 200, "OK", source() + "\n");
}

}  // namespace pglc::metrics
