// Step 2 of SigV4: the string to sign.
//   AWS4-HMAC-SHA256 \n RequestDateTime \n CredentialScope \n Hex(SHA256(CanonicalRequest))
import { ALGORITHM, sha256Hex } from './encoding.js';

/** date is YYYYMMDD; the scope is date/region/service/aws4_request. */
export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}
