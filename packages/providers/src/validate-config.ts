/**
 * Validation of provider configuration and secrets against their JSON schemas (TypeBox
 * schemas are JSON schemas). Validators are compiled once per schema object and cached.
 *
 * Error messages describe the schema, never the value: the same function validates
 * write-only secrets, and a message must not echo a secret back.
 */
import type { TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { Value } from 'typebox/value';

export interface ConfigIssue {
  /** JSON pointer to the offending value (`/allow/2`); `''` is the whole value. */
  path: string;
  message: string;
}

export type ConfigValidationResult<T = unknown> =
  | { ok: true; value: T }
  | { ok: false; errors: ConfigIssue[] };

/** Anything with a config schema and an optional extra `validate` hook: any provider kind. */
export interface ConfigurableProvider {
  readonly configSchema: TSchema;
  validate?(config: never): string[];
}

const validators = new WeakMap<object, Validator>();

function validatorFor(schema: TSchema): Validator {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  return validator;
}

function pointerSegment(name: PropertyKey): string {
  return String(name).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Turns TypeBox's errors into one issue per problem, with the property path it concerns. */
function toIssues(errors: TLocalizedValidationError[]): ConfigIssue[] {
  const branches = errors.filter((error) => error.keyword === 'anyOf' || error.keyword === 'oneOf');
  const issues: ConfigIssue[] = [];
  for (const error of errors) {
    const base = error.instancePath;
    // Errors inside a union branch are noise once the union itself is reported.
    if (branches.some((b) => b !== error && b.instancePath === base && error.schemaPath.startsWith(`${b.schemaPath}/${b.keyword}/`))) continue;
    switch (error.keyword) {
      case 'boolean':
        // `additionalProperties: false` reports each extra property twice; keep the named one.
        if (/\/(additional|unevaluated)Properties$/.test(error.schemaPath)) continue;
        issues.push({ path: base, message: error.message });
        break;
      case 'additionalProperties':
      case 'unevaluatedProperties': {
        const names = error.keyword === 'additionalProperties' ? error.params.additionalProperties : error.params.unevaluatedProperties;
        for (const name of names) issues.push({ path: `${base}/${pointerSegment(name)}`, message: 'is not a known property' });
        break;
      }
      case 'required':
        for (const name of error.params.requiredProperties) {
          issues.push({ path: `${base}/${pointerSegment(name)}`, message: 'is required' });
        }
        break;
      case 'enum':
        issues.push({ path: base, message: `must be one of ${error.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` });
        break;
      default:
        issues.push({ path: base, message: error.message });
    }
  }
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Validates `value` against `schema`. On success `value` is a copy with schema defaults
 * filled in (the input is not modified). Unknown properties are errors when the schema
 * says `additionalProperties: false`, as every Tessera provider schema does.
 */
export function validateConfig<T = unknown>(schema: TSchema, value: unknown): ConfigValidationResult<T> {
  const validator = validatorFor(schema);
  const candidate = Value.Default(schema, Value.Clone(value));
  if (validator.Check(candidate)) return { ok: true, value: candidate as T };
  return { ok: false, errors: toIssues(validator.Errors(candidate)) };
}

/**
 * Validates a provider's config: the schema first, then, when the schema accepts it,
 * the provider's own `validate` hook (its messages are reported at path `''`).
 */
export function validateProviderConfig<T = unknown>(provider: ConfigurableProvider, config: unknown): ConfigValidationResult<T> {
  const result = validateConfig<T>(provider.configSchema, config);
  if (!result.ok || provider.validate === undefined) return result;
  const messages = provider.validate(result.value as never);
  if (messages.length === 0) return result;
  return { ok: false, errors: messages.map((message) => ({ path: '', message })) };
}
