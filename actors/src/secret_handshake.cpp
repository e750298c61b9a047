// The cluster secret's handshake (see secret_handshake.hpp for the wire).

#include <sage/actors/secret_handshake.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

namespace sage::actors {

namespace {

constexpr char magic[] = "SAGEAUT1";  // the hello's first 8 bytes
constexpr size_t magic_bytes = 8;
constexpr size_t nonce_bytes = 32;
constexpr size_t proof_bytes = 32;
constexpr char accepted = 'Y';
constexpr char refused = 'N';

}  // namespace

SecretHandshake::SecretHandshake(Role role, const Key& key, std::string refusal)
    : role_(role), key_(key), refusal_(std::move(refusal)) {
  static_assert(sizeof magic == magic_bytes + 1 && magic[0] == first_byte);
  if (role_ == Role::client) {
    if (RAND_bytes(client_nonce_.data(), nonce_bytes) != 1) {
      refuse("no random bytes for the handshake's nonce");
      return;
    }
    out_.insert(out_.end(), magic, magic + magic_bytes);
    out_.insert(out_.end(), client_nonce_.begin(), client_nonce_.end());
    expect(Expect::verdict, 1);
  } else {
    expect(Expect::hello, magic_bytes + nonce_bytes);
  }
}

void SecretHandshake::expect(Expect what, size_t bytes) {
  expect_ = what;
  need_ = bytes;
  in_.clear();
}

size_t SecretHandshake::feed(const unsigned char* data, size_t len) {
  size_t taken = 0;
  while (state_ == State::running && taken < len) {
    const size_t n = std::min(wanted(), len - taken);
    in_.insert(in_.end(), data + taken, data + taken + n);
    taken += n;
    if (wanted() == 0) step();
  }
  return taken;
}

void SecretHandshake::step() {
  switch (expect_) {
    case Expect::hello: {  // server
      if (std::memcmp(in_.data(), magic, magic_bytes) != 0) {
        tell_and_refuse("this is not the cluster secret's handshake");
        return;
      }
      std::copy_n(in_.begin() + magic_bytes, nonce_bytes, client_nonce_.begin());
      if (!refusal_.empty()) {
        tell_and_refuse(refusal_);
        return;
      }
      std::array<unsigned char, 32> mine{};
      if (RAND_bytes(server_nonce_.data(), nonce_bytes) != 1 || !proof("sage server", mine)) {
        tell_and_refuse("the node cannot compute its proof (OpenSSL failed)");
        return;
      }
      out_.push_back(static_cast<unsigned char>(accepted));
      out_.insert(out_.end(), server_nonce_.begin(), server_nonce_.end());
      out_.insert(out_.end(), mine.begin(), mine.end());
      expect(Expect::client_proof, proof_bytes);
      return;
    }
    case Expect::verdict:  // client
      if (in_[0] == static_cast<unsigned char>(accepted)) {
        expect(Expect::server_proof, nonce_bytes + proof_bytes);
      } else if (in_[0] == static_cast<unsigned char>(refused)) {
        expect(Expect::refusal_length, 1);
      } else {
        refuse("the peer does not speak the cluster secret's handshake");
      }
      return;
    case Expect::refusal_length:
      if (in_[0] == 0) {
        refuse("the peer refused the handshake");
        return;
      }
      expect(Expect::refusal_text, in_[0]);
      return;
    case Expect::refusal_text: {
      std::string why;  // the peer's words, printable only
      for (unsigned char c : in_) why += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
      refuse("the peer refused the handshake: " + why);
      return;
    }
    case Expect::server_proof: {
      std::copy_n(in_.begin(), nonce_bytes, server_nonce_.begin());
      if (!proves("sage server", in_.data() + nonce_bytes)) {
        refuse("the peer does not hold this cluster secret");
        return;
      }
      std::array<unsigned char, 32> mine{};
      if (!proof("sage client", mine)) {
        refuse("cannot compute the proof (OpenSSL failed)");
        return;
      }
      out_.insert(out_.end(), mine.begin(), mine.end());
      state_ = State::done;
      return;
    }
    case Expect::client_proof: {
      if (!proves("sage client", in_.data())) {
        refuse("the peer does not hold this cluster secret");
        return;
      }
      state_ = State::done;
      return;
    }
  }
}

void SecretHandshake::refuse(std::string why) {
  state_ = State::refused;
  failure_ = std::move(why);
  need_ = in_.size();  // wants nothing more
}

void SecretHandshake::tell_and_refuse(const std::string& why) {
  // Told to the client, which gives it as its reason (at most 255 bytes).
  const std::string told = why.substr(0, 255);
  out_.push_back(static_cast<unsigned char>(refused));
  out_.push_back(static_cast<unsigned char>(told.size()));
  out_.insert(out_.end(), told.begin(), told.end());
  refuse("refused the peer's handshake: " + why);
}

bool SecretHandshake::proof(const char* label, std::array<unsigned char, 32>& mac) const {
  std::vector<unsigned char> message(label, label + std::strlen(label));
  message.insert(message.end(), client_nonce_.begin(), client_nonce_.end());
  message.insert(message.end(), server_nonce_.begin(), server_nonce_.end());
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), message.data(),
              message.size(), mac.data(), &len) != nullptr &&
         len == mac.size();
}

bool SecretHandshake::proves(const char* label, const unsigned char* theirs) const {
  std::array<unsigned char, 32> expected{};
  return proof(label, expected) && CRYPTO_memcmp(expected.data(), theirs, proof_bytes) == 0;
}

SecretHandshake::Key key_of_secret(const std::string& secret_file) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(secret_file.c_str(), "r"),
                                                          std::fclose);
  if (!file) throw std::runtime_error("cannot read the cluster secret " + secret_file);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  ERR_clear_error();
  if (!pkey)
    throw std::runtime_error("the cluster secret " + secret_file + " holds no private key");
  unsigned char* der = nullptr;
  const int der_len = i2d_PrivateKey(pkey.get(), &der);
  if (der_len <= 0) throw std::runtime_error("cannot encode the key of " + secret_file);
  static constexpr char label[] = "sage cluster secret handshake v1";
  SecretHandshake::Key key{};
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok = md != nullptr && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(md, label, sizeof label) == 1 &&
                  EVP_DigestUpdate(md, der, static_cast<size_t>(der_len)) == 1 &&
                  EVP_DigestFinal_ex(md, key.data(), nullptr) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_clear_free(der, static_cast<size_t>(der_len));
  if (!ok) throw std::runtime_error("cannot derive the handshake key of " + secret_file);
  return key;
}

}  // namespace sage::actors
