#include "storage/item.hpp"

namespace pglc::storage {
namespace {

std::size_t heap(const std::string& s) {
  return s.size() > 15 ? s.size() + 1 : 0;
}

// An ExecutionItem's bytes from the parts that vary: the same for a record before it is
// queued (to decide) and for its item after (to release).
std::size_t execution_bytes(std::size_t ids_heap, const std::string& sqlstate,
                            const std::string& command_tag, const std::string& application_name,
                            bool rare, const std::string& portal,
                            const std::optional<std::string>& params,
                            const std::string& error_message) {
  std::size_t n =
      sizeof(Item) + ids_heap + heap(sqlstate) + heap(command_tag) + heap(application_name);
  if (rare) {
    n += sizeof(ExecutionItem::Rare) + heap(portal) + (params ? heap(*params) : 0) +
         heap(error_message);
  }
  return n;
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
  return execution_bytes(InlineId::heap_bytes(r.id) + InlineId::heap_bytes(r.statement_id) +
                             InlineId::heap_bytes(r.session_id),
                         r.sqlstate, r.command_tag, r.application_name, ExecutionItem::has_rare(r),
                         r.portal, r.params, r.error_message);
}

namespace {

std::size_t item_bytes(const ExecutionItem& x) {
  static const ExecutionItem::Rare kNone;
  const ExecutionItem::Rare& rare = x.rare ? *x.rare : kNone;
  return execution_bytes(
      x.id.heap_bytes() + x.statement_id.heap_bytes() + x.session_id.heap_bytes(), x.sqlstate,
      x.command_tag, x.application_name, x.rare != nullptr, rare.portal, rare.params,
      rare.error_message);
}

}  // namespace

std::size_t item_bytes(const Item& item) {
  return std::visit([](const auto& v) -> std::size_t { return item_bytes(v); }, item);
}

}  // namespace pglc::storage
