#include "tests/metrics/exposition.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace pglc::test {

namespace {

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool is_name_char(char c) {
  return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c));
}

bool read_name(std::string_view line, std::size_t& pos, std::string& out, bool allow_colon) {
  std::size_t start = pos;
  if (pos >= line.size() || !is_name_start(line[pos]) || (!allow_colon && line[pos] == ':'))
    return false;
  while (pos < line.size() && is_name_char(line[pos]) && (allow_colon || line[pos] != ':')) ++pos;
  out.assign(line.substr(start, pos - start));
  return true;
}

bool parse_value(std::string_view text, double& out) {
  if (text == "+Inf") return out = INFINITY, true;
  if (text == "-Inf") return out = -INFINITY, true;
  if (text == "NaN" || text == "Nan") return out = NAN, true;
  std::string s(text);
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

bool parse_sample(std::string_view line, Exposition::Sample& sample) {
  std::size_t pos = 0;
  std::string name;
  if (!read_name(line, pos, name, true)) return false;
  Exposition::Labels labels;
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (pos < line.size() && line[pos] != '}') {
      std::string label;
      if (!read_name(line, pos, label, false)) return false;
      if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') return false;
      pos += 2;
      std::string value;
      while (pos < line.size() && line[pos] != '"') {
        if (line[pos] == '\\') {
          if (++pos >= line.size()) return false;
          char c = line[pos];
          if (c == 'n')
            value.push_back('\n');
          else if (c == '\\' || c == '"')
            value.push_back(c);
          else
            return false;
        } else {
          value.push_back(line[pos]);
        }
        ++pos;
      }
      if (pos >= line.size()) return false;
      ++pos;  // closing quote
      labels.emplace_back(label, value);
      if (pos < line.size() && line[pos] == ',') ++pos;
    }
    if (pos >= line.size()) return false;
    ++pos;  // '}'
  }
  if (pos >= line.size() || line[pos] != ' ') return false;
  std::istringstream rest{std::string(line.substr(pos + 1))};
  std::string value_text, timestamp, extra;
  if (!(rest >> value_text)) return false;
  if (!parse_value(value_text, sample.value)) return false;
  if (rest >> timestamp) {
    char* end = nullptr;
    std::strtoll(timestamp.c_str(), &end, 10);
    if (*end != '\0' || (rest >> extra)) return false;
  }
  sample.name = std::move(name);
  sample.labels = std::move(labels);
  return true;
}

}  // namespace

std::string Exposition::key(std::string_view name, Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::string out(name);
  if (labels.empty()) return out;
  out.push_back('{');
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out.push_back(',');
    out += labels[i].first + "=\"" + labels[i].second + "\"";
  }
  out.push_back('}');
  return out;
}

std::optional<double> Exposition::get(std::string_view name, Labels labels) const {
  auto it = samples.find(key(name, std::move(labels)));
  if (it == samples.end()) return std::nullopt;
  return it->second;
}

std::size_t Exposition::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [k, v] : samples) {
    if (k.compare(0, name.size(), name) == 0 && (k.size() == name.size() || k[name.size()] == '{'))
      ++n;
  }
  return n;
}

std::vector<std::pair<double, double>> Exposition::buckets(std::string_view histogram,
                                                           Labels labels) const {
  std::sort(labels.begin(), labels.end());
  std::string name = std::string(histogram) + "_bucket";
  std::vector<std::pair<double, double>> out;
  for (const auto& s : all) {
    if (s.name != name) continue;
    Labels rest;
    std::optional<double> le;
    for (const auto& [k, v] : s.labels) {
      if (k == "le") {
        double bound = 0;
        if (parse_value(v, bound)) le = bound;
      } else {
        rest.emplace_back(k, v);
      }
    }
    std::sort(rest.begin(), rest.end());
    if (le && rest == labels) out.emplace_back(*le, s.value);
  }
  return out;
}

Exposition parse_exposition(const std::string& text) {
  Exposition out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name, type;
      words >> hash >> kind >> name;
      if (kind == "TYPE") {
        words >> type;
        static const std::set<std::string> types = {"counter", "gauge", "histogram", "summary",
                                                    "untyped"};
        if (name.empty() || !types.count(type)) out.bad_lines.push_back(line);
        out.families.insert(name);
      } else if (kind == "HELP" && name.empty()) {
        out.bad_lines.push_back(line);
      }
      continue;
    }
    Exposition::Sample sample;
    if (!parse_sample(line, sample)) {
      out.bad_lines.push_back(line);
      continue;
    }
    auto key = Exposition::key(sample.name, sample.labels);
    if (!out.samples.emplace(key, sample.value).second)
      out.bad_lines.push_back("duplicate " + line);
    out.all.push_back(std::move(sample));
  }
  return out;
}

}  // namespace pglc::test
