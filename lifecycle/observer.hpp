// The seam between the relay (proxy/) and the tracker: one observer per client session,
// called on that session's strand only, in the order the bytes moved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lifecycle/clock.hpp"
#include "lifecycle/records.hpp"
#include "pgwire/frame.hpp"
#include "pgwire/startup.hpp"

namespace pglc::lifecycle {

struct SessionStart {
  std::string client_addr;
  int client_port = 0;
  std::string backend_addr;  // host:port
  bool client_tls = false;
  bool backend_tls = false;
  const pgwire::StartupPacket* startup = nullptr;  // valid during the call only
  // Session phases before the StartupMessage was read (DESIGN §2); a default `accepted`
  // means unknown (the session begins at the startup time then).
  MonoTime accepted{};
  std::optional<MonoTime> tls_established;
  std::optional<MonoTime> backend_connected;
};

// What a session is doing now, for live activity (/activity, `pglifecycle activity`).
// Never carries bound parameter values.
struct Activity {
  std::string session_id;
  std::int32_t backend_pid = 0;
  // The oldest statement the server has not answered yet; when nothing is owed, the last
  // one answered (as pg_stat_activity keeps the last query of an idle backend).
  std::string query;
  std::optional<MonoTime> query_received;  // of an unanswered one
  std::size_t pipeline_depth = 0;          // executions sent and not answered yet
};

class SessionObserver {
 public:
  virtual ~SessionObserver() = default;

  // The client's StartupMessage was accepted and is about to be forwarded.
  virtual void on_session_begin(const SessionStart&, MonoTime) {}
  // A complete frontend message read from the client (authentication included).
  virtual void on_frontend(const pgwire::Frame&, MonoTime) {}
  // A complete backend message read from the server. `client_offset_end` is the position
  // in the client-bound byte stream just past this message: once the relay reports that
  // offset as written, the message has been delivered.
  virtual void on_backend(const pgwire::Frame&, MonoTime, std::uint64_t /*client_offset_end*/) {}
  // Every message of one backend read has been passed to on_backend (they share its
  // timestamp): answers that arrived together can be judged together.
  virtual void on_backend_read_done(MonoTime) {}
  // Bytes up to `client_offset` (cumulative) have been written to the client socket.
  virtual void on_client_written(std::uint64_t /*client_offset*/, MonoTime) {}
  // Whether the Parse or Bind just passed to on_frontend is to be timed precisely, i.e.
  // followed by a Flush unless the client's next message is Flush or Sync (DESIGN §2).
  virtual bool wants_flush() const { return true; }
  // What the observer holds for requests the server has not answered yet, in bytes. The
  // relay stops reading from the client while it exceeds --max-pipeline-bytes.
  virtual std::size_t owed_bytes() const { return 0; }
  // A CancelRequest carrying this session's key was forwarded to the backend.
  virtual void on_cancel_requested(MonoTime) {}
  // What the session is doing now (on the session's thread, like every call here).
  virtual Activity activity() const { return {}; }
  // The session is over; everything still pending is aborted. Called exactly once.
  virtual void on_session_end(EndReason, MonoTime) {}
};

}  // namespace pglc::lifecycle

namespace pglc::lifecycle {

// Makes one observer per accepted client session. Called from any io thread.
class ObserverFactory {
 public:
  virtual ~ObserverFactory() = default;
  virtual std::unique_ptr<SessionObserver> create() = 0;
};

}  // namespace pglc::lifecycle
