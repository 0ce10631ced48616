/*
 * valk-aio dashboard: the cell grids of the memory diagnostics (docs/design.md
 * §8): a pool drawn slot by slot from its bitmap, a pool or a big slab drawn as
 * aggregated cells, the connection slab slot by slot by state. A grid never
 * has more than 1,024 cells; the connection slab with detail above 1,024
 * slots (at most 4,096, the server's limit for per-slot detail) is drawn on
 * a canvas instead (grid-canvas.js).
 *
 * Drawing one snapshot must fit in a frame (16.7 ms) at 10,000 connection
 * slots and 145,000 TCP buffers (bench/dashboard.sh), so a redraw touches
 * only what changed: each cell's class is cached on the element and written
 * only when it differs; the tooltip is computed when the pointer enters a
 * cell (grid.tip, from the snapshot drawn last), not written for every cell
 * of every event; the cells that changed flash together and one timer a grid
 * ends their flash.
 *
 * Browser only; runs on the page's only thread.
 */
import { formatMs } from './format.js';
import { cellSize, dominantState, fillLevel } from './classes.js';
import { MAX_GRID_CELLS, PROTO_LABELS, STATE_LABELS, aggregateStates, hexToBitArray, ownerName, slotDetails } from './decode.js';
import { CANVAS_MIN_CELLS, drawConnCanvas, dropCanvas } from './grid-canvas.js';

export var FLASH_MS = 300; // how long a changed slot flashes

/** Makes grid hold exactly n cells; returns its cells. Sets the tooltip handler once. */
export function ensureCells(grid, n) {
  dropCanvas(grid);
  if (!grid.valkTipped) {
    grid.valkTipped = true;
    grid.addEventListener('mouseover', function (e) {
      var cell = e.target;
      if (cell && cell.parentNode === grid && typeof grid.tip === 'function') cell.title = grid.tip(cell.valkIndex);
    });
  }
  while (grid.children.length > n) grid.removeChild(grid.lastChild);
  while (grid.children.length < n) {
    var c = document.createElement('div');
    c.className = 'cell';
    c.valkClass = 'cell';
    c.valkIndex = grid.children.length;
    grid.appendChild(c);
  }
  var size = cellSize(n);
  if (grid.valkSize !== size) {
    grid.valkSize = size;
    grid.style.gridTemplateColumns = 'repeat(auto-fill, ' + size + 'px)';
    grid.style.gridAutoRows = size + 'px';
  }
  return grid.children;
}

/**
 * Sets a cell's class to cls (flashing when flash is true); writes the DOM
 * only when the class changes. The cells flashing in a grid are remembered
 * (at most the grid's cells) and one timer ends them all.
 */
function setCell(grid, cell, cls, flash) {
  var want = flash ? cls + ' flash' : cls;
  if (!flash && cell.valkFlash) want = cls + ' flash'; // a running flash runs to its end
  if (cell.valkClass === want) return;
  cell.valkClass = want;
  cell.className = want;
  if (flash && !cell.valkFlash) {
    cell.valkFlash = true;
    (grid.valkFlashing || (grid.valkFlashing = [])).push(cell);
    if (!grid.valkFlashTimer) grid.valkFlashTimer = setTimeout(function () { endFlash(grid); }, FLASH_MS);
  }
}

function endFlash(grid) {
  var list = grid.valkFlashing || [];
  grid.valkFlashing = [];
  grid.valkFlashTimer = null;
  for (var i = 0; i < list.length; i++) {
    var c = list[i];
    c.valkFlash = false;
    var cls = c.valkClass.replace(/ flash$/, '');
    c.valkClass = cls;
    c.className = cls;
  }
}

/** A plain pool slot by slot from its bitmap (used green, free dark); prev: the bits drawn last. Returns the bits. */
export function drawBitmap(grid, slab, prev) {
  var bits = hexToBitArray(slab.bitmap, slab.total);
  var cells = ensureCells(grid, bits.length);
  var same = prev && prev.length === bits.length;
  for (var i = 0; i < bits.length; i++) setCell(grid, cells[i], bits[i] ? 'cell used' : 'cell free', same && prev[i] !== bits[i]);
  grid.tip = function (i) {
    return 'slot ' + i + (bits[i] ? ': used' : ': free');
  };
  return bits;
}

/** A pool as aggregated cells ({used, size}), shaded by how full each is. */
export function drawAgg(grid, cells, per) {
  var els = ensureCells(grid, cells.length);
  for (var k = 0; k < cells.length; k++) {
    var lvl = fillLevel(cells[k].used, cells[k].size);
    setCell(grid, els[k], lvl ? 'cell agg used l' + lvl : 'cell agg free', false);
  }
  grid.tip = function (k) {
    var c = cells[k];
    return c ? 'slots ' + k * per + '-' + (k * per + c.size - 1) + ': ' + c.used + '/' + c.size + ' used' : '';
  };
}

/** The connection slab slot by slot, each cell coloured by its state letter; prev: the states drawn last. Returns the states. */
export function drawConnCells(grid, slab, ownerMap, prev) {
  var states = slab.states || '';
  var n = Math.min(states.length, slab.total);
  var protos = slab.protos || '';
  grid.tip = connTip(states, slab, ownerMap);
  if (n > CANVAS_MIN_CELLS) {
    drawConnCanvas(grid, states, protos, n, prev);
    return states;
  }
  var cells = ensureCells(grid, n);
  var same = typeof prev === 'string' && prev.length === n;
  var k = 0; // the k-th non-free slot: its protos[k]
  for (var i = 0; i < n; i++) {
    var ch = states.charAt(i);
    var st = STATE_LABELS[ch] ? ch : 'A';
    var p1 = st !== 'F' && protos.charAt(k) === '1';
    if (st !== 'F') k++;
    setCell(grid, cells[i], p1 ? 'cell st-' + st + ' p1' : 'cell st-' + st, same && prev.charAt(i) !== ch);
  }
  return states;
}

/** The tooltip of slot i of the connection slab: its state, protocol, owner and age. */
function connTip(states, slab, ownerMap) {
  return function (i) {
    var d = slotDetails(states, slab.owners, slab.ages, slab.protos)[i];
    var ch = states.charAt(i);
    var tip = 'slot ' + i + ': ' + STATE_LABELS[STATE_LABELS[ch] ? ch : 'A'];
    if (d && d.proto !== null) tip += ' · ' + PROTO_LABELS[d.proto];
    if (d && d.owner !== null) tip += ' · ' + ownerName(d.owner, ownerMap);
    if (d && d.age !== null) tip += ' · ' + formatMs(d.age);
    return tip;
  };
}

/** The connection slab when detail is false: cells of many slots, coloured by their main state. Returns slots a cell. */
export function drawConnAgg(grid, slab) {
  var agg = aggregateStates(slab.states || '', MAX_GRID_CELLS);
  var cells = ensureCells(grid, agg.cells.length);
  for (var k = 0; k < agg.cells.length; k++) {
    var c = agg.cells[k];
    setCell(grid, cells[k], 'cell agg st-' + dominantState(c) + ' l' + fillLevel(c.size - c.F, c.size), false);
  }
  grid.tip = function (k) {
    var c = agg.cells[k];
    return c ? 'slots ' + k * agg.per + '-' + (k * agg.per + c.size - 1) + ': A ' + c.A + ', I ' + c.I + ', C ' + c.C + ', free ' + c.F : '';
  };
  return agg.per;
}
