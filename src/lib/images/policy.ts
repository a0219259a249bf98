import type { PipelineConfig } from '../config.ts';
import type { UrlRules } from './hosts.ts';
import { defaultDimensionLimits, type DimensionLimits } from './scan.ts';
import type { ImagePolicy } from './source.ts';

/** The image policy of the producer and the workers: both must judge images alike. */
export function imagePolicyFromConfig(config: PipelineConfig): ImagePolicy {
  return {
    root: config.IMAGE_ROOT,
    allowedHosts: config.IMAGE_URL_ALLOWED_HOSTS,
    maxBytes: config.MAX_IMAGE_BYTES,
    fetchTimeoutMs: config.IMAGE_READ_TIMEOUT_MS,
    readTimeoutMs: config.IMAGE_READ_TIMEOUT_MS,
    allowHttp: config.IMAGE_URL_ALLOW_HTTP,
    allowPrivateNetworks: config.IMAGE_URL_ALLOW_PRIVATE_NETWORKS,
    minWidth: config.IMAGE_MIN_WIDTH,
    minHeight: config.IMAGE_MIN_HEIGHT,
    maxWidth: config.IMAGE_MAX_WIDTH,
    maxHeight: config.IMAGE_MAX_HEIGHT,
  };
}

export const defaultReadTimeoutMs = 30_000;

export function readTimeoutMs(policy: ImagePolicy): number {
  return policy.readTimeoutMs ?? defaultReadTimeoutMs;
}

export function imageLimits(policy: ImagePolicy): DimensionLimits {
  return {
    minWidth: policy.minWidth ?? defaultDimensionLimits.minWidth,
    minHeight: policy.minHeight ?? defaultDimensionLimits.minHeight,
    maxWidth: policy.maxWidth ?? defaultDimensionLimits.maxWidth,
    maxHeight: policy.maxHeight ?? defaultDimensionLimits.maxHeight,
  };
}

export function urlRules(policy: ImagePolicy): UrlRules {
  return {
    allowedHosts: policy.allowedHosts,
    allowHttp: policy.allowHttp ?? false,
    allowPrivateNetworks: policy.allowPrivateNetworks ?? false,
  };
}
