#pragma once
/// @file program_store.hpp
/// Shipped programs, stored by content: a directory of executables named by
/// the SHA-256 of their bytes. The head keeps every program submitted to it;
/// a worker keeps a copy of each program it started a task host from.

#include <cstdint>
#include <optional>
#include <string>

namespace sage::actors {

class ProgramStore {
 public:
  /// A store in `dir` (created on first use); an empty `dir` stores nothing.
  /// Programs above `max_bytes` are refused.
  explicit ProgramStore(std::string dir, uint64_t max_bytes = uint64_t{1} << 30)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  [[nodiscard]] bool enabled() const { return !dir_.empty(); }
  /// Whether the program with this digest is stored.
  [[nodiscard]] bool contains(const std::string& digest) const;
  /// Stores `bytes` as an executable if their digest is `digest`; returns ""
  /// or why it did not.
  std::string put(const std::string& digest, const std::string& bytes);
  /// The stored program's bytes.
  [[nodiscard]] std::optional<std::string> get(const std::string& digest) const;
  /// Where the program with this digest is (or would be) stored.
  [[nodiscard]] std::string path(const std::string& digest) const;

 private:
  std::string dir_;
  uint64_t max_bytes_;
};

/// The SHA-256 of `bytes`, as 64 lower-case hex digits.
std::string sha256_hex(const std::string& bytes);
/// Whether `digest` looks like one (and so is safe as a file name).
bool is_digest(const std::string& digest);
/// The whole content of a file; throws `std::runtime_error` when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace sage::actors
