#!/bin/sh
# Makes the certificates the TLS and HTTP tests need, in DIR:
#   ca.pem/ca.key          a test CA
#   good.pem/good.key      localhost (DNS and IP SAN), signed by the CA
#   expired.pem/.key       localhost, signed by the CA, expired in 2020
#   self.pem/self.key      localhost, self-signed (not trusted)
# Usage: tests/tls_certs.sh DIR     (quiet; exit status 0 on success)
set -eu
d=$1
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
san="subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

key ca.key
openssl req -x509 -new -key ca.key -subj /CN=lettamx-test-ca -days 2 \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign -out ca.pem 2>/dev/null
for name in good expired; do
    key $name.key
    openssl req -new -key $name.key -subj /CN=localhost -addext "$san" \
        -out $name.csr 2>/dev/null
done
openssl x509 -req -in good.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 2 -copy_extensions copy -out good.pem 2>/dev/null

# openssl x509 cannot backdate; `openssl ca` can.
: > index.txt
echo 01 > serial
cat > ca.cnf <<CNF
[ ca ]
default_ca = d
[ d ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
copy_extensions = copy
[ p ]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z \
    -in expired.csr -out expired.pem 2>/dev/null

key self.key
openssl req -x509 -new -key self.key -subj /CN=localhost -addext "$san" \
    -days 2 -out self.pem 2>/dev/null
