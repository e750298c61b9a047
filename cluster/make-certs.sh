#!/usr/bin/env bash
# Makes the TLS material of a SAGE cluster: a private CA, and for each node (or client) a
# directory holding ca.crt, node.crt and node.key, to give to `sage ... --tls-dir DIR`.
#
#   cluster/make-certs.sh OUT_DIR NAME[=IP] [NAME[=IP] ...]
#
# OUT_DIR/ca.key and OUT_DIR/ca.crt are made once and reused. Every certificate can act as
# server and as client (a node is both). Keep ca.key off the cluster's machines: it signs
# new members. CAF checks that a peer's certificate is signed by the CA, not its names; the
# IP goes into the certificate's subjectAltName all the same.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,10p' "$0"; exit 2; }
out=$1
shift
command -v openssl >/dev/null || { echo "make-certs: openssl not found (apt-get install openssl)"; exit 1; }
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.key" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$out/ca.key" -out "$out/ca.crt" \
    -subj "/CN=sage-cluster-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
for spec in "$@"; do
  name=${spec%%=*}
  ip=127.0.0.1
  [ "$spec" != "$name" ] && ip=${spec#*=}
  dir="$out/$name"
  mkdir -p "$dir"
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$dir/node.key" -out "$dir/node.csr" -subj "/CN=$name" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:%s,DNS:%s\n' \
    "$ip" "$name" >"$dir/node.ext"
  openssl x509 -req -in "$dir/node.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days 825 \
    -sha256 -extfile "$dir/node.ext" -out "$dir/node.crt" 2>/dev/null
  rm -f "$dir/node.csr" "$dir/node.ext"
  cp "$out/ca.crt" "$dir/ca.crt"
  echo "make-certs: $dir (ca.crt, node.crt, node.key) for $name at $ip"
done
