// Big records across nodes, for tests/scripts/big_records_test.sh: documents
// of a few KB (what LLM pipelines move) up to one record of 100 MB cross the
// edge between two nodes (placement spread: a map of parallelism 1, then
// rebalance() into a map of parallelism 2).
//
//   big_records [--local] docs N BYTES [--batch-size B] [--record-max M]
//                                        N documents of BYTES bytes each
//
// Prints "ok: N records, digest D" (D: the sum of the documents' FNV digests,
// equal locally and on a cluster), then the submitter's peak RSS. Each
// operator instance logs its process's peak RSS when it closes ("peak RSS
// ... MB"), which the script reads from `sage job logs`.

#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <sage/sage.hpp>

namespace {

/// The process's peak resident memory, in MB (VmHWM).
int64_t peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) / 1024;
  return -1;
}

uint64_t fnv(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

/// Document i: `bytes` characters that depend on i (made where the source runs).
class Documents : public sage::BatchFunction<std::string> {
 public:
  Documents(int64_t n, int64_t bytes) : n_(n), bytes_(bytes) {}
  std::optional<std::string> execute() override {
    if (i_ == n_) return std::nullopt;
    std::string doc(static_cast<size_t>(bytes_), 'a');
    for (size_t k = 0; k < doc.size(); k += 97) doc[k] = static_cast<char>('a' + (i_ + k) % 26);
    ++i_;
    return doc;
  }
  void close() override { ctx().logger().info("peak RSS of the source: {} MB", peak_rss_mb()); }

 private:
  int64_t n_, bytes_, i_ = 0;
};

class Digest : public sage::MapFunction<std::string, std::pair<int64_t, uint64_t>> {
 public:
  std::pair<int64_t, uint64_t> execute(const std::string& doc) override {
    return {static_cast<int64_t>(doc.size()), fnv(doc)};
  }
  void close() override {
    ctx().logger().info("peak RSS of {}: {} MB", ctx().name(), peak_rss_mb());
  }
};

int docs(bool local, int64_t n, int64_t bytes, const sage::Config& settings) {
  sage::Config cfg = settings;
  cfg.set("placement", "spread");
  std::unique_ptr<sage::Environment> env;
  if (local)
    env = std::make_unique<sage::LocalEnvironment>("big-records", cfg);
  else
    env = std::make_unique<sage::RemoteEnvironment>("big-records", "127.0.0.1", 19001, cfg);
  auto out = env->from_collection<Documents>(n, bytes)
                 .name("documents")
                 .map([](const std::string& d) { return d; })
                 .name("produce")
                 .rebalance()
                 .map<Digest>()
                 .parallelism(2)
                 .name("digest")
                 .collect();
  try {
    env->submit(true);
  } catch (const std::exception& e) {
    std::cout << "failed: " << e.what() << std::endl;
    return 1;
  }
  uint64_t sum = 0;
  int64_t count = 0, total = 0;
  for (const auto& [size, h] : out.get()) {
    ++count;
    total += size;
    sum += h;
  }
  const bool ok = count == n && total == n * bytes;
  std::cout << (ok ? "ok: " : "FAIL: ") << count << " records of " << bytes << " bytes, digest "
            << sum << std::endl;
  std::cout << "peak RSS of the submitter: " << peak_rss_mb() << " MB" << std::endl;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool local = false;
  if (!args.empty() && args.front() == "--local") {
    local = true;
    args.erase(args.begin());
  }
  sage::Config cfg;
  for (size_t i = 3; i + 1 < args.size(); i += 2) {
    if (args[i] == "--batch-size")
      cfg.set("batch.size", static_cast<int64_t>(std::stoll(args[i + 1])));
    if (args[i] == "--record-max") cfg.set("record.max_bytes", args[i + 1]);
  }
  if (args.size() >= 3 && args[0] == "docs")
    return docs(local, std::stoll(args[1]), std::stoll(args[2]), cfg);
  std::cerr << "usage: big_records [--local] docs N BYTES [--batch-size B] [--record-max M]\n";
  return 2;
}
