// A job's checkpoints on disk: whole or absent, checksummed (checkpoint_store.hpp).

#include <sage/detail/checkpoint_store.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <sage/detail/log.hpp>

namespace sage::detail {

namespace fs = std::filesystem;

namespace {

constexpr char magic[8] = {'S', 'A', 'G', 'E', 'C', 'K', 'P', 'T'};
constexpr uint32_t format_version = 1;
constexpr size_t header_size = sizeof magic + 4 + 8 + 4;  // magic, version, length, crc
constexpr const char* metadata_file = "_metadata";

std::array<uint32_t, 256> crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

/// Reads what `put_*` wrote; throws on a short buffer.
struct Reader {
  const std::vector<uint8_t>& b;
  size_t at = 0;
  uint64_t u(int bytes) {
    if (b.size() - at < static_cast<size_t>(bytes)) throw std::runtime_error("metadata cut short");
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
    at += static_cast<size_t>(bytes);
    return v;
  }
  std::string s() {
    const auto n = static_cast<size_t>(u(4));
    if (b.size() - at < n) throw std::runtime_error("metadata cut short");
    std::string out(reinterpret_cast<const char*>(b.data() + at), n);
    at += n;
    return out;
  }
};

std::string errno_text() { return std::strerror(errno); }

/// Writes `contents` with its header to `path` durably: a temporary file,
/// fsync, then a rename over the name.
void write_file(const fs::path& path, const std::vector<uint8_t>& contents) {
  std::vector<uint8_t> data(magic, magic + sizeof magic);
  put_u32(data, format_version);
  put_u64(data, contents.size());
  put_u32(data, crc32c(contents.data(), contents.size()));
  data.insert(data.end(), contents.begin(), contents.end());
  const fs::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp.string() + ": " + errno_text());
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const auto why = errno_text();
      ::close(fd);
      throw std::runtime_error("cannot write " + tmp.string() + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const auto why = errno_text();
    ::close(fd);
    throw std::runtime_error("cannot sync " + tmp.string() + ": " + why);
  }
  ::close(fd);
  fs::rename(tmp, path);
}

void sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

/// The contents of a file `write_file` wrote, checked: what is wrong, or nothing.
std::vector<uint8_t> read_file(const fs::path& path, uint32_t* crc_out = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.filename().string() + " is missing");
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < header_size || std::memcmp(data.data(), magic, sizeof magic) != 0)
    throw std::runtime_error(path.filename().string() + " is not a checkpoint file");
  std::vector<uint8_t> header(data.begin() + sizeof magic, data.begin() + header_size);
  Reader r{header};
  const auto version = static_cast<uint32_t>(r.u(4));
  const auto length = r.u(8);
  const auto crc = static_cast<uint32_t>(r.u(4));
  if (version != format_version)
    throw std::runtime_error(path.filename().string() + " has format " + std::to_string(version) +
                             ", this program reads " + std::to_string(format_version));
  if (data.size() - header_size != length)
    throw std::runtime_error(path.filename().string() + " is truncated (" +
                             std::to_string(data.size() - header_size) + " of " +
                             std::to_string(length) + " bytes)");
  std::vector<uint8_t> contents(data.begin() + header_size, data.end());
  if (crc32c(contents.data(), contents.size()) != crc)
    throw std::runtime_error(path.filename().string() + " is corrupt (checksum mismatch)");
  if (crc_out) *crc_out = crc;
  return contents;
}

std::string id_name(uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06llu", static_cast<unsigned long long>(id));
  return buf;
}

bool valid_part_name(const std::string& name) {
  return !name.empty() && name != metadata_file && name.find('/') == std::string::npos &&
         name.front() != '.' && name.size() < 200;
}

}  // namespace

uint32_t crc32c(const uint8_t* data, size_t n, uint32_t crc) {
  static const auto table = crc_table();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

CheckpointStore::CheckpointStore(fs::path dir, const std::string& job, size_t retained)
    : dir_(std::move(dir) / job), retained_(std::max<size_t>(1, retained)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    throw std::runtime_error("cannot make the checkpoint directory " + dir_.string() + ": " +
                             ec.message());
}

fs::path CheckpointStore::path_of(uint64_t id) const { return dir_ / ("chk-" + id_name(id)); }
fs::path CheckpointStore::in_progress(uint64_t id) const {
  return dir_ / (".chk-" + id_name(id) + ".inprogress");
}

void CheckpointStore::begin(uint64_t id) {
  // What a crashed writer left in progress is never read: it goes.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.path().filename().string().starts_with(".chk-")) fs::remove_all(e.path(), ec);
  fs::create_directories(in_progress(id));
}

void CheckpointStore::write_part(uint64_t id, const std::string& name,
                                 const std::vector<uint8_t>& bytes) {
  if (!valid_part_name(name)) throw std::invalid_argument("not a checkpoint part name: " + name);
  const auto dir = in_progress(id);
  if (!fs::is_directory(dir))
    throw std::logic_error("checkpoint " + std::to_string(id) + " was not begun");
  write_file(dir / (name + ".state"), bytes);
}

void CheckpointStore::commit(uint64_t id, const std::map<std::string, std::string>& metadata) {
  const auto dir = in_progress(id);
  std::vector<uint8_t> m;
  put_u64(m, id);
  put_u32(m, static_cast<uint32_t>(metadata.size()));
  for (const auto& [k, v] : metadata) {
    put_string(m, k);
    put_string(m, v);
  }
  // Every part, with its length and checksum: a part lost or swapped shows.
  std::vector<std::pair<std::string, std::pair<uint64_t, uint32_t>>> parts;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto file = e.path().filename().string();
    if (!file.ends_with(".state")) continue;
    uint32_t crc = 0;
    const auto contents = read_file(e.path(), &crc);
    parts.push_back({file.substr(0, file.size() - 6), {contents.size(), crc}});
  }
  std::sort(parts.begin(), parts.end());
  put_u32(m, static_cast<uint32_t>(parts.size()));
  for (const auto& [name, lc] : parts) {
    put_string(m, name);
    put_u64(m, lc.first);
    put_u32(m, lc.second);
  }
  write_file(dir / metadata_file, m);
  sync_dir(dir);
  fs::rename(dir, path_of(id));  // now it is there, whole
  sync_dir(dir_);
  auto ids = complete_ids();
  for (size_t i = 0; i + retained_ < ids.size(); ++i) {
    std::error_code ec;
    fs::remove_all(path_of(ids[i]), ec);
  }
}

void CheckpointStore::abort(uint64_t id) {
  std::error_code ec;
  fs::remove_all(in_progress(id), ec);
}

std::vector<uint64_t> CheckpointStore::complete_ids() const {
  std::vector<uint64_t> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const auto name = e.path().filename().string();
    if (!name.starts_with("chk-") || !e.is_directory()) continue;
    try {
      size_t used = 0;
      const auto id = std::stoull(name.substr(4), &used);
      if (used == name.size() - 4) ids.push_back(id);
    } catch (const std::exception&) {
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

StoredCheckpoint CheckpointStore::read(uint64_t id) const {
  const auto dir = path_of(id);
  const auto m = read_file(dir / metadata_file);
  Reader r{m};
  StoredCheckpoint out;
  out.id = r.u(8);
  if (out.id != id)
    throw std::runtime_error("_metadata names checkpoint " + std::to_string(out.id));
  for (auto n = r.u(4); n > 0; --n) {
    auto k = r.s();
    out.metadata[k] = r.s();
  }
  for (auto n = r.u(4); n > 0; --n) {
    const auto name = r.s();
    const auto length = r.u(8);
    const auto crc = static_cast<uint32_t>(r.u(4));
    if (!valid_part_name(name)) throw std::runtime_error("_metadata lists a bad part name");
    uint32_t got = 0;
    auto contents = read_file(dir / (name + ".state"), &got);
    if (contents.size() != length || got != crc)
      throw std::runtime_error(name + ".state is not the part the metadata lists");
    out.parts.emplace(name, std::move(contents));
  }
  return out;
}

std::optional<StoredCheckpoint> CheckpointStore::latest() const {
  auto ids = complete_ids();
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    try {
      return read(*it);
    } catch (const std::exception& e) {
      log("runtime").warn("checkpoint {} of {} cannot be used ({}): trying the one before", *it,
                          dir_.string(), e.what());
    }
  }
  return std::nullopt;
}

}  // namespace sage::detail
