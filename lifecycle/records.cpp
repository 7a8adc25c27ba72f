#include "lifecycle/records.hpp"

namespace pglc::lifecycle {

std::string_view to_string(StatementKind k) {
  switch (k) {
    case StatementKind::simple:
      return "simple";
    case StatementKind::simple_multi:
      return "simple_multi";
    case StatementKind::sql_prepare:
      return "sql_prepare";
    case StatementKind::extended:
      return "extended";
  }
  return "unknown";
}

std::string_view to_string(ExecutionStatus s) {
  switch (s) {
    case ExecutionStatus::success:
      return "success";
    case ExecutionStatus::error:
      return "error";
    case ExecutionStatus::canceled:
      return "canceled";
    case ExecutionStatus::aborted:
      return "aborted";
  }
  return "unknown";
}

std::string_view to_string(EndReason r) {
  switch (r) {
    case EndReason::client_terminate:
      return "client_terminate";
    case EndReason::client_closed:
      return "client_closed";
    case EndReason::backend_closed:
      return "backend_closed";
    case EndReason::protocol_error:
      return "protocol_error";
    case EndReason::auth_failed:
      return "auth_failed";
    case EndReason::shutdown:
      return "shutdown";
  }
  return "unknown";
}

std::string_view to_string(Timing t) {
  return t == Timing::precise ? "precise" : "passive";
}

std::string_view to_string(StatementEvent e) {
  switch (e) {
    case StatementEvent::received:
      return "received";
    case StatementEvent::parsed:
      return "parsed";
    case StatementEvent::described:
      return "described";
    case StatementEvent::closed:
      return "closed";
  }
  return "unknown";
}

std::string_view to_string(ExecutionEvent e) {
  switch (e) {
    case ExecutionEvent::received:
      return "received";
    case ExecutionEvent::bound:
      return "bound";
    case ExecutionEvent::executed:
      return "executed";
    case ExecutionEvent::finished:
      return "finished";
    case ExecutionEvent::delivered:
      return "delivered";
  }
  return "unknown";
}

std::string_view to_string(MessageKind k) {
  switch (k) {
    case MessageKind::query:
      return "query";
    case MessageKind::parse:
      return "parse";
    case MessageKind::bind:
      return "bind";
    case MessageKind::describe:
      return "describe";
    case MessageKind::execute:
      return "execute";
    case MessageKind::close:
      return "close";
    case MessageKind::sync:
      return "sync";
    case MessageKind::function_call:
      return "function_call";
  }
  return "unknown";
}

std::optional<ExecutionStatus> execution_status_from(std::string_view name) {
  for (auto st : {ExecutionStatus::success, ExecutionStatus::error, ExecutionStatus::canceled,
                  ExecutionStatus::aborted}) {
    if (to_string(st) == name) return st;
  }
  return std::nullopt;
}

}  // namespace pglc::lifecycle
