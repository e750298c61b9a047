// The checkpoint store (issue 11): checkpoints whole or absent, checked on
// reading, corrupt, truncated or incomplete ones skipped for the previous
// complete one, only the last `retained` kept.

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <sage/detail/checkpoint_store.hpp>

namespace fs = std::filesystem;
using sage::detail::CheckpointStore;

namespace {

struct TempDir {
  TempDir() : path(fs::temp_directory_path() / ("sage-ckpt-test-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

void write_checkpoint(CheckpointStore& store, uint64_t id, const std::string& payload) {
  store.begin(id);
  store.write_part(id, "task-0-0", bytes(payload + "/a"));
  store.write_part(id, "task-1-0", bytes(payload + "/b"));
  store.commit(id, {{"sources", "position " + payload}});
}

/// Flips one byte of a file at `offset` from its end.
void flip_byte(const fs::path& file, std::streamoff from_end) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-from_end, std::ios::end);
  char c = 0;
  f.get(c);
  f.seekp(-from_end, std::ios::end);
  f.put(static_cast<char>(c ^ 0x5A));
}

}  // namespace

TEST_CASE("checkpoint store: a committed checkpoint reads back whole, with its metadata") {
  TempDir tmp;
  CheckpointStore store(tmp.path, "job", 3);
  CHECK_FALSE(store.latest().has_value());
  write_checkpoint(store, 1, "one");
  auto got = store.latest();
  REQUIRE(got.has_value());
  CHECK(got->id == 1);
  CHECK(got->metadata.at("sources") == "position one");
  CHECK(got->parts.at("task-0-0") == bytes("one/a"));
  CHECK(got->parts.at("task-1-0") == bytes("one/b"));
  // An empty part is a part too.
  store.begin(2);
  store.write_part(2, "empty", {});
  store.commit(2, {});
  CHECK(store.latest()->parts.at("empty").empty());
}

TEST_CASE("checkpoint store: one being written, or left by a crash, is never read") {
  TempDir tmp;
  CheckpointStore store(tmp.path, "job", 3);
  write_checkpoint(store, 1, "one");
  store.begin(2);
  store.write_part(2, "task-0-0", bytes("half"));
  CHECK(store.latest()->id == 1);  // not committed: absent
  CHECK(store.complete_ids() == std::vector<uint64_t>{1});
  CheckpointStore after_crash(tmp.path, "job", 3);  // a new writer
  after_crash.begin(3);                             // removes what the crash left
  CHECK_FALSE(fs::exists(tmp.path / "job" / ".chk-000002.inprogress"));
  after_crash.abort(3);
  CHECK_FALSE(fs::exists(tmp.path / "job" / ".chk-000003.inprogress"));
  CHECK(after_crash.latest()->id == 1);
}

TEST_CASE("checkpoint store: only the last `retained` complete checkpoints are kept") {
  TempDir tmp;
  CheckpointStore store(tmp.path, "job", 2);
  for (uint64_t id = 1; id <= 5; ++id) write_checkpoint(store, id, std::to_string(id));
  CHECK(store.complete_ids() == std::vector<uint64_t>{4, 5});
  CHECK(store.latest()->metadata.at("sources") == "position 5");
}

TEST_CASE("checkpoint store: corrupt, truncated and missing files are skipped for the one before") {
  TempDir tmp;
  CheckpointStore store(tmp.path, "job", 5);
  for (uint64_t id = 1; id <= 4; ++id) write_checkpoint(store, id, std::to_string(id));

  // 4: a flipped byte in a part.
  flip_byte(store.path_of(4) / "task-1-0.state", 1);
  CHECK_THROWS_WITH_AS(store.read(4), doctest::Contains("corrupt"), std::runtime_error);
  CHECK(store.latest()->id == 3);

  // 3: a truncated part.
  const auto part = store.path_of(3) / "task-0-0.state";
  fs::resize_file(part, fs::file_size(part) - 1);
  CHECK_THROWS_WITH_AS(store.read(3), doctest::Contains("truncated"), std::runtime_error);
  CHECK(store.latest()->id == 2);

  // 2: a part missing; and a stray file is not a part.
  fs::remove(store.path_of(2) / "task-1-0.state");
  CHECK_THROWS_WITH_AS(store.read(2), doctest::Contains("missing"), std::runtime_error);
  std::ofstream(store.path_of(1) / "stray.txt") << "not a part";
  auto got = store.latest();
  REQUIRE(got.has_value());
  CHECK(got->id == 1);
  CHECK(got->parts.size() == 2);

  // 1: its metadata corrupt: none is left.
  flip_byte(store.path_of(1) / "_metadata", 2);
  CHECK_FALSE(store.latest().has_value());
}

TEST_CASE("checkpoint store: a part swapped for another checkpoint's is caught") {
  TempDir tmp;
  CheckpointStore store(tmp.path, "job", 5);
  write_checkpoint(store, 1, "one");
  write_checkpoint(store, 2, "twoo");
  fs::copy_file(store.path_of(1) / "task-0-0.state", store.path_of(2) / "task-0-0.state",
                fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH_AS(store.read(2), doctest::Contains("not the part the metadata lists"),
                       std::runtime_error);
  CHECK(store.latest()->id == 1);
}

TEST_CASE("checkpoint store: CRC-32C of the standard check string") {
  const std::string s = "123456789";
  CHECK(sage::detail::crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size()) == 0xE3069283u);
}
