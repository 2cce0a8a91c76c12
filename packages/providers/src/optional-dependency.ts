/**
 * Packages that only some providers need — the cloud SDKs, and what only the control plane's
 * verifying and issuing halves use — are optional peer dependencies of @tessera/providers: a
 * workload installs the ones its collector needs, the control plane depends on all of them. They
 * are loaded at first use, once, and when one is missing the error names the command that
 * installs it, instead of Node's `Cannot find package`.
 */
import { ConfigError } from './errors.js';

export interface OptionalDependencyOptions {
  /** What needs the package, for the message: `the aws-iam evidence collector`. */
  feature: string;
  /** Every package the feature needs, so that one command installs them all. */
  install: readonly string[];
}

const modules = new Map<string, Promise<unknown>>();

/** The package's module; a `ConfigError` with code `missing_dependency` when it is not installed. A failed load is tried again next time. */
export function loadOptionalDependency<T>(name: string, options: OptionalDependencyOptions): Promise<T> {
  let module = modules.get(name);
  if (module === undefined) {
    // A specifier held in a variable: bundlers leave it to be resolved at run time, as a
    // package that may not be installed must be.
    const specifier = name;
    module = import(specifier).catch((error: unknown) => {
      modules.delete(name);
      if (!isMissingPackage(error, name)) throw error;
      const command = `npm install ${options.install.join(' ')}`;
      throw new ConfigError('missing_dependency', `${options.feature} needs ${name}, which is not installed: ${command}`, { cause: error });
    });
    modules.set(name, module);
  }
  return module as Promise<T>;
}

/** Node's error for this package itself being absent (not a package it depends on, nor a broken file in it). */
function isMissingPackage(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.startsWith(`Cannot find package '${name}'`);
}
