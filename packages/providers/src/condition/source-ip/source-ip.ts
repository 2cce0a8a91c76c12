/**
 * `source-ip` access condition: passes or denies by the workload's source address.
 *
 * - `deny` wins over `allow`;
 * - with a non-empty `allow`, only matching addresses pass;
 * - with only `deny`, every other address passes.
 *
 * Entries are IPv4/IPv6 addresses or CIDR ranges. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) match IPv4 rules. Which address is the source (trusted proxies,
 * X-Forwarded-For) is the cloud server's decision, not this condition's.
 */
import type { BlockList } from 'node:net';
import { Type, type Static } from 'typebox';
import type { ConditionResult } from '../../contracts.js';
import { defineAccessCondition } from '../../define.js';
import { ConditionError } from '../../errors.js';
import { normalizeSourceAddress, parseRuleList } from './rules.js';

export const SOURCE_IP_TYPE = 'source-ip';

const ruleList = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000, description });

export const sourceIpConfigSchema = Type.Object(
  {
    allow: Type.Optional(ruleList('Addresses or CIDR ranges allowed; when non-empty, only these pass.')),
    deny: Type.Optional(ruleList('Addresses or CIDR ranges denied; deny wins over allow.')),
  },
  { additionalProperties: false },
);

export type SourceIpConfig = Static<typeof sourceIpConfigSchema>;

export interface ParsedSourceIpRules {
  allow?: BlockList;
  deny?: BlockList;
}

/** Parses a config into BlockLists, or the list of problems found (for `validate` and `evaluate`). */
export function parseSourceIpConfig(config: SourceIpConfig): { rules: ParsedSourceIpRules } | { issues: string[] } {
  const allow: unknown = config?.allow ?? [];
  const deny: unknown = config?.deny ?? [];
  if (!Array.isArray(allow) || !Array.isArray(deny)) return { issues: ['allow and deny must be lists'] };
  if (allow.length === 0 && deny.length === 0) return { issues: ['at least one of allow or deny must be non-empty'] };
  const allowList = parseRuleList('allow', allow);
  const denyList = parseRuleList('deny', deny);
  const issues = [...allowList.issues, ...denyList.issues];
  if (issues.length > 0) return { issues };
  const rules: ParsedSourceIpRules = {};
  if (allow.length > 0) rules.allow = allowList.blockList;
  if (deny.length > 0) rules.deny = denyList.blockList;
  return { rules };
}

/** Parsed rules per config object: configs are treated as immutable once evaluated. */
const parsedConfigs = new WeakMap<object, ParsedSourceIpRules>();

function rulesFor(config: SourceIpConfig): ParsedSourceIpRules {
  const cached = typeof config === 'object' && config !== null ? parsedConfigs.get(config) : undefined;
  if (cached !== undefined) return cached;
  const parsed = parseSourceIpConfig(config);
  if ('issues' in parsed) {
    // Fail closed: an unusable config is an error, never a pass.
    throw new ConditionError('invalid_config', parsed.issues.join('; '), { provider: SOURCE_IP_TYPE });
  }
  parsedConfigs.set(config, parsed.rules);
  return parsed.rules;
}

export const sourceIpCondition = defineAccessCondition({
  specificationVersion: 'v1',
  type: SOURCE_IP_TYPE,
  configSchema: sourceIpConfigSchema,
  validate(config) {
    const parsed = parseSourceIpConfig(config);
    return 'issues' in parsed ? parsed.issues : [];
  },
  async evaluate(ctx, config): Promise<ConditionResult> {
    const rules = rulesFor(config);
    const source = normalizeSourceAddress(ctx.sourceIp);
    if (source === undefined) return { passed: false, reason: 'the source address is not a valid IP address' };
    const { address, family } = source;
    if (rules.deny?.check(address, family)) {
      return { passed: false, reason: `source address ${address} is in the deny list` };
    }
    if (rules.allow === undefined) return { passed: true, reason: `source address ${address} is not in the deny list` };
    return rules.allow.check(address, family)
      ? { passed: true, reason: `source address ${address} is in the allow list` }
      : { passed: false, reason: `source address ${address} is not in the allow list` };
  },
});
