// The credentials of cluster members: checking TLS files, creating and finding
// the cluster secret. Plain OpenSSL, no CAF: what `sage` checks before it
// starts anything (CAF 0.17 would only notice a bad file at the first
// connection, and abort).

#include <sage/actors/credentials.hpp>
#include <sage/detail/environment_variables.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace sage::actors {

namespace {

std::string openssl_error() {
  char buf[256] = "unknown error";
  if (auto code = ERR_get_error()) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1) {
    X509_EXTENSION_free(ext);
    throw std::runtime_error("cannot make the cluster secret's certificate: " + openssl_error());
  }
  X509_EXTENSION_free(ext);
}

/// A private key and its self-signed certificate, as PEM.
std::string make_secret_pem() {
  auto fail = [](const char* what) {
    return std::runtime_error(std::string("cannot make a cluster secret (") + what +
                              "): " + openssl_error());
  };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  if (!key) throw fail("key");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!cert) throw fail("certificate");
  X509_set_version(cert.get(), 2);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365 * 100);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sage cluster"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  // Its own trust anchor: every member presents it and trusts only it.
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw fail("signature");
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_X509(out.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw fail("PEM");
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

TlsFiles TlsFiles::from_dir(const std::string& dir) {
  TlsFiles t;
  t.dir = absolute(dir);
  t.ca_file = t.dir + "/ca.crt";
  t.cert_file = t.dir + "/node.crt";
  t.key_file = t.dir + "/node.key";
  return t;
}

TlsFiles TlsFiles::from_secret(const std::string& secret) {
  TlsFiles t;
  t.secret = absolute(secret);
  t.ca_file = t.cert_file = t.key_file = t.secret;
  return t;
}

std::string TlsFiles::describe() const {
  if (!secret.empty()) return "the cluster secret " + secret;
  if (!dir.empty()) return "the TLS directory " + dir;
  return "no credentials (--insecure)";
}

std::string TlsFiles::env() const {
  if (!secret.empty()) return detail::env::assignment(detail::env::secret_file, secret);
  if (!dir.empty()) return detail::env::assignment(detail::env::tls_dir, dir);
  return detail::env::assignment(detail::env::insecure, "1");
}

void check_tls_files(const TlsFiles& tls) {
  for (const auto& file : {tls.ca(), tls.certificate(), tls.key()}) {
    std::FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr)
      throw std::runtime_error(
          "cannot read " + file + " (" + std::strerror(errno) + "; " +
          (tls.secret.empty()
               ? std::string("a TLS directory holds ca.crt, node.crt and node.key")
               : std::string("only who can read the cluster secret can use the cluster")) +
          ": see docs/operations.md)");
    std::fclose(f);
  }
  if (!tls.secret.empty()) {
    struct stat st {};
    if (::stat(tls.secret.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      throw std::runtime_error("the cluster secret " + tls.secret +
                               " may be read by others (mode " + mode + "): chmod 600 " +
                               tls.secret);
    }
  }
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate().c_str()) != 1)
    throw std::runtime_error("cannot load the certificate " + tls.certificate() + ": " +
                             openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key().c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("cannot load the private key " + tls.key() + ": " + openssl_error());
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    throw std::runtime_error(tls.key() + " is not the key of " + tls.certificate());
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca().c_str(), nullptr) != 1)
    throw std::runtime_error("cannot load the CA certificate " + tls.ca() + ": " + openssl_error());
  // The node's certificate must be signed by the cluster's CA, or every peer refuses it.
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> check(X509_STORE_CTX_new(),
                                                                        X509_STORE_CTX_free);
  X509_STORE_CTX_init(check.get(), SSL_CTX_get_cert_store(ctx.get()),
                      SSL_CTX_get0_certificate(ctx.get()), nullptr);
  if (X509_verify_cert(check.get()) != 1)
    throw std::runtime_error(tls.certificate() + " is not signed by " + tls.ca() + ": " +
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(check.get())));
}

bool create_cluster_secret(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return false;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string pem = make_secret_pem();
  // Written whole under another name, then renamed: a reader never sees half of it.
  const std::string temporary = path + ".new." + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error("cannot create the cluster secret " + path + ": " +
                             std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) &&
            ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    throw std::runtime_error("cannot write the cluster secret " + path + ": " + why);
  }
  return true;
}

std::string default_secret_path() {
  const std::string home = detail::env_or("HOME");
  return (home.empty() ? std::string(".") : home) + "/.sage/cluster.secret";
}

namespace {

/// The TLS directory `tls_dir`, else the secret `secret_file`, checked; none if both are empty.
TlsFiles named(const std::string& tls_dir, const std::string& secret_file) {
  TlsFiles found;
  if (!tls_dir.empty())
    found = TlsFiles::from_dir(tls_dir);
  else if (!secret_file.empty())
    found = TlsFiles::from_secret(secret_file);
  if (found.enabled()) check_tls_files(found);
  return found;
}

}  // namespace

TlsFiles find_credentials(const std::string& tls_dir, const std::string& secret_file,
                          bool insecure) {
  if (insecure) return {};
  if (!tls_dir.empty() || !secret_file.empty()) return named(tls_dir, secret_file);
  TlsFiles found;
  if (auto dir = detail::env_or(detail::env::tls_dir); !dir.empty())
    found = TlsFiles::from_dir(dir);
  else if (detail::env_or(detail::env::insecure) == "1")
    return found;
  else if (auto secret = detail::env_or(detail::env::secret_file); !secret.empty())
    found = TlsFiles::from_secret(secret);
  else if (std::error_code ec; std::filesystem::exists(default_secret_path(), ec))
    found = TlsFiles::from_secret(default_secret_path());
  if (found.enabled()) check_tls_files(found);
  return found;
}

TlsFiles named_credentials(const Config& cfg) {
  return named(cfg.get_string("cluster.tls-dir", ""), cfg.get_string("cluster.secret-file", ""));
}

std::string credentials_hint(const TlsFiles& tls) {
  if (tls.enabled()) return " (with " + tls.describe() + ": is it this cluster's?)";
  return " (the cluster is authenticated, and this process found no cluster secret: give "
         "--secret-file FILE or SAGE_SECRET_FILE, the head's <state dir>/cluster.secret; or "
         "--insecure / SAGE_INSECURE=1 for a cluster started so)";
}

}  // namespace sage::actors
