#include "app/activity_command.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <sqlite3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/options.hpp"
#include "lifecycle/text_format.hpp"

namespace pglc::app {

namespace po = boost::program_options;
namespace asio = boost::asio;

namespace {

// GET /activity; throws std::runtime_error with what went wrong.
std::string fetch_activity(const std::string& listen) {
  auto hp = config::split_host_port(listen);
  if (!hp) throw std::runtime_error("invalid --metrics-listen " + listen);
  const std::string host = hp->host.empty() ? "127.0.0.1" : hp->host;
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  asio::ip::tcp::socket sock(io);
  boost::system::error_code ec;
  asio::connect(sock, resolver.resolve(host, std::to_string(hp->port), ec), ec);
  if (ec)
    throw std::runtime_error("cannot reach the proxy's metrics listener " + host + ":" +
                             std::to_string(hp->port) + ": " + ec.message() +
                             " (is pglifecycle running, with this --metrics-listen?)");
  const std::string request =
      "GET /activity HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  asio::write(sock, asio::buffer(request), ec);
  std::string response;
  char buf[8192];
  for (;;) {
    const std::size_t n = sock.read_some(asio::buffer(buf), ec);
    response.append(buf, n);
    if (ec) break;
  }
  if (ec != asio::error::eof) throw std::runtime_error("reading /activity: " + ec.message());
  const std::size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos)
    throw std::runtime_error("not an HTTP answer from " + listen);
  const std::string status = response.substr(9, 3);
  if (status != "200")
    throw std::runtime_error("/activity answered " + response.substr(9, response.find('\r') - 9) +
                             ": " + response.substr(body + 4));
  return response.substr(body + 4);
}

struct Row {
  std::string cells[9];
};

// The sessions of an /activity document, read with SQLite's JSON functions (no JSON
// library needed beside the store's own).
std::vector<Row> rows_of(const std::string& json) {
  sqlite3* db = nullptr;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) throw std::runtime_error("sqlite3_open failed");
  std::vector<Row> rows;
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT json_extract(value, '$.backend_pid'), json_extract(value, '$.user'), "
      "json_extract(value, '$.database'), json_extract(value, '$.application'), "
      "json_extract(value, '$.client_addr') || ':' || json_extract(value, '$.client_port'), "
      "json_extract(value, '$.state'), "
      "CASE WHEN json_extract(value, '$.query_seconds') IS NULL THEN '' "
      "     ELSE printf('%.1fs', json_extract(value, '$.query_seconds')) END, "
      "json_extract(value, '$.pipeline_depth'), json_extract(value, '$.query') "
      "FROM json_each(?1, '$.sessions') "
      "ORDER BY json_extract(value, '$.state') = 'active' DESC, "
      "         json_extract(value, '$.query_seconds') DESC";
  const bool ok = sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_text(st, 1, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      Row r;
      for (int i = 0; i < 9; ++i) {
        const auto* t = sqlite3_column_text(st, i);
        r.cells[i] = t ? reinterpret_cast<const char*>(t) : "";
      }
      rows.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) rows.clear();
  }
  const std::string why = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!ok) throw std::runtime_error("not an /activity document: " + why);
  return rows;
}

void print_table(const std::vector<Row>& rows, std::ostream& out, std::size_t width) {
  static const char* const kHeads[9] = {"pid",   "user",    "database", "application", "client",
                                        "state", "running", "depth",    "query"};
  std::size_t w[9];
  for (int i = 0; i < 9; ++i) w[i] = std::string_view(kHeads[i]).size();
  for (const Row& r : rows)
    for (int i = 0; i < 8; ++i) w[i] = std::max(w[i], r.cells[i].size());
  std::size_t used = 0;
  for (int i = 0; i < 8; ++i) used += w[i] + 2;
  const std::size_t query_width = width > used + 10 ? width - used : 60;
  auto line = [&](const std::string* cells) {
    std::string s;
    for (int i = 0; i < 8; ++i) {
      s += cells[i];
      s.append(w[i] + 2 - cells[i].size(), ' ');
    }
    s += lifecycle::one_line(cells[8], query_width);
    out << s << "\n";
  };
  std::string heads[9];
  for (int i = 0; i < 9; ++i) heads[i] = kHeads[i];
  line(heads);
  for (const Row& r : rows) line(r.cells);
  out << "(" << rows.size() << (rows.size() == 1 ? " session" : " sessions") << ")\n";
}

}  // namespace

int run_activity(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
                 bool out_is_terminal) {
  po::options_description desc(
      "pglifecycle activity: what the sessions of a running proxy are doing now, like\n"
      "pg_stat_activity (read from GET /activity on its metrics listener; bound parameter\n"
      "values are never shown)\n\nOptions");
  desc.add_options()("help,h", "this text")(
      "metrics-listen", po::value<std::string>()->default_value("127.0.0.1:9464"),
      "the proxy's --metrics-listen")("format", po::value<std::string>()->default_value("table"),
                                      "table or json")(
      "watch", po::value<double>(), "refresh every this many seconds, like top (Ctrl-C stops)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    err << "pglifecycle activity: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "table" && format != "json") {
    err << "pglifecycle activity: --format is table or json\n";
    return 2;
  }
  std::optional<double> watch;
  if (vm.count("watch")) {
    watch = vm["watch"].as<double>();
    if (*watch < 0.1) {
      err << "pglifecycle activity: --watch needs at least 0.1 seconds\n";
      return 2;
    }
  }
  for (;;) {
    try {
      const std::string json = fetch_activity(vm["metrics-listen"].as<std::string>());
      if (watch && out_is_terminal) out << "\x1b[H\x1b[2J";  // home, clear: a refreshing view
      if (format == "json") {
        out << json;
      } else {
        print_table(rows_of(json), out, out_is_terminal ? 160 : 200);
      }
      out.flush();
    } catch (const std::exception& e) {
      err << "pglifecycle activity: " << e.what() << "\n";
      if (!watch) return 1;
    }
    if (!watch) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(*watch));
  }
}

}  // namespace pglc::app
