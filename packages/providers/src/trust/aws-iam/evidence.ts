/**
 * What both halves of `aws-iam` agree on: the names, the shape of the signed request, and the
 * STS hosts. Imports nothing: the collector loads it in the workload.
 */
export const AWS_IAM_TYPE = 'aws-iam';
export const AWS_IAM_EVIDENCE_TYPE = 'aws-iam';

/** The signed request: always this body, as a form, with these two Tessera headers signed. */
export const AWS_IAM_REQUEST_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';
export const AWS_IAM_CONTENT_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';
/** Binds the request to one Tessera cloud (its URL), as Vault's `X-Vault-AWS-IAM-Server-ID`. */
export const AWS_IAM_SERVER_ID_HEADER = 'x-tessera-server-id';
/** Carries the single-use nonce the cloud issued to the SDK (`POST /edge/v1/challenge`). */
export const AWS_IAM_NONCE_HEADER = 'x-tessera-nonce';

/**
 * The region of an AWS STS host: `sts.amazonaws.com` (global, us-east-1),
 * `sts.<region>.amazonaws.com`, `sts-fips.<region>.amazonaws.com`, `sts.<region>.amazonaws.com.cn`,
 * `sts.<region>.api.aws`. Undefined for other hosts (a proxy, a VPC endpoint, a test double).
 */
export function stsHostRegion(hostname: string): string | undefined {
  const host = hostname.toLowerCase();
  if (host === 'sts.amazonaws.com') return 'us-east-1';
  const match = /^sts(?:-fips)?\.([a-z]{2}(?:-[a-z0-9]+){1,3}-[0-9]{1,2})\.(?:amazonaws\.com(?:\.cn)?|api\.aws)$/.exec(host);
  return match?.[1];
}

/** The regional STS endpoint (`.amazonaws.com.cn` for the China regions), with its trailing `/`. */
export function regionalStsEndpoint(region: string): string {
  return `https://sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}/`;
}
