#!/usr/bin/env node
// A real LLM server for the tests: a small OpenAI-compatible HTTP server whose answers come from
// real llama.cpp inference (node-llama-cpp's prebuilt linux-x64 binaries) over a GGUF model, with
// the model's own chat template. It is a test harness around a real model, not a mock: nothing is
// canned, and a tiny model answers as badly as it does, which is what the LLM reviewer's
// guardrails are tested against.
//
//   node tests/llm/server.mjs --model PATH.gguf [--host 127.0.0.1] [--port 0] [--ctx 2048] [--threads 1]
//
// Prints `listening on http://HOST:PORT` on stdout once the model is loaded (port 0 picks a free
// port). Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (non-streaming JSON; `messages`
// with system/user/assistant roles, `temperature`, `max_tokens`, `seed`, `stop`), `GET /health`.
// Requests are served one at a time on one context sequence (the prompt prefix shared with the
// previous request, e.g. a fixed system message, is not evaluated again).
//
// It never builds or downloads llama.cpp: `build: "never"` and `skipDownload` make a missing
// prebuilt binary an error at start-up.
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
const { getLlama, LlamaChatSession, LlamaLogLevel } = await import("node-llama-cpp");

const { values: args } = parseArgs({
    options: {
        model: { type: "string" },
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "0" },
        ctx: { type: "string", default: "2048" },
        threads: { type: "string", default: "1" },
    },
});
if (!args.model) {
    console.error("usage: server.mjs --model PATH.gguf [--host H] [--port P] [--ctx N] [--threads N]");
    process.exit(2);
}

const threads = Number(args.threads);
const llama = await getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
    maxThreads: threads,
});
const model = await llama.loadModel({ modelPath: args.model });
const context = await model.createContext({ contextSize: Number(args.ctx), threads });
const sequence = context.getSequence();
const modelId = path.basename(args.model).replace(/\.gguf$/i, "");

/** An OpenAI-shaped error answer. */
function sendError(res, status, message, type = "invalid_request_error") {
    send(res, status, { error: { message, type, param: null, code: null } });
}

function send(res, status, body) {
    const json = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    res.end(json);
}

/** The text of a message's `content` (a string or a list of `{type: "text", text}` parts). */
function contentText(content) {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) {
        return content
            .filter((p) => p && p.type === "text" && typeof p.text === "string")
            .map((p) => p.text)
            .join("");
    }
    return null;
}

/** OpenAI messages → node-llama-cpp chat history plus the last user message. */
function toHistory(messages) {
    if (!Array.isArray(messages) || messages.length === 0) throw new Error("messages must be a non-empty array");
    const history = [];
    for (const m of messages) {
        const text = contentText(m?.content);
        if (text === null) throw new Error("every message needs a text content");
        if (m.role === "system" || m.role === "developer") history.push({ type: "system", text });
        else if (m.role === "user") history.push({ type: "user", text });
        else if (m.role === "assistant") history.push({ type: "model", response: [text] });
        else throw new Error(`unsupported role ${JSON.stringify(m.role)}`);
    }
    const last = history.pop();
    if (last.type !== "user") throw new Error("the last message must be from the user");
    return { history, prompt: last.text };
}

/** OpenAI's `stop`: a string or a list of up to four strings. */
function stopStrings(stop) {
    const list = typeof stop === "string" ? [stop] : Array.isArray(stop) ? stop : [];
    const out = list.filter((s) => typeof s === "string" && s.length > 0).slice(0, 4);
    return out.length > 0 ? out : undefined;
}

// One request at a time on the one sequence.
let queue = Promise.resolve();
let served = 0;

async function complete(body) {
    const { history, prompt } = toHistory(body.messages);
    const session = new LlamaChatSession({ contextSequence: sequence, autoDisposeSequence: false });
    try {
        session.setChatHistory(history);
        const maxTokens = Number.isInteger(body.max_tokens) && body.max_tokens > 0 ? body.max_tokens : 256;
        const result = await session.promptWithMeta(prompt, {
            temperature: typeof body.temperature === "number" ? body.temperature : 0,
            maxTokens,
            seed: Number.isInteger(body.seed) ? body.seed : undefined,
            customStopTriggers: stopStrings(body.stop),
        });
        const text = result.responseText;
        const completionTokens = model.tokenize(text).length;
        const promptTokens = model.tokenize(history.map((h) => h.text ?? h.response.join("")).join("\n") + prompt).length;
        return {
            id: `chatcmpl-${++served}`,
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model: body.model || modelId,
            choices: [
                {
                    index: 0,
                    message: { role: "assistant", content: text },
                    finish_reason: result.stopReason === "maxTokens" ? "length" : "stop",
                },
            ],
            usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
        };
    } finally {
        session.dispose({ disposeSequence: false });
    }
}

const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (req.method === "GET" && url.pathname === "/health") return send(res, 200, { status: "ok" });
    if (req.method === "GET" && url.pathname === "/v1/models") {
        return send(res, 200, { object: "list", data: [{ id: modelId, object: "model", created: 0, owned_by: "local" }] });
    }
    if (url.pathname !== "/v1/chat/completions") return sendError(res, 404, `no route ${req.method} ${url.pathname}`);
    if (req.method !== "POST") return sendError(res, 405, "use POST");
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        let body;
        try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
            return sendError(res, 400, "the body is not JSON");
        }
        if (body.stream) return sendError(res, 400, "streaming is not supported by this test server");
        try {
            toHistory(body.messages);
        } catch (e) {
            return sendError(res, 400, e.message);
        }
        const job = queue.then(() => complete(body));
        queue = job.catch(() => {});
        job.then(
            (answer) => send(res, 200, answer),
            (e) => sendError(res, 500, `inference failed: ${e.message}`, "server_error"),
        );
    });
});

server.listen(Number(args.port), args.host, () => {
    const { address, port } = server.address();
    console.log(`listening on http://${address}:${port} (model ${modelId})`);
});

async function shutdown() {
    server.close();
    await context.dispose();
    await model.dispose();
    await llama.dispose();
    process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
