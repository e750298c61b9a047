#pragma once
/// @file config.hpp
/// `sage::Config`: the string-keyed settings of an environment (API.md section 8).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sage {

/// A string-keyed map of settings. Keys follow the SAGE names where they exist
/// (`parallelism`, `buffer.timeout`, `batch.size`, ...); values are kept as text
/// and converted on read, so a value read from a file, the command line or code
/// behaves the same.
class Config {
 public:
  Config() = default;

  /// Builds a config from `key=value` pairs.
  Config(std::initializer_list<std::pair<const std::string, std::string>> pairs);

  /// Sets `key` to `value` (text form) and returns `*this` for chaining.
  Config& set(std::string key, std::string value);
  /// Sets `key` to an integer value.
  Config& set(std::string key, int64_t value);
  Config& set(std::string key, int value) { return set(std::move(key), int64_t{value}); }
  /// Sets `key` to a boolean value (`true`/`false`).
  Config& set(std::string key, bool value);
  Config& set(std::string key, const char* value) {
    return set(std::move(key), std::string{value});
  }

  /// Whether `key` is set.
  [[nodiscard]] bool contains(std::string_view key) const;
  /// The raw text of `key`, if set.
  [[nodiscard]] std::optional<std::string> get(std::string_view key) const;
  /// `key` as text, or `fallback`.
  [[nodiscard]] std::string get_string(std::string_view key, std::string fallback) const;
  /// `key` as an integer, or `fallback`; throws `std::invalid_argument` naming the
  /// key when the text is not an integer.
  [[nodiscard]] int64_t get_int(std::string_view key, int64_t fallback) const;
  /// `key` as a boolean (`true/false/1/0/yes/no/on/off`), or `fallback`.
  [[nodiscard]] bool get_bool(std::string_view key, bool fallback) const;
  /// `key` as a size in bytes (`1048576`, `1MB`, `256M`, `1.5GiB`: see
  /// `parse_size`), or `fallback`; throws `std::invalid_argument` naming the key
  /// when the text is not a size.
  [[nodiscard]] uint64_t get_bytes(std::string_view key, uint64_t fallback) const;

  /// Reads `--key=value` and `--key value` arguments; arguments that are not
  /// options are returned in order (the program's own positional arguments).
  std::vector<std::string> merge_args(int argc, const char* const* argv);
  /// Reads a YAML file (yaml-cpp), or a TOML file (toml++) when `path` ends in
  /// `.toml`: nested maps and tables become dotted keys (`buffer.timeout`),
  /// scalars keep their text, a list of scalars becomes one comma-separated
  /// value. Throws `std::runtime_error` when the file cannot be read or parsed
  /// (naming the file and line), or holds a list of maps.
  void merge_file(const std::string& path);

  /// Every key and value, sorted by key.
  [[nodiscard]] const std::map<std::string, std::string, std::less<>>& entries() const {
    return values_;
  }

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

/// A size: a number (decimals allowed) with an optional unit B, K/KB/KiB, M/MB/MiB,
/// G/GB/GiB or T/TB/TiB (powers of 1024, any case); a number without a unit counts
/// in `unit` bytes. `nullopt` when the text is not a size.
std::optional<uint64_t> parse_size(std::string_view text, uint64_t unit = 1);

/// Names and defaults of the settings the runtime reads. Documented in docs/configuration.md.
namespace config_keys {
inline constexpr std::string_view parallelism = "parallelism";  // default 1
inline constexpr std::string_view batch_size = "batch.size";    // records per batch, default 4096
inline constexpr std::string_view buffer_timeout = "buffer.timeout";  // ms, default 10
inline constexpr std::string_view channel_credits =
    "channel.credits";  // batches in flight per channel, default 8
inline constexpr std::string_view batch_max_bytes =
    "batch.max_bytes";  // a batch is also cut at this many bytes, default 1 MiB
inline constexpr std::string_view record_max_bytes =
    "record.max_bytes";  // a bigger record fails the job, default 256 MiB (at most 1 GiB)
inline constexpr std::string_view chaining = "chaining";  // operator chaining, default true
inline constexpr std::string_view scheduler_threads = "scheduler.threads";  // default: cores
inline constexpr std::string_view max_parallelism =
    "state.max_parallelism";  // key groups of a keyed stream, default 128 (at most 32768)
inline constexpr std::string_view watermark_interval =
    "watermark.interval";  // ms between periodic watermarks, default 200
}  // namespace config_keys

}  // namespace sage
