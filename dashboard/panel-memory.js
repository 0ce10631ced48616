/*
 * valk-aio dashboard: the memory diagnostics from each SSE memory snapshot
 * (decode.js has the wire format; docs/design.md §8): the connection slab
 * coloured by state with its counts and owner breakdown, one grid per pool
 * (bitmap or aggregated cells), per-arena gauges with the high-water mark,
 * the capacity banner, the event id and skipped count. renderMemory(ev)
 * draws any snapshot, the newest or one from the timeline.
 * Browser only; runs on the page's only thread.
 */
import { on, state } from './model.js';
import { formatBytes, formatMs, formatNumber, formatPct } from './format.js';
import { cellSize, dominantState, fillLevel, gaugeClass, panelLevel } from './classes.js';
import {
  MAX_GRID_CELLS, PROTO_LABELS, STATE_LABELS, aggToCells, aggregateStates, capacityAlerts, countStates, hexToBitArray,
  ownerBreakdown, ownerName, slotDetails,
} from './decode.js';
import { $, num, setText } from './dom.js';

var FLASH_MS = 300; // how long a changed slot flashes

// slab name -> the bits/states drawn last (for the flash); one entry a slab.
var prevBits = {};

/** Makes grid hold exactly n cells of class base; returns its cells. */
function ensureCells(grid, n, base) {
  while (grid.children.length > n) grid.removeChild(grid.lastChild);
  while (grid.children.length < n) {
    var c = document.createElement('div');
    c.className = base;
    grid.appendChild(c);
  }
  grid.style.gridTemplateColumns = 'repeat(auto-fill, ' + cellSize(n) + 'px)';
  grid.style.gridAutoRows = cellSize(n) + 'px';
  return grid.children;
}

/** Adds the flash class to cell for FLASH_MS (docs/design.md §8). */
function flash(cell) {
  cell.classList.add('flash');
  setTimeout(function () {
    cell.classList.remove('flash');
  }, FLASH_MS);
}

/** Sets a cell's classes to cls, keeping a running flash. */
function setClass(cell, cls) {
  if (cell.getAttribute('data-c') === cls) return;
  cell.setAttribute('data-c', cls);
  cell.className = cls + (cell.classList.contains('flash') ? ' flash' : '');
}

/** A plain pool drawn slot by slot from its bitmap (used green, free dark). */
function renderBitmapGrid(grid, slab) {
  var bits = hexToBitArray(slab.bitmap, slab.total);
  var prev = prevBits[slab.name];
  var cells = ensureCells(grid, bits.length, 'cell');
  for (var i = 0; i < bits.length; i++) {
    setClass(cells[i], 'cell ' + (bits[i] ? 'used' : 'free'));
    cells[i].title = 'slot ' + i + (bits[i] ? ': used' : ': free');
    if (prev && prev.length === bits.length && prev[i] !== bits[i]) flash(cells[i]);
  }
  prevBits[slab.name] = bits;
}

/** A pool drawn from aggregated cells ({used,size}): shade by how full each is. */
function renderAggGrid(grid, cells, per) {
  var els = ensureCells(grid, cells.length, 'cell');
  for (var k = 0; k < cells.length; k++) {
    var c = cells[k];
    var lvl = fillLevel(c.used, c.size);
    setClass(els[k], 'cell agg ' + (lvl ? 'used l' + lvl : 'free'));
    els[k].title = 'slots ' + k * per + '-' + (k * per + c.size - 1) + ': ' + c.used + '/' + c.size + ' used';
  }
}

/** A panel's overflow counter: "overflow N" (acquires that found the pool empty), red once N > 0. */
function setOverflow(el, n) {
  var text = 'overflow ' + formatNumber(num(n));
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle('has-overflow', n > 0);
}

function poolPanel(name) {
  var id = 'pool-' + name.replace(/[^a-z0-9_-]/gi, '_');
  var el = $(id);
  if (el) return el;
  el = document.createElement('div');
  el.id = id;
  el.className = 'panel pool-panel';
  el.setAttribute('data-slab', name);
  el.innerHTML =
    '<div class="pool-head"><span class="pool-name"></span><span class="pool-usage"></span><span class="overflow-count"></span></div>' +
    '<div class="grid"></div><div class="pool-note"></div>';
  el.querySelector('.pool-name').textContent = name.replace(/_/g, ' ');
  $('pool-panels').appendChild(el);
  return el;
}

function usageText(s) {
  return formatNumber(s.used) + ' / ' + formatNumber(s.total) + ' (' + (s.total > 0 ? formatPct(s.used / s.total) : '--') + ')';
}

function renderPool(slab) {
  var panel = poolPanel(slab.name);
  var grid = panel.querySelector('.grid');
  panel.querySelector('.pool-usage').textContent = usageText(slab);
  panel.className = 'panel pool-panel ' + panelLevel(slab.used, slab.total);
  setOverflow(panel.querySelector('.overflow-count'), slab.overflow);
  var note = '';
  if (slab.agg) {
    renderAggGrid(grid, aggToCells(slab.agg, slab.total), slab.agg.per);
    note = 'aggregated: ' + slab.agg.per + ' slots a cell';
  } else if (typeof slab.bitmap === 'string') {
    renderBitmapGrid(grid, slab);
  } else {
    ensureCells(grid, 0, 'cell');
    note = 'counts only';
  }
  if (!(slab.total > 0)) note = 'empty pool';
  panel.querySelector('.pool-note').textContent = note;
}

/** The connection slab, slot by slot, each cell colored by its state letter. */
function renderConnCells(grid, slab, ownerMap) {
  var states = slab.states || '';
  var n = Math.min(states.length, slab.total);
  var details = slotDetails(states, slab.owners, slab.ages, slab.protos);
  var prev = prevBits.connections;
  var cells = ensureCells(grid, n, 'cell');
  for (var i = 0; i < n; i++) {
    var st = states.charAt(i);
    if (!STATE_LABELS[st]) st = 'A';
    var d = details[i];
    setClass(cells[i], 'cell st-' + st + (d && d.proto === '1' ? ' p1' : ''));
    var tip = 'slot ' + i + ': ' + STATE_LABELS[st];
    if (d && d.proto !== null) tip += ' · ' + PROTO_LABELS[d.proto];
    if (d && d.owner !== null) tip += ' · ' + ownerName(d.owner, ownerMap);
    if (d && d.age !== null) tip += ' · ' + formatMs(d.age);
    cells[i].title = tip;
    if (prev && prev.length === n && prev.charAt(i) !== states.charAt(i)) flash(cells[i]);
  }
  prevBits.connections = states;
}

/** The connection slab when detail is false: cells of many slots, colored by their main state. */
function renderConnAgg(grid, slab) {
  var agg = aggregateStates(slab.states || '', MAX_GRID_CELLS);
  var cells = ensureCells(grid, agg.cells.length, 'cell');
  for (var k = 0; k < agg.cells.length; k++) {
    var c = agg.cells[k];
    var st = dominantState(c);
    setClass(cells[k], 'cell agg st-' + st + ' l' + fillLevel(c.size - c.F, c.size));
    cells[k].title = 'slots ' + k * agg.per + '-' + (k * agg.per + c.size - 1) + ': A ' + c.A + ', I ' + c.I + ', C ' + c.C + ', free ' + c.F;
  }
  prevBits.connections = null;
  return agg.per;
}

function renderConnLegend(slab) {
  var sum = slab.summary || {};
  var counted = countStates(slab.states);
  var a = typeof sum.A === 'number' ? sum.A : counted.A;
  var i = typeof sum.I === 'number' ? sum.I : counted.I;
  var c = typeof sum.C === 'number' ? sum.C : counted.C;
  setText('count-A', formatNumber(a) + (sum.N > 0 ? ' (' + formatNumber(sum.N) + ' connecting)' : ''));
  setText('count-I', formatNumber(i));
  setText('count-C', formatNumber(c));
  setText('count-F', formatNumber(Math.max(0, slab.total - slab.used)));
  setText('count-h2', typeof sum.h2 === 'number' ? formatNumber(sum.h2) : '--');
  setText('count-http1', typeof sum.http1 === 'number' ? formatNumber(sum.http1) : '--');
}

/** Stacked bar of connections by owner, plus a legend with counts and shares. */
function renderOwners(slab, ownerMap) {
  var entries = ownerBreakdown((slab.summary || {}).by_owner, ownerMap);
  var total = entries.reduce(function (t, e) {
    return t + e.count;
  }, 0);
  var bar = $('owner-bar');
  var legend = $('owner-legend');
  bar.textContent = '';
  legend.textContent = '';
  entries.forEach(function (e, idx) {
    var pct = total > 0 ? (e.count / total) * 100 : 0;
    var color = e.name === 'other' ? 'oc-other' : 'oc-' + (idx % 8);
    var seg = document.createElement('div');
    seg.className = 'owner-seg ' + color;
    seg.style.width = pct + '%';
    seg.title = e.name + ': ' + e.count;
    bar.appendChild(seg);
    var item = document.createElement('span');
    item.className = 'legend-item';
    item.innerHTML = '<span class="legend-dot ' + color + '"></span>';
    item.appendChild(document.createTextNode(e.name + ' ' + formatNumber(e.count) + ' (' + formatPct(pct / 100) + ')'));
    legend.appendChild(item);
  });
  if (entries.length === 0) legend.textContent = 'no connections';
}

function renderConnections(slab, ownerMap) {
  var grid = $('conn-grid');
  setText('conn-usage', usageText(slab));
  $('conn-panel').className = 'panel conn-panel ' + panelLevel(slab.used, slab.total);
  setOverflow($('conn-overflow'), slab.overflow);
  var note = '';
  if (slab.detail === false) note = 'aggregated: ' + renderConnAgg(grid, slab) + ' slots a cell, no per-slot owners';
  else renderConnCells(grid, slab, ownerMap);
  setText('conn-note', note);
  renderConnLegend(slab);
  renderOwners(slab, ownerMap);
}

/** One gauge per arena in use: used/capacity bar and the high-water mark. */
function renderArenas(ar) {
  ar = ar || {};
  var list = ar.in_use || [];
  setText(
    'arena-summary',
    formatNumber(ar.count) + ' in use · ' + formatBytes(ar.used) + ' / ' + formatBytes(ar.capacity) +
      ' · hwm ' + formatBytes(ar.high_water) +
      (ar.count > list.length ? ' · ' + list.length + ' fullest shown' : '')
  );
  setOverflow($('arena-overflow'), ar.overflow);
  var box = $('arena-list');
  box.textContent = '';
  if (list.length === 0) {
    box.innerHTML = '<div class="muted">no arena in use</div>';
    return;
  }
  list.forEach(function (a) {
    box.appendChild(arenaGauge(a));
  });
}

function arenaGauge(a) {
  var g = document.createElement('div');
  g.className = 'arena-gauge' + (a.overflow > 0 ? ' has-overflow' : '');
  var pct = a.capacity > 0 ? (a.used / a.capacity) * 100 : 0;
  var hwm = a.capacity > 0 ? (a.hwm / a.capacity) * 100 : 0;
  g.innerHTML =
    '<span class="arena-name"></span><div class="arena-track"><div class="arena-bar"></div><div class="arena-hwm"></div></div>' +
    '<span class="arena-label"></span>';
  g.querySelector('.arena-name').textContent = 'arena #' + a.i;
  var bar = g.querySelector('.arena-bar');
  bar.className = 'arena-bar ' + gaugeClass(a.used, a.capacity);
  bar.style.width = (a.used > 0 ? Math.max(pct, 0.5) : 0) + '%';
  g.querySelector('.arena-hwm').style.left = Math.min(100, hwm) + '%';
  g.querySelector('.arena-label').textContent =
    formatBytes(a.used) + ' / ' + formatBytes(a.capacity) + ' (' + formatPct(pct / 100) + ') · hwm ' + formatBytes(a.hwm) +
    (a.overflow > 0 ? ' · ' + formatNumber(a.overflow) + ' overflows' : '');
  return g;
}

/** The banner above everything: pools at >= 80 % (warning) or >= 95 % (critical). */
function renderBanner(slabs) {
  var alerts = capacityAlerts(slabs);
  var el = $('capacity-banner');
  if (alerts.length === 0) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.className = 'capacity-banner ' + alerts[0].level;
  el.textContent =
    (alerts[0].level === 'critical' ? '⚠ Critical: ' : '⚠ Approaching capacity: ') +
    alerts
      .map(function (a) {
        return a.name.replace(/_/g, ' ') + ' ' + formatPct(a.pct / 100) + ' (' + formatNumber(a.used) + '/' + formatNumber(a.total) + ')';
      })
      .join(' · ');
}

export function renderMemory(ev) {
  var slabs = ev.slabs || [];
  slabs.forEach(function (s) {
    if (s.name === 'connections' || typeof s.states === 'string') renderConnections(s, ev.owner_map || []);
    else renderPool(s);
  });
  renderArenas(ev.arenas);
  renderBanner(slabs);
  setText('sse-skipped', formatNumber(num(ev.skipped)));
  setText('sse-seq', formatNumber(ev.seq));
}

export function mount() {
  on('memory', function (ev, id) {
    if (state.paused) return;
    setText('sse-id', String(id));
    renderMemory(ev);
  });
  on('pause', function (paused) {
    if (!paused && state.lastEvent) {
      setText('sse-id', String(state.lastEventId));
      renderMemory(state.lastEvent);
    }
  });
}
