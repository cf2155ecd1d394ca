#!/bin/sh
# tls-dev-cert.sh DIR [HOSTNAME...]: a development certificate for TLS, made once.
#
# In DIR: ca.pem/ca.key, a private certificate authority, and cert.pem/key.pem, a
# server certificate it signed for localhost, 127.0.0.1, ::1 and every HOSTNAME given
# (valid 825 days). Whatever is there already is kept, so clients that trust ca.pem go
# on trusting it across restarts; delete cert.pem to get a new server certificate from
# the same CA, delete the directory to start over. Prints what it made, nothing else.
#
# `make run` (scripts/run-stack.sh) calls it for .run/tls; the compose service `tlscert`
# runs it in the image (as parley-tls-dev-cert) for nginx's certificate. Not for
# production: there, TLS_CERT_FILE/TLS_KEY_FILE or nginx get a certificate from a real
# CA (docs/operations.md, TLS).
set -eu

dir=${1:?usage: tls-dev-cert.sh DIR [HOSTNAME...]}
shift
mkdir -p "$dir"
umask 077

if [ ! -s "$dir/ca.pem" ] || [ ! -s "$dir/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 \
    -subj "/CN=Parley development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  rm -f "$dir/cert.pem" # a new CA: the old server certificate is not its own
  chmod 644 "$dir/ca.pem"
  echo "made a development CA: $dir/ca.pem"
fi

if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
  san="DNS:localhost,IP:127.0.0.1,IP:::1"
  for h in "$@"; do san="$san,DNS:$h"; done
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' "$san" >"$dir/server.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/key.pem.new" -out "$dir/server.csr" -subj "/CN=localhost" 2>/dev/null
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/cert.pem.new" -days 825 -extfile "$dir/server.ext" 2>/dev/null
  chmod 644 "$dir/cert.pem.new"
  mv "$dir/cert.pem.new" "$dir/cert.pem"
  mv "$dir/key.pem.new" "$dir/key.pem"
  rm -f "$dir/server.csr" "$dir/server.ext"
  echo "made a development server certificate ($san): $dir/cert.pem"
fi
