import type { Redis } from 'ioredis';
import { decodeKey, type Config } from '../lib/config.ts';
import { imagePolicyFromConfig } from '../lib/images/index.ts';
import { createPiiCipher } from '../lib/pii-cipher.ts';
import { createProducer, type Producer } from '../queues/producer.ts';

/** A producer configured like the workers (same prefix, image policy, PII key). */
export function createProducerFromConfig(
  config: Config<'common' | 'pipeline' | 'producer'>,
  redis: Redis,
): Producer {
  const { common, pipeline, producer } = config;
  const key =
    pipeline.PII_ENCRYPTION_KEY === undefined ? undefined : decodeKey(pipeline.PII_ENCRYPTION_KEY);
  return createProducer({
    redis,
    prefix: common.QUEUE_PREFIX,
    cipher: createPiiCipher(key),
    images: imagePolicyFromConfig(pipeline),
    defaultPartnerUserIdType: producer.ESIGN_PARTNER_USER_ID_TYPE,
    retry: { attempts: pipeline.JOB_ATTEMPTS, backoffMs: pipeline.JOB_BACKOFF_MS },
    retentionMs: pipeline.RECORD_RETENTION_DAYS * 24 * 3600 * 1000,
  });
}
