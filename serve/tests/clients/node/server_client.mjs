// Evaluates every key of examples/experiments.toml for each user through the real OpenFeature
// Node server SDK (@openfeature/server-sdk 1.23.0) and its OFREP provider
// (@openfeature/ofrep-provider 0.1.3) against `abacus serve`; one JSON line per evaluation.
// Usage: node server_client.mjs BASE_URL USERS_FILE
import { readFileSync } from 'node:fs';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { KEYS } from './keys.mjs';

const [baseUrl, usersFile] = process.argv.slice(2);
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl }));
const client = OpenFeature.getClient();
const getters = {
  string: (k, d, c) => client.getStringDetails(k, d, c),
  boolean: (k, d, c) => client.getBooleanDetails(k, d, c),
  number: (k, d, c) => client.getNumberDetails(k, d, c),
  object: (k, d, c) => client.getObjectDetails(k, d, c),
};
const lines = [];
for (const line of readFileSync(usersFile, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const context = JSON.parse(line);
  for (const [key, type, fallback] of KEYS) {
    const d = await getters[type](key, fallback, context);
    lines.push(JSON.stringify({
      user: context.targetingKey, key, value: d.value, variant: d.variant ?? null,
      reason: d.reason ?? null, error_code: d.errorCode ?? null,
    }));
  }
}
process.stdout.write(lines.join('\n') + '\n');
await OpenFeature.close();
