#include "storage/item.hpp"

namespace pglc::storage {
namespace {

std::size_t heap(const std::string& s) {
  return s.size() > 15 ? s.size() + 1 : 0;
}

std::size_t id_heap(std::string_view id) {  // InlineId's
  return id.size() > 36 ? sizeof(std::string) + id.size() + 1 : 0;
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
  std::size_t n = sizeof(Item) + id_heap(r.id) + id_heap(r.statement_id) + id_heap(r.session_id) +
                  heap(r.sqlstate) + heap(r.command_tag) + heap(r.application_name);
  if (!r.portal.empty() || r.params || !r.error_message.empty()) {
    n += sizeof(ExecutionItem::Rare) + heap(r.portal) + (r.params ? heap(*r.params) : 0) +
         heap(r.error_message);
  }
  return n;
}

namespace {

std::size_t item_bytes(const ExecutionItem& x) {
  std::size_t n = sizeof(Item) + x.id.heap_bytes() + x.statement_id.heap_bytes() +
                  x.session_id.heap_bytes() + heap(x.sqlstate) + heap(x.command_tag) +
                  heap(x.application_name);
  if (x.rare) {
    n += sizeof(ExecutionItem::Rare) + heap(x.rare->portal) +
         (x.rare->params ? heap(*x.rare->params) : 0) + heap(x.rare->error_message);
  }
  return n;
}

}  // namespace

std::size_t item_bytes(const Item& item) {
  return std::visit([](const auto& v) -> std::size_t { return item_bytes(v); }, item);
}

}  // namespace pglc::storage
