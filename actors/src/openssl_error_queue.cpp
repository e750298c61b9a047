// A workaround for CAF 0.17.6's openssl module, which drops healthy TLS
// sessions after any failed one (docs/operations.md, "Mutual TLS").
//
// CAF decides whether a session failed with SSL_get_error(), which reads the
// thread's OpenSSL error queue, but it never empties that queue. One session
// that ends abruptly (OpenSSL 3 reports a peer closing without close_notify as
// an error: every short-lived client does it) or fails its handshake leaves an
// entry behind, and the next SSL_read() on any other session of the same
// network thread that merely has no data yet is then taken for a failure:
// that session is dropped too. OpenSSL's rule is to clear the queue before
// each I/O call; these definitions do that for CAF. They take precedence over
// libssl's for libcaf_openssl's calls (the executable's symbols come first),
// and forward to libssl's.

#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto real = next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto real = next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static const auto real = next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

int SSL_accept(SSL* ssl) {
  static const auto real = next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

}  // extern "C"

namespace sage::actors {

// Referenced where TLS is configured, so that the linker keeps this file.
bool openssl_error_queue_workaround() { return true; }

}  // namespace sage::actors
