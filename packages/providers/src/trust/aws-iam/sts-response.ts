/**
 * STS's answers to `GetCallerIdentity`, read strictly: a small XML reader for the Query
 * protocol's answers (elements, text, the standard entities, an `xmlns` attribute, an
 * optional `<?xml ...?>` declaration) that refuses everything else — DOCTYPE, CDATA, comments,
 * processing instructions, other attributes, mixed content —, a bounded depth and size, and
 * the two documents it may hold:
 *
 *   <GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
 *     <GetCallerIdentityResult><Arn/><UserId/><Account/></GetCallerIdentityResult>
 *     <ResponseMetadata><RequestId/></ResponseMetadata>
 *   </GetCallerIdentityResponse>
 *
 *   <ErrorResponse xmlns="..."><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>
 *
 * `Arn`, `UserId` and `Account` must each appear exactly once in the result (other leaf
 * elements are tolerated, so a field AWS adds one day does not break attestation), and the
 * caller's ARN must be one of the forms STS answers: an assumed role, an IAM user, a federated
 * user or the account's root.
 */

export const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

const MAX_DEPTH = 8;
const MAX_ELEMENTS = 64;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export interface XmlElement {
  name: string;
  xmlns: string | undefined;
  children: XmlElement[];
  /** Text content of a leaf (entities decoded); '' for an element with children. */
  text: string;
}

export class StsResponseError extends Error {
  override readonly name = 'StsResponseError';
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeText(raw: string): string {
  if (raw.includes('<') || raw.includes(']]>')) throw new StsResponseError('unexpected markup');
  return raw.replace(/&([^;]{0,10});?/g, (match, entity: string) => {
    if (!match.endsWith(';')) throw new StsResponseError('bad entity');
    if (entity in ENTITIES) return ENTITIES[entity]!;
    const code = /^#x[0-9A-Fa-f]{1,6}$/.test(entity) ? Number.parseInt(entity.slice(2), 16) : /^#[0-9]{1,7}$/.test(entity) ? Number(entity.slice(1)) : NaN;
    if (!Number.isInteger(code) || code < 0x20 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new StsResponseError('bad entity');
    return String.fromCodePoint(code);
  });
}

/** Parses the restricted XML described above; throws `StsResponseError` on anything else. */
export function parseXml(input: string): XmlElement {
  let text = input.replace(/^\uFEFF/, '');
  const declaration = /^<\?xml[ \t\r\n]+version="1\.[0-9]"(?:[ \t\r\n]+encoding="(?:UTF-8|utf-8)")?(?:[ \t\r\n]+standalone="(?:yes|no)")?[ \t\r\n]*\?>/.exec(text);
  if (declaration !== null) text = text.slice(declaration[0].length);
  if (text.includes('<!') || text.includes('<?')) throw new StsResponseError('DOCTYPE, CDATA, comments and processing instructions are not accepted');

  const tag = /<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*"[^"<]*")*)\s*(\/?)>/g;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  let position = 0;
  let pendingText = '';
  for (let match = tag.exec(text); match !== null; match = tag.exec(text)) {
    const between = text.slice(position, match.index);
    position = match.index + match[0].length;
    if (stack.length === 0) {
      if (between.trim() !== '') throw new StsResponseError('text outside the root element');
    } else {
      pendingText += between;
    }
    const [, closing, name = '', attributes = '', selfClosing] = match;
    if (!NAME.test(name)) throw new StsResponseError('bad element name');
    if (closing === '/') {
      if (attributes.trim() !== '' || selfClosing === '/') throw new StsResponseError('bad closing tag');
      const open = stack.pop();
      if (open === undefined || open.name !== name) throw new StsResponseError('mismatched closing tag');
      if (open.children.length > 0) {
        if (pendingText.trim() !== '') throw new StsResponseError('mixed content');
      } else {
        open.text = decodeText(pendingText);
      }
      pendingText = '';
      continue;
    }
    // An opening tag: the text before it, inside the parent, may only be whitespace.
    if (pendingText.trim() !== '') throw new StsResponseError('mixed content');
    pendingText = '';
    if (root !== undefined && stack.length === 0) throw new StsResponseError('more than one root element');
    if (++elements > MAX_ELEMENTS || stack.length >= MAX_DEPTH) throw new StsResponseError('document too large or too deep');
    let xmlns: string | undefined;
    for (const attribute of attributes.matchAll(/([^\s=]+)\s*=\s*"([^"<]*)"/g)) {
      if (attribute[1] !== 'xmlns' || xmlns !== undefined) throw new StsResponseError('unexpected attribute');
      xmlns = decodeText(attribute[2]!);
    }
    const element: XmlElement = { name, xmlns, children: [], text: '' };
    if (stack.length > 0) stack[stack.length - 1]!.children.push(element);
    else root = element;
    if (selfClosing !== '/') stack.push(element);
  }
  if (stack.length > 0 || root === undefined) throw new StsResponseError('unterminated document');
  const rest = text.slice(position);
  if (rest.trim() !== '') throw new StsResponseError('text after the root element');
  return root;
}

function only(parent: XmlElement, name: string): XmlElement | undefined {
  const found = parent.children.filter((child) => child.name === name);
  if (found.length > 1) throw new StsResponseError(`more than one ${name}`);
  return found[0];
}

function leaf(parent: XmlElement, name: string): string {
  const element = only(parent, name);
  if (element === undefined) throw new StsResponseError(`no ${name}`);
  if (element.children.length > 0) throw new StsResponseError(`${name} is not text`);
  return element.text.trim();
}

export interface CallerIdentity {
  arn: string;
  userId: string;
  account: string;
}

/** The caller of a `GetCallerIdentityResponse` document; checks the fields' forms, not their meaning. */
export function readCallerIdentity(xml: string): CallerIdentity {
  const root = parseXml(xml);
  if (root.name !== 'GetCallerIdentityResponse' || root.xmlns !== STS_XMLNS) throw new StsResponseError('not a GetCallerIdentityResponse');
  for (const child of root.children) {
    if (child.name !== 'GetCallerIdentityResult' && child.name !== 'ResponseMetadata') throw new StsResponseError(`unexpected ${child.name}`);
  }
  const result = only(root, 'GetCallerIdentityResult');
  if (result === undefined) throw new StsResponseError('no GetCallerIdentityResult');
  for (const child of result.children) if (child.children.length > 0) throw new StsResponseError(`unexpected ${child.name}`);
  return { arn: leaf(result, 'Arn'), userId: leaf(result, 'UserId'), account: leaf(result, 'Account') };
}

export interface StsErrorAnswer {
  code: string;
  requestId: string | undefined;
}

const ERROR_CODE = /^[A-Za-z][A-Za-z0-9.]{0,63}$/;
const REQUEST_ID = /^[A-Za-z0-9-]{1,64}$/;

/** AWS's error code of an `ErrorResponse` document (its message is not kept), or undefined. */
export function readStsError(xml: string): StsErrorAnswer | undefined {
  try {
    const root = parseXml(xml);
    if (root.name !== 'ErrorResponse') return undefined;
    const error = only(root, 'Error');
    if (error === undefined) return undefined;
    const code = leaf(error, 'Code');
    if (!ERROR_CODE.test(code)) return undefined;
    const requestIdElement = only(root, 'RequestId');
    const requestId = requestIdElement?.text.trim();
    return { code, requestId: requestId !== undefined && REQUEST_ID.test(requestId) ? requestId : undefined };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// The caller's ARN
// ---------------------------------------------------------------------------------------

export type CallerPrincipal =
  | { kind: 'assumed-role'; partition: string; account: string; roleName: string; sessionName: string }
  | { kind: 'user'; partition: string; account: string }
  | { kind: 'federated-user'; partition: string; account: string }
  | { kind: 'root'; partition: string; account: string };

const PARTITION = '(aws(?:-[a-z]{1,10}){0,3})';
const ASSUMED_ROLE = new RegExp(`^arn:${PARTITION}:sts::([0-9]{12}):assumed-role/([\\w+=,.@-]{1,64})/([\\w+=,.@-]{2,64})$`);
/** IAM user, with an optional path (`/` or `/division/`): path characters are U+0021 to U+007E. */
const USER = new RegExp(`^arn:${PARTITION}:iam::([0-9]{12}):user/(?:[\\x21-\\x7E]{1,510}/)?[\\w+=,.@-]{1,64}$`);
const FEDERATED_USER = new RegExp(`^arn:${PARTITION}:sts::([0-9]{12}):federated-user/[\\w+=,.@-]{2,32}$`);
const ROOT = new RegExp(`^arn:${PARTITION}:iam::([0-9]{12}):root$`);
export const ACCOUNT = /^[0-9]{12}$/;
/** `AIDA...` (user), `AROA...:session` (role session), `<account>` (root), `<account>:name` (federated). */
export const USER_ID = /^[A-Za-z0-9]{12,128}(?::[\w+=,.@-]{1,64})?$/;
export const MAX_ARN_LENGTH = 2048;

/** The principal an ARN from STS names, or undefined for a form this provider does not know. */
export function parseCallerArn(arn: string): CallerPrincipal | undefined {
  if (arn.length > MAX_ARN_LENGTH) return undefined;
  let match = ASSUMED_ROLE.exec(arn);
  if (match !== null) return { kind: 'assumed-role', partition: match[1]!, account: match[2]!, roleName: match[3]!, sessionName: match[4]! };
  match = USER.exec(arn);
  if (match !== null) return { kind: 'user', partition: match[1]!, account: match[2]! };
  match = FEDERATED_USER.exec(arn);
  if (match !== null) return { kind: 'federated-user', partition: match[1]!, account: match[2]! };
  match = ROOT.exec(arn);
  if (match !== null) return { kind: 'root', partition: match[1]!, account: match[2]! };
  return undefined;
}
