#include "lifecycle/parser_stack.hpp"

#include <pg_query.h>
#include <pthread.h>

#include <cstdint>
#include <string>

namespace pglc::lifecycle {
namespace {

// Whatever the budget, this much stack stays free for the library's error path.
constexpr std::uintptr_t kHeadroom = 256u << 10;

struct ThreadStack {
  std::uintptr_t low = 0;  // lowest usable address; 0 when unknown
  std::uintptr_t base = 0;  // frame address where the current budget began; 0 outside one
  std::size_t budget = 0;
  bool exceeded = false;
  int calls = 0;
};

ThreadStack& thread_stack() {
  thread_local ThreadStack s = [] {
    ThreadStack t;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      std::size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        t.low = reinterpret_cast<std::uintptr_t>(addr);
      }
      pthread_attr_destroy(&attr);
    }
    return t;
  }();
  return s;
}

}  // namespace

ParserStackBudget::ParserStackBudget(std::size_t bytes) {
  ThreadStack& s = thread_stack();
  s.base = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  s.budget = bytes;
  s.exceeded = false;
}

ParserStackBudget::~ParserStackBudget() {
  thread_stack().base = 0;
}

bool ParserStackBudget::exceeded() const {
  return thread_stack().exceeded;
}

bool ParserStackBudget::guard_active() {
  // Each operator expression passes through the library's walker, which asks us.
  const int before = thread_stack().calls;
  PgQueryNormalizeResult r = pg_query_normalize("SELECT 1 + 1 + 1 + 1");
  pg_query_free_normalize_result(r);
  return thread_stack().calls > before;
}

}  // namespace pglc::lifecycle

// Interposes libpg_query's stub (see parser_stack.hpp). C linkage, default visibility.
extern "C" __attribute__((visibility("default"))) bool stack_is_too_deep(void) {
  auto& s = pglc::lifecycle::thread_stack();
  ++s.calls;
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  bool deep = s.low != 0 && here < s.low + pglc::lifecycle::kHeadroom;
  if (s.base != 0 && s.base > here && s.base - here > s.budget) deep = true;
  if (deep) s.exceeded = true;
  return deep;
}
