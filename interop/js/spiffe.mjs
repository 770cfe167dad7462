// SPIFFE helpers shared by client.mjs and server.mjs.
//
// X509-SVIDs carry their identity in a single URI SAN and no DNS name, so
// Node's default hostname check can never pass. Instead of disabling
// verification we keep the chain check (ca = trust bundle) and replace only
// the hostname check with a check of the SPIFFE ID.
import { readFileSync } from 'node:fs';

// readSVID reads the PEM files of an SVID and its trust bundle.
export function readSVID({ cert, key, bundle }) {
  return { cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(bundle) };
}

// spiffeIDOf returns the SPIFFE ID of a certificate from Node's
// `subjectaltname` string ("URI:spiffe://td/path, DNS:…"), or throws when it
// is not an X509-SVID: exactly one URI SAN, with the spiffe scheme.
export function spiffeIDOf(subjectaltname) {
  const uris = (subjectaltname ?? '')
    .split(', ')
    .filter((san) => san.startsWith('URI:'))
    .map((san) => san.slice('URI:'.length));
  if (uris.length !== 1 || !uris[0].startsWith('spiffe://')) {
    throw new Error(`not an X509-SVID: want exactly one spiffe:// URI SAN, got ${JSON.stringify(subjectaltname ?? '')}`);
  }
  return uris[0];
}

// expectSPIFFEID returns a tls `checkServerIdentity` that accepts only a
// server whose SVID names `want`. The hostname is deliberately ignored.
export function expectSPIFFEID(want) {
  return (_hostname, cert) => {
    try {
      const got = spiffeIDOf(cert.subjectaltname);
      if (got !== want) return new Error(`server is ${got}, want ${want}`);
      return undefined;
    } catch (err) {
      return err;
    }
  };
}
