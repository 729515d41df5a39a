#!/bin/sh
# Produces golden.json, the golden vector for TestGolden, with openssl alone:
# the vector comes from code independent of package richdata, so TestGolden
# checks Decrypt against a second implementation of Graph's scheme
# (change-notifications-with-resource-data), not against itself.
#
# Run once from this directory; key.pem/cert.pem are the fixed pair
#   openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem \
#     -days 36500 -subj /CN=presenced-richdata-golden
# and plaintext.json is the resource JSON. Encryption is randomised, so
# rerunning gives a different, equally valid golden.json.
set -eu
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
openssl rand 32 > "$t/key.bin"
hexkey=$(od -An -v -tx1 "$t/key.bin" | tr -d ' \n')
iv=$(printf %s "$hexkey" | cut -c1-32)
openssl pkeyutl -encrypt -certin -inkey cert.pem -in "$t/key.bin" -out "$t/datakey.bin" \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1
openssl enc -aes-256-cbc -K "$hexkey" -iv "$iv" -in plaintext.json -out "$t/data.bin"
openssl dgst -sha256 -mac HMAC -macopt hexkey:"$hexkey" -binary -out "$t/sig.bin" "$t/data.bin"
thumb=$(openssl x509 -in cert.pem -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
b64() { openssl base64 -A -in "$1"; }
cat > golden.json <<JSON
{
  "data": "$(b64 "$t/data.bin")",
  "dataSignature": "$(b64 "$t/sig.bin")",
  "dataKey": "$(b64 "$t/datakey.bin")",
  "encryptionCertificateId": "presence-cert-1",
  "encryptionCertificateThumbprint": "$thumb"
}
JSON
