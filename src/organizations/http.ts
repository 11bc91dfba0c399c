// Organizations at the region's front door (src/region/api/json-door.ts authenticates with
// SigV4 service 'organizations', throttles, audits and answers): what is Organizations' own —
// its names, its error envelope ({"__type", "Message"}), its throttling answer and what its
// audit records leave out.
//
// Audit: a refused authentication and every read-only operation are one record written before
// the answer leaves; CreateAccount and CloseAccount get a request record before they act and an
// outcome record after. No record holds an email or the new account's secret key.
import type { Iam } from '../iam/iam.js';
import type { AuthzPrincipal, ConditionContext } from '../iam/policy.js';
import { auditMembersOf, type JsonCallResult } from '../lib/json-protocol.js';
import { handleOrganizationsRequest, organizationsOperationInfo } from './api.js';
import type { Organization } from './organization.js';

/** Organizations as the JSON 1.1 front door serves it (the door's JsonService). */
export function organizationsJsonService(organization: Organization, iam: Iam) {
  return {
    signingName: 'organizations',
    awsRegion: organization.awsRegion,
    eventSource: 'organizations.amazonaws.com',
    resourceType: 'AWS::Organizations::Account',
    operationInfo: organizationsOperationInfo,
    errorBody: (code: string, message: string, extra: Record<string, string> = {}): string => JSON.stringify({ __type: code, Message: message, ...extra }),
    throttled: {
      code: 'TooManyRequestsException',
      message: 'You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later.',
      extra: { Type: 'AccountThrottling' },
    },
    requestParameters: (body: Buffer): Record<string, unknown> | null => auditMembersOf(body, ['Email']),
    call: (principal: AuthzPrincipal, target: string, body: Buffer, ctx: { readonly requestId: string; readonly context: ConditionContext }): Promise<JsonCallResult> =>
      handleOrganizationsRequest(organization, iam, principal, target, body, ctx),
  };
}
