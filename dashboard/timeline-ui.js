/*
 * valk-aio dashboard: the memory timeline bar (#timeline, in the memory
 * diagnostics; docs/design.md §8, "The dashboard's timeline").
 *
 * Data: every 'memory' arrival of the model (model.js: the SSE snapshot, its
 * id and its raw data string), recorded into the ring of timeline.js whether
 * the view is paused or not (at most 600 snapshots and 48 MiB, the oldest
 * dropped first).
 *
 * The bar: a range slider over the kept snapshots (oldest left, newest
 * right), step back / step forward (also the slider's arrow keys), "live",
 * and a label with how long before the newest the shown snapshot was taken,
 * its seq and its time (UTC, like the event log). Moving the slider or
 * stepping pauses the page through the model (setPaused: every panel
 * freezes) and draws the chosen snapshot with panel-memory.js renderMemory,
 * parsed only then. The shown snapshot is held by its key, so it stays the
 * same one while newer snapshots arrive and the slider's thumb follows it;
 * when the ring drops it the page keeps drawing it and says so. "live" (or
 * the header's resume) unpauses: panel-memory.js draws the newest again.
 *
 * Runs on the page's only thread; the pure parts are in timeline.js.
 */
import { on, setPaused, state } from './model.js';
import { $, setText } from './dom.js';
import { renderMemory } from './panel-memory.js';
import { createTimeline, timelineLabel, timelineSpan } from './timeline.js';

/** The page's ring (window.ValkDashboard.timeline). */
export var timeline = createTimeline();

var shown = null; // the entry drawn while paused ({key, seq, ts, id, raw}); null: live

function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** Brings the slider, the buttons and the label up to date with the ring and the shown entry. */
function refresh() {
  var range = $('tl-range');
  var n = timeline.size();
  var i = shown ? timeline.indexOfKey(shown.key) : n - 1;
  var max = String(Math.max(0, n - 1));
  if (range.max !== max) range.max = max;
  var value = String(Math.max(0, i));
  if (range.value !== value) range.value = value;
  range.disabled = n === 0;
  $('tl-back').disabled = n === 0 || (shown !== null && i === 0);
  $('tl-fwd').disabled = shown === null || i >= n - 1;
  $('tl-live').classList.toggle('on', shown === null);
  $('timeline').classList.toggle('scrubbed', shown !== null);
  setAttr($('timeline'), 'data-key', shown ? String(shown.key) : '');
  setText('tl-label', timelineLabel(shown, timeline.newest(), shown !== null && i < 0));
  setText('tl-span', timelineSpan(timeline));
}

/** Draws entry (pausing the page first) and holds it as the shown one. */
function show(entry) {
  if (!entry) return;
  var ev;
  try {
    ev = JSON.parse(entry.raw);
  } catch (e) {
    return; // a head but not JSON: nothing to draw
  }
  if (!state.paused) setPaused(true);
  shown = entry;
  renderMemory(ev);
  setText('sse-id', entry.id === null ? '--' : String(entry.id));
  refresh();
}

/** One snapshot older (-1) or newer (+1) than the shown one (the newest when live). */
function step(delta) {
  var from = shown || timeline.newest();
  if (from) show(timeline.step(from.key, delta));
}

export function mount() {
  var range = $('tl-range');
  on('memory', function (ev, id, raw) {
    timeline.push(raw, id);
    refresh();
  });
  on('pause', function (paused) {
    // paused from the header: the shown snapshot is the newest, as drawn
    shown = paused ? shown || timeline.newest() : null;
    refresh();
  });
  range.addEventListener('input', function () {
    show(timeline.at(Number(range.value)));
  });
  range.addEventListener('keydown', function (e) {
    var delta = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1 }[e.key];
    if (!delta) return;
    e.preventDefault(); // the ring's step, not the slider's own (the thumb follows)
    step(delta);
  });
  $('tl-back').addEventListener('click', function () {
    step(-1);
  });
  $('tl-fwd').addEventListener('click', function () {
    step(1);
  });
  $('tl-live').addEventListener('click', function () {
    setPaused(false);
  });
  refresh();
}
