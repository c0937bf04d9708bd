// Browser tests of `abacus dashboard` (issue #16): playwright-core drives Debian's chromium
// against the dashboard over data that this test produces, ingests and aggregates with the
// abacus binary, in its own ClickHouse database and Kafka topic. Tests 9-11 cover what #15 added
// (CUPED columns, the Bayesian engine's banner and columns) and progress toward a planned sample.
//
//   ABACUS_BIN (default: target/debug/abacus), ABACUS_CLICKHOUSE_URL, ABACUS_KAFKA_BROKERS
//   ABACUS_E2E_SCREENSHOTS: where screenshots go (default: ./screenshots)
//
// Run with dashboard/tests/e2e/run (installs the pinned packages with npm ci).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../../..");
const BIN = process.env.ABACUS_BIN || join(ROOT, "target/debug/abacus");
const CH = process.env.ABACUS_CLICKHOUSE_URL || "http://127.0.0.1:8123";
const KAFKA = process.env.ABACUS_KAFKA_BROKERS || "127.0.0.1:9092";
const SHOTS = process.env.ABACUS_E2E_SCREENSHOTS || join(HERE, "screenshots");
const suffix = randomBytes(4).toString("hex");
// The examples plus a Bayesian experiment with a planned sample (#15): its own namespace, the
// same purchase event, so the examples' traffic is unchanged in kind.
const EXAMPLES = join(tmpdir(), `abacus-e2e-${suffix}.toml`);
writeFileSync(EXAMPLES, readFileSync(join(ROOT, "examples/experiments.toml"), "utf8") + `
[[experiment]]
id = "onboarding-tips"
name = "Onboarding tips"
hypothesis = "Tips on the first screen raise purchases"
namespace = "onboarding"
traffic = 1.0
control = "off"
start = "2026-11-01T00:00:00Z"
engine = "bayesian"
plan = { users = 40000 }

  [[experiment.variant]]
  name = "off"
  weight = 50
  [[experiment.variant]]
  name = "on"
  weight = 50

  [[experiment.metric]]
  name = "purchase_rate"
  kind = "conversion"
  event = "purchase"
  primary = true
`);
const DB = `e2e_dashboard_${suffix}`;
const TOPIC = `e2e_dashboard_${suffix}`;
const INTERVAL = [0x25, 0x63, 0xeb]; // interval bars and lines (report/src/pages/charts.rs)
const BAND = [0x93, 0xc5, 0xfd]; // interval bands of the series

const env = {
  ...process.env,
  ABACUS_CLICKHOUSE_URL: CH,
  ABACUS_CLICKHOUSE_DATABASE: DB,
  ABACUS_KAFKA_BROKERS: KAFKA,
  ABACUS_KAFKA_TOPIC: TOPIC,
  ABACUS_KAFKA_GROUP: TOPIC,
  RUST_LOG: "warn",
};

function abacus(...args) {
  try {
    return execFileSync(BIN, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    throw new Error(`abacus ${args.join(" ")} failed:\n${err.stdout}\n${err.stderr}`);
  }
}

async function clickhouse(sql) {
  let res;
  try {
    res = await fetch(`${CH}/`, { method: "POST", body: sql });
  } catch (err) {
    throw new Error(`ClickHouse does not answer at ${CH}: start the local stack with deploy/local/stack up (${err})`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  return text;
}

let server;
let base;
let browser;
let context;
const requests = [];
const outside = [];

async function startDashboard() {
  server = spawn(BIN, ["dashboard", "--listen", "127.0.0.1:0", "--refresh-secs", "1"], {
    env: { ...env, RUST_LOG: "info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`dashboard did not start:\n${log}`)), 30000);
    server.stderr.on("data", (chunk) => {
      log += chunk;
      const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(log);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    server.on("exit", (code) => fail(new Error(`dashboard exited (${code}):\n${log}`)));
  });
  server.stderr.on("data", (chunk) => {
    // The log must never carry credentials or query strings (there are none here).
    log += chunk;
  });
}

async function newPage({ viewport, colorScheme } = {}) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  if (colorScheme) await page.emulateMedia({ colorScheme });
  return page;
}

before(async () => {
  await clickhouse("SELECT 1").catch((err) => {
    throw new Error(`${err.message}`);
  });
  try {
    execFileSync("/usr/bin/chromium", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("Debian's chromium is needed: apt-get install chromium (scripts/test installs it)");
  }
  abacus("schema", "migrate");
  abacus("experiments", "apply", EXAMPLES);
  abacus(
    "produce", "--experiments", EXAMPLES, "--users", "20000", "--seed", "16", "--quiet",
    "--effect", "checkout-button-color:green:purchase=+100%",
    "--effect", "checkout-redesign:treatment:purchase=+8%",
    "--effect", "onboarding-tips:on:purchase=+60%",
    "--history", "0.8",
    "--assignment-bug", "pricing-annual-discount=45,55",
  );
  abacus("ingest", "--once");
  // Two runs: an earlier analysis time, then the final one.
  abacus("aggregate", "--once", "--as-of", "2026-11-10");
  abacus("aggregate", "--once", "--as-of", "2026-12-01");
  await startDashboard();
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Item 6: every request of every page is checked; anything not on 127.0.0.1 is blocked.
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    requests.push(url.href);
    if (url.hostname !== "127.0.0.1") {
      outside.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  await clickhouse(`DROP DATABASE IF EXISTS ${DB}`).catch(() => {});
  rmSync(EXAMPLES, { force: true });
});

async function listOrder(page) {
  return page.$$eval("table.list tbody tr", (rows) => rows.map((r) => r.dataset.experiment));
}

test("1. list order, SRM flag, banners (ship, do not decide, keep running)", async () => {
  const page = await newPage();
  const res = await page.goto(base + "/");
  assert.match(res.headers()["content-security-policy"], /default-src 'none'/);
  const order = await listOrder(page);
  // Most actionable first: unhealthy (SRM), ready to ship, then still running / no difference.
  assert.deepEqual(order.slice(0, 2), ["pricing-annual-discount", "checkout-button-color"]);
  assert.deepEqual([...order].sort(), ["aa-baseline", "checkout-button-color", "checkout-redesign", "delivery-fee", "onboarding-tips", "pricing-annual-discount", "team-workspace"]);
  const rank = { "do not decide": 0, ship: 1, "do not ship": 2, "keep running": 3, "no difference": 4 };
  const chips = await page.$$eval("table.list tbody tr td:nth-child(3) .chip", (c) => c.map((x) => x.textContent.trim()));
  for (let i = 1; i < chips.length; i++) assert.ok(rank[chips[i - 1]] <= rank[chips[i]], `sorted by decision: ${chips}`);
  const srmRow = page.locator('tr[data-experiment="pricing-annual-discount"]');
  assert.match(await srmRow.locator(".flag.fail").first().textContent(), /sample ratio/);

  // Text and status filters live in the URL.
  await page.fill("#q", "checkout");
  await page.click("form.filters button");
  await page.waitForURL(/q=checkout/);
  assert.deepEqual((await listOrder(page)).sort(), ["checkout-button-color", "checkout-redesign"]);

  await page.goto(base + "/experiments/pricing-annual-discount");
  assert.equal(await page.getAttribute("#banner", "data-verdict"), "do not decide");
  assert.match(await page.textContent("#banner"), /sample ratio/);
  assert.doesNotMatch(await page.textContent("#banner"), /ship/);

  await page.goto(base + "/experiments/checkout-button-color");
  assert.equal(await page.getAttribute("#banner", "data-verdict"), "ship");
  assert.match(await page.textContent("#banner h2"), /ship green/);

  await page.goto(base + "/experiments/aa-baseline");
  assert.match(await page.getAttribute("#banner", "data-verdict"), /^(keep running|no difference)$/);
  await page.close();
});

test("2. baseline switch changes the URL and the lifts, and matches abacus report --baseline", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-button-color");
  const before = await page.$$eval("table.metrics tbody tr", (rows) => rows.map((r) => [r.dataset.variant, r.dataset.estimate]));
  assert.deepEqual(before.map((r) => r[0]), ["green", "orange"]);
  await page.click('nav[aria-label="baseline"] a:text-is("green")');
  await page.waitForURL(/baseline=green/);
  const after = await page.$$eval("table.metrics tbody tr", (rows) =>
    rows.map((r) => ({ variant: r.dataset.variant, estimate: Number(r.dataset.estimate), low: Number(r.dataset.low), high: Number(r.dataset.high), baseline: r.cells[2].textContent })));
  assert.deepEqual(after.map((r) => r.variant), ["blue", "orange"]);
  assert.ok(after.every((r) => r.baseline === "green"));
  assert.notEqual(after[1].estimate, Number(before[1][1]), "orange's lift changes with the baseline");
  const json = JSON.parse(abacus("report", "--format", "json", "--experiment", "checkout-button-color", "--baseline", "green"));
  assert.equal(json.baseline, "green");
  for (const row of after) {
    const m = json.metrics.find((x) => x.variant === row.variant && x.metric === "purchase_rate");
    assert.equal(row.estimate, m.rel_lift);
    assert.equal(row.low, m.ci_rel_low);
    assert.equal(row.high, m.ci_rel_high);
  }
  // The other pickers keep the baseline in their links (state in the URL).
  const metricLink = await page.getAttribute('nav[aria-label="metric"] a', "href");
  assert.match(metricLink, /baseline=green/);
  await page.close();
});

function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\r") { /* CRLF */ }
    else if (c === "\n") { row.push(field); rows.push(row); row = []; field = ""; }
    else field += c;
  }
  return rows;
}

test("3. the CSV export equals the table on the page, number for number", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-redesign");
  const table = await page.$$eval("table.metrics", (tables) =>
    tables.flatMap((t) => [...t.tBodies[0].rows].map((r) => [t.dataset.group, ...[...r.cells].slice(0, -1).map((c) => c.textContent)])));
  const href = await page.getAttribute("#export-csv", "href");
  const csv = parseCsv(await (await page.request.get(base + href)).text());
  const headers = await page.$eval("table.metrics", (t) => [...t.tHead.rows[0].cells].map((h) => h.textContent));
  assert.deepEqual(csv[0], ["group", ...headers.slice(0, -1)]);
  assert.deepEqual(csv.slice(1), table);
  assert.ok(table.length >= 4, "every metric of checkout-redesign is exported");
  const json = await (await page.request.get(base + (await page.getAttribute("#export-json", "href")))).json();
  assert.deepEqual(json.metrics.map((m) => json.columns.map((c) => m[c])), table);
  assert.equal(json.decision.verdict, await page.getAttribute("#banner", "data-verdict"));
  await page.close();
});

test("4. an older run picked from the history shows that run's numbers", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-redesign");
  const newest = (await page.textContent("#run-id")).trim();
  await page.click("text=Run history");
  await page.waitForURL(/\/history/);
  const runs = await page.$$eval("table.history tbody tr", (rows) => rows.map((r) => r.dataset.run));
  assert.ok(runs.length >= 2, `two runs in the history: ${runs}`);
  const older = runs.find((r) => r !== newest);
  await page.click(`tr[data-run="${older}"] a`);
  await page.waitForURL(new RegExp(`run=${older}`));
  assert.equal((await page.textContent("#run-id")).trim(), older);
  const shown = Number(await page.getAttribute('tr[data-metric="purchase_rate"]', "data-estimate"));
  const stored = Number((await clickhouse(
    `SELECT rel_lift FROM ${DB}.results WHERE experiment_id = 'checkout-redesign' AND run_id = ${older} AND metric = 'purchase_rate' FORMAT TSV`)).trim());
  const newestStored = Number((await clickhouse(
    `SELECT rel_lift FROM ${DB}.results WHERE experiment_id = 'checkout-redesign' AND run_id = ${newest} AND metric = 'purchase_rate' FORMAT TSV`)).trim());
  assert.ok(Math.abs(shown - stored) < 1e-12, `older run shows ${shown}, stored ${stored}`);
  assert.notEqual(stored, newestStored, "the two runs differ");
  await page.close();
});

test("5. a new aggregator run appears on an open page without reload", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-redesign");
  const first = (await page.textContent("#run-id")).trim();
  await page.evaluate(() => { window.__notReloaded = true; });
  abacus("aggregate", "--once", "--experiment", "checkout-redesign", "--as-of", "2026-12-02");
  await page.waitForFunction((old) => document.getElementById("run-id")?.textContent.trim() !== old, first, { timeout: 30000 });
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
  assert.match(await page.textContent("#live"), /Updated: run \d+/);
  await page.close();
});

function countColor(png, rgb, tolerance = 10) {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (Math.abs(png.data[i] - rgb[0]) <= tolerance && Math.abs(png.data[i + 1] - rgb[1]) <= tolerance && Math.abs(png.data[i + 2] - rgb[2]) <= tolerance) n++;
  }
  return n;
}

test("7. screenshots at 1280 and 390 px, light and dark: interval bars and series are drawn", async () => {
  mkdirSync(SHOTS, { recursive: true });
  for (const width of [1280, 390]) {
    for (const scheme of ["light", "dark"]) {
      const page = await newPage({ viewport: { width, height: 900 }, colorScheme: scheme });
      await page.goto(base + "/experiments/checkout-redesign");
      const buffer = await page.screenshot({ fullPage: true });
      writeFileSync(join(SHOTS, `experiment-${width}-${scheme}.png`), buffer);
      const png = PNG.sync.read(buffer);
      const bars = countColor(png, INTERVAL);
      const bands = countColor(png, BAND);
      assert.ok(bars > 600, `${width} ${scheme}: interval bars and lines drawn (${bars} px)`);
      assert.ok(bands > 5000, `${width} ${scheme}: series band drawn (${bands} px)`);
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg, scheme === "dark" ? "rgb(15, 23, 42)" : "rgb(255, 255, 255)");
      // Readable at 390 px: nothing wider than the viewport except inside scrolling tables.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${width} ${scheme}: page wider than the viewport by ${overflow}px`);
      await page.close();
    }
  }
  const list = await newPage({ viewport: { width: 390, height: 900 } });
  await list.goto(base + "/");
  writeFileSync(join(SHOTS, "list-390-light.png"), await list.screenshot({ fullPage: true }));
  await list.close();
});

test("8. axe-core: no serious or critical accessibility violation; keyboard reaches the pickers", async () => {
  // axe is injected through the DevTools protocol; the pages' CSP stays untouched.
  const axe = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  for (const scheme of ["light", "dark"]) {
    for (const path of ["/", "/experiments/checkout-button-color", "/experiments/checkout-redesign/history"]) {
      const page = await newPage({ colorScheme: scheme });
      await page.goto(base + path);
      await page.evaluate(axe);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`), [], `${scheme} ${path}`);
      await page.close();
    }
  }
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-button-color");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => !!document.activeElement.closest('nav[aria-label="baseline"] a:not(.current)'));
  }
  assert.ok(reached, "the baseline picker is reachable with Tab");
  await page.keyboard.press("Enter");
  await page.waitForURL(/baseline=/);
  await page.close();
});

test("12. an older run can be shown against another baseline", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-button-color/history");
  const runs = await page.$$eval("table.history tbody tr", (rows) => rows.map((r) => r.dataset.run));
  const newest = runs.map(Number).sort((a, b) => b - a)[0];
  const older = runs.map(Number).find((r) => r !== newest);
  await page.goto(base + `/experiments/checkout-button-color?run=${older}&baseline=green`);
  assert.equal((await page.textContent("#run-id")).trim(), String(older));
  assert.equal(await page.locator("p.note").count(), 0, "no 'newest run only' note");
  const rows = await page.$$eval("table.metrics tbody tr", (trs) => trs.map((r) => [r.dataset.variant, r.cells[2].textContent, Number(r.dataset.estimate)]));
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [["blue", "green"], ["orange", "green"]]);
  await page.goto(base + `/experiments/checkout-button-color?baseline=green`);
  const newestRows = await page.$$eval("table.metrics tbody tr", (trs) => trs.map((r) => Number(r.dataset.estimate)));
  assert.notDeepEqual(rows.map((r) => r[2]), newestRows, "the older run has its own numbers");
  // The export of the older run against green is the page.
  await page.goto(base + `/experiments/checkout-button-color?run=${older}&baseline=green`);
  const json = await (await page.request.get(base + (await page.getAttribute("#export-json", "href")))).json();
  assert.equal(json.run_id, older);
  assert.equal(json.baseline, "green");
  await page.close();
});

/** The cells of a metrics table row by column name. */
async function rowCells(page, metric) {
  return page.$eval(`table.metrics tr[data-metric="${metric}"]`, (tr) => {
    const heads = [...tr.closest("table").tHead.rows[0].cells].map((h) => h.textContent);
    return Object.fromEntries([...tr.cells].map((c, i) => [heads[i], c.textContent]));
  });
}

test("9. CUPED: the page shows the adjusted estimate, the unadjusted one, the variance reduction and theta", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/checkout-redesign");
  assert.match(await page.textContent("#cuped"), /verdict uses the adjusted estimate/);
  const json = JSON.parse(abacus("report", "--format", "json", "--experiment", "checkout-redesign"));
  const m = json.metrics.find((x) => x.metric === "purchase_rate");
  assert.equal(m.cuped, true);
  assert.ok(m.variance_reduction > 0, `history correlated with the outcome reduces variance (${m.variance_reduction})`);
  const cells = await rowCells(page, "purchase_rate");
  assert.equal(cells["variance reduction"], `${(m.variance_reduction * 100).toFixed(1)}%`);
  const pct = (x) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`;
  assert.equal(cells["lift"], pct(m.rel_lift), "the lift column is the adjusted estimate");
  assert.equal(cells["unadjusted lift"], pct(m.unadjusted.rel_lift));
  assert.notEqual(cells["lift"], cells["unadjusted lift"]);
  assert.match(cells["theta"], /^-?\d/);
  // A metric without CUPED (retention) has nothing in those columns.
  assert.equal((await rowCells(page, "d7_retention"))["variance reduction"], "–");
  // The CSV export carries the same columns.
  const csv = parseCsv(await (await page.request.get(base + (await page.getAttribute("#export-csv", "href")))).text());
  assert.ok(csv[0].includes("variance reduction") && csv[0].includes("unadjusted lift"));
  await page.close();
});

test("10. Bayesian engine: the banner decides by chance to win and risk, the table shows them", async () => {
  const page = await newPage();
  await page.goto(base + "/experiments/onboarding-tips");
  assert.equal(await page.getAttribute("#engine", "data-engine"), "bayesian");
  assert.equal(await page.getAttribute("#banner", "data-verdict"), "ship");
  assert.match(await page.textContent("#banner h2"), /ship on/);
  assert.match(await page.textContent("#banner"), /chance to win ≥ 95% with risk ≤ 0\.250%/);
  const json = JSON.parse(abacus("report", "--format", "json", "--experiment", "onboarding-tips"));
  const m = json.metrics.find((x) => x.metric === "purchase_rate");
  assert.equal(m.engine, "bayesian");
  const cells = await rowCells(page, "purchase_rate");
  assert.equal(cells["chance to win"], `${(m.chance_to_win * 100).toFixed(1)}%`);
  assert.equal(cells["risk choosing variant"], `${(m.risk_treatment * 100).toFixed(3)}%`);
  assert.equal(cells["risk keeping baseline"], `${(m.risk_control * 100).toFixed(3)}%`);
  assert.match(await page.textContent("#banner"), new RegExp(`chance to win ${(m.chance_to_win * 100).toFixed(1)}%`));
  const exported = await (await page.request.get(base + (await page.getAttribute("#export-json", "href")))).json();
  assert.equal(exported.metrics[0]["chance to win"], cells["chance to win"]);
  await page.close();
});

test("11. progress toward the planned sample on the list and the experiment page", async () => {
  const json = JSON.parse(abacus("report", "--format", "json", "--experiment", "onboarding-tips"));
  assert.equal(json.planned_users, 40000);
  const share = Math.round((json.diagnostics.users / 40000) * 100);
  const page = await newPage();
  await page.goto(base + "/");
  const cell = page.locator('tr[data-experiment="onboarding-tips"] .progress');
  assert.equal(await cell.getAttribute("data-kind"), "sample");
  assert.match(await cell.textContent(), new RegExp(`${share}% of 40,000 users`));
  await page.goto(base + "/experiments/onboarding-tips");
  assert.equal(
    await page.textContent("#progress-text"),
    `${share}% of the planned sample (${json.diagnostics.users.toLocaleString("en-US")} of 40,000 users)`,
  );
  const exported = await (await page.request.get(base + (await page.getAttribute("#export-json", "href")))).json();
  assert.equal(exported.progress.planned_users, 40000);
  // Without a plan the list shows the planned duration (pricing ends on 2026-11-15).
  await page.goto(base + "/");
  assert.equal(await page.getAttribute('tr[data-experiment="pricing-annual-discount"] .progress', "data-kind"), "duration");
  await page.close();
});

test("6. no request leaves 127.0.0.1", async () => {
  assert.ok(requests.length > 20, `requests were seen (${requests.length})`);
  assert.deepEqual(outside, []);
  assert.ok(requests.some((u) => u.endsWith("/assets/live.js")) && requests.some((u) => u.endsWith("/assets/dashboard.css")));
});
