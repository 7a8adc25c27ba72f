#include "tests/support/kept_logs.hpp"

#include <doctest/doctest.h>

#include <iostream>
#include <mutex>
#include <utility>
#include <vector>

namespace pglc::test {
namespace {

constexpr std::size_t kKeptBytes = 64u << 10;

struct Kept {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> logs;
};

Kept& kept() {
  static Kept k;
  return k;
}

// Prints the kept logs of a failed test case to stderr (ctest --output-on-failure shows
// them); every case starts with none.
struct KeptLogListener : doctest::IReporter {
  explicit KeptLogListener(const doctest::ContextOptions&) {}

  void test_case_start(const doctest::TestCaseData&) override { clear(); }
  void test_case_end(const doctest::CurrentTestCaseStats& stats) override {
    std::lock_guard lock(kept().mutex);
    if (!stats.testCaseSuccess) {
      for (const auto& [title, text] : kept().logs) {
        std::cerr << "---- " << title << " ----\n" << text << "---- end of " << title << " ----\n";
      }
      std::cerr.flush();
    }
    kept().logs.clear();
  }

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}

 private:
  static void clear() {
    std::lock_guard lock(kept().mutex);
    kept().logs.clear();
  }
};

REGISTER_LISTENER("kept_logs", 1, KeptLogListener);

}  // namespace

void keep_log(std::string title, std::string text) {
  if (text.size() > kKeptBytes) {
    text = "[... " + std::to_string(text.size() - kKeptBytes) + " bytes cut ...]\n" +
           text.substr(text.size() - kKeptBytes);
  }
  std::lock_guard lock(kept().mutex);
  kept().logs.emplace_back(std::move(title), std::move(text));
}

}  // namespace pglc::test
