// rally's access tokens verified by npm jose, an implementation nobody at
// rally wrote, against the JWKS nginx serves: what a studio's own service
// does with them.
//
//   node verify.mjs JWKS_URL ISSUER AUDIENCE < tokens, one a line
//
// One JSON line a token: {"ok":true,"alg","kid","sub"} or {"ok":false,"code"}.
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { createInterface } from 'node:readline';

const [jwksUrl, issuer, audience] = process.argv.slice(2);
const keys = createRemoteJWKSet(new URL(jwksUrl));
const lines = createInterface({ input: process.stdin });
for await (const token of lines) {
  if (token === '') continue;
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys, {
      issuer, audience, algorithms: ['ES256', 'RS256'],
    });
    console.log(JSON.stringify({ ok: true, alg: protectedHeader.alg, kid: protectedHeader.kid,
                                 sub: payload.sub }));
  } catch (e) {
    let alg = null;
    try { alg = decodeProtectedHeader(token).alg; } catch { /* not a JWS */ }
    console.log(JSON.stringify({ ok: false, code: e.code || e.name, alg }));
  }
}
