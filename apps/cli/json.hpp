#pragma once
// JSON output of the `sage` command (`--format json`).

#include <cstdio>
#include <string>

namespace sage::cli {

/// `s` escaped for use inside a JSON string.
inline std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      out += hex;
      continue;
    }
    out += c;
  }
  return out;
}

/// `s` as a JSON string, quotes included.
inline std::string json_string(const std::string& s) { return "\"" + json_escape(s) + "\""; }

}  // namespace sage::cli
