// The browser SDK under plain Node: @openfeature/web-sdk 1.10.0 with
// @openfeature/ofrep-web-provider 0.4.3 evaluates every flag in one bulk request per context
// and polls with If-None-Match (ETag). For each user it sets the context and reads every key
// from the provider's cache; one JSON line per evaluation. Then it keeps the last context for
// POLL_WAIT_MS so the provider polls (the test checks the server answered 304s).
// Usage: node web_client.mjs BASE_URL USERS_FILE POLL_MS POLL_WAIT_MS
import { readFileSync } from 'node:fs';
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { KEYS } from './keys.mjs';

const [baseUrl, usersFile, pollMs, waitMs] = process.argv.slice(2);
const users = readFileSync(usersFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
await OpenFeature.setContext(users[0]);
await OpenFeature.setProviderAndWait(
  new OFREPWebProvider({ baseUrl, pollInterval: Number(pollMs), disableVisibilityRefresh: true }),
);
const client = OpenFeature.getClient();
const getters = {
  string: (k, d) => client.getStringDetails(k, d),
  boolean: (k, d) => client.getBooleanDetails(k, d),
  number: (k, d) => client.getNumberDetails(k, d),
  object: (k, d) => client.getObjectDetails(k, d),
};
const lines = [];
for (const context of users) {
  await OpenFeature.setContext(context);
  for (const [key, type, fallback] of KEYS) {
    const d = getters[type](key, fallback);
    lines.push(JSON.stringify({
      user: context.targetingKey, key, value: d.value, variant: d.variant ?? null,
      reason: d.reason ?? null, error_code: d.errorCode ?? null,
    }));
  }
}
process.stdout.write(lines.join('\n') + '\n');
await new Promise((r) => setTimeout(r, Number(waitMs)));
await OpenFeature.close();
