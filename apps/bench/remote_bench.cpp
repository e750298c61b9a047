// sage-bench --only remote: what crossing a node boundary costs MFK (records/s) and
// 16 KB documents (MB/s), and what authentication (TLS with a cluster secret) adds.

#include "remote_bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "big_records_bench.hpp"
#include "mfk_bench.hpp"
#include "two_nodes.hpp"

#include <sage/actors/credentials.hpp>

namespace sage::bench {

void remote_figures(uint64_t mfk_n, uint64_t docs, int runs, Output& extra) {
  // MFK across two actor systems on loopback TCP: `gen -> map -> filter` here,
  // `count -> sink` on a node server, so the 10 M records that pass the filter
  // cross as Cap'n Proto batches through CAF's network layer. Each run twice,
  // in plain and over TLS with a cluster secret: the ratio is what
  // authentication costs.
  const std::string secret_dir = "/tmp/sage-bench-secret-" + std::to_string(getpid());
  std::filesystem::create_directories(secret_dir);
  const std::string secret = secret_dir + "/cluster.secret";
  sage::actors::create_cluster_secret(secret);
  sage::Config authenticated = g_base_config;
  authenticated.set("cluster.secret-file", secret);
  std::fprintf(stderr, "MFK remote: %.0f M records, source node -> count node over loopback\n",
               static_cast<double>(mfk_n) / 1e6);
  const MfkLoopResult expected = mfk_loop(mfk_n);
  double best[2] = {1e300, 1e300};
  for (int r = 0; r < runs; ++r) {
    for (int secure = 0; secure < 2; ++secure) {
      const sage::Config& cfg = secure ? authenticated : g_base_config;
      const double t = on_two_nodes(cfg, [&] {
        return mfk_sage(mfk_n, 1, expected, job_config({{"placement", "spread"}}));
      });
      std::fprintf(stderr, "  run %d, %s: %.3f s (%.1f M/s, %.2f cores busy)\n", r + 1,
                   secure ? "authenticated" : "plain", t, static_cast<double>(mfk_n) / t / 1e6,
                   g_last_job_cores);
      best[secure] = std::min(best[secure], t);
    }
  }
  extra.add("mfk_remote_records_per_s", static_cast<double>(mfk_n) / best[0], 0);
  extra.add("mfk_remote_crossing_records_per_s", static_cast<double>(expected.records) / best[0],
            0);
  extra.add("mfk_remote_authenticated_ratio", best[0] / best[1], 4);

  // Documents of 16 KB (what LLM pipelines move) across the same kind of link.
  std::fprintf(stderr, "big records remote: %" PRIu64 " documents of 16 KB, node to node\n", docs);
  const auto big = big_records_remote(docs, 16384, runs, g_base_config, secret);
  extra.add("big_records_remote_mb_per_s", big.sage_mb_per_s, 0);
  extra.add("big_records_loopback_tcp_mb_per_s", big.tcp_mb_per_s, 0);
  extra.add("big_records_remote_ratio", big.sage_mb_per_s / big.tcp_mb_per_s, 4);
  extra.add("big_records_remote_authenticated_ratio",
            big.authenticated_mb_per_s / big.sage_mb_per_s, 4);
  std::error_code ec;
  std::filesystem::remove_all(secret_dir, ec);
}

}  // namespace sage::bench
