// Content-addressed program storage (see program_store.hpp).

#include <sage/actors/program_store.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <openssl/evp.h>

namespace sage::actors {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

bool is_digest(const std::string& digest) {
  return digest.size() == 64 && digest.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string ProgramStore::path(const std::string& digest) const { return dir_ + "/" + digest; }

bool ProgramStore::contains(const std::string& digest) const {
  return is_digest(digest) && std::filesystem::exists(path(digest));
}

std::string ProgramStore::put(const std::string& digest, const std::string& bytes) {
  if (!is_digest(digest)) return "'" + digest.substr(0, 80) + "' is not a SHA-256 digest";
  if (bytes.size() > max_bytes_)
    return "the program is " + std::to_string(bytes.size() >> 20) +
           " MB, above this head's limit of " + std::to_string(max_bytes_ >> 20) +
           " MB (sage cluster start --head --max-program-size)";
  if (sha256_hex(bytes) != digest) return "the program's bytes do not match its digest";
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  // Written under a temporary name and renamed: a task host never starts a half-written file.
  const std::string temporary = path(digest) + ".part." + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return "cannot write " + temporary + ": " + std::strerror(errno);
  }
  ::chmod(temporary.c_str(), 0700);
  std::filesystem::rename(temporary, path(digest), ec);
  if (ec) return "cannot store " + path(digest) + ": " + ec.message();
  return {};
}

std::optional<std::string> ProgramStore::get(const std::string& digest) const {
  if (!contains(digest)) return std::nullopt;
  try {
    return read_file(path(digest));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace sage::actors
