#include "storage/item.hpp"

namespace pglc::storage {
namespace {

std::size_t heap(const std::string& s) {
  return s.size() > 15 ? s.size() + 1 : 0;
}

}  // namespace

std::size_t item_bytes(const lifecycle::SessionRecord& r) {
  return sizeof(Item) + heap(r.id) + heap(r.proxy_instance) + heap(r.client_addr) +
         heap(r.backend_addr) + heap(r.user_name) + heap(r.database_name) +
         heap(r.application_name);
}

std::size_t item_bytes(const lifecycle::StatementRecord& r) {
  return sizeof(Item) + heap(r.id) + heap(r.session_id) + heap(r.name) + heap(r.param_types) +
         (r.sql ? r.sql->sql.size() + heap(r.sql->hash) + sizeof(lifecycle::SqlText) : 0);
}

std::size_t item_bytes(const lifecycle::StatementEventRecord& r) {
  return sizeof(Item) + heap(r.statement_id);
}

std::size_t item_bytes(const lifecycle::ExecutionRecord& r) {
  return sizeof(Item) + heap(r.id) + heap(r.statement_id) + heap(r.session_id) + heap(r.portal) +
         (r.params ? heap(*r.params) : 0) + heap(r.sqlstate) + heap(r.error_message) +
         heap(r.command_tag) + heap(r.application_name) +
         r.events.size() * sizeof(r.events[0]);
}

std::size_t item_bytes(const Item& item) {
  return std::visit(
      [](const auto& v) -> std::size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, ExecutionItem>) {
          return item_bytes(v.record);
        } else {
          return item_bytes(v);
        }
      },
      item);
}

}  // namespace pglc::storage
