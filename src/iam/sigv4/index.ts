// SigV4 for the region's APIs: verification (header and presigned), a signer for tests and
// benchmarks, and each step of the algorithm on its own for the published test vectors.
export { verifySigV4, DEFAULT_MAX_SKEW_MS, type SigV4Request, type SigV4VerifyOptions, type SigV4Identity, type SecretLookup } from './verify.js';
export { signRequest, presignRequest, type SigningCredentials, type SignableRequest, type SignOptions, type SignedRequest, type PresignOptions, type PresignedRequest } from './sign.js';
export { SigV4Error, isSigV4Error, AUTH_FAILURE_MESSAGE, EXPIRED_TOKEN_MESSAGE, type SigV4FailureReason } from './errors.js';
export { canonicalRequest, canonicalUri, canonicalQueryString, canonicalHeaders, parseQueryPairs, type HeaderMap } from './canonical-request.js';
export { stringToSign, credentialScope } from './string-to-sign.js';
export { deriveSigningKey } from './signing-key.js';
export { signatureHex, signatureMatches } from './signature.js';
export { parseAuthorizationHeader, parsePresignedQuery, parseAmzDate, formatAmzDate, PRESIGN, MAX_PRESIGN_EXPIRES_SECONDS } from './parse.js';
export { uriEncode, sha256Hex, EMPTY_SHA256, UNSIGNED_PAYLOAD, ALGORITHM } from './encoding.js';
