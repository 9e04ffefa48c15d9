// The model of an exported TextGen Studio page, run in the browser with TensorFlow.js.
//
// One token at a time, as textgen.models' steppers do in Python: a GRU or LSTM carries its
// hidden state, the Transformer its key/value cache, which slides by half when its window is
// full (CachedTransformerStepper). Tokenizers and the choice of the next token follow
// textgen.tokenizers and textgen.sampling.filter_probabilities, so at temperature 0 the page
// writes what `python -m textgen generate --temperature 0` writes.
//
// The page's own parts: #textgen-model (JSON: settings, vocabulary, where each weight
// lies), #textgen-weights (base64: the weights, float32 little-endian) and #textgen-text
// (JSON: the interface's sentences in the language chosen when exporting) and
// #textgen-wasm (base64: the WebAssembly backend's binary). The chart's scripts wait, as
// text, for the model (drawChart). Tests drive window.textgen.
"use strict";

(function () {
  const SPEC = JSON.parse(document.getElementById("textgen-model").textContent);
  const TEXT = JSON.parse(document.getElementById("textgen-text").textContent);

  function say(template, params) {
    return template.replace(/\{(\w+)\}/g, (_, name) => String(params[name]));
  }

  // --- tokenizers --------------------------------------------------------------------

  // Python's \s (str.isspace) and \w (letters, digits, underscore), as textgen.words uses them.
  const PY_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
  const CJK = "\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff\\u{20000}-\\u{2ffff}";
  const WORD_PIECES = new RegExp(
    `[${CJK}]|(?:(?![${CJK}])[\\p{L}\\p{N}_])+|[${PY_SPACE}]+|.`, "gsu");
  // textgen.tokenizers.BPE_PIECE_PATTERN as Hugging Face tokenizers reads it (Oniguruma's
  // \s is Unicode White_Space).
  const BPE_PIECES = new RegExp(
    " ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+",
    "gu");

  class UnknownCharacters extends Error {}

  function makeTokenizer(spec) {
    const tokens = spec.tokens;
    const ids = new Map(tokens.map((token, i) => [token, i]));
    const decode = (list) => list.map((i) => tokens[i]).join("");
    if (spec.kind === "char") {
      return {
        decode,
        encode(text) {
          const chars = Array.from(text);
          const unknown = [...new Set(chars.filter((c) => !ids.has(c)))].sort();
          if (unknown.length) throw new UnknownCharacters(unknown.map(describeChar).join(", "));
          return chars.map((c) => ids.get(c));
        },
      };
    }
    if (spec.kind === "word") {
      ids.delete("<unk>"); // the text "<unk>" is three pieces, never this token
      return { decode, encode: (text) => (text.match(WORD_PIECES) || []).map((p) => ids.get(p) ?? 0) };
    }
    // Byte-pair encoding: within each piece, merge the adjacent pair whose merge was learnt
    // first, until none is left (Sennrich et al. 2016; Hugging Face tokenizers' BPE model).
    ids.delete("<unk>");
    const ranks = new Map(spec.merges.map(([a, b], rank) => [a + "\u0000" + b, rank]));
    function piece(text) {
      let symbols = Array.from(text).map((c) => (ids.has(c) ? c : null)); // null: <unk>
      for (;;) {
        let best = Infinity;
        for (let i = 0; i + 1 < symbols.length; i++) {
          if (symbols[i] === null || symbols[i + 1] === null) continue;
          const rank = ranks.get(symbols[i] + "\u0000" + symbols[i + 1]);
          if (rank !== undefined && rank < best) best = rank;
        }
        if (best === Infinity) break;
        const [a, b] = spec.merges[best];
        const merged = [];
        for (let i = 0; i < symbols.length; i++) {
          if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
            merged.push(a + b);
            i++;
          } else {
            merged.push(symbols[i]);
          }
        }
        symbols = merged;
      }
      return symbols.map((s) => (s === null ? 0 : ids.get(s)));
    }
    return { decode, encode: (text) => (text.match(BPE_PIECES) || []).flatMap(piece) };
  }

  function describeChar(c) {
    const names = { "\n": TEXT.line_break, "\t": TEXT.tab, " ": TEXT.space, "\r": TEXT.carriage_return };
    if (names[c]) return names[c];
    return /[\p{L}\p{N}\p{P}\p{S}]/u.test(c) ? `"${c}"` : "U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
  }

  // --- the network, one token at a time ------------------------------------------------

  function embedded(id) {
    const text = atob(document.getElementById(id).textContent.trim());
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  // TensorFlow.js' WebAssembly backend, its binary read from the page rather than fetched
  // (its loader asks the platform's fetch, answered here); the CPU backend where it cannot
  // start. Returns the backend's name.
  async function startRuntime() {
    try {
      const name = "tfjs-backend-wasm-simd.wasm", binary = embedded("textgen-wasm");
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false); // a page opened from disk has no threads
      if (!(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))) throw new Error("no WebAssembly SIMD");
      tf.wasm.setWasmPaths({ "tfjs-backend-wasm.wasm": name, [name]: name, "tfjs-backend-wasm-threaded-simd.wasm": name }, true);
      tf.env().platform.fetch = (path) => (path === name
        ? Promise.resolve(new Response(binary, { headers: { "Content-Type": "application/wasm" } }))
        : Promise.reject(new Error("This page fetches nothing.")));
      if (await tf.setBackend("wasm")) return "wasm";
    } catch (e) {
      console.warn("WebAssembly backend unavailable:", e);
    }
    await tf.setBackend("cpu");
    return "cpu";
  }

  function loadWeights() {
    const floats = new Float32Array(embedded("textgen-weights").buffer);
    const weights = {};
    for (const [name, [offset, shape]] of Object.entries(SPEC.tensors)) {
      const size = shape.reduce((a, b) => a * b, 1);
      weights[name] = tf.tensor(floats.subarray(offset, offset + size), shape, "float32");
    }
    return weights;
  }

  function layerNorm(x, gamma, beta) {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
  }

  function dense(x, w, prefix) {
    return tf.add(tf.matMul(x, w[prefix + "/kernel"]), w[prefix + "/bias"]);
  }

  // Keras' GRU (reset_after) and LSTM cells; the state is one tensor (1, units) per layer
  // (GRU) or two (LSTM: hidden and cell).
  class RecurrentModel {
    constructor(w) { this.w = w; }
    initialState() {
      const per = SPEC.arch === "gru" ? 1 : 2;
      return Array.from({ length: SPEC.layers }, () => Array.from({ length: per }, () => tf.zeros([1, SPEC.units])));
    }
    step(token, state) {
      const w = this.w;
      return tf.tidy(() => {
        let x = tf.gather(w["embedding"], [token]);
        const next = [];
        for (let i = 0; i < SPEC.layers; i++) {
          const p = `rnn_${i}/`;
          if (SPEC.arch === "gru") {
            const [h] = state[i];
            const [xz, xr, xh] = tf.split(tf.add(tf.matMul(x, w[p + "kernel"]), w[p + "input_bias"]), 3, 1);
            const [hz, hr, hh] = tf.split(tf.add(tf.matMul(h, w[p + "recurrent_kernel"]), w[p + "recurrent_bias"]), 3, 1);
            const z = tf.sigmoid(tf.add(xz, hz));
            const r = tf.sigmoid(tf.add(xr, hr));
            const candidate = tf.tanh(tf.add(xh, tf.mul(r, hh)));
            x = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate));
            next.push([x]);
          } else {
            const [h, c] = state[i];
            const z = tf.add(tf.add(tf.matMul(x, w[p + "kernel"]), tf.matMul(h, w[p + "recurrent_kernel"])), w[p + "bias"]);
            const [zi, zf, zc, zo] = tf.split(z, 4, 1);
            const cell = tf.add(tf.mul(tf.sigmoid(zf), c), tf.mul(tf.sigmoid(zi), tf.tanh(zc)));
            x = tf.mul(tf.sigmoid(zo), tf.tanh(cell));
            next.push([x, cell]);
          }
        }
        return { logits: dense(x, w, "logits"), state: next };
      });
    }
  }

  // The Transformer with a key/value cache. State: the tokens in the window and, per
  // block, the keys and values of their positions (filled, heads x head size). A full
  // window keeps its newest half, whose keys and values are computed again at their new
  // positions (textgen.models.kept_on_slide).
  class TransformerModel {
    constructor(w) {
      this.w = w;
      this.heads = SPEC.heads;
      this.size = SPEC.units / SPEC.heads;
      this.keep = Math.max(1, Math.floor(SPEC.seq_len / 2));
    }
    initialState() { return { tokens: [], keys: [], values: [] }; }
    step(token, state) {
      if (state.tokens.length >= SPEC.seq_len) {
        const kept = state.tokens.slice(state.tokens.length - this.keep);
        dispose(state);
        state = this.initialState();
        for (const t of kept) {
          const out = this.feed(t, state);
          out.logits.dispose();
          state = out.state;
        }
      }
      const out = this.feed(token, state);
      return out;
    }
    feed(token, state) {
      const w = this.w, heads = this.heads, size = this.size;
      const position = state.tokens.length;
      const result = tf.tidy(() => {
        let x = tf.add(tf.gather(w["tokens"], [token]), tf.gather(w["positions"], [position]));
        const keys = [], values = [];
        for (let i = 0; i < SPEC.layers; i++) {
          const p = `block_${i}/`;
          const h = layerNorm(x, w[p + "norm1/gamma"], w[p + "norm1/beta"]);
          const q = tf.reshape(dense(h, w, p + "query"), [heads, 1, size]);
          const k = dense(h, w, p + "key"), v = dense(h, w, p + "value");
          keys.push(i < state.keys.length ? tf.concat([state.keys[i], k], 0) : k);
          values.push(i < state.values.length ? tf.concat([state.values[i], v], 0) : v);
          const seen = position + 1;
          const kh = tf.transpose(tf.reshape(keys[i], [seen, heads, size]), [1, 0, 2]);
          const vh = tf.transpose(tf.reshape(values[i], [seen, heads, size]), [1, 0, 2]);
          const scores = tf.mul(tf.matMul(q, kh, false, true), 1 / Math.sqrt(size));
          const attended = tf.reshape(tf.matMul(tf.softmax(scores), vh), [1, heads * size]);
          x = tf.add(x, dense(attended, w, p + "output"));
          const m = dense(layerNorm(x, w[p + "norm2/gamma"], w[p + "norm2/beta"]), w, p + "expand");
          const gelu = tf.mul(tf.mul(m, 0.5), tf.add(1, tf.erf(tf.mul(m, Math.SQRT1_2))));
          x = tf.add(x, dense(gelu, w, p + "project"));
        }
        const logits = dense(layerNorm(x, w["final_norm/gamma"], w["final_norm/beta"]), w, "logits");
        return { logits, keys, values };
      });
      dispose(state);
      return { logits: result.logits, state: { tokens: [...state.tokens, token], keys: result.keys, values: result.values } };
    }
  }

  function dispose(state) {
    if (Array.isArray(state)) state.flat().forEach((t) => t.dispose());
    else [...state.keys, ...state.values].forEach((t) => t.dispose());
  }

  // --- choosing the next token ---------------------------------------------------------

  // A seeded generator (mulberry32): the same seed, prompt and settings write the same text
  // in this page. Python's sampler draws its numbers differently, so only temperature 0
  // matches it word for word.
  function random(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function softmax(values) {
    const top = values.reduce((a, b) => Math.max(a, b), -Infinity);
    const e = values.map((v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  // textgen.sampling.filter_probabilities and pick: temperature, then the top-k likeliest,
  // then the likeliest whose chances add up to top-p (the likeliest always stays), then an
  // inverse-CDF draw. Greedy (temperature 0) is temperature 1 with top-k 1.
  function choose(logits, settings, draw) {
    let { temperature, topK, topP } = settings;
    if (temperature <= 0) [temperature, topK, topP] = [1, 1, 2];
    const scaled = Array.from(logits, (v, i) => (v + (SPEC.banned.includes(i) ? -1e9 : 0)) / Math.max(temperature, 1e-6));
    const order = scaled.map((_, i) => i).sort((a, b) => scaled[b] - scaled[a] || a - b);
    const probs = softmax(order.map((i) => scaled[i]));
    let before = 0;
    const kept = probs.map((p, rank) => {
      const keep = (rank < topK && before < topP) || rank === 0;
      before += p;
      return keep ? p : 0;
    });
    const total = kept.reduce((a, b) => a + b, 0);
    const last = kept.findLastIndex((p) => p > 0); // the kept tokens are the likeliest few
    const u = draw();
    let cdf = 0;
    for (let rank = 0; rank < last; rank++) {
      cdf += kept[rank] / total;
      if (cdf >= u) return order[rank];
    }
    return order[last];
  }

  // --- the page ------------------------------------------------------------------------

  const tokenizer = makeTokenizer(SPEC.tokenizer);
  let model = null;

  function promptIds(prompt) {
    return prompt ? tokenizer.encode(prompt) : [SPEC.start_id];
  }

  // Lets the page draw and take clicks about every 30 ms of a long computation.
  let yielded = 0;
  async function breathe() {
    if (performance.now() - yielded > 30) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      yielded = performance.now();
    }
  }

  // Feeds ``ids`` through the model, one step each, from a fresh state; returns the logits
  // (Float32Array) after the last one and the state, which the caller disposes, or null
  // when ``stopped()`` said so first.
  async function feedAll(ids, stopped = () => false) {
    let state = model.initialState(), logits = null;
    for (const id of ids) {
      if (logits) logits.dispose();
      const out = model.step(id, state);
      logits = out.logits;
      state = out.state;
      await breathe();
      if (stopped()) {
        logits.dispose();
        dispose(state);
        return null;
      }
    }
    const values = logits.dataSync().slice();
    logits.dispose();
    return { logits: values, state };
  }

  // The model's chances for the token after ``text`` (softmax of its logits: no
  // temperature, no filter), as a plain array indexed by token id.
  async function probabilities(text) {
    const { logits, state } = await feedAll(promptIds(text));
    dispose(state);
    return softmax(Array.from(logits));
  }

  // Writes ``settings.length`` tokens after ``prompt``; ``onPiece(text)`` gets each new
  // piece as it is written, ``onWriting()`` is called once the prompt is read, and the
  // page draws between pieces so text appears as it comes. Resolves to the whole
  // continuation (shorter when ``stopped()`` said so).
  async function generate(prompt, settings, onPiece = () => {}, stopped = () => false, onWriting = () => {}) {
    const draw = random(Number.isInteger(settings.seed) ? settings.seed : Math.floor(Math.random() * 2 ** 32));
    const fed = await feedAll(promptIds(prompt), stopped);
    if (!fed) return "";
    let { logits, state } = fed, written = "";
    onWriting();
    try {
      for (let n = 0; n < settings.length && !stopped(); n++) {
        const token = choose(logits, settings, draw);
        const piece = tokenizer.decode([token]);
        written += piece;
        onPiece(piece);
        if (n + 1 === settings.length) break;
        const out = model.step(token, state);
        state = out.state;
        logits = out.logits.dataSync().slice();
        out.logits.dispose();
        await breathe();
      }
    } finally {
      dispose(state);
    }
    return written;
  }

  const $ = (id) => document.getElementById(id);

  function readSettings() {
    const number = (id) => ($(id).value.trim() === "" ? null : Number($(id).value));
    const s = { temperature: number("temperature"), topK: number("top-k"), topP: number("top-p"),
                length: number("length"), seed: number("seed") };
    if (s.temperature === null || !(s.temperature >= 0 && s.temperature <= 10)) throw new Error(TEXT.bad_temperature);
    if (s.topK !== null && !(Number.isInteger(s.topK) && s.topK >= 0)) throw new Error(TEXT.bad_top_k);
    if (s.topP !== null && !(s.topP >= 0 && s.topP <= 1)) throw new Error(TEXT.bad_top_p);
    if (!(Number.isInteger(s.length) && s.length >= 1 && s.length <= 100000)) throw new Error(TEXT.bad_length);
    if (s.seed !== null && !(Number.isInteger(s.seed) && s.seed >= 0)) throw new Error(TEXT.bad_seed);
    s.topK = s.topK ? s.topK : Infinity;
    s.topP = s.topP === null || s.topP >= 1 ? 2 : Math.max(s.topP, 1e-9);
    return s;
  }

  let stopping = false, running = false;

  async function onGenerate() {
    if (running) { stopping = true; return; }
    const output = $("output"), note = $("note"), button = $("generate");
    output.textContent = ""; // what is shown always answers the latest request
    let settings;
    try {
      settings = readSettings();
      promptIds($("prompt").value); // refuses unknown characters before anything is computed
    } catch (e) {
      note.textContent = e instanceof UnknownCharacters ? say(TEXT.unknown_characters, { shown: e.message }) : e.message;
      note.className = "problem";
      return;
    }
    running = true; stopping = false;
    button.textContent = TEXT.stop;
    const promptSpan = document.createElement("span");
    promptSpan.className = "prompt";
    promptSpan.textContent = $("prompt").value;
    const written = document.createElement("span");
    output.append(promptSpan, written);
    note.className = "muted";
    note.textContent = TEXT.reading;
    let started = performance.now();
    const writing = () => { note.textContent = TEXT.writing; started = performance.now(); };
    try {
      const text = await generate($("prompt").value, settings, (piece) => { written.textContent += piece; },
                                  () => stopping, writing);
      const seconds = (performance.now() - started) / 1000, chars = Array.from(text).length;
      const done = chars === 1 ? say(TEXT.speed_one, { seconds: seconds.toFixed(1) })
        : say(TEXT.speed, { chars, seconds: seconds.toFixed(1), rate: Math.round(chars / Math.max(seconds, 1e-3)) });
      note.textContent = stopping ? TEXT.stopped + " " + done : done;
    } finally {
      running = false;
      button.textContent = TEXT.generate;
    }
  }

  const ready = (async () => {
    const backend = await startRuntime();
    model = SPEC.arch === "transformer" ? new TransformerModel(loadWeights()) : new RecurrentModel(loadWeights());
    $("generate").disabled = false;
    $("generate").addEventListener("click", onGenerate);
    $("note").textContent = backend === "wasm" ? TEXT.ready : TEXT.slow_runtime + " " + TEXT.ready;
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawChart);
    else setTimeout(drawChart, 0);
    return backend;
  })();

  // The learning-curve chart's scripts (plotly.js and the figure), kept as text so that
  // reading them waits until the model is ready; run in order, in the global scope.
  function drawChart() {
    for (const script of document.querySelectorAll("script[data-deferred]")) (0, eval)(script.textContent);
  }
  ready.catch((e) => { $("note").textContent = TEXT.failed + " (" + e.message + ")"; $("note").className = "problem"; });

  window.textgen = {
    ready,
    encode: (text) => tokenizer.encode(text),
    probabilities,
    generate: (prompt, settings) => generate(prompt, Object.assign({ temperature: 1, topK: Infinity, topP: 2, length: 200, seed: 0 }, settings)),
  };
})();
