// scratchcnn explore: the page's script. Plain JavaScript, no libraries: it asks the
// local server (server.py) for numbers and draws them on canvases.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  model: null,      // GET /api/model
  pixels: null,     // the image as sent to the model: H x W (grey) or C x H x W, in [0, 1]
  result: null,     // POST /api/run
  selected: null,   // {layer, channel, y, x} of the explained pixel
  tiles: new Map(), // "layer:channel" -> tile (layer -1: the input) for highlighting
  marked: [],       // tiles with a highlight drawn on them
  runs: 0,          // requests sent, so that a late answer to an old image is ignored
  sample: -1,
};

// ---------------------------------------------------------------- talking to the server
async function api(path, options) {
  const response = await fetch(path, options);
  let body;
  try {
    body = await response.json();
  } catch (err) {
    body = { error: `the server answered ${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const postJSON = (path, obj) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(obj),
});

function say(text, kind) {
  const box = $("message");
  box.textContent = text || "";
  box.className = kind === "info" ? "info" : "";
}

// ---------------------------------------------------------------- numbers and tiles
const minus = (text) => text.replace("-", "\u2212");

function fmt(v, digits = 3) {
  if (v === null || v === undefined) return "pad";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return minus(v.toExponential(2));
  return minus(v.toFixed(digits));
}

// Grey levels for a layer: from 0 (black) to the largest value (white), or, where there
// are negative values, symmetric about 0 (mid grey), black at -m and white at +m.
function greyScale(lo, hi) {
  if (lo >= 0) {
    const top = hi > 0 ? hi : 1;
    return { grey: (v) => (255 * v) / top, legend: `black 0, white ${fmt(hi)}` };
  }
  const m = Math.max(-lo, hi) || 1;
  return { grey: (v) => 127.5 + (127.5 * v) / m,
           legend: `black ${fmt(-m)}, grey 0, white ${fmt(m)}` };
}

function pixelSize(h, w, target) {
  return Math.max(2, Math.floor(target / Math.max(h, w)));
}

// A tile: a 2-D array of values drawn as grey squares of `px` screen pixels each.
function makeTile(values, grey, px, label) {
  const h = values.length, w = values[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = w * px;
  canvas.height = h * px;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w * px, h * px);
  for (let y = 0; y < h * px; y++) {
    for (let x = 0; x < w * px; x++) {
      const v = values[Math.floor(y / px)][Math.floor(x / px)];
      const g = v === null ? 0 : Math.max(0, Math.min(255, Math.round(grey(v))));
      const i = 4 * (y * w * px + x);
      image.data[i] = image.data[i + 1] = image.data[i + 2] = g;
      image.data[i + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  const box = document.createElement("div");
  box.className = "tile";
  box.append(canvas);
  if (label) box.append(document.createTextNode(label));
  const tile = { box, canvas, h, w, px,
    mark(rows, cols, colour) {  // a frame around rows x cols (the part inside the map)
      ctx.putImageData(image, 0, 0);
      const ys = rows.filter((y) => y >= 0 && y < h), xs = cols.filter((x) => x >= 0 && x < w);
      if (!ys.length || !xs.length) return;
      const y0 = Math.min(...ys), y1 = Math.max(...ys), x0 = Math.min(...xs), x1 = Math.max(...xs);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.strokeRect(x0 * px - 1, y0 * px - 1, (x1 - x0 + 1) * px + 2, (y1 - y0 + 1) * px + 2);
    },
    clear() { ctx.putImageData(image, 0, 0); } };
  return tile;
}

// ---------------------------------------------------------------- the drawing pad
const pad = $("pad");
const pen = pad.getContext("2d");
let drawing = false, last = null;

function clearPad() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, pad.width, pad.height);
}

function where(event) {
  const r = pad.getBoundingClientRect();
  return [((event.clientX - r.left) * pad.width) / r.width, ((event.clientY - r.top) * pad.height) / r.height];
}

function stroke(from, to) {
  pen.strokeStyle = "#fff";
  pen.lineWidth = 22;
  pen.lineCap = pen.lineJoin = "round";
  pen.beginPath();
  pen.moveTo(from[0], from[1]);
  pen.lineTo(to[0], to[1]);
  pen.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  last = where(event);
  stroke(last, last);
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const next = where(event);
  stroke(last, next);
  last = next;
});
const finish = () => {
  if (!drawing) return;
  drawing = false;
  const pixels = framed();
  if (pixels) {
    say("");
    show(pixels);
  }
};
pad.addEventListener("pointerup", finish);
pad.addEventListener("pointercancel", finish);

// The drawing as MNIST frames a digit: the strokes' bounding box scaled to fit 20 of 28
// pixels (each model pixel the mean of the pad pixels it covers), then moved so that
// the centre of mass is the image's centre. Returns H rows of W values in [0, 1].
function framed() {
  const [, H, W] = state.model.input_shape;
  const data = pen.getImageData(0, 0, pad.width, pad.height).data;
  let x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (data[4 * (y * pad.width + x)] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const s = Math.min(1, ((20 / 28) * Math.min(H, W)) / Math.max(x1 - x0 + 1, y1 - y0 + 1));
  const ox = W / 2 - ((x0 + x1 + 1) / 2) * s, oy = H / 2 - ((y0 + y1 + 1) / 2) * s;
  const sum = new Float64Array(H * W), count = new Float64Array(H * W);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const ty = Math.floor((y + 0.5) * s + oy), tx = Math.floor((x + 0.5) * s + ox);
      if (ty < 0 || ty >= H || tx < 0 || tx >= W) continue;
      sum[ty * W + tx] += data[4 * (y * pad.width + x)] / 255;
      count[ty * W + tx] += 1;
    }
  }
  // each model pixel covers 1/s x 1/s pad pixels: unvisited parts of it are background
  const cover = 1 / (s * s);
  const img = sum.map((v, i) => (count[i] ? v / Math.max(count[i], cover) : 0));
  let mass = 0, cy = 0, cx = 0;
  img.forEach((v, i) => { mass += v; cy += v * Math.floor(i / W); cx += v * (i % W); });
  const dy = Math.round((H - 1) / 2 - cy / mass), dx = Math.round((W - 1) / 2 - cx / mass);
  const rows = [];
  for (let y = 0; y < H; y++) {
    const row = [];
    for (let x = 0; x < W; x++) {
      const sy = y - dy, sx = x - dx;
      const v = sy >= 0 && sy < H && sx >= 0 && sx < W ? img[sy * W + sx] : 0;
      row.push(Math.round(Math.min(1, v) * 1e4) / 1e4);
    }
    rows.push(row);
  }
  return rows;
}

// Paint an image the model takes (from a test image or an upload) on the pad, big.
function paint(pixels) {
  const grey = Array.isArray(pixels[0][0])  // C x H x W: the channels' mean
    ? pixels[0].map((row, y) => row.map((_, x) => pixels.reduce((a, ch) => a + ch[y][x], 0) / pixels.length))
    : pixels;
  const h = grey.length, w = grey[0].length;
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  const sctx = small.getContext("2d");
  const image = sctx.createImageData(w, h);
  grey.flat().forEach((v, i) => {
    image.data.set([255 * v, 255 * v, 255 * v, 255], 4 * i);
  });
  sctx.putImageData(image, 0, 0);
  clearPad();
  pen.imageSmoothingEnabled = false;
  pen.drawImage(small, 0, 0, pad.width, pad.height);
}

// ---------------------------------------------------------------- running the model
async function show(pixels) {
  state.pixels = pixels;
  const run = ++state.runs;
  try {
    const result = await postJSON("/api/run", { pixels });
    if (run !== state.runs) return;
    state.result = result;
    drawResult(result);
    if (state.selected) explain(state.selected);
  } catch (err) {
    say(err.message);
  }
}

function drawResult(result) {
  const names = state.model.classes;
  const best = result.prediction;
  $("prediction").innerHTML = "";
  const digit = document.createElement("span");
  digit.className = "digit";
  digit.id = "predicted-class";
  digit.textContent = names[best];
  $("prediction").append(digit, `${(100 * result.probabilities[best]).toFixed(1)} % sure`);
  const table = $("probabilities");
  table.innerHTML = "";
  result.probabilities.forEach((p, k) => {
    const row = table.insertRow();
    if (k === best) row.className = "best";
    row.insertCell().textContent = names[k];
    const bar = row.insertCell();
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const cell = row.insertCell();
    cell.textContent = `${(100 * p).toFixed(1)} %`;
    cell.dataset.value = p;
  });
  state.tiles.clear();
  state.marked = [];
  const input = result.input;
  const norm = state.model.normalisation;
  const layers = $("layers");
  layers.innerHTML = "";
  const many = (v) => (Array.isArray(v) ? `(${v.map((u) => fmt(u)).join(", ")})` : fmt(v));
  layers.append(layerBlock("input", norm ? "the image after the model's normalisation " +
    `(x \u2212 ${many(norm.mean)}) / ${many(norm.std)}` : "the image", input, -1, false));
  for (const out of result.layers) {
    const info = state.model.layers[out.index];
    layers.append(layerBlock(`${out.index}: ${info.repr}`, `output ${out.shape.join("\u00d7")}`,
                             out.values, out.index, info.explained, out.range));
  }
}

function range(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values.flat(3)) {
    if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  return [lo, hi];
}

function layerBlock(title, note, values, index, clickable, lohi) {
  const block = document.createElement("div");
  block.className = "layer";
  block.id = `layer-${index}`;
  const h = document.createElement("h3");
  h.textContent = title;
  const [lo, hi] = lohi || range(values || []);
  const scale = greyScale(lo, hi);
  const legend = document.createElement("p");
  legend.className = "legend";
  legend.textContent = `${note}; values from ${fmt(lo)} to ${fmt(hi)} (${scale.legend})`;
  const tiles = document.createElement("div");
  tiles.className = "tiles";
  block.append(h, legend, tiles);
  if (values === null) {  // more values than the server sends (see MAX_VALUES)
    tiles.append(el("span", "too many values to draw here", { className: "hint" }));
    return block;
  }
  if (!Array.isArray(values[0])) {  // a vector (after Flatten): rows of up to 42 values
    const cols = Math.min(values.length, 42), rows = [];
    for (let i = 0; i < values.length; i += cols) rows.push(values.slice(i, i + cols));
    while (rows[rows.length - 1].length < cols) rows[rows.length - 1].push(null);
    tiles.append(makeTile(rows, scale.grey, 7, `${values.length} values`).box);
    return block;
  }
  values.forEach((channel, c) => {
    const size = pixelSize(channel.length, channel[0].length, index < 0 ? 112 : 64);
    const tile = makeTile(channel, scale.grey, size, index < 0 ? "input" : `ch ${c}`);
    tile.canvas.dataset.layer = index;
    tile.canvas.dataset.channel = c;
    state.tiles.set(`${index}:${c}`, tile);
    if (clickable) {
      tile.box.classList.add("clickable");
      tile.canvas.title = "click a pixel to see how it was computed";
      tile.canvas.addEventListener("click", (event) => {
        const r = tile.canvas.getBoundingClientRect();
        const x = Math.min(tile.w - 1, Math.floor(((event.clientX - r.left) / r.width) * tile.w));
        const y = Math.min(tile.h - 1, Math.floor(((event.clientY - r.top) / r.height) * tile.h));
        explain({ layer: index, channel: c, y, x });
      });
    }
    tiles.append(tile.box);
  });
  return block;
}

// ---------------------------------------------------------------- one pixel explained
async function explain(pixel) {
  state.selected = pixel;
  try {
    const e = await postJSON("/api/explain", { pixels: state.pixels, ...pixel });
    if (pixel !== state.selected) return;
    for (const tile of state.marked) tile.clear();
    state.marked = [];
    const mark = (key, rows, cols, colour) => {
      const tile = state.tiles.get(key);
      if (tile) { tile.mark(rows, cols, colour); state.marked.push(tile); }
    };
    for (const c of e.channels) mark(`${e.layer - 1}:${c}`, e.rows, e.cols, "#ff2020");
    mark(`${e.layer}:${e.channel}`, [e.y], [e.x], "#ffb300");
    $("explanation").replaceChildren(...explanation(e));
  } catch (err) {
    $("explanation").replaceChildren(paragraph(err.message));
  }
}

function el(tag, text, props) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  Object.assign(node, props || {});
  return node;
}

function paragraph(...parts) {
  const p = el("p");
  p.append(...parts);
  return p;
}

function number(v, id, digits = 4) {
  const b = el("b", fmt(v, digits));
  if (id) b.id = id;
  b.dataset.value = v;
  return b;
}

// A table of numbers (kh x kw); `inside` marks padding, `chosen` one cell.
function grid(values, caption, inside, chosen, role) {
  const table = el("table", undefined, { className: "grid" });
  if (caption) table.createCaption().textContent = caption;
  values.forEach((row, i) => {
    const tr = table.insertRow();
    row.forEach((v, j) => {
      const td = tr.insertCell();
      td.textContent = fmt(v);
      if (inside && !inside[i][j]) td.classList.add("pad");
      if (chosen && chosen[0] === i && chosen[1] === j) td.classList.add("chosen");
      if (role) td.dataset.role = role;
      td.dataset.value = v;
    });
  });
  return table;
}

function explanation(e) {
  const parts = [el("h3", `Layer ${e.layer}: ${e.repr}`),
    paragraph(`Output channel ${e.channel}, row ${e.y}, column ${e.x} = `, number(e.value, "explain-value"),
              " (the value in the feature map, as the layer computed it)")];
  const source = e.layer === 0 ? "the normalised input" : `layer ${e.layer - 1}'s output`;
  const rows = `rows ${e.rows[0]}\u2013${e.rows[e.rows.length - 1]}, columns ${e.cols[0]}\u2013${e.cols[e.cols.length - 1]}`;
  const checked = el("span", ` \u2713 equals the layer's ${fmt(e.value, 4)}`, { className: "check" });
  if (e.kind === "conv") {
    const padded = e.inside.flat().includes(false) ? "; grey cells are padding, zeros" : "";
    parts.push(paragraph(`It reads the window at ${rows} of ${source}, in ` +
      `${e.channels.length} channel${e.channels.length > 1 ? "s" : ""} (framed in red on the ` +
      `feature maps${padded}). Each value is multiplied by the filter's weight at the same ` +
      "place, and the products are added up:"));
    e.window.forEach((win, k) => {
      const row = el("div", undefined, { className: "mac" });
      const products = grid(e.products[k], "products", e.inside, null, "product");
      products.classList.add("products");
      row.append(grid(win, `input, channel ${e.channels[k]}`, e.inside, null, "window"),
                 el("span", "\u00d7", { className: "op" }),
                 grid(e.weights[k], `filter ${e.channel}'s weights, channel ${k}`, null, null,
                      "weight"),
                 el("span", "=", { className: "op equals" }), products);
      parts.push(row);
    });
    const count = e.products.flat(2).length;
    parts.push(el("p", undefined, { className: "equation" }));
    parts[parts.length - 1].append(`sum of the ${count} products = `, number(e.sum, "explain-sum"));
    const total = el("p", undefined, { className: "equation" });
    if (e.bias === null) total.append("no bias: ", number(e.result, "explain-result"));
    else total.append(number(e.sum), " + bias ", number(e.bias, "explain-bias"), " = ",
                      number(e.result, "explain-result"));
    total.append(checked);
    parts.push(total);
  } else if (e.kind === "maxpool" || e.kind === "avgpool") {
    const biggest = e.kind === "maxpool";
    parts.push(paragraph(`It reads the window at ${rows} of ${source}, channel ${e.channel} ` +
      `(framed in red${biggest ? "; padding never wins" : "; padding counts as 0"}):`));
    parts.push(grid(e.window, `input ch ${e.channel}`, e.inside, e.chosen, "window"));
    const p = el("p", undefined, { className: "equation" });
    p.append(biggest ? "the largest of them = " : `the mean of the ${e.count} values = `,
             number(e.result, "explain-result"), checked);
    parts.push(p);
  } else {
    parts.push(paragraph(`It reads one value of ${source}, channel ${e.channel}, at the same ` +
                         "place: ", number(e.input, "explain-input")));
    const p = el("p", undefined, { className: "equation" });
    const x = fmt(e.input, 4);
    const formula = {
      relu: `max(0, ${x})`,
      leakyrelu: `${x} > 0 ? ${x} : ${e.slope} \u00d7 ${x}`,
      sigmoid: `1 / (1 + exp(\u2212(${x})))`,
      tanh: `tanh(${x})`,
      batchnorm: `(${x} \u2212 ${fmt(e.mean, 4)}) / \u221a(${fmt(e.var, 4)} + ${e.eps}) \u00d7 ` +
                 `${fmt(e.weight, 4)} + ${fmt(e.bias, 4)}`,
    }[e.kind];
    p.append(`${formula} = `, number(e.result, "explain-result"), checked);
    parts.push(p);
    if (e.kind === "batchnorm") {
      parts.push(paragraph("(the running mean and variance learnt in training, then the " +
                           "channel's scale and shift)"));
    }
  }
  return parts;
}

// ---------------------------------------------------------------- buttons and start
$("clear").addEventListener("click", () => {
  clearPad();
  say("");
});

$("sample").addEventListener("click", async () => {
  try {
    state.sample = (state.sample + 1 + Math.floor(Math.random() * 50)) % state.model.samples;
    const s = await api(`/api/sample?index=${state.sample}`);
    paint(s.pixels);
    say(`held-out test image ${s.index} of ${s.count}, labelled ${state.model.classes[s.label]}`, "info");
    show(s.pixels);
  } catch (err) {
    say(err.message);
  }
});

$("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  if (file.size > state.model.max_upload) {
    say(`${file.name} is ${file.size.toLocaleString()} bytes; the limit is ${state.model.max_upload.toLocaleString()} (2 MiB)`);
    return;
  }
  try {
    const answer = await api("/api/upload", {
      method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
    });
    paint(answer.pixels);
    say(`${file.name}, as the model sees it`, "info");
    show(answer.pixels);
  } catch (err) {
    say(`${file.name}: ${err.message}`);
  }
});

async function start() {
  clearPad();
  try {
    const model = await api("/api/model");
    state.model = model;
    $("model-description").textContent = model.description;
    if (!model.samples) $("sample").disabled = true;
    const f = model.filters;
    if (f) {
      $("filters-note").textContent = `Layer ${f.layer}: ${f.repr}. Each filter is a small ` +
        "picture of weights (grey 0, lighter positive, darker negative); the layer slides it " +
        "over its input and the matches make one feature map.";
      const scale = greyScale(...range(f.weights));
      const many = f.weights[0].length > 1;
      f.weights.forEach((filter, o) => filter.forEach((w, c) => {
        const label = many ? `filter ${o} ch ${c}` : `filter ${o}`;
        $("filters").append(makeTile(w, scale.grey, pixelSize(w.length, w[0].length, 56), label).box);
      }));
    } else {
      $("filters-section").hidden = true;
    }
    document.body.dataset.ready = "yes";
  } catch (err) {
    say(`cannot reach the server: ${err.message}`);
  }
}

start();
