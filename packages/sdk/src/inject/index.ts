export { applyInjection, injectAwsSigv4, injectBasic, injectHeader, injectQuery } from './inject.js';
export { replaceFlatHeaderInPlace, replaceHeader } from './headers.js';
export { setQueryParameter } from './query.js';
export { signAwsSigv4, STREAMED_BODY, type SigV4Request } from './sigv4.js';
export { InjectionError, type InjectionErrorCode } from './injection-error.js';
export type {
  EdgeCredential,
  FlatHeaders,
  HeaderObject,
  HeaderPairs,
  HeadersInput,
  InjectableRequest,
  InjectedRequest,
  Injection,
  InjectionKind,
} from './types.js';
