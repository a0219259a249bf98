import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/lib/config.ts';
import { ValidationError } from '../src/lib/errors.ts';
import { tracingSettings } from '../src/lib/tracing/settings.ts';

const settingsFor = (env: Record<string, string>) =>
  tracingSettings(loadConfig(env, ['tracing']).tracing, { serviceName: 'esign-worker' });

describe('tracing settings (OTEL_* variables)', () => {
  it('are off when nothing asks for traces, or when the SDK is disabled', () => {
    expect(settingsFor({})).toBeUndefined();
    expect(settingsFor({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toBe(
      undefined,
    );
    expect(
      settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
    ).toBeUndefined();
    expect(
      settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }),
    ).toBeUndefined();
  });

  it('export OTLP to the endpoint given, the traces one as is, the shared one + /v1/traces', () => {
    expect(settingsFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toMatchObject({
      exporter: 'otlp',
      url: 'http://collector:4318/v1/traces',
      serviceName: 'esign-worker',
      sampler: 'parentbased_always_on',
    });
    expect(
      settingsFor({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/custom',
      })?.url,
    ).toBe('https://traces.example.com/custom');
    expect(settingsFor({ OTEL_TRACES_EXPORTER: 'otlp' })?.url).toBe(
      'http://localhost:4318/v1/traces',
    );
    expect(settingsFor({ OTEL_TRACES_EXPORTER: 'console' })?.exporter).toBe('console');
  });

  it('take headers, resource attributes, service name and sampler from their variables', () => {
    const settings = settingsFor({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-team=kyc',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=esign',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.namespace=kyc',
      OTEL_SERVICE_NAME: 'esign-worker-eu',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(settings).toMatchObject({
      headers: { authorization: 'Bearer abc', 'x-team': 'esign' },
      resourceAttributes: { 'deployment.environment': 'prod', 'service.namespace': 'kyc' },
      serviceName: 'esign-worker-eu',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
    });
  });

  it('refuse at start what cannot be honoured, naming every variable and no value', () => {
    let error: unknown;
    try {
      loadConfig(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_TRACES_SAMPLER: 'sometimes',
          OTEL_TRACES_SAMPLER_ARG: '2',
          OTEL_EXPORTER_OTLP_HEADERS: 'authorization=secret-value',
        },
        ['tracing'],
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const message = (error as Error).message;
    for (const name of [
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER_ARG',
    ])
      expect(message).toContain(name);
    expect(message).not.toContain('secret-value');
    expect(message).not.toContain('collector:4318');
  });
});
