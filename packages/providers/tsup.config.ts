import { packageConfig } from '../../tsup.config.js';

/** One entry per `exports` subpath; test/exports.test.ts checks the two agree. */
export default packageConfig({
  index: 'src/index.ts',
  'credential/api-key/index': 'src/credential/api-key/index.ts',
  'credential/basic/index': 'src/credential/basic/index.ts',
  'credential/workload-jwt/index': 'src/credential/workload-jwt/index.ts',
  'credential/oauth2-client-credentials/index': 'src/credential/oauth2-client-credentials/index.ts',
  'condition/time-window/index': 'src/condition/time-window/index.ts',
  'condition/source-ip/index': 'src/condition/source-ip/index.ts',
});
