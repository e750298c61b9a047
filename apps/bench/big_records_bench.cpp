// sage-bench's big-record workload: what LLM pipelines move (documents of a few
// KB) across a node boundary, in MB/s, beside what one loopback TCP socket
// carries in the same run (the ratio is the figure to compare between runs).

#include "big_records_bench.hpp"
#include "two_nodes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

namespace sage::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Received {
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> bytes{0};
};

class Documents : public sage::BatchFunction<std::string> {
 public:
  Documents(uint64_t n, uint64_t bytes) : n_(n), bytes_(bytes) {}
  std::optional<std::string> execute() override {
    if (i_ == n_) return std::nullopt;
    std::string doc(bytes_, static_cast<char>('a' + i_ % 26));
    ++i_;
    return doc;
  }

 private:
  uint64_t n_, bytes_, i_ = 0;
};

double sage_run(uint64_t records, uint64_t bytes, const sage::Config& base) {
  auto received = std::make_shared<Received>();
  sage::Config cfg = base;
  cfg.set("placement", "spread");
  sage::LocalEnvironment env("big-records", cfg);
  env.from_collection<Documents>(records, bytes)
      .name("documents")
      .rebalance()
      .sink([received](const std::string& d) {
        received->records.fetch_add(1, std::memory_order_relaxed);
        received->bytes.fetch_add(d.size(), std::memory_order_relaxed);
      })
      .name("sink");
  const auto t0 = Clock::now();
  env.submit(true);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (received->records != records || received->bytes != records * bytes)
    throw std::runtime_error("big records: " + std::to_string(received->records.load()) + " of " +
                             std::to_string(records) + " documents arrived");
  return s;
}

/// `total` bytes written in `chunk`-byte writes through one loopback TCP connection.
double tcp_run(uint64_t total, uint64_t chunk) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("big records: cannot listen on loopback");
  std::atomic<uint64_t> got{0};
  std::thread reader([&] {
    const int fd = ::accept(listener, nullptr, nullptr);
    std::vector<char> buf(1 << 16);
    for (;;) {
      const auto n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) break;
      got += static_cast<uint64_t>(n);
    }
    ::close(fd);
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("big records: cannot connect on loopback");
  const std::string data(chunk, 'x');
  const auto t0 = Clock::now();
  for (uint64_t sent = 0; sent < total; sent += chunk)
    for (size_t off = 0; off < data.size();) {
      const auto n = ::write(fd, data.data() + off, data.size() - off);
      if (n <= 0) throw std::runtime_error("big records: loopback write failed");
      off += static_cast<size_t>(n);
    }
  ::shutdown(fd, SHUT_WR);
  reader.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  ::close(listener);
  return s;
}

}  // namespace

BigRecordFigures big_records_remote(uint64_t records, uint64_t bytes, int runs,
                                    const sage::Config& base, const std::string& secret_file) {
  sage::Config authenticated = base;
  authenticated.set("cluster.secret-file", secret_file);
  const double mb = static_cast<double>(records * bytes) / 1e6;
  double best[2] = {1e300, 1e300};
  double tcp = 1e300;
  for (int r = 0; r < runs; ++r) {
    for (int secure = 0; secure < 2; ++secure) {
      const sage::Config& cfg = secure ? authenticated : base;
      const double s = on_two_nodes(cfg, [&] { return sage_run(records, bytes, cfg); });
      std::fprintf(stderr, "  run %d: SAGE %s %.3f s (%.0f MB/s)\n", r + 1,
                   secure ? "authenticated" : "plain", s, mb / s);
      best[secure] = std::min(best[secure], s);
    }
    const double t = tcp_run(records * bytes, bytes);
    std::fprintf(stderr, "  run %d: loopback TCP %.3f s (%.0f MB/s)\n", r + 1, t, mb / t);
    tcp = std::min(tcp, t);
  }
  BigRecordFigures f;
  f.sage_mb_per_s = mb / best[0];
  f.authenticated_mb_per_s = mb / best[1];
  f.tcp_mb_per_s = mb / tcp;
  return f;
}

}  // namespace sage::bench
