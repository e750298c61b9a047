#include <sage/config.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

namespace sage {

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

namespace {

/// Flattens a YAML node into dotted keys: maps nest, scalars are kept as their
/// text, a sequence of scalars becomes one comma-separated value.
void flatten_yaml(const YAML::Node& node, const std::string& key, Config& out,
                  const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      for (const auto& entry : node) {
        const std::string name = entry.first.as<std::string>();
        flatten_yaml(entry.second, key.empty() ? name : key + "." + name, out, path);
      }
      return;
    case YAML::NodeType::Sequence: {
      std::string joined;
      for (const auto& item : node) {
        if (!item.IsScalar())
          throw std::runtime_error(path + ": '" + key +
                                   "': a list may hold plain values only (SAGE's settings are "
                                   "scalars, maps of them, or lists of scalars)");
        if (!joined.empty()) joined += ",";
        joined += item.Scalar();
      }
      out.set(key, joined);
      return;
    }
    case YAML::NodeType::Scalar:
      if (key.empty()) throw std::runtime_error(path + ": expected a map of settings");
      out.set(key, node.Scalar());
      return;
    case YAML::NodeType::Null:
      if (!key.empty()) out.set(key, std::string());
      return;
    case YAML::NodeType::Undefined:
      return;
  }
}

/// The same for a TOML table: tables nest, values are kept as text (strings
/// unquoted), an array of plain values becomes one comma-separated value.
void flatten_toml(const toml::node& node, const std::string& key, Config& out,
                  const std::string& path) {
  if (const auto* table = node.as_table()) {
    for (const auto& [name, value] : *table) {
      const std::string child(name.str());
      flatten_toml(value, key.empty() ? child : key + "." + child, out, path);
    }
    return;
  }
  auto text = [&](const toml::node& v) -> std::string {
    if (const auto* s = v.as_string()) return s->get();
    if (const auto* b = v.as_boolean()) return b->get() ? "true" : "false";
    if (v.is_table() || v.is_array())
      throw std::runtime_error(path + ": '" + key +
                               "': an array may hold plain values only (SAGE's settings are "
                               "scalars, tables of them, or arrays of scalars)");
    std::ostringstream os;
    os << toml::default_formatter{v};  // integers, floats, dates as TOML writes them
    return os.str();
  };
  if (const auto* array = node.as_array()) {
    std::string joined;
    for (const auto& item : *array) {
      if (!joined.empty()) joined += ",";
      joined += text(item);
    }
    out.set(key, joined);
    return;
  }
  out.set(key, text(node));
}

}  // namespace

void Config::merge_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config file '" + path + "'");
  // TOML by its extension, YAML otherwise (yaml-cpp, toml++): nesting becomes
  // dotted keys (docs/configuration.md).
  if (path.ends_with(".toml")) {
    try {
      flatten_toml(toml::parse(in, path), "", *this, path);
    } catch (const toml::parse_error& e) {
      throw std::runtime_error(path + ":" + std::to_string(e.source().begin.line) + ": " +
                               std::string(e.description()));
    }
    return;
  }
  try {
    flatten_yaml(YAML::Load(in), "", *this, path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace sage
