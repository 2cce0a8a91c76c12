export {
  type AddressFamily,
  type AddressRule,
  normalizeSourceAddress,
  parseAddressRule,
  parseRuleList,
  type ParsedRuleList,
} from './rules.js';
export {
  type ParsedSourceIpRules,
  parseSourceIpConfig,
  SOURCE_IP_TYPE,
  type SourceIpConfig,
  sourceIpCondition,
  sourceIpConfigSchema,
} from './source-ip.js';
