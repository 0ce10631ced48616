/*
 * valk-aio dashboard: the connection slab drawn on one <canvas> when it has
 * more than CANVAS_MIN_CELLS slots drawn one by one (detail up to 4,096
 * slots, docs/design.md §8). Thousands of cells as elements cost a style
 * recalculation for every cell that changed state (most of them under load)
 * and more than a frame in all; on a canvas a redraw paints only the slots
 * that changed. Colours are the page's CSS variables (read once); the
 * tooltip is made when the pointer moves over a slot; a changed slot flashes
 * (a white ring, FLASH_MS) and one timer ends the flashes of a draw.
 *
 * Pure geometry (canvasLayout, slotAt) is exported for the tests.
 * Browser only otherwise; runs on the page's only thread.
 */
import { cellSize } from './classes.js';
import { STATE_LABELS } from './decode.js';

export var CANVAS_MIN_CELLS = 1024; // above this many per-slot cells, the canvas
var FLASH_MS = 300;
var GAP = 1;
var PAD = 3;

/** Columns, rows and the pitch of n slots in a box width px wide. */
export function canvasLayout(n, width) {
  var size = cellSize(n);
  var pitch = size + GAP;
  var cols = Math.max(1, Math.floor((width - 2 * PAD + GAP) / pitch));
  return { size: size, pitch: pitch, cols: cols, rows: Math.ceil(n / cols) };
}

/** The slot under (x, y) in canvas px, or -1 between slots or past n. */
export function slotAt(layout, n, x, y) {
  var col = Math.floor((x - PAD) / layout.pitch);
  var row = Math.floor((y - PAD) / layout.pitch);
  if (col < 0 || row < 0 || col >= layout.cols) return -1;
  if ((x - PAD) % layout.pitch >= layout.size || (y - PAD) % layout.pitch >= layout.size) return -1;
  var i = row * layout.cols + col;
  return i < n ? i : -1;
}

var colours = null;
function palette() {
  if (colours) return colours;
  var cs = getComputedStyle(document.documentElement);
  var v = function (name, fallback) {
    return (cs.getPropertyValue(name) || '').trim() || fallback;
  };
  colours = {
    A: v('--color-ok', '#3fb950'), I: v('--color-info', '#58a6ff'), C: v('--color-warning', '#d29922'),
    F: v('--bg-tertiary', '#1c2128'), ring: v('--bg-secondary', '#161b22'), flash: v('--text-primary', '#e6edf3'),
    bg: v('--bg-darker', '#010409'),
  };
  return colours;
}

function paintSlot(ctx, L, i, st, p1, flashing) {
  var c = palette();
  var x = PAD + (i % L.cols) * L.pitch;
  var y = PAD + Math.floor(i / L.cols) * L.pitch;
  ctx.fillStyle = c[st] || c.A;
  ctx.fillRect(x, y, L.size, L.size);
  var ring = flashing ? c.flash : p1 ? c.ring : null;
  if (ring && L.size > 4) {
    ctx.strokeStyle = ring;
    ctx.lineWidth = 2;
    ctx.strokeRect(x + 1, y + 1, L.size - 2, L.size - 2);
  }
}

/** The grid's canvas, made once (its cells removed). */
function canvasOf(grid) {
  var cv = grid.valkCanvas;
  if (cv) return cv;
  grid.textContent = '';
  grid.classList.add('canvas-grid');
  cv = document.createElement('canvas');
  cv.className = 'slab-canvas';
  grid.appendChild(cv);
  grid.valkCanvas = cv;
  cv.addEventListener('mousemove', function (e) {
    var L = cv.valkLayout;
    var r = cv.getBoundingClientRect();
    var i = L ? slotAt(L, cv.valkN, e.clientX - r.left, e.clientY - r.top) : -1;
    var tip = i >= 0 && typeof grid.tip === 'function' ? grid.tip(i) : '';
    if (cv.title !== tip) cv.title = tip;
  });
  return cv;
}

/** Removes the canvas (the slab went back to cells). */
export function dropCanvas(grid) {
  if (!grid.valkCanvas) return;
  grid.removeChild(grid.valkCanvas);
  grid.valkCanvas = null;
  grid.classList.remove('canvas-grid');
}

/**
 * Draws n slots of states (protos marks HTTP/1.x, per non-free slot) on the
 * grid's canvas; prev: the states drawn last (a changed slot flashes). Only
 * changed slots are painted unless the size or layout changed.
 */
export function drawConnCanvas(grid, states, protos, n, prev) {
  var cv = canvasOf(grid);
  var L = canvasLayout(n, grid.clientWidth || 600);
  var full = !cv.valkLayout || cv.valkLayout.cols !== L.cols || cv.valkN !== n;
  if (full) {
    cv.width = L.cols * L.pitch + 2 * PAD - GAP;
    cv.height = L.rows * L.pitch + 2 * PAD - GAP;
    cv.valkLayout = L;
    cv.valkN = n;
    cv.valkDrawn = new Array(n);
  }
  var ctx = cv.getContext('2d');
  if (full) {
    ctx.fillStyle = palette().bg;
    ctx.fillRect(0, 0, cv.width, cv.height);
  }
  var same = typeof prev === 'string' && prev.length === n;
  var flashes = [];
  var k = 0;
  var counts = { A: 0, I: 0, C: 0, F: 0 };
  for (var i = 0; i < n; i++) {
    var ch = states.charAt(i);
    var st = STATE_LABELS[ch] ? ch : 'A';
    var p1 = st !== 'F' && protos.charAt(k) === '1';
    if (st !== 'F') k++;
    counts[st]++;
    var key = st + (p1 ? '1' : '');
    var flash = same && prev.charAt(i) !== ch;
    if (flash) flashes.push(i);
    if (!flash && (cv.valkDrawn[i] === key || cv.valkDrawn[i] === key + '*')) continue; // a flash ends on its timer
    paintSlot(ctx, L, i, st, p1, flash);
    cv.valkDrawn[i] = flash ? key + '*' : key;
  }
  cv.setAttribute('data-slots', String(n));
  cv.setAttribute('data-counts', counts.A + ',' + counts.I + ',' + counts.C + ',' + counts.F);
  if (flashes.length) {
    // one timer a draw that changed slots: at most FLASH_MS / the stream's interval pending
    setTimeout(function () {
      // the next draw repaints these slots without the ring (valkDrawn ends in '*')
      for (var j = 0; j < flashes.length; j++) {
        var d = cv.valkDrawn[flashes[j]];
        if (d && d.charAt(d.length - 1) === '*' && cv.valkLayout === L) {
          paintSlot(ctx, L, flashes[j], d.charAt(0), d.charAt(1) === '1', false);
          cv.valkDrawn[flashes[j]] = d.slice(0, -1);
        }
      }
    }, FLASH_MS);
  }
}
