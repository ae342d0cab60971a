import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { publicJwk } from '../../src/crypto/rsa-oaep.js';

// RFC 7638 section 3.1: the example RSA key and its SHA-256 thumbprint.
const n =
  '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';

describe('publicJwk', () => {
  it('gives the RFC 7638 thumbprint of the RFC example key as kid', () => {
    const pem = createPublicKey({ key: { kty: 'RSA', n, e: 'AQAB' }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    expect(publicJwk(pem)).toEqual({ kty: 'RSA', use: 'enc', alg: 'RSA-OAEP-256', kid: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', n, e: 'AQAB' });
  });
});
