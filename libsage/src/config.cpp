#include <sage/config.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <stdexcept>

namespace sage {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    return v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

Config::Config(std::initializer_list<std::pair<const std::string, std::string>> pairs) {
  for (const auto& [k, v] : pairs) values_[k] = v;
}

Config& Config::set(std::string key, std::string value) {
  values_[std::move(key)] = std::move(value);
  return *this;
}

Config& Config::set(std::string key, int64_t value) {
  return set(std::move(key), std::to_string(value));
}

Config& Config::set(std::string key, bool value) {
  return set(std::move(key), std::string(value ? "true" : "false"));
}

bool Config::contains(std::string_view key) const { return values_.find(key) != values_.end(); }

std::optional<std::string> Config::get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Config::get_string(std::string_view key, std::string fallback) const {
  auto v = get(key);
  return v ? *v : std::move(fallback);
}

int64_t Config::get_int(std::string_view key, int64_t fallback) const {
  auto v = get(key);
  if (!v) return fallback;
  int64_t out = 0;
  const char* first = v->data();
  const char* last = first + v->size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || ptr != last)
    throw std::invalid_argument("config key '" + std::string(key) + "': '" + *v +
                                "' is not an integer");
  return out;
}

uint64_t Config::get_bytes(std::string_view key, uint64_t fallback) const {
  auto v = get(key);
  if (!v) return fallback;
  if (auto bytes = parse_size(*v)) return *bytes;
  throw std::invalid_argument("config key '" + std::string(key) + "': '" + *v +
                              "' is not a size (like 1048576 or 1MB)");
}

std::optional<uint64_t> parse_size(std::string_view text, uint64_t unit) {
  const std::string s(text);
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(s, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (number < 0 || s.find_first_not_of(" 0123456789.") < used) return std::nullopt;  // no 1e3, -1
  std::string suffix = s.substr(used);
  suffix.erase(0, suffix.find_first_not_of(' '));
  for (auto& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.size() == 3 && suffix[1] == 'I' && suffix[2] == 'B') suffix.erase(1, 1);  // KiB -> KB
  if (suffix.size() == 2 && suffix[1] == 'B') suffix.pop_back();                       // KB -> K
  static constexpr std::string_view units = "BKMGT";
  if (suffix.size() > 1 || (suffix.size() == 1 && units.find(suffix[0]) == std::string::npos))
    return std::nullopt;
  const double scale = suffix.empty()
                           ? static_cast<double>(unit)
                           : static_cast<double>(uint64_t{1} << (10 * units.find(suffix[0])));
  const double bytes = number * scale;
  if (bytes >= 18e18) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

bool Config::get_bool(std::string_view key, bool fallback) const {
  auto v = get(key);
  if (!v) return fallback;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  throw std::invalid_argument("config key '" + std::string(key) + "': '" + *v +
                              "' is not a boolean");
}

std::vector<std::string> Config::merge_args(int argc, const char* const* argv) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      auto body = arg.substr(2);
      auto eq = body.find('=');
      if (eq != std::string_view::npos) {
        set(std::string(body.substr(0, eq)), std::string(body.substr(eq + 1)));
      } else if (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 2) != "--") {
        set(std::string(body), std::string(argv[++i]));
      } else {  // a flag: `--verbose`, or followed by another option
        set(std::string(body), true);
      }
    } else {
      positional.emplace_back(arg);
    }
  }
  return positional;
}

void Config::merge_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config file '" + path + "'");
  // A YAML map of scalars (nested maps by indentation) or a TOML file of
  // `key = value` lines under `[section]` tables: enough for SAGE's settings,
  // which are all scalars. Nesting becomes dotted keys.
  std::vector<std::pair<size_t, std::string>> parents;  // indentation, key
  std::string table;                                    // TOML [table]
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    const std::string trimmed = trim(line);
    if (trimmed.empty()) continue;
    if (trimmed.front() == '[' && trimmed.back() == ']') {
      table = trim(std::string_view(trimmed).substr(1, trimmed.size() - 2));
      parents.clear();
      continue;
    }
    size_t indent = line.find_first_not_of(' ');
    auto sep = line.find_first_of(":=");
    if (sep == std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": expected 'key: value'");
    std::string key = trim(std::string_view(line).substr(indent, sep - indent));
    std::string value = unquote(trim(std::string_view(line).substr(sep + 1)));
    while (!parents.empty() && parents.back().first >= indent) parents.pop_back();
    std::string full = table.empty() ? "" : table + ".";
    for (const auto& p : parents) full += p.second + ".";
    full += key;
    if (value.empty()) {
      parents.emplace_back(indent, key);
    } else {
      set(full, value);
    }
  }
}

}  // namespace sage
