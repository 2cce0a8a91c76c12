/** What both halves of `aws-ec2-instance-identity` agree on: its names and the evidence's bounds. Imports nothing. */
export const AWS_EC2_INSTANCE_IDENTITY_TYPE = 'aws-ec2-instance-identity';
export const AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE = 'aws-ec2-instance-identity';
/** IMDS documents are about 500 bytes; the signature about 2 KiB of base64. */
export const MAX_DOCUMENT_BYTES = 16 * 1024;
export const MAX_PKCS7_CHARS = 16 * 1024;
