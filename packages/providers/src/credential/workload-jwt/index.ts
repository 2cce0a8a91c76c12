export {
  parseWorkloadJwtConfig,
  WORKLOAD_JWT_RESERVED_CLAIMS,
  WORKLOAD_JWT_TYPE,
  type ParsedWorkloadJwtConfig,
  type WorkloadJwtConfig,
  workloadJwtConfigSchema,
  type WorkloadJwtSecrets,
  workloadJwtSecretsSchema,
} from './config.js';
export { workloadJwtCredentialProvider } from './workload-jwt.js';
