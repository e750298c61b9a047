#pragma once
// JSON output of the `sage` command (`--format json`), written with nlohmann-json.

#include <string>

#include <nlohmann/json.hpp>

namespace sage::cli {

/// Keys in the order they are set (the order `--format json` has always had).
using Json = nlohmann::ordered_json;

/// `j` as one line of JSON; bytes that are not UTF-8 (a peer's strings) are
/// replaced rather than refused.
inline std::string to_line(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sage::cli
