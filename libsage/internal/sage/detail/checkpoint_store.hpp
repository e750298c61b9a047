#pragma once
/// @file checkpoint_store.hpp (internal)
/// Where a job's checkpoints live (issue 11, docs/fault-tolerance.md): under
/// `checkpoint.dir`, one directory per job, one per checkpoint, each whole or
/// absent, never half written.
///
/// ```
/// <dir>/<job>/chk-000042/              a complete checkpoint: renamed from
///              _metadata               .chk-000042.inprogress once every part
///              <part>.state            and the metadata are on disk (fsync'd)
/// <dir>/<job>/.chk-000043.inprogress/  one being written (or left by a crash:
///                                      never read, removed by the next writer)
/// ```
///
/// Every part file and the metadata carry a header: magic, format version,
/// length and CRC-32C of the contents. The metadata lists every part with its
/// length and checksum. Reading the latest checkpoint checks all of that; a
/// checkpoint that fails (corrupt, truncated, a part missing) is skipped for
/// the previous complete one, with a log line saying why. Only the last
/// `retained` complete checkpoints are kept.
///
/// A part is what one task (or the coordinator) wrote: its name is the
/// caller's (`"task-3-0"`, `"sources"`), a plain file name.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sage::detail {

/// CRC-32C (Castagnoli) of `n` bytes, continuing from `crc`.
uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);

/// A complete checkpoint as read back: its id, the metadata the writer gave,
/// and its parts, every one checked.
struct StoredCheckpoint {
  uint64_t id = 0;
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::vector<uint8_t>> parts;
};

class CheckpointStore {
 public:
  /// The checkpoints of job `job` (a file name: the job's name or id) under
  /// `dir`, keeping the last `retained` (at least 1). Throws
  /// `std::runtime_error` when the directory cannot be made.
  CheckpointStore(std::filesystem::path dir, const std::string& job, size_t retained);

  /// Starts checkpoint `id` (larger than any before): an in-progress directory.
  void begin(uint64_t id);
  /// Writes part `name` of checkpoint `id` (begun). Any thread, one call per part.
  void write_part(uint64_t id, const std::string& name, const std::vector<uint8_t>& bytes);
  /// Completes checkpoint `id`: writes its metadata, makes it visible at once
  /// and whole (a rename), and removes the complete ones beyond `retained`.
  void commit(uint64_t id, const std::map<std::string, std::string>& metadata);
  /// Gives up checkpoint `id` (a task failed, a timeout): its files go.
  void abort(uint64_t id);

  /// The latest complete checkpoint that reads back whole; corrupt ones are
  /// skipped (logged). None if there is none.
  [[nodiscard]] std::optional<StoredCheckpoint> latest() const;
  /// The ids of the complete checkpoints on disk, oldest first (unchecked).
  [[nodiscard]] std::vector<uint64_t> complete_ids() const;
  /// Reads checkpoint `id`; throws `std::runtime_error` saying what is wrong.
  [[nodiscard]] StoredCheckpoint read(uint64_t id) const;

  [[nodiscard]] const std::filesystem::path& job_dir() const { return dir_; }
  [[nodiscard]] std::filesystem::path path_of(uint64_t id) const;

 private:
  [[nodiscard]] std::filesystem::path in_progress(uint64_t id) const;

  std::filesystem::path dir_;
  size_t retained_;
};

}  // namespace sage::detail
