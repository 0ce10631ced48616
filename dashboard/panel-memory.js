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
import { gaugeClass, panelLevel } from './classes.js';
import { aggToCells, capacityAlerts, countStates, ownerBreakdown } from './decode.js';
import { $, num, setText } from './dom.js';
import { drawAgg, drawBitmap, drawConnAgg, drawConnCells, ensureCells } from './grid.js';

// slab name -> the bits/states drawn last (for the flash); one entry a slab.
var prevBits = {};

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
    drawAgg(grid, aggToCells(slab.agg, slab.total), slab.agg.per);
    note = 'aggregated: ' + slab.agg.per + ' slots a cell';
  } else if (typeof slab.bitmap === 'string') {
    prevBits[slab.name] = drawBitmap(grid, slab, prevBits[slab.name]);
  } else {
    ensureCells(grid, 0);
    note = 'counts only';
  }
  if (!(slab.total > 0)) note = 'empty pool';
  panel.querySelector('.pool-note').textContent = note;
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
  if (slab.detail === false) {
    note = 'aggregated: ' + drawConnAgg(grid, slab) + ' slots a cell, no per-slot owners';
    prevBits.connections = null;
  } else {
    prevBits.connections = drawConnCells(grid, slab, ownerMap, prevBits.connections);
  }
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
  setText('sse-draw', formatMs(state.timing.memory)); // the previous arrival's: this one is still being handled
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
