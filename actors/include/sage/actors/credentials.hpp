#pragma once
/// @file credentials.hpp
/// How the members of a cluster know each other. Every cluster is
/// authenticated by default: the head creates a cluster secret (one file,
/// mode 0600: a private key and its self-signed certificate), and every
/// connection between members, clients and task hosts proves it both ways
/// (mutual TLS between hosts; on loopback the secret's handshake, then plain:
/// secret_handshake.hpp), so only processes that can read the file can talk to
/// the cluster. A TLS
/// directory with a CA and per-node certificates (`--tls-dir`) does the same
/// with certificates of one's own; `--insecure` opts out (loopback only).
/// See docs/operations.md, "Security".

#include <string>

#include <sage/config.hpp>

namespace sage::actors {

/// The TLS material of one process: its certificate and key, and the CA it
/// trusts. Empty: plain TCP (an `--insecure` cluster).
struct TlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string dir;     ///< set when the files come from a TLS directory
  std::string secret;  ///< set when they come from a cluster secret

  /// `dir/ca.crt`, `dir/node.crt`, `dir/node.key`.
  static TlsFiles from_dir(const std::string& dir);
  /// Everything in the one file `secret` (a key and its self-signed certificate).
  static TlsFiles from_secret(const std::string& secret);

  [[nodiscard]] bool enabled() const { return !ca_file.empty(); }
  [[nodiscard]] const std::string& ca() const { return ca_file; }
  [[nodiscard]] const std::string& certificate() const { return cert_file; }
  [[nodiscard]] const std::string& key() const { return key_file; }
  /// "the cluster secret /root/.sage/cluster.secret", for messages.
  [[nodiscard]] std::string describe() const;
  /// The environment setting that hands these credentials to a child process
  /// (a task host, a program under `sage job submit`): SAGE_TLS_DIR=...,
  /// SAGE_SECRET_FILE=... or SAGE_INSECURE=1.
  [[nodiscard]] std::string env() const;
};

/// Loads and checks the TLS files (present, readable, key matching the
/// certificate, certificate signed by the CA; a secret readable by its owner
/// only); throws `std::runtime_error` saying which file is wrong. CAF itself
/// would only notice at the first connection, and abort.
void check_tls_files(const TlsFiles& tls);

/// Creates a new cluster secret at `path` (mode 0600), unless a file is there.
/// Returns whether it created one; throws `std::runtime_error` when it cannot.
bool create_cluster_secret(const std::string& path);

/// The credentials a client, worker or program uses, and checks them: an
/// explicit TLS directory (`tls_dir`, else SAGE_TLS_DIR), else an explicit
/// secret (`secret_file`, else SAGE_SECRET_FILE), else `~/.sage/cluster.secret`
/// if it exists. `insecure` (or SAGE_INSECURE=1) means none: plain TCP.
/// Nothing found: none either, and the cluster refuses the connection.
TlsFiles find_credentials(const std::string& tls_dir, const std::string& secret_file,
                          bool insecure);

/// Only the credentials `cfg` names, checked: its `cluster.tls-dir`, else its
/// `cluster.secret-file`; none if it names neither. No fallback to the
/// environment: what an in-process runtime and its node servers use, so that a
/// LocalEnvironment never turns to TLS because a cluster secret lies around.
TlsFiles named_credentials(const Config& cfg);

/// `~/.sage/cluster.secret` (where the default head's state directory keeps it).
std::string default_secret_path();

/// A hint for a connection that failed: how to present the cluster's secret.
std::string credentials_hint(const TlsFiles& tls);

}  // namespace sage::actors
