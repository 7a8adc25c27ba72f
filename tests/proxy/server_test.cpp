// The Server in-process between a raw-socket client and a scripted backend, to check on
// the wire what the proxy adds (Flush after Parse/Bind in precise mode, nothing in
// passive mode), what the observer sees, cancel routing and protocol errors.
#include "proxy/server.hpp"

#include "proxy/log.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using pglc::lifecycle::EndReason;

namespace {

std::string be32(std::uint32_t v) {
  std::string out;
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((v >> shift) & 0xff));
  return out;
}

std::string msg(char type, const std::string& body = "") {
  return std::string(1, type) + be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

std::string cstr(const std::string& s) {
  return s + std::string(1, '\0');
}

std::string startup(const std::string& user) {
  std::string body = be32(196608) + cstr("user") + cstr(user) + cstr("database") + cstr("db") +
                     std::string(1, '\0');
  return be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

int listen_any(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 16) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    off += static_cast<std::size_t>(n);
  }
}

// Reads until `done(buffer)` or EOF or a 5 s deadline.
template <class Done>
std::string read_until(int fd, Done done) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  char buf[4096];
  while (!done(out) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string read_to_eof(int fd) {
  return read_until(fd, [](const std::string&) { return false; });
}

bool ends_with_ready(const std::string& s) {
  return s.size() >= 6 && s[s.size() - 6] == 'Z';
}

// A backend that accepts connections, answers a StartupMessage with AuthenticationOk,
// BackendKeyData (pid 4242, key 7) and ReadyForQuery, then records what it receives.
struct FakeBackend {
  int port = 0;
  int listen_fd = -1;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> received;  // per connection, everything after the startup
  std::atomic<bool> quit{false};
  // Answer Parse/Bind/Describe/Execute/Sync like PostgreSQL, sending output only at
  // Flush and Sync (instead of waiting for Terminate).
  bool answer = false;
  // After an Execute, keep the output until the client has sent two Flush messages
  // of its own (the proxy only injects Flushes after Parse/Bind).
  bool stall_after_execute = false;
  // At an Execute, send what was flushed so far and close the connection.
  bool close_at_execute = false;
  // At an Execute, send the answers so far and then a message with length 2 (garbage).
  bool garbage_at_execute = false;

  FakeBackend() {
    listen_fd = listen_any(&port);
    thread = std::thread([this] { serve(); });
  }
  ~FakeBackend() {
    quit = true;
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    thread.join();
  }
  void serve() {
    std::vector<std::thread> connections;
    while (!quit) {
      pollfd p{listen_fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept(listen_fd, nullptr, nullptr);
      if (fd >= 0) connections.emplace_back([this, fd] { handle(fd); });
    }
    for (auto& t : connections) t.join();
  }
  void handle(int fd) {
    std::string first = read_until(fd, [](const std::string& s) {
      return s.size() >= 4 && s.size() >= (std::uint32_t{static_cast<unsigned char>(s[0])} << 24 |
                                           std::uint32_t{static_cast<unsigned char>(s[1])} << 16 |
                                           std::uint32_t{static_cast<unsigned char>(s[2])} << 8 |
                                           std::uint32_t{static_cast<unsigned char>(s[3])});
    });
    if (first.empty()) {  // the proxy's start-up probe: connects, closes, sends nothing
      close(fd);
      return;
    }
    std::string rest;
    if (first.size() >= 8 && first.substr(4, 4) == be32(80877102)) {
      rest = first;  // CancelRequest: record it whole
    } else {
      send_all(fd, msg('R', be32(0)) + msg('K', be32(4242) + be32(7)) + msg('Z', "I"));
      if (answer) {
        rest = answer_until_terminate(fd);
        close(fd);
        std::lock_guard lock(mu);
        received.push_back(rest);
        cv.notify_all();
        return;
      }
      // Like PostgreSQL: Terminate ends the connection.
      const std::string terminate = msg('X');
      rest = read_until(fd, [&](const std::string& s) {
        return s.size() >= terminate.size() &&
               s.compare(s.size() - terminate.size(), terminate.size(), terminate) == 0;
      });
    }
    close(fd);
    std::lock_guard lock(mu);
    received.push_back(rest);
    cv.notify_all();
  }
  std::string answer_until_terminate(int fd) {
    std::string in, out, all;
    std::size_t pos = 0;
    bool stalled = false;
    int stalled_flushes = 0;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      while (in.size() - pos >= 5) {
        const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
        std::uint32_t len = std::uint32_t{p[1]} << 24 | std::uint32_t{p[2]} << 16 |
                            std::uint32_t{p[3]} << 8 | std::uint32_t{p[4]};
        if (in.size() - pos < len + 1) break;
        const char type = in[pos];
        pos += len + 1;
        switch (type) {
          case 'P':
            out += msg('1');
            break;
          case 'B':
            out += msg('2');
            break;
          case 'D':
            out += msg('n');
            break;
          case 'E':
            if (close_at_execute) return in;
            if (garbage_at_execute) {
              send_all(fd, out + std::string("D\0\0\0\x02", 5));
              read_to_eof(fd);
              return in;
            }
            out += msg('D', std::string("\0\x01\0\0\0\x01", 6) + "1") + msg('C', cstr("SELECT 1"));
            stalled = stall_after_execute;
            break;
          case 'S':
            out += msg('Z', "I");
            break;
          case 'X':
            return in;
          default:
            break;
        }
        if (type == 'H' || type == 'S') {
          if (stalled && type == 'H' && ++stalled_flushes == 2) stalled = false;
          if (!stalled) {
            send_all(fd, out);
            out.clear();
          }
        }
      }
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 50) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    return in;
  }
  std::string wait_connection(std::size_t index) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 5s, [&] { return received.size() > index; });
    return received.size() > index ? received[index] : std::string("<none>");
  }
};

struct Events {
  std::mutex mu;
  std::vector<std::string> log;
  void add(std::string e) {
    std::lock_guard lock(mu);
    log.push_back(std::move(e));
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu);
    return log;
  }
};

class RecordingObserver : public pglc::lifecycle::SessionObserver {
 public:
  explicit RecordingObserver(Events& e) : events_(e) {}
  void on_session_begin(const pglc::lifecycle::SessionStart& s,
                        pglc::lifecycle::MonoTime) override {
    events_.add("begin " + std::string(s.startup->parameter("user")));
  }
  void on_frontend(const pglc::pgwire::Frame& f, pglc::lifecycle::MonoTime) override {
    events_.add(std::string("fe ") + f.type);
  }
  void on_backend(const pglc::pgwire::Frame& f, pglc::lifecycle::MonoTime,
                  std::uint64_t end) override {
    events_.add(std::string("be ") + f.type + " " + std::to_string(end));
  }
  void on_client_written(std::uint64_t offset, pglc::lifecycle::MonoTime) override {
    events_.add("written " + std::to_string(offset));
  }
  void on_cancel_requested(pglc::lifecycle::MonoTime) override { events_.add("cancel"); }
  void on_session_end(EndReason r, pglc::lifecycle::MonoTime) override {
    events_.add("end " + std::string(pglc::lifecycle::to_string(r)));
  }

 private:
  Events& events_;
};

class RecordingFactory : public pglc::lifecycle::ObserverFactory {
 public:
  explicit RecordingFactory(Events& e) : events_(e) {}
  std::unique_ptr<pglc::lifecycle::SessionObserver> create() override {
    return std::make_unique<RecordingObserver>(events_);
  }

 private:
  Events& events_;
};

struct Proxy {
  pglc::config::Options options;
  Events events;
  RecordingFactory factory{events};
  pglc::metrics::RelayStats stats;
  std::unique_ptr<pglc::proxy::Server> server;
  std::thread thread;

  Proxy(int backend_port, pglc::config::PhaseTiming timing) {
    options.listen = "127.0.0.1:0";
    options.backend = "127.0.0.1:" + std::to_string(backend_port);
    options.backend_sslmode = pglc::config::BackendSslMode::disable;
    options.workers = 2;
    options.phase_timing = timing;
    options.shutdown_grace = 2s;
    options.log_level = pglc::config::LogLevel::warning;
    pglc::proxy::log::set_level(options.log_level);
    server = std::make_unique<pglc::proxy::Server>(options, factory, stats);
    thread = std::thread([this] { server->run(); });
  }
  ~Proxy() {
    server->stop();
    thread.join();
  }
  int port() const { return server->port(); }
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool wait_for_event(Events& e, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (contains(e.get(), what)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

const std::string kBatch = msg('P', cstr("") + cstr("SELECT 1") + std::string(2, '\0')) +
                           msg('B', cstr("") + cstr("") + std::string(6, '\0')) +
                           msg('D', "P" + cstr("")) + msg('E', cstr("") + be32(0)) + msg('S');
const std::string kParseOnly = msg('P', cstr("s1") + cstr("SELECT 2") + std::string(2, '\0'));
const std::string kFlush = msg('H');

// Runs one session: startup, the given chunks, Terminate; returns the client's bytes.
std::string session(int proxy_port, const std::vector<std::string>& chunks) {
  int fd = connect_to(proxy_port);
  send_all(fd, startup("alice"));
  std::string got = read_until(fd, ends_with_ready);
  for (const auto& c : chunks) {
    send_all(fd, c);
    std::this_thread::sleep_for(20ms);  // separate reads on the proxy side
  }
  send_all(fd, msg('X'));
  std::string rest = read_to_eof(fd);
  close(fd);
  return got + rest;
}

}  // namespace

TEST_CASE("precise mode: the backend gets the client's bytes plus Flush after Parse/Bind") {
  FakeBackend backend;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  std::string client_got = session(proxy.port(), {kBatch, kParseOnly});
  // The client sees exactly what the backend sent.
  CHECK(client_got == msg('R', be32(0)) + msg('K', be32(4242) + be32(7)) + msg('Z', "I"));

  std::string at_backend = backend.wait_connection(0);
  std::size_t parse_len = msg('P', cstr("") + cstr("SELECT 1") + std::string(2, '\0')).size();
  std::size_t bind_len = msg('B', cstr("") + cstr("") + std::string(6, '\0')).size();
  std::string expected = kBatch.substr(0, parse_len) + kFlush + kBatch.substr(parse_len, bind_len) +
                         kFlush + kBatch.substr(parse_len + bind_len) + kParseOnly + kFlush +
                         msg('X');
  CHECK(at_backend == expected);

  REQUIRE(wait_for_event(proxy.events, "end client_terminate"));
  auto ev = proxy.events.get();
  CHECK(ev.front() == "begin alice");
  CHECK(std::count(ev.begin(), ev.end(), "end client_terminate") == 1);
  // The observer saw the client's messages, not the injected Flushes.
  CHECK(std::count(ev.begin(), ev.end(), "fe H") == 0);
  CHECK(std::count(ev.begin(), ev.end(), "fe P") == 2);
  CHECK(contains(ev, "fe X"));
  // Backend messages with the client-stream offset just past each of them, then written.
  CHECK(contains(ev, "be R 9"));
  CHECK(contains(ev, "be K 22"));
  CHECK(contains(ev, "be Z 28"));
  CHECK(contains(ev, "written 28"));
}

TEST_CASE("passive mode: the backend gets exactly the client's bytes") {
  FakeBackend backend;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::passive);
  session(proxy.port(), {kBatch, kParseOnly + kFlush});
  CHECK(backend.wait_connection(0) == kBatch + kParseOnly + kFlush + msg('X'));
}

TEST_CASE("CancelRequest: forwarded unchanged, the owning session is told") {
  FakeBackend backend;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  int fd = connect_to(proxy.port());
  send_all(fd, startup("bob"));
  read_until(fd, ends_with_ready);

  std::string cancel = be32(16) + be32(80877102) + be32(4242) + be32(7);
  int cfd = connect_to(proxy.port());
  send_all(cfd, cancel);
  CHECK(read_to_eof(cfd).empty());  // closed without a reply, as PostgreSQL does
  close(cfd);
  CHECK(backend.wait_connection(0) == cancel);
  CHECK(wait_for_event(proxy.events, "cancel"));

  send_all(fd, msg('X'));
  read_to_eof(fd);
  close(fd);
  CHECK(wait_for_event(proxy.events, "end client_terminate"));
}

TEST_CASE("garbage after startup: 08P01 to the client, end reason protocol_error") {
  FakeBackend backend;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  int fd = connect_to(proxy.port());
  send_all(fd, startup("carol"));
  read_until(fd, ends_with_ready);
  send_all(fd, msg('?', "what"));  // not a frontend message type
  std::string reply = read_to_eof(fd);
  close(fd);
  REQUIRE(!reply.empty());
  CHECK(reply[0] == 'E');
  CHECK(reply.find("C08P01") != std::string::npos);
  CHECK(wait_for_event(proxy.events, "end protocol_error"));
  // Nothing of the bad chunk reached the backend.
  CHECK(backend.wait_connection(0).empty());
}

TEST_CASE("garbage from the backend: the client gets what came before, then 08P01") {
  FakeBackend backend;
  backend.answer = true;
  backend.garbage_at_execute = true;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::passive);
  int fd = connect_to(proxy.port());
  send_all(fd, startup("erin"));
  read_until(fd, ends_with_ready);
  send_all(fd, kBatch);
  std::string reply = read_to_eof(fd);
  close(fd);
  // ParseComplete, BindComplete, NoData: whole messages, then the proxy's error.
  const std::string before = msg('1') + msg('2') + msg('n');
  REQUIRE(reply.size() > before.size());
  CHECK(reply.substr(0, before.size()) == before);
  CHECK(reply[before.size()] == 'E');
  CHECK(reply.find("C08P01") != std::string::npos);
  CHECK(reply.find("invalid message from the backend") != std::string::npos);
  CHECK(wait_for_event(proxy.events, "end protocol_error"));
}

TEST_CASE("backend unreachable: 08006 naming the backend address") {
  int port = 0;
  int fd0 = listen_any(&port);
  close(fd0);  // nothing listens there now
  Proxy proxy(port, pglc::config::PhaseTiming::precise);
  int fd = connect_to(proxy.port());
  send_all(fd, startup("dave"));
  std::string reply = read_to_eof(fd);
  close(fd);
  REQUIRE(!reply.empty());
  CHECK(reply[0] == 'E');
  CHECK(reply.find("C08006") != std::string::npos);
  CHECK(reply.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  // No session began, so no observer events at all.
  CHECK(proxy.events.get().empty());
}

TEST_CASE("stop(): an idle session is closed with 57P01 and ends with reason shutdown") {
  FakeBackend backend;
  auto proxy = std::make_unique<Proxy>(backend.port, pglc::config::PhaseTiming::precise);
  int fd = connect_to(proxy->port());
  send_all(fd, startup("erin"));
  read_until(fd, ends_with_ready);
  auto start = std::chrono::steady_clock::now();
  proxy->server->stop();
  std::string reply = read_to_eof(fd);
  close(fd);
  CHECK(reply.find("C57P01") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 1s);  // idle: no wait for the grace
  CHECK(wait_for_event(proxy->events, "end shutdown"));
  proxy.reset();  // run() returns
}

namespace {

const std::string kAnswers = msg('1') + msg('2') + msg('n') +
                             msg('D', std::string("\0\x01\0\0\0\x01", 6) + "1") +
                             msg('C', cstr("SELECT 1")) + msg('Z', "I");
constexpr std::size_t kAfterStartup = 28;  // R, K and Z of the fake backend's startup

int logged_in(Proxy& proxy) {
  int fd = connect_to(proxy.port());
  send_all(fd, startup("hal"));
  REQUIRE(read_until(fd, ends_with_ready).size() == kAfterStartup);
  return fd;
}

void terminate(int fd) {
  send_all(fd, msg('X'));
  read_to_eof(fd);
  close(fd);
}

}  // namespace

TEST_CASE("precise mode: ParseComplete and BindComplete wait for the result, then go with it") {
  for (auto timing : {pglc::config::PhaseTiming::precise, pglc::config::PhaseTiming::passive}) {
    CAPTURE(static_cast<int>(timing));
    FakeBackend backend;
    backend.answer = true;
    Proxy proxy(backend.port, timing);
    int fd = logged_in(proxy);
    for (int round = 0; round < 3; ++round) {
      send_all(fd, kBatch);
      CHECK(read_until(fd, ends_with_ready) == kAnswers);
    }
    terminate(fd);
    REQUIRE(wait_for_event(proxy.events, "end client_terminate"));
    auto ev = proxy.events.get();
    for (std::size_t round = 0; round < 3; ++round) {
      const std::size_t base = kAfterStartup + round * kAnswers.size();
      // The tracker saw each answer at its own read, at its place in the client stream...
      CHECK(contains(ev, "be 1 " + std::to_string(base + 5)));
      CHECK(contains(ev, "be 2 " + std::to_string(base + 10)));
      // ...and the client got them with the rest (the backend sent them separately in
      // precise mode, so only holding them back avoids these writes).
      CHECK_FALSE(contains(ev, "written " + std::to_string(base + 5)));
      CHECK_FALSE(contains(ev, "written " + std::to_string(base + 10)));
      CHECK(contains(ev, "written " + std::to_string(base + kAnswers.size())));
    }
  }
}

TEST_CASE("precise mode: Parse with the client's own Flush gets ParseComplete at once") {
  FakeBackend backend;
  backend.answer = true;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  int fd = logged_in(proxy);
  send_all(fd, kParseOnly + kFlush);
  CHECK(read_until(fd, [](const std::string& s) { return s.size() >= 5; }) == msg('1'));
  send_all(fd, msg('S'));
  CHECK(read_until(fd, ends_with_ready) == msg('Z', "I"));
  terminate(fd);
}

TEST_CASE("precise mode: Parse and Bind, later a Flush alone, gets both answers") {
  FakeBackend backend;
  backend.answer = true;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  int fd = logged_in(proxy);
  send_all(fd, kBatch.substr(0, kBatch.size() - 7 - 10 - 5));  // Parse, Bind
  std::this_thread::sleep_for(20ms);  // a read of its own on the proxy side
  send_all(fd, kFlush);
  CHECK(read_until(fd, [](const std::string& s) { return s.size() >= 10; }) == msg('1') + msg('2'));
  send_all(fd, msg('S'));
  CHECK(read_until(fd, ends_with_ready) == msg('Z', "I"));
  terminate(fd);
}

TEST_CASE("precise mode: held answers go out when the client sends its own Flush") {
  FakeBackend backend;
  backend.answer = true;
  backend.stall_after_execute = true;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  int fd = logged_in(proxy);
  // The backend sends ParseComplete and BindComplete (on the injected Flushes), then
  // nothing until the client's second Flush (unlike PostgreSQL, which would answer the
  // Sync first): the first Flush must release them.
  send_all(fd, kBatch);
  // Once the proxy has read BindComplete (and held it back), the Flush comes.
  REQUIRE(wait_for_event(proxy.events, "be 2 " + std::to_string(kAfterStartup + 10)));
  send_all(fd, kFlush);
  CHECK(read_until(fd, [](const std::string& s) { return s.size() >= 10; }) == msg('1') + msg('2'));
  send_all(fd, kFlush);
  CHECK(read_until(fd, ends_with_ready) == kAnswers.substr(10));
  terminate(fd);
  REQUIRE(wait_for_event(proxy.events, "end client_terminate"));
  CHECK(contains(proxy.events.get(), "written " + std::to_string(kAfterStartup + 10)));
}

TEST_CASE("precise mode: held answers reach the client before the backend's close") {
  FakeBackend backend;
  backend.answer = true;
  backend.close_at_execute = true;
  Proxy proxy(backend.port, pglc::config::PhaseTiming::precise);
  int fd = logged_in(proxy);
  send_all(fd, kBatch);
  CHECK(read_to_eof(fd) == msg('1') + msg('2'));
  close(fd);
  CHECK(wait_for_event(proxy.events, "end backend_closed"));
}
